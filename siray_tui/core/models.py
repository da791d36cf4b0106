"""Task kinds, statuses and the state of a task as parsed from an API answer.

The API is loose (see docs/api.md): progress may be ``"45%"``, ``""``, a number or absent;
timestamps may be ``0``, ``null``, absent or strings of digits; new statuses may appear.
:meth:`TaskState.from_payload` accepts all of that and turns anything it cannot use into a
:class:`~siray_tui.core.errors.PayloadError`, never a KeyError, TypeError or ValueError.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from siray_tui.core import limits
from siray_tui.core.errors import InvalidTaskIdError, PayloadError
from siray_tui.core.text import REPLACEMENT, clean_text

TASK_ID_MAX_LENGTH = 128
_TASK_ID = re.compile(r"[A-Za-z0-9_.-]+")
OUTPUTS_DROPPED_KEY = "siray_tui_outputs_dropped"
"""In a stored ``data`` object cut down to its fields: how many outputs were dropped."""
RAW_NOTE_KEY = "siray_tui_note"
# A lone surrogate as json.dumps (ensure_ascii) writes it: \ud800-\udfff.
SURROGATE_ESCAPE = re.compile(r"\\u[dD][89abcdefABCDEF]")
_SURROGATE = re.compile("[\ud800-\udfff]")


def cap_text(value: object, limit: int, *, multiline: bool = False) -> str:
    """``clean_text(value)`` cut to ``limit`` characters, ending in "… (N more characters)".

    The result is never longer than ``limit`` and capping it again changes nothing, so a
    capped text read back from the watchlist stays as it was. Only the kept part is
    cleaned, so a 10 MB string costs no more than a short one.
    """
    text = value if isinstance(value, str) else ("" if value is None else str(value))
    if len(text) <= limit:
        return clean_text(text, multiline=multiline)
    marker = f"… ({len(text) - limit:,} more characters)"
    keep = max(0, limit - len(marker))
    marker = f"… ({len(text) - keep:,} more characters)"
    return clean_text(text[:keep], multiline=multiline) + marker


def cap_outputs(value: object, dropped: object = 0) -> tuple[tuple[str, ...], int]:
    """The output URLs to keep (at most ``MAX_OUTPUTS``) and how many were dropped.

    Args:
        value: the ``outputs`` field: a list of strings, one string, or anything else.
        dropped: a count already dropped earlier (a stored, cut-down state).
    """
    outputs = _parse_outputs(value)
    more = dropped if type(dropped) is int and 0 < dropped < 2**53 else 0
    if len(outputs) > limits.MAX_OUTPUTS:
        more += len(outputs) - limits.MAX_OUTPUTS
        outputs = outputs[: limits.MAX_OUTPUTS]
    return outputs, more


def _without_surrogates(value: Any) -> Any:
    """``value`` with every lone surrogate in its strings (keys too) replaced by U+FFFD."""
    if isinstance(value, str):
        return _SURROGATE.sub(REPLACEMENT, value)
    if isinstance(value, Mapping):
        return {_without_surrogates(k): _without_surrogates(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_without_surrogates(item) for item in value]
    return value


def validate_task_id(raw: str) -> str:
    """Return ``raw`` if it is a task ID that is safe to put in a URL path.

    Task IDs are 1 to 128 letters, digits, ``_``, ``-`` and ``.``, and never contain
    ``..`` (which a server or proxy could read as a parent directory).

    Raises:
        InvalidTaskIdError: naming the ID and what is wrong with it.
    """
    if not raw:
        raise InvalidTaskIdError(raw, "empty")
    if len(raw) > TASK_ID_MAX_LENGTH:
        raise InvalidTaskIdError(raw[:40] + "…", f"longer than {TASK_ID_MAX_LENGTH} characters")
    if not _TASK_ID.fullmatch(raw):
        bad = next(ch for ch in raw if not _TASK_ID.fullmatch(ch))
        raise InvalidTaskIdError(
            raw, f"character {bad!r} not allowed (use letters, digits, '_', '-', '.')"
        )
    if ".." in raw or raw == ".":
        raise InvalidTaskIdError(raw, "'.' and '..' path segments are not allowed")
    return raw


class TaskKind(StrEnum):
    """Which endpoint answers for a task. ``AUTO`` means not known yet."""

    IMAGE = "image"
    VIDEO = "video"
    MODEL_3D = "3d"
    AUTO = "auto"

    @classmethod
    def concrete(cls) -> tuple[TaskKind, ...]:
        """The kinds that have endpoints, in the order ``auto`` tries them without a hint."""
        return (cls.IMAGE, cls.VIDEO, cls.MODEL_3D)

    @classmethod
    def guess(cls, task_id: str) -> TaskKind:
        """The kind an ID's prefix suggests (a hint: the docs show a ``video_`` image task)."""
        for kind in cls.concrete():
            if task_id.startswith(kind.value + "_"):
                return kind
        return cls.AUTO

    def endpoints_to_try(self, task_id: str) -> tuple[TaskKind, ...]:
        """The concrete kinds to query, in order: the stated one, else the hinted one first
        (image when the ID hints at none), then each other kind once."""
        if self is not TaskKind.AUTO:
            return (self,)
        hinted = TaskKind.guess(task_id)
        first = TaskKind.IMAGE if hinted is TaskKind.AUTO else hinted
        return (first, *(kind for kind in TaskKind.concrete() if kind is not first))


