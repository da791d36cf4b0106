"""The one Textual message the App posts to the dashboard: a core event, wrapped.

The session (headless core) calls back with plain dataclass events
(:data:`~siray_tui.core.events.SessionEvent`); the App posts each inside a
:class:`PollerMessage`, so the dashboard handles them in its own message loop, in order.
The dashboard dispatches on the event's class, and an event it does not know is an error,
not a silent default. Every ``task`` in an event is a copy made by the core, so the
dashboard may keep it without sharing state with the poller.
"""

from __future__ import annotations

from textual.message import Message

from siray_tui.core.events import SessionEvent


class PollerMessage(Message):
    """A core event (poller or session) on its way to the dashboard."""

    def __init__(self, event: SessionEvent) -> None:
        super().__init__()
        self.event = event
        """The event, unchanged."""
