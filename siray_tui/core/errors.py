"""The exception tree of siray-tui.

Every error the core raises on purpose is a :class:`SirayError`, so callers (the
CLI, the poller, the dashboard) can catch one root and show a one-line message::

    SirayError
    ├── ConfigError              a bad flag, environment value or config.toml
    ├── InputError               a request we will not send (a bad --param, a huge image)
    ├── InvalidTaskIdError       an ID that must never reach a URL path
    ├── StoreError               the watchlist file
    │   └── WatchlistVersionError    written by a newer siray-tui: never downgraded
    ├── UnsafeUrlError           a server URL we refuse to open or fetch
    ├── DownloadError            an output that could not be saved
    ├── ExportError              an export file that could not be written
    └── ApiError                 anything the Siray API answered (or did not)
        ├── AuthError            401 / 403: the token is missing or wrong
        ├── NotFoundError        404: no such task at this endpoint
        ├── RateLimitedError     429: ``retry_after`` seconds, or None when unknown
        ├── ServerError          5xx
        ├── HttpStatusError      any other unexpected status (400, 418, ...)
        ├── TransportError       no usable HTTP answer at all
        │   ├── RequestTimeoutError  the request timed out
        │   └── NotSentError     no connection was made: the request never left
        └── PayloadError         a 200 whose body is not JSON or not usable

The classes say what happened, not what to do about it: the poller alone decides, by
class, whether a failure pauses everyone (429), stops polling (401/403), marks a task not
found (404) or backs that one task off (everything else), so that policy lives in one place.
Raised from an httpx error, an ``ApiError`` keeps it as ``__cause__`` for a debug
traceback, unless that chain could quote the token (see ``SirayClient._send``).
"""

from __future__ import annotations


class SirayError(Exception):
    """Root of every error siray-tui raises on purpose."""


class ConfigError(SirayError):
    """A setting could not be used; the message names the setting and the value."""


class InputError(SirayError):
    """What the user asked to submit cannot be sent as it is; found before any request."""


class InvalidTaskIdError(SirayError, ValueError):
    """A task ID that is empty, too long, or holds a character outside ``[A-Za-z0-9_.-]``."""

    def __init__(self, task_id: str, reason: str) -> None:
        self.task_id = task_id
        self.reason = reason
        super().__init__(f"invalid task ID {task_id!r}: {reason}")


class StoreError(SirayError):
    """The watchlist could not be read or written."""


class WatchlistVersionError(StoreError):
    """The watchlist was written by a newer version; we refuse rather than downgrade it."""


class UnsafeUrlError(SirayError):
    """A URL from the server that we will not open or fetch."""


class DownloadError(SirayError):
    """An output file could not be downloaded."""


class ExportError(SirayError):
    """An export could not be written; the message names the path and the reason."""


class ApiError(SirayError):
    """The API did not give us a usable answer.

    Attributes:
        status_code: the HTTP status, or None when there was no HTTP answer.
    """

    def __init__(self, message: str, *, status_code: int | None = None) -> None:
        super().__init__(message)
        self.status_code = status_code


class AuthError(ApiError):
    """401 or 403: retrying with the same token cannot help."""


class NotFoundError(ApiError):
    """404: the endpoint does not know this task ID."""


class RateLimitedError(ApiError):
    """429: everyone should wait.

    Attributes:
        retry_after: seconds to wait as the server asked (capped), or None when the
            header was absent or unusable and the caller must choose a backoff.
    """

    def __init__(self, message: str, *, retry_after: float | None) -> None:
        super().__init__(message, status_code=429)
        self.retry_after = retry_after


class ServerError(ApiError):
    """5xx: the service or a gateway failed; worth retrying later."""


class HttpStatusError(ApiError):
    """A status we did not expect (400, 405, 418, a 3xx...).

    Retrying the same request may not help, but a proxy or gateway in the way can answer
    odd statuses for a while, so the poller backs the task off like a 5xx: the capped,
    doubling delay costs little if it never helps, and the row shows the status meanwhile.
    """


class TransportError(ApiError):
    """No HTTP answer: connection refused or dropped, DNS, TLS."""


class RequestTimeoutError(TransportError):
    """The request took longer than the configured timeout."""


class NotSentError(TransportError):
    """The connection could not be made (refused, DNS, connect timeout): the server saw
    nothing, so a submission that fails this way certainly created no task."""


class PayloadError(ApiError):
    """The body was not JSON, or JSON we cannot turn into a task state."""