class TaskStatus(StrEnum):
    """The six documented states, plus UNKNOWN for anything new (shown, polled, never final)."""

    NOT_START = "NOT_START"
    SUBMITTED = "SUBMITTED"
    QUEUED = "QUEUED"
    IN_PROGRESS = "IN_PROGRESS"
    SUCCESS = "SUCCESS"
    FAILURE = "FAILURE"
    UNKNOWN = "UNKNOWN"

    @property
    def is_final(self) -> bool:
        """Only SUCCESS and FAILURE end a task; nothing else stops polling."""
        return self in (TaskStatus.SUCCESS, TaskStatus.FAILURE)

    @classmethod
    def parse(cls, raw: str) -> TaskStatus:
        """The member for ``raw`` (case and spacing forgiven), else UNKNOWN."""
        key = raw.strip().upper().replace(" ", "_").replace("-", "_")
        try:
            member = cls(key)
        except ValueError:
            return cls.UNKNOWN
        return member


@dataclass(frozen=True, slots=True)
class Timings:
    """Latencies in seconds; None for a phase that has not begun (or cannot be known)."""

    queue: float | None
    run: float | None
    total: float | None


def _span(start: float | None, end: float | None) -> float | None:
    if start is None or end is None:
        return None
    return max(0.0, end - start)  # clock skew must never show a negative duration


