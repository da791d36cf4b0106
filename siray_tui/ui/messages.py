"""Textual messages the App posts to the dashboard: the poller's events, in UI form.

The poller (headless core) calls back with plain dataclass events; the App re-posts each
as one of these so that the dashboard handles them in its own message loop, in order,
with Textual's usual ``on_*`` handlers. Every ``task`` is a copy made by the poller, so the
dashboard may keep it without sharing state with the poller.
"""

from __future__ import annotations

from dataclasses import dataclass

from textual.message import Message

from siray_tui.core import poller
from siray_tui.core.models import TaskStatus, WatchedTask


@dataclass
class TaskUpdated(Message):
    """A poll answered with a usable state."""

    task: WatchedTask
    """The task after the poll."""
    previous_status: TaskStatus | None
    """The status before the poll (None when this was the first answer)."""
    status_changed: bool
    """Whether the status differs from the last one seen."""


@dataclass
class PollFailed(Message):
    """A poll failed in a way worth retrying; the task keeps its last good state."""

    task: WatchedTask
    """The task, with ``last_error`` set."""
    error: str
    """A one-line reason, already cleaned."""
    retry_at: float
    """Wall-clock time (Unix seconds) of the next try."""
    attempt: int
    """How many polls in a row have failed."""
    unreachable: bool = False
    """No answer came at all (connection failed or timed out)."""


@dataclass
class TaskNotFound(Message):
    """Every endpoint answered 404 for the task."""

    task: WatchedTask
    """The task, with ``not_found`` set."""


@dataclass
class AuthFailed(Message):
    """The API refused the token (401/403); the poller has stopped polling."""

    message: str
    """What the API said, cleaned."""


@dataclass
class RateLimited(Message):
    """The API answered 429; all polling waits."""

    until: float
    """Wall-clock time (Unix seconds) polling resumes."""
    retry_after: float | None
    """What the server asked for, or None when the poller chose a backoff."""


@dataclass
class PollingStateChanged(Message):
    """Polling was paused or resumed (by the user, or by an auth failure)."""

    paused: bool
    """Whether polling is paused now."""
    reason: str
    """Why, in a few words (e.g. ``"paused by you"``)."""


@dataclass
class WatchlistChanged(Message):
    """Another process (``siray-tui add`` in a script, the demo) changed the watchlist."""

    added: list[WatchedTask]
    """Tasks that appeared in the file."""
    removed: list[str]
    """IDs that disappeared from it."""


def from_event(event: poller.PollerEvent) -> Message:
    """The message for a poller event (one class each, same fields)."""
    if isinstance(event, poller.TaskUpdated):
        return TaskUpdated(event.task, event.previous_status, event.status_changed)
    if isinstance(event, poller.PollFailed):
        return PollFailed(event.task, event.error, event.retry_at, event.attempt, event.unreachable)
    if isinstance(event, poller.TaskNotFound):
        return TaskNotFound(event.task)
    if isinstance(event, poller.AuthFailed):
        return AuthFailed(event.message)
    if isinstance(event, poller.RateLimited):
        return RateLimited(event.until, event.retry_after)
    return PollingStateChanged(event.paused, event.reason)
