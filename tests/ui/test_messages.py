"""One PollerMessage carries every core event to the dashboard, which dispatches on the
event's class; an event class it does not know fails loudly."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, get_args

import pytest

from siray_tui.core.events import (
    AuthFailed,
    PollerEvent,
    PollFailed,
    PollingStateChanged,
    RateLimited,
    SessionEvent,
    StoreFailed,
    TaskNotFound,
    TaskUpdated,
    WatchlistChanged,
)
from siray_tui.core.models import TaskStatus
from tests.ui.conftest import AppFactory, ready, table
from tests.ui.fixtures import NOW, make_task

SIZE = (120, 36)


def one_of_each() -> dict[type[Any], tuple[SessionEvent, str]]:
    """An instance of every core event class and the dashboard handler it must reach."""
    task = make_task("image_msg000001", "SUCCESS")
    return {
        TaskUpdated: (TaskUpdated(task, TaskStatus.IN_PROGRESS, True), "task_updated"),
        PollFailed: (PollFailed(task, "HTTP 502", NOW + 5, 1), "poll_failed"),
        TaskNotFound: (TaskNotFound(task), "task_not_found"),
        AuthFailed: (AuthFailed("HTTP 401 bad token"), "auth_failed"),
        RateLimited: (RateLimited(NOW + 30, 30.0), "rate_limited"),
        PollingStateChanged: (PollingStateChanged(True, "paused by you"), "polling_state_changed"),
        WatchlistChanged: (WatchlistChanged([task], []), "watchlist_changed"),
        StoreFailed: (StoreFailed("could not write"), "store_failed"),
    }


def test_every_core_event_class_is_covered() -> None:
    """A new event class in the union must get a handler (and a line above)."""
    classes = set(get_args(PollerEvent)) | set(get_args(SessionEvent))
    assert classes == set(one_of_each())


async def test_each_event_reaches_its_handler(
    make_app: AppFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot)
        seen: list[tuple[str, object]] = []
        for _, handler in one_of_each().values():
            monkeypatch.setattr(
                app.dashboard, handler, lambda event, name=handler: seen.append((name, event))
            )
        events = one_of_each()
        for event, _ in events.values():
            app._forward(event)  # what the session's callback does
        await pilot.pause()
        assert seen == [(handler, event) for event, handler in events.values()]


async def test_events_change_the_screen(make_app: AppFactory) -> None:
    """Through the real handlers: an update, a new task from another process, a 401."""
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot)
        newcomer = make_task("video_msg000002", "QUEUED")
        app._forward(WatchlistChanged([newcomer], []))
        app._forward(AuthFailed("HTTP 401 bad token"))
        await pilot.pause()
        app.dashboard.flush()
        assert "video_msg000002" in table(app).tasks
        assert app.dashboard.banner.kind == "auth"


@dataclass(frozen=True)
class Unheard:
    """An event class no handler knows."""


async def test_an_unknown_event_fails_loudly(make_app: AppFactory) -> None:
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot)
        with pytest.raises(TypeError, match="Unheard"):
            app.dashboard.handle(Unheard())  # type: ignore[arg-type]


async def test_an_unknown_event_posted_stops_the_app(make_app: AppFactory) -> None:
    """Through the message loop too: the app stops with the error, nothing is skipped."""
    app = make_app()
    with pytest.raises(TypeError, match="Unheard"):
        async with app.run_test(size=SIZE) as pilot:
            await ready(pilot)
            app._forward(Unheard())  # type: ignore[arg-type]
            await pilot.pause()