@dataclass(frozen=True, slots=True)
class TaskState:
    """What the API last said about a task, already cleaned of the payload's quirks.

    ``fail_reason``, ``message`` and ``raw_status`` are stripped of escape and control
    characters and capped (:mod:`~siray_tui.core.limits`); ``outputs`` are kept as sent
    (they must pass :func:`~siray_tui.core.text.check_url` before use), at most
    ``MAX_OUTPUTS`` of them, ``outputs_more`` counting the rest; ``raw`` is the ``data``
    object as received, for the details view and the watchlist, unless it is bigger than
    ``MAX_RAW_JSON`` (then only its parsed fields and a note are kept) or holds a lone
    surrogate (replaced by U+FFFD: it could not be printed or encoded).
    """

    task_id: str
    status: TaskStatus
    raw_status: str
    progress: int | None = None
    outputs: tuple[str, ...] = ()
    fail_reason: str = ""
    message: str = ""
    submit_time: float | None = None
    start_time: float | None = None
    finish_time: float | None = None
    action: str | None = None
    outputs_more: int = 0
    raw: Mapping[str, Any] = field(default_factory=dict, compare=False)

    @property
    def output_count(self) -> int:
        """How many outputs the server listed, the dropped ones included."""
        return len(self.outputs) + self.outputs_more

    @classmethod
    def from_payload(cls, payload: object, *, task_id: str) -> TaskState:
        """Parse a query response (the whole body, or the ``data`` object itself).

        Args:
            payload: the decoded JSON body.
            task_id: the ID we asked for; it names the task even if ``data.task_id``
                differs (the docs' own example answers an image query with a video ID).

        Raises:
            PayloadError: for any body we cannot turn into a state.
        """
        if not isinstance(payload, Mapping):
            raise PayloadError(f"expected a JSON object, got {type(payload).__name__}")
        code = payload.get("code")
        message = cap_text(payload.get("message") or "", limits.MAX_MESSAGE)
        if code is not None and str(code).strip().lower() not in ("success", "0", "200"):
            detail = f": {message[: limits.MAX_QUOTED]}" if message else ""
            raise PayloadError(f"API answered code {clean_text(code)[:40]!r}{detail}")
        data: object
        if "data" in payload:
            data = payload["data"]
        elif "status" in payload:  # tolerate a bare data object
            data = payload
        else:
            raise PayloadError("response has no 'data' object")
        if not isinstance(data, Mapping):
            raise PayloadError("response 'data' is null or not an object")
        raw_status = data.get("status")
        if raw_status is None or isinstance(raw_status, Mapping | list) or raw_status == "":
            raise PayloadError("response has no usable 'status'")
        status_text = clean_text(str(raw_status)[: limits.MAX_STATUS])
        status = TaskStatus.parse(status_text)
        progress = parse_progress(data.get("progress"))
        if status is TaskStatus.SUCCESS and progress is None:
            progress = 100
        action = data.get("action")
        outputs, outputs_more = cap_outputs(data.get("outputs"), data.get(OUTPUTS_DROPPED_KEY))
        state = cls(
            task_id=task_id,
            status=status,
            raw_status=status_text,
            progress=progress,
            outputs=outputs,
            fail_reason=cap_text(
                data.get("fail_reason") or "", limits.MAX_FAIL_REASON, multiline=True
            ),
            message=message,
            submit_time=parse_timestamp(data.get("submit_time")),
            start_time=parse_timestamp(data.get("start_time")),
            finish_time=parse_timestamp(data.get("finish_time")),
            action=clean_text(action[: limits.MAX_STATUS]) if isinstance(action, str) else None,
            outputs_more=outputs_more,
        )
        object.__setattr__(state, "raw", bounded_raw(data, state))
        return state

    def timings(self, now: float) -> Timings:
        """Queue wait, run time and total, ticking against ``now`` while unfinished.

        queue = start - submit, run = finish - start, total = finish - submit. A phase
        still going is measured to ``now``; a final task without the timestamp a phase
        needs gets None rather than a guess. Negative spans (clock skew) clamp to 0.
        """
        final = self.status.is_final
        submit, start, finish = self.submit_time, self.start_time, self.finish_time
        if start is not None:
            queue = _span(submit, start)
        elif final:
            queue = _span(submit, finish)  # failed before it ever started running
        else:
            queue = _span(submit, now)
        if start is None:
            run = None
        elif finish is not None:
            run = _span(start, finish)
        else:
            run = None if final else _span(start, now)
        if finish is not None:
            total = _span(submit, finish)
        else:
            total = None if final else _span(submit, now)
        return Timings(queue=queue, run=run, total=total)


