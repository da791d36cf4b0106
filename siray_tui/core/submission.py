"""Submitting a task: the request built from what the user gave, sent, and what came back.

Money is at stake, so every answer is sorted into what it proves (:class:`Outcome`):
*accepted* (a task ID came back), *rejected* (a 4xx: nothing was created), *not sent*
(no connection was made), *rate limited* (429: nothing was created; wait and send
again), *auth* (401/403: stop), or *uncertain*: a 5xx, a timeout or a dropped
connection after the request left, an answer without a task ID. An uncertain task may
exist and be paid for, so nothing here ever sends a request again after one; only the
caller (with the user's say-so) can.

A local ``--image`` file becomes a data URL, refused above
:data:`~siray_tui.core.limits.MAX_INPUT_IMAGE_BYTES` before it is read; what is kept in
the watchlist is its name, size and SHA-256, never its bytes.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import math
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any, Final, Protocol

from siray_tui.core import limits
from siray_tui.core.clock import Clock
from siray_tui.core.errors import (
    ApiError,
    AuthError,
    HttpStatusError,
    InputError,
    NotFoundError,
    NotSentError,
    RateLimitedError,
)
from siray_tui.core.models import InputImage, TaskKind, TaskRequest
from siray_tui.core.policy import RateWindow
from siray_tui.core.text import clean_text

IMAGE_FIELDS: Final = ("image", "images")
"""Request fields that hold input images (one, or a list)."""
RATE_LIMIT_TRIES: Final = 20
RATE_LIMIT_BACKOFF: Final = (1.0, 60.0)
"""First wait after a 429 without Retry-After, and the longest; it doubles in between."""
_MAGIC: Final = (
    (b"\x89PNG\r\n\x1a\n", "image/png"),
    (b"\xff\xd8\xff", "image/jpeg"),
    (b"GIF87a", "image/gif"),
    (b"GIF89a", "image/gif"),
)


def parse_param(text: str) -> tuple[str, Any]:
    """``KEY=VALUE`` with the value as JSON when it parses, else the string itself:
    ``seed=7`` is the number 7, ``size=2048x2048`` the string ``"2048x2048"``.

    Raises:
        InputError: no ``=``, or an empty key.
    """
    key, sep, value = text.partition("=")
    key = key.strip()
    if not sep or not key:
        raise InputError(f"--param needs KEY=VALUE, got {clean_text(text)[:60]!r}")
    try:
        return key, json.loads(value)
    except (ValueError, RecursionError):
        return key, value


def _image_type(head: bytes) -> str | None:
    for magic, content_type in _MAGIC:
        if head.startswith(magic):
            return content_type
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "image/webp"
    return None


def load_image(
    source: str, *, max_bytes: int = limits.MAX_INPUT_IMAGE_BYTES
) -> tuple[str, InputImage]:
    """What to send for one ``--image`` and what to keep of it.

    An ``http(s)://`` URL is passed through as it is (the API fetches it; we never do);
    anything else is a local file, sent as a ``data:`` URL.

    Raises:
        InputError: another URL scheme, a missing or unreadable file, one larger than
            ``max_bytes`` (found from its size, before reading it), or not a PNG, JPEG,
            GIF or WebP image.
    """
    lowered = source.strip().lower()
    if lowered.startswith(("http://", "https://")):
        if any(ch.isspace() or not ch.isprintable() for ch in source.strip()):
            raise InputError(f"--image URL holds spaces or control characters: {source!r}")
        return source.strip(), InputImage(url=source.strip())
    if ":" in lowered.split("/", 1)[0] and not Path(source).exists():
        scheme = clean_text(lowered.split(":", 1)[0])[:20]
        raise InputError(f"--image takes a file or an http(s) URL, not a {scheme}: URL")
    path = Path(source).expanduser()
    shown = clean_text(source)[:200]
    try:
        size = path.stat().st_size
        if not path.is_file():
            raise InputError(f"--image {shown}: not a file")
        if size > max_bytes:
            raise InputError(
                f"--image {shown} is {size:,} bytes; the limit is {max_bytes:,} "
                "(pass a URL instead)"
            )
        data = path.read_bytes()
    except OSError as exc:
        raise InputError(f"--image {shown}: {(exc.strerror or str(exc)).lower()}") from None
    if len(data) > max_bytes:  # it grew since the stat
        raise InputError(f"--image {shown} is larger than {max_bytes:,} bytes")
    content_type = _image_type(data[:16])
    if content_type is None:
        raise InputError(f"--image {shown}: not a PNG, JPEG, GIF or WebP image")
    url = f"data:{content_type};base64,{base64.b64encode(data).decode('ascii')}"
    digest = hashlib.sha256(data).hexdigest()
    return url, InputImage(
        name=clean_text(path.name)[: limits.MAX_LABEL], size=len(data), sha256=digest
    )


@dataclass(frozen=True)
class Submission:
    """One request ready to send: its endpoint's kind, the body, what the watchlist keeps.

    Attributes:
        body: the JSON body sent (model, prompt, parameters, images as URLs).
        request: the body as stored with the task (images as size + hash).
        label: the watchlist label for the new task.
    """

    body: Mapping[str, Any]
    request: TaskRequest
    label: str = ""

    @property
    def kind(self) -> TaskKind:
        return self.request.kind


def build_submission(
    kind: TaskKind,
    model: str,
    prompt: str | None,
    params: Mapping[str, Any] | None = None,
    images: Sequence[str] = (),
    label: str = "",
) -> Submission:
    """The request for ``model``: ``{"model", "prompt", **params}``, plus ``image`` (one)
    or ``images`` (several) from ``images`` (see :func:`load_image`).

    Raises:
        InputError: an AUTO kind, an empty model, an image that cannot be sent.
    """
    if kind is TaskKind.AUTO:
        raise InputError("a submission needs a kind: image, video or 3d")
    if not model.strip():
        raise InputError("a submission needs a model")
    params = dict(params or {})
    body: dict[str, Any] = {"model": model}
    if prompt is not None:
        body["prompt"] = prompt
    body.update((key, value) for key, value in params.items() if key not in ("model", "prompt"))
    loaded = [load_image(source) for source in images]
    if len(loaded) == 1:
        body["image"] = loaded[0][0]
    elif loaded:
        body["images"] = [url for url, _ in loaded]
    stored_params = {k: v for k, v in body.items() if k not in ("model", "prompt")}
    if loaded:
        for name in IMAGE_FIELDS:
            stored_params.pop(name, None)
    request = TaskRequest(
        kind=kind,
        model=model,
        prompt=prompt or "",
        params=stored_params,
        images=tuple(image for _, image in loaded),
    )
    return Submission(body, request, clean_text(label)[: limits.MAX_LABEL])


class Outcome(StrEnum):
    """What an answer to a submission proves (see the module docstring)."""

    ACCEPTED = "accepted"
    REJECTED = "rejected"
    UNCERTAIN = "uncertain"
    NOT_SENT = "not_sent"
    RATE_LIMITED = "rate_limited"
    AUTH = "auth"


def classify(error: ApiError) -> Outcome:
    """The outcome a failed submission proves: only what certainly created nothing is
    anything but uncertain."""
    if isinstance(error, AuthError):
        return Outcome.AUTH
    if isinstance(error, RateLimitedError):
        return Outcome.RATE_LIMITED
    if isinstance(error, NotSentError):
        return Outcome.NOT_SENT
    if isinstance(error, NotFoundError | HttpStatusError) and 400 <= (error.status_code or 0) < 500:
        return Outcome.REJECTED
    return Outcome.UNCERTAIN


@dataclass(frozen=True)
class Sent:
    """The end of one submission: its outcome, the task ID when accepted, and the error
    (one cleaned line) otherwise."""

    outcome: Outcome
    task_id: str | None = None
    error: str = ""


class Submitter(Protocol):
    """What sends a request; :class:`~siray_tui.core.client.SirayClient` is one."""

    async def submit(self, kind: TaskKind, request: dict[str, Any]) -> str: ...


Hook = Callable[[], Awaitable[None]]


async def _nothing() -> None:
    return None


@dataclass
class Sender:
    """Sends submissions within a rate cap, waiting out 429s (for every sender at once).

    Args:
        client: what POSTs.
        clock: monotonic time and sleeping (a FakeClock in unit tests).
        rate: submissions started per second at most.
        tries: attempts per submission while the API answers 429.
    """

    client: Submitter
    clock: Clock
    rate: float = 10.0
    tries: int = RATE_LIMIT_TRIES
    paused_until: float = 0.0
    _window: RateWindow = field(init=False)
    _gate: asyncio.Lock = field(init=False, default_factory=asyncio.Lock)

    def __post_init__(self) -> None:
        self._window = RateWindow(self.rate)

    async def _turn(self) -> None:
        """Wait for the rate cap and any 429 pause, then claim a start."""
        async with self._gate:
            while True:
                now = self.clock.monotonic()
                wait = max(self._window.wait(now), self.paused_until - now)
                if wait <= 0:
                    self._window.record(now)
                    return
                await self.clock.sleep(wait)

    async def send(
        self,
        submission: Submission,
        *,
        before: Hook = _nothing,
        not_sent: Hook = _nothing,
    ) -> Sent:
        """POST ``submission`` once (and again only after a 429, which created nothing).

        ``before`` runs before each POST (the journal's durable "sent" record);
        ``not_sent`` after each attempt that certainly created nothing and is retried.
        """
        backoff = RATE_LIMIT_BACKOFF[0]
        body = dict(submission.body)
        for attempt in range(1, self.tries + 1):
            await self._turn()
            await before()
            try:
                task_id = await self.client.submit(submission.kind, body)
            except ApiError as exc:
                outcome = classify(exc)
                message = clean_text(str(exc))[: limits.MAX_ERROR]
                if outcome is not Outcome.RATE_LIMITED:
                    return Sent(outcome, error=message)
                if attempt == self.tries:
                    return Sent(Outcome.REJECTED, error=f"still rate limited: {message}")
                await not_sent()
                wait = exc.retry_after if isinstance(exc, RateLimitedError) else None
                if wait is None or not math.isfinite(wait):
                    wait, backoff = backoff, min(backoff * 2, RATE_LIMIT_BACKOFF[1])
                self.paused_until = max(self.paused_until, self.clock.monotonic() + wait)
                continue
            return Sent(Outcome.ACCEPTED, task_id=task_id)
        raise AssertionError("unreachable")  # pragma: no cover


__all__ = [
    "Outcome",
    "Sender",
    "Sent",
    "Submission",
    "Submitter",
    "build_submission",
    "classify",
    "load_image",
    "parse_param",
]
