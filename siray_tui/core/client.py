"""SirayClient: the only module that speaks HTTP to the Siray API.

One connection pool is created per SirayClient and reused for every request: a client per
request (as the official SDK does) rebuilds the TLS context each time, about 16 ms of CPU,
and was 22x slower here. The pool is :class:`~siray_tui.core.lanes.Lanes` (one
connection per lane, 10 at most): httpcore's own pool walks all its connections twice per
request, which made it slow down with its size (1,424 requests/s at 10 connections, 417 at
50) and cost 18% of a submission's CPU even at 8.

The token is attached per request, and only to URLs on the base URL's origin; redirects
are not followed, so it can never ride along to another host or to an output URL.
Every failure is mapped onto the tree in :mod:`siray_tui.core.errors`.

Requests go straight to the transport, past ``AsyncClient.send``: that layer only adds
what this client never uses (auth flows, redirects, a cookie jar that would keep what a
server sets) and cost ~40 µs of CPU per request. URLs are built absolute and kept: httpx
joins a relative path onto the base URL in ~50 µs more. At a thousand submissions a
second all three show (see ``bench/submit.py``).
"""

from __future__ import annotations

import asyncio
import json
import logging
import math
import os
import re
import ssl
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC
from email.utils import parsedate_to_datetime
from typing import Any, Final
from urllib.parse import urlsplit

import httpx

from siray_tui import __version__
from siray_tui.core import limits
from siray_tui.core.catalog import ModelInfo, parse_models
from siray_tui.core.clock import Clock, SystemClock
from siray_tui.core.errors import (
    ApiError,
    AuthError,
    ConfigError,
    HttpStatusError,
    InvalidTaskIdError,
    NotFoundError,
    NotSentError,
    PayloadError,
    RateLimitedError,
    RequestTimeoutError,
    ServerError,
    TransportError,
)
from siray_tui.core.lanes import Lanes
from siray_tui.core.models import TaskKind, TaskState, validate_task_id
from siray_tui.core.pool import HttpPoolOwner
from siray_tui.core.secret import Secret
from siray_tui.core.text import clean_text, is_loopback_host

logger = logging.getLogger(__name__)

DEFAULT_BASE_URL: Final = "https://api.siray.ai"
DEFAULT_DEADLINE: Final = 30.0
MAX_CONNECTIONS: Final = 10
RETRY_AFTER_CAP: Final = 120.0
URL_CACHE_SIZE: Final = 4096
"""Parsed request URLs kept (one per task polled, plus the fixed paths)."""
USER_AGENT: Final = f"siray-tui/{__version__}"
_ERRNO_PREFIX: Final = re.compile(r"^\[Errno -?\d+\]\s*")

_QUERY_PATHS: Final = {
    TaskKind.IMAGE: "/v1/images/generations/async/{task_id}",
    TaskKind.VIDEO: "/v1/video/generations/{task_id}",
    TaskKind.MODEL_3D: "/v1/3d/generations/{task_id}",
}
MODELS_PATH: Final = "/v1/models"
_SUBMIT_PATHS: Final = {
    TaskKind.IMAGE: "/v1/images/generations/async",
    TaskKind.VIDEO: "/v1/video/generations",
    TaskKind.MODEL_3D: "/v1/3d/generations",
}


def parse_retry_after(value: str | None, *, now: float) -> float | None:
    """Seconds to wait from a ``Retry-After`` header, capped at 120 s.

    Accepts delta-seconds (``"7"``, ``"2.5"``) and HTTP dates. Absent, garbage, negative
    numbers, ``inf`` and ``nan`` give None: the caller then backs off on its own. A date
    in the past gives 0.
    """
    if value is None:
        return None
    text = value.strip()
    if not text:
        return None
    try:
        seconds = float(text)
    except ValueError:
        try:
            when = parsedate_to_datetime(text)
        except (TypeError, ValueError, IndexError, OverflowError):
            return None
        if when.tzinfo is None:  # the asctime form carries no zone but is GMT by definition
            when = when.replace(tzinfo=UTC)
        seconds = max(0.0, when.timestamp() - now)
    else:
        if not math.isfinite(seconds) or seconds < 0:
            return None
    return min(seconds, RETRY_AFTER_CAP)