def _number(value: object, *, suffix: str = "") -> float | None:
    """A JSON number, or a string holding one (``suffix`` may end it), as a float.

    None for anything else (booleans, null, garbage). A JSON integer too large for a
    float becomes an infinity of its sign: each caller decides what that means.
    """
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, int | float):
        try:
            return float(value)
        except OverflowError:
            return math.inf if value > 0 else -math.inf
    if isinstance(value, str):
        try:
            return float(value.strip().rstrip(suffix))  # float() allows spaces around
        except ValueError:
            return None
    return None


def parse_progress(value: object) -> int | None:
    """``"45%"``, ``"45"``, ``45`` or ``45.7`` → 45 (clamped to 0-100); anything else None."""
    number = _number(value, suffix="%")
    if number is None:
        return None
    if not math.isfinite(number):
        # a JSON integer too large for a float still says which end; "inf" says nothing
        return (100 if number > 0 else 0) if isinstance(value, int) else None
    return int(min(100.0, max(0.0, number)))


_MILLISECONDS_THRESHOLD = 100_000_000_000  # year 5138 in seconds; surely milliseconds


def parse_timestamp(value: object) -> float | None:
    """Unix seconds from a number or a string of digits; ``0``, null, garbage → None."""
    number = _number(value)
    if number is None or not math.isfinite(number) or number <= 0:
        return None
    if number >= _MILLISECONDS_THRESHOLD:
        number /= 1000.0
    return number


def bounded_raw(data: Mapping[str, Any], state: TaskState) -> dict[str, Any]:
    """What is kept of an answer's ``data`` object: see :class:`TaskState`.

    A ``data`` too big to keep is replaced by the fields ``state`` was parsed from (which
    are capped already), so parsing the kept object again gives the same state.
    """
    try:
        text = json.dumps(data, ensure_ascii=True, separators=(",", ":"))
        if len(text) <= limits.MAX_RAW_JSON:
            if SURROGATE_ESCAPE.search(text):
                return dict(_without_surrogates(data))
            return dict(data)
    except (TypeError, ValueError, RecursionError):
        # Not from JSON (a test's own object), or nested too deep to walk: fields only.
        text = ""
    kept: dict[str, Any] = {
        "status": state.raw_status,
        "progress": state.progress,
        "outputs": list(state.outputs),
        "fail_reason": state.fail_reason,
        "submit_time": state.submit_time,
        "start_time": state.start_time,
        "finish_time": state.finish_time,
        "action": state.action,
    }
    if state.outputs_more:
        kept[OUTPUTS_DROPPED_KEY] = state.outputs_more
    size = f"{len(text):,} characters of JSON" if text else "nested too deep to keep"
    kept[RAW_NOTE_KEY] = f"the answer's data object was {size}; only the fields above were kept"
    return kept


def _parse_outputs(value: object) -> tuple[str, ...]:
    if isinstance(value, str):
        return (value,) if value else ()
    if isinstance(value, list | tuple):
        return tuple(item for item in value if isinstance(item, str) and item)
    return ()


@dataclass(frozen=True, slots=True)
class StatusChange:
    """A status and the wall-clock time it was first seen."""

    status: str
    seen_at: float


@dataclass(frozen=True, slots=True)
class InputImage:
    """An input image of a request as the watchlist keeps it: a URL as given, or a local
    file's name, size and SHA-256, never its bytes (a 10 MB data URL per task would
    make the watchlist unusable, and the file is still on the user's disk)."""

    url: str = ""
    name: str = ""
    size: int = 0
    sha256: str = ""

    def to_json(self) -> dict[str, Any]:
        """The stored form: only the fields that are set."""
        if self.url:
            return {"url": self.url}
        return {"name": self.name, "size": self.size, "sha256": self.sha256}

    @classmethod
    def from_json(cls, obj: object) -> InputImage | None:
        """Inverse of :meth:`to_json`; None for anything unusable."""
        if not isinstance(obj, Mapping):
            return None
        url, name, size, digest = (obj.get(k) for k in ("url", "name", "size", "sha256"))
        if isinstance(url, str) and url:
            return cls(url=clean_text(url[: limits.MAX_REQUEST_TEXT]))
        if not (isinstance(name, str) and type(size) is int and isinstance(digest, str)):
            return None
        return cls(name=clean_text(name[: limits.MAX_LABEL]), size=size, sha256=digest[:64])


