"""What the poller (and the session around it) reports: plain, frozen dataclasses.

Consumers (the dashboard through one Textual message, the CLI's ``status`` and ``wait``)
dispatch on the class. Every ``task`` in an event is a copy, so a consumer may keep it.
"""

from __future__ import annotations

from dataclasses import dataclass

from siray_tui.core.models import TaskStatus, WatchedTask


@dataclass(frozen=True)
class TaskUpdated:
    """A poll answered; sent for every good answer, since progress moves within a status.

    Attributes:
        task: a copy of the task after the answer was recorded.
        previous_status: the status before this answer, None for the first answer.
        status_changed: whether the status differs from the one before.
    """

    task: WatchedTask
    previous_status: TaskStatus | None
    status_changed: bool


@dataclass(frozen=True)
class PollFailed:
    """A poll of one task failed in a way that may pass; the task backs off.

    Attributes:
        task: a copy of the task, its ``last_error`` set and its last good state kept.
        error: the one-line reason.
        retry_at: wall-clock time (Unix seconds) of the next try.
        attempt: how many polls in a row have failed.
        unreachable: no answer came at all (the connection failed or timed out), as
            opposed to a bad answer: the server may be down, or the network.
    """

    task: WatchedTask
    error: str
    retry_at: float
    attempt: int
    unreachable: bool = False


@dataclass(frozen=True)
class TaskNotFound:
    """Every endpoint to try answered 404; the task is no longer polled (until refreshed).

    Attributes:
        task: a copy of the task, ``not_found`` set.
    """

    task: WatchedTask


@dataclass(frozen=True)
class AuthFailed:
    """The API rejected the token; all polling stopped. Sent once, not once per task.

    Attributes:
        message: the one-line reason from the API.
    """

    message: str


@dataclass(frozen=True)
class RateLimited:
    """The API answered 429; every task waits. Sent once per episode.

    Attributes:
        until: wall-clock time (Unix seconds) polling resumes.
        retry_after: what the server asked for, or None when we chose a backoff.
    """

    until: float
    retry_after: float | None


@dataclass(frozen=True)
class PollingStateChanged:
    """Polling stopped or started again as a whole.

    Attributes:
        paused: True when no new polls start (paused by the user, or the token was
            rejected); False when polling resumed.
        reason: why, for the status bar.
    """

    paused: bool
    reason: str


PollerEvent = (
    TaskUpdated | PollFailed | TaskNotFound | AuthFailed | RateLimited | PollingStateChanged
)


@dataclass(frozen=True)
class PollerStats:
    """A snapshot of what the poller is doing, for the summary bar.

    Attributes:
        in_flight: requests sent and not yet answered.
        polling: tasks still being polled (neither final nor not found).
        requests_total: requests started since the poller was made.
        request_rate: requests per second over the last 10 seconds.
        last_error: the most recent error of any kind, one line.
        paused: no new polls start (user pause or rejected token).
        auth_failed: the token was rejected and polling stopped.
        rate_limited_until: wall-clock end of a 429 pause under way, else None.
    """

    in_flight: int
    polling: int
    requests_total: int
    request_rate: float
    last_error: str | None
    paused: bool
    auth_failed: bool
    rate_limited_until: float | None


# -- the session's own events --------------------------------------------------------------


@dataclass(frozen=True)
class WatchlistChanged:
    """Another process (``siray-tui add`` in a script, the demo) changed the watchlist file;
    the session has already applied the change to the poller.

    Attributes:
        added: tasks that appeared in the file (copies).
        removed: IDs that disappeared from it.
    """

    added: list[WatchedTask]
    removed: list[str]


@dataclass(frozen=True)
class StoreFailed:
    """A background write of the watchlist (a removal, an undo) failed.

    Attributes:
        message: one line, already cleaned.
    """

    message: str


SessionEvent = PollerEvent | WatchlistChanged | StoreFailed
"""Everything a :class:`~siray_tui.core.session.WatchSession` reports."""