def check_base_url(base_url: str, *, insecure: bool = False) -> str:
    """Return the base URL without a trailing slash, or raise ConfigError.

    Plain ``http`` would carry the token in clear, so it is allowed only to loopback
    (the simulator) unless ``insecure`` says the user accepts that.
    """
    parts = urlsplit(base_url.strip())
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ConfigError(f"base URL must be http(s)://host[:port], got {base_url!r}")
    if parts.query or parts.fragment or parts.username or parts.password:
        raise ConfigError(
            f"base URL must not carry credentials, a query or a fragment: {base_url!r}"
        )
    if parts.scheme == "http" and not insecure and not is_loopback_host(parts.hostname):
        raise ConfigError(
            f"refusing plain http base URL {base_url!r}: the token would travel in clear "
            "(use https, or --insecure if you really mean it)"
        )
    return base_url.strip().rstrip("/")


def _chain(exc: BaseException) -> Iterator[BaseException]:
    """``exc`` and every exception reachable beneath it, in a short, finite walk.

    Both ``__cause__`` and ``__context__`` are followed, even a suppressed context
    (httpcore hides the OSError with the errno that way), and the members of an
    exception group: a superset of what a traceback prints.
    """
    pending = [exc]
    for _ in range(32):
        if not pending:
            return
        seen = pending.pop()
        yield seen
        if isinstance(seen, BaseExceptionGroup):
            pending.extend(seen.exceptions)
        pending.extend(e for e in (seen.__context__, seen.__cause__) if e is not None)


def _connect_reason(exc: BaseException, detail: str) -> str:
    """Why a connection failed, as the OS said it ("connection refused"), if it did.

    httpx's own text is often only "All connection attempts failed"; the errno of the
    underlying OSError is the useful part.
    """
    for seen in _chain(exc):
        if isinstance(seen, OSError) and seen.errno:
            return os.strerror(seen.errno).lower()
    return _ERRNO_PREFIX.sub("", detail).lower() or "connection failed"


def _tls_context(base_url: str) -> ssl.SSLContext:
    """Certificate checks for an https base URL: httpx's own (certifi's CAs), built once
    for every lane. A plain-http base URL (loopback, or ``--insecure``) never uses TLS, as
    every request goes to it, so it gets a context that trusts no one: nothing could be
    verified through it, and it costs 0.5 ms where loading the CAs costs 25-100."""
    if urlsplit(base_url).scheme == "https":
        return httpx.create_ssl_context(verify=True, trust_env=False)
    return ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)  # verifies hostnames; no CA loaded


def _lanes(base_url: str, connections: int) -> Lanes:
    """``connections`` one-connection transports (see :mod:`siray_tui.core.lanes`)."""
    context = _tls_context(base_url)
    one = httpx.Limits(max_connections=1, max_keepalive_connections=1)
    return Lanes(
        lambda: httpx.AsyncHTTPTransport(verify=context, limits=one, trust_env=False),
        connections,
    )


def _origin(url: httpx.URL) -> tuple[str, str, int | None]:
    return (url.scheme, url.host, url.port)


@dataclass(frozen=True, slots=True)
class _Answer:
    """A response read in full (and within the caps): status, headers and body."""

    status_code: int
    headers: httpx.Headers
    content: bytes


def _error_detail(answer: _Answer) -> str:
    """A short, cleaned message from an error body, whatever its shape."""
    try:
        body = json.loads(answer.content)
    except (ValueError, UnicodeDecodeError, RecursionError):
        return ""
    if isinstance(body, dict):
        error = body.get("error")
        if isinstance(error, dict):
            return clean_text(error.get("message") or "")[:200]
        if isinstance(error, str):
            return clean_text(error)[:200]
        return clean_text(body.get("message") or "")[:200]
    return ""