@dataclass(frozen=True, slots=True)
class TaskRequest:
    """What siray-tui sent to create a task, kept so it can be shown and resubmitted.

    Attributes:
        kind: the endpoint it was sent to.
        model: the model ID.
        prompt: the prompt as typed.
        params: every other field of the request body (JSON values), images excepted.
        images: the input images (see :class:`InputImage`).
        retry_of: the task this one resubmits (the dashboard's ``N``), or empty; kept
            here, with what was sent, so both ends of the link survive in the file.
    """

    kind: TaskKind
    model: str
    prompt: str
    params: Mapping[str, Any] = field(default_factory=dict)
    images: tuple[InputImage, ...] = ()
    retry_of: str = ""

    def to_json(self) -> dict[str, Any]:
        """The watchlist form."""
        stored: dict[str, Any] = {
            "kind": self.kind.value,
            "model": self.model,
            "prompt": self.prompt,
            "params": dict(self.params),
        }
        if self.images:
            stored["images"] = [image.to_json() for image in self.images]
        if self.retry_of:
            stored["retry_of"] = self.retry_of
        return stored

    @classmethod
    def from_json(cls, obj: object) -> TaskRequest | None:
        """Inverse of :meth:`to_json`; None for anything unusable (the task is kept, its
        request forgotten: a hand-edited file never costs a task)."""
        if not isinstance(obj, Mapping):
            return None
        model, prompt, params = obj.get("model"), obj.get("prompt", ""), obj.get("params")
        try:
            kind = TaskKind(str(obj.get("kind")))
        except ValueError:
            return None
        if not isinstance(model, str) or not isinstance(prompt, str):
            return None
        raw_images, raw_retry = obj.get("images"), obj.get("retry_of")
        try:
            retry_of = validate_task_id(raw_retry) if isinstance(raw_retry, str) else ""
        except ValueError:
            retry_of = ""  # a link to an ID we could never watch is no link
        images = (
            [InputImage.from_json(item) for item in raw_images or ()]
            if isinstance(raw_images, list)
            else []
        )
        return cls(
            kind=kind,
            model=clean_text(model[: limits.MAX_LABEL]),
            prompt=prompt[: limits.MAX_REQUEST_TEXT],
            params=dict(params) if isinstance(params, Mapping) else {},
            images=tuple(image for image in images if image is not None),
            retry_of=retry_of,
        )


@dataclass(slots=True)
class WatchedTask:
    """A task on the watchlist: what the user asked to watch, and what we last observed.

    ``kind`` stays AUTO until an endpoint answers for the ID; ``state`` is None until the
    first good answer; ``last_error`` holds the latest poll failure (cleared by a good poll).
    ``not_found`` is set once every endpoint to try answered 404. ``request`` is what
    siray-tui sent to create it (None for a task added by ID).
    """

    task_id: str
    kind: TaskKind = TaskKind.AUTO
    label: str = ""
    added_at: float = 0.0
    state: TaskState | None = None
    last_polled_at: float | None = None
    last_error: str | None = None
    not_found: bool = False
    history: list[StatusChange] = field(default_factory=list)
    request: TaskRequest | None = None

    @property
    def status(self) -> TaskStatus | None:
        """The last known status, or None before the first answer."""
        return self.state.status if self.state else None

    @property
    def is_final(self) -> bool:
        """SUCCESS or FAILURE: never polled again unless refreshed."""
        return self.state is not None and self.state.status.is_final

    @property
    def model(self) -> str | None:
        """The model it was submitted with (from its stored request); None for a task
        added by ID."""
        return self.request.model if self.request is not None else None

    def copy(self) -> WatchedTask:
        """A copy that can be handed to another owner (the poller, a thread, an undo).

        TaskState and StatusChange are frozen, so only the history list needs its own
        copy. Built positionally: ``dataclasses.replace`` is 3-6x slower, which shows at
        one copy per poll answer and 10,000 copies per load. ``test_copy_keeps_every_field``
        fails if a new field is missed here.
        """
        return WatchedTask(
            self.task_id,
            self.kind,
            self.label,
            self.added_at,
            self.state,
            self.last_polled_at,
            self.last_error,
            self.not_found,
            list(self.history),
            self.request,
        )

    def observe(self, state: TaskState, at: float) -> bool:
        """Record a good answer; returns True when the status changed (history grows)."""
        changed = self.state is None or self.state.raw_status != state.raw_status
        self.state = state
        self.last_polled_at = at
        self.last_error = None
        self.not_found = False
        if changed:
            self.history.append(StatusChange(state.raw_status, at))
        return changed

    def to_json(self) -> dict[str, Any]:
        """The watchlist.json form: the raw ``data`` object stands for the state."""
        return {
            "task_id": self.task_id,
            "kind": self.kind.value,
            "label": self.label,
            "added_at": self.added_at,
            "last_polled_at": self.last_polled_at,
            "last_error": self.last_error,
            "not_found": self.not_found,
            "state": (
                {"data": dict(self.state.raw), "message": self.state.message}
                if self.state
                else None
            ),
            "history": [{"status": h.status, "seen_at": h.seen_at} for h in self.history],
            **({"request": self.request.to_json()} if self.request else {}),
        }

    @classmethod
    def from_json(cls, obj: object) -> WatchedTask:
        """Inverse of :meth:`to_json`; a task entry we cannot use raises PayloadError.

        A stored state that no longer parses is dropped (the next poll refetches it)
        rather than losing the task.
        """
        if not isinstance(obj, Mapping):
            raise PayloadError("watchlist task is not an object")
        raw_id = obj.get("task_id")
        if not isinstance(raw_id, str):
            raise PayloadError("watchlist task has no task_id")
        try:
            task_id = validate_task_id(raw_id)
            kind = TaskKind(obj.get("kind", "auto"))
        except ValueError as exc:
            raise PayloadError(f"watchlist task {raw_id[:40]!r}: {exc}") from None
        state: TaskState | None = None
        stored = obj.get("state")
        if isinstance(stored, Mapping):
            try:
                state = TaskState.from_payload(
                    {"data": stored.get("data"), "message": stored.get("message") or ""},
                    task_id=task_id,
                )
            except PayloadError:
                state = None
        history: list[StatusChange] = []
        raw_history = obj.get("history")
        if isinstance(raw_history, list):
            for item in raw_history:
                # {"status": s, "seen_at": t}, or the store's compact [s, t] pair
                if isinstance(item, Mapping):
                    status, seen_at = item.get("status"), item.get("seen_at")
                elif isinstance(item, list) and len(item) == 2:
                    status, seen_at = item
                else:
                    continue
                if isinstance(status, str):
                    seen = parse_timestamp(seen_at)
                    status = clean_text(status)[: limits.MAX_STATUS]
                    history.append(StatusChange(status, seen or 0.0))
        label = obj.get("label")
        last_error = obj.get("last_error")
        return cls(
            task_id=task_id,
            kind=kind,
            label=clean_text(label[: limits.MAX_LABEL]) if isinstance(label, str) else "",
            added_at=parse_timestamp(obj.get("added_at")) or 0.0,
            state=state,
            last_polled_at=parse_timestamp(obj.get("last_polled_at")),
            last_error=(
                clean_text(last_error[: limits.MAX_ERROR]) if isinstance(last_error, str) else None
            ),
            not_found=obj.get("not_found") is True,
            history=history,
            request=TaskRequest.from_json(obj.get("request")),
        )