class SirayClient(HttpPoolOwner):
    """Queries and submits Siray tasks over one shared connection pool.

    Use as an async context manager, or call :meth:`aclose`.

    Args:
        base_url: e.g. ``https://api.siray.ai``.
        token: the API token, or None (every request then fails with AuthError, but the
            dashboard can still open).
        insecure: allow a plain-http base URL to a host that is not loopback.
        timeout: seconds httpx waits for the connection and for each read.
        deadline: seconds for a whole request, body included: a server that drips its
            answer a byte at a time never holds a poller slot longer than this.
        max_answer_bytes: the most of a body read; a longer one is a bad answer.
        max_connections: pool size, at most 10.
        transport: an httpx transport, for tests (``httpx.MockTransport``).
        clock: for Retry-After dates.
    """

    def __init__(
        self,
        base_url: str = DEFAULT_BASE_URL,
        token: Secret | None = None,
        *,
        insecure: bool = False,
        timeout: float = 15.0,
        deadline: float = DEFAULT_DEADLINE,
        max_answer_bytes: int = limits.MAX_ANSWER_BYTES,
        max_connections: int = MAX_CONNECTIONS,
        transport: httpx.AsyncBaseTransport | None = None,
        clock: Clock | None = None,
    ) -> None:
        self.base_url = check_base_url(base_url, insecure=insecure)
        problem = token.problem() if token else None
        if problem:
            raise ConfigError(f"the API token {problem}")
        self._token = token
        self._deadline = deadline
        self._max_answer_bytes = max_answer_bytes
        self._clock = clock or SystemClock()
        self._origin = _origin(httpx.URL(self.base_url))
        connections = max(1, min(max_connections, MAX_CONNECTIONS))
        self._transport = transport or _lanes(self.base_url, connections)
        self._http = httpx.AsyncClient(
            base_url=self.base_url,
            timeout=httpx.Timeout(timeout, connect=min(timeout, 10.0)),
            follow_redirects=False,
            headers={"User-Agent": USER_AGENT, "Accept": "application/json"},
            transport=self._transport,
            trust_env=False,
        )
        self._urls: dict[str, httpx.URL] = {}

    @property
    def has_token(self) -> bool:
        """Whether a non-empty token was given."""
        return bool(self._token)

    def query_url(self, task_id: str, kind: TaskKind) -> str:
        """The full query URL for a task of a concrete kind."""
        return self.base_url + self._query_path(task_id, kind)

    @staticmethod
    def _query_path(task_id: str, kind: TaskKind) -> str:
        if kind is TaskKind.AUTO:
            raise ValueError("query needs a concrete kind (image, video or 3d), not auto")
        return _QUERY_PATHS[kind].format(task_id=validate_task_id(task_id))

    async def get_task(self, task_id: str, kind: TaskKind) -> TaskState:
        """The current state of ``task_id`` from the ``kind`` endpoint.

        Raises:
            InvalidTaskIdError: before any request, for an ID unsafe in a URL.
            ApiError: one of its subclasses for every other failure.
        """
        response = await self._send("GET", self._query_path(task_id, kind))
        return TaskState.from_payload(self._decode(response), task_id=task_id)

    async def find_task(self, task_id: str, kind: TaskKind) -> tuple[TaskKind, TaskState]:
        """Like :meth:`get_task`, but an AUTO kind tries each endpoint in turn.

        Returns the kind that answered and the state.

        Raises:
            NotFoundError: when every endpoint tried answered 404.
        """
        candidates = kind.endpoints_to_try(task_id)
        for candidate in candidates[:-1]:
            try:
                return candidate, await self.get_task(task_id, candidate)
            except NotFoundError:
                continue
        return candidates[-1], await self.get_task(task_id, candidates[-1])

    async def submit(self, kind: TaskKind, request: dict[str, Any]) -> str:
        """Submit a generation request; returns the new task's ID.

        The ID is read from ``data.task_id``, else a top-level ``task_id``, else ``id``
        (the docs and the SDKs disagree).

        Raises:
            NotSentError: no connection was made, so certainly no task was created.
            ApiError: one of its subclasses; PayloadError when no usable ID came back
                (quoting the start of the body, cleaned).
        """
        if kind is TaskKind.AUTO:
            raise ValueError("submit needs a concrete kind (image, video or 3d)")
        response = await self._send("POST", _SUBMIT_PATHS[kind], json_body=request)
        body = self._decode(response)
        quoted = clean_text(response.content[:120].decode("utf-8", "replace"))
        if not isinstance(body, dict):
            raise PayloadError(f"submit answer is not a JSON object: {quoted!r}")
        code = body.get("code")
        if code is not None and str(code).strip().lower() not in ("success", "0", "200"):
            message = clean_text(body.get("message") or "")[: limits.MAX_QUOTED]
            raise PayloadError(f"submit answered code {clean_text(code)[:40]!r}: {message!r}")
        data = body.get("data")
        found = [data.get("task_id") if isinstance(data, dict) else None]
        found += [body.get("task_id"), body.get("id")]
        task_id = next((item for item in found if isinstance(item, str) and item), None)
        if task_id is None:
            raise PayloadError(f"submit answer has no task ID: {quoted!r}")
        try:
            return validate_task_id(task_id)
        except InvalidTaskIdError as exc:
            raise PayloadError(f"submit answered an unusable task ID: {exc.reason}") from exc

    async def list_models(self) -> list[ModelInfo]:
        """The generation models the account can use (``GET /v1/models``).

        Raises:
            ApiError: one of its subclasses; PayloadError when no list came back.
        """
        response = await self._send("GET", MODELS_PATH)
        return parse_models(self._decode(response))

    def _url(self, path: str) -> httpx.URL:
        """The absolute URL of ``path`` (``/...``) on the base URL, parsed once per path;
        an absolute URL is taken as it is."""
        url = self._urls.get(path)
        if url is None:
            if len(self._urls) >= URL_CACHE_SIZE:
                self._urls.clear()
            full = self.base_url + path if path.startswith("/") else path
            url = self._urls[path] = httpx.URL(full)
        return url

    async def _send(
        self, method: str, path: str, *, json_body: dict[str, Any] | None = None
    ) -> _Answer:
        if self._http.is_closed:
            raise RuntimeError("the client is closed")
        request = self._http.build_request(method, self._url(path), json=json_body)
        if self._token and _origin(request.url) == self._origin:
            request.headers["Authorization"] = f"Bearer {self._token.reveal()}"
        started = self._clock.monotonic()
        try:
            async with asyncio.timeout(self._deadline):
                answer = await self._exchange(request)
        except httpx.LocalProtocolError as exc:
            # No cause, whatever its text: h11 refuses a bad header with a message that
            # quotes the header's value (repr'd bytes, so a search for the token can miss
            # it), and the Authorization header is one of ours. A traceback would print it.
            raise TransportError(
                f"request refused by the HTTP library ({type(exc).__name__})"
            ) from None
        except (TimeoutError, httpx.TransportError) as exc:
            raise self._no_answer(exc, f"{method} {path}") from self._safe_cause(exc)
        # The path and status only: never a header, so never the token.
        logger.debug(
            "%s %s: HTTP %d in %.0f ms",
            method,
            path,
            answer.status_code,
            (self._clock.monotonic() - started) * 1000,
        )
        self._raise_for_status(answer)
        return answer

    async def _exchange(self, request: httpx.Request) -> _Answer:
        """Send ``request`` and read its body, abandoning it beyond the byte cap."""
        response = await self._transport.handle_async_request(request)
        try:
            cap = self._max_answer_bytes
            declared = response.headers.get("Content-Length", "")
            too_big = PayloadError(
                f"answer larger than {cap:,} bytes: not read", status_code=response.status_code
            )
            if declared.isdigit() and int(declared) > cap:
                raise too_big
            chunks: list[bytes] = []
            size = 0
            async for chunk in response.aiter_bytes():
                size += len(chunk)
                if size > cap:
                    raise too_big
                chunks.append(chunk)
        finally:
            await response.aclose()
        return _Answer(response.status_code, response.headers, b"".join(chunks))

    def _no_answer(self, exc: Exception, request: str) -> TransportError:
        """The error for a request that got no usable answer: timeout, refused, dropped."""
        if isinstance(exc, httpx.ConnectTimeout):
            logger.debug("%s: connection timed out", request)
            return NotSentError(f"cannot reach {self.base_url}: connection timed out")
        if isinstance(exc, httpx.PoolTimeout):
            # No connection came free in time, so the request never started: a submission
            # is certainly not created (it may be sent again), unlike after a read timeout.
            logger.debug("%s: no free connection in time", request)
            return NotSentError(f"no free connection to {self.base_url} in time: not sent")
        if isinstance(exc, httpx.TimeoutException):
            logger.debug("%s: timed out (%s)", request, type(exc).__name__)
            return RequestTimeoutError(f"request timed out ({type(exc).__name__})")
        if isinstance(exc, TimeoutError):  # our own deadline for the whole exchange
            logger.debug("%s: no complete answer within the deadline", request)
            return RequestTimeoutError(
                f"request timed out (no complete answer within {self._deadline:g} s)"
            )
        if isinstance(exc, httpx.ConnectError):
            logger.debug("%s: cannot connect (%s)", request, type(exc).__name__)
            reason = _connect_reason(exc, self._detail(exc))
            return NotSentError(f"cannot reach {self.base_url}: {reason}")
        detail = self._detail(exc)
        logger.debug("%s: connection lost: %s", request, detail)
        return TransportError(f"connection lost to {self.base_url}: {detail}")

    def _safe_cause(self, exc: BaseException) -> BaseException | None:
        """``exc`` to chain as the cause of our error, or None if its chain shows the token.

        The cause keeps httpx's detail (which call failed, the OS errno) for a debug
        traceback; but a traceback prints every message in the chain, so a chain where any
        message or argument holds the token is dropped whole rather than redacted.
        """
        if not self._token:
            return exc
        token = self._token.reveal()
        for seen in _chain(exc):
            if token in str(seen) or any(token in repr(arg) for arg in seen.args):
                return None
        return exc

    def _detail(self, exc: Exception) -> str:
        """An httpx exception's text, cleaned, cut and with the token taken out."""
        text = str(exc)
        if self._token:
            text = self._token.redact(text)
        return clean_text(text)[:120] or type(exc).__name__

    def _raise_for_status(self, response: _Answer) -> None:
        status = response.status_code
        if 200 <= status < 300:
            return
        detail = _error_detail(response)
        suffix = f": {detail}" if detail else ""
        if status in (401, 403):
            raise AuthError(f"HTTP {status} unauthorized{suffix}", status_code=status)
        if status == 404:
            raise NotFoundError(f"HTTP 404 task not found{suffix}", status_code=status)
        if status == 429:
            retry_after = parse_retry_after(
                response.headers.get("Retry-After"), now=self._clock.now()
            )
            raise RateLimitedError(f"HTTP 429 rate limited{suffix}", retry_after=retry_after)
        if status >= 500:
            raise ServerError(f"HTTP {status} server error{suffix}", status_code=status)
        raise HttpStatusError(f"HTTP {status} unexpected answer{suffix}", status_code=status)

    @staticmethod
    def _decode(response: _Answer) -> object:
        try:
            return json.loads(response.content)
        except (ValueError, UnicodeDecodeError, RecursionError) as exc:
            kind = clean_text(response.headers.get("content-type", "unknown type"))[:40]
            raise PayloadError(
                f"answer is not JSON ({kind})", status_code=response.status_code
            ) from exc


__all__ = ["DEFAULT_BASE_URL", "ApiError", "SirayClient", "check_base_url", "parse_retry_after"]
