"""UI fixtures: deterministic apps (fixed clock, UTC, no animation, no blinking)."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator
from functools import partial
from pathlib import Path
from typing import Any

import httpx
import pytest
from textual.pilot import Pilot
from textual.widgets import Input, TextArea

from siray_tui.core.clock import Clock, FakeClock
from siray_tui.core.downloads import Downloader
from siray_tui.core.errors import NotFoundError
from siray_tui.core.models import TaskKind, TaskState, WatchedTask
from siray_tui.core.thumbs import ThumbCache
from siray_tui.ui.app import SirayApp
from siray_tui.ui.screens.dashboard import DashboardScreen
from siray_tui.ui.widgets.task_table import TaskTable
from tests.ui.fixtures import NOW, every_status, fill_store, settings_for

AppFactory = Callable[..., SirayApp]


@pytest.fixture(autouse=True)
def _utc(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Local times in the details screen render the same everywhere."""
    monkeypatch.setenv("TZ", "UTC")
    time.tzset()
    yield
    monkeypatch.undo()
    time.tzset()


class FakeSource:
    """A TaskSource answering from payloads, counting calls; unknown IDs are 404."""

    def __init__(self, payloads: dict[str, dict[str, Any]] | None = None) -> None:
        self.payloads = payloads or {}
        self.calls: list[str] = []

    async def get_task(self, task_id: str, kind: TaskKind) -> TaskState:
        self.calls.append(task_id)
        payload = self.payloads.get(task_id)
        if payload is None:
            raise NotFoundError("HTTP 404 task not found", status_code=404)
        return TaskState.from_payload(payload, task_id=task_id)


def _no_network(request: httpx.Request) -> httpx.Response:
    raise httpx.ConnectError("no network in tests", request=request)


def offline_thumbs(folder: Path, transport: httpx.AsyncBaseTransport | None = None) -> ThumbCache:
    """A preview cache in ``folder`` whose fetches fail before any connection (or go to
    ``transport``)."""
    transport = transport or httpx.MockTransport(_no_network)
    return ThumbCache(folder, lambda: Downloader(folder, transport=transport))


@pytest.fixture
def make_app(tmp_path: Path) -> AppFactory:
    """Build a SirayApp over a store in ``tmp_path`` holding ``tasks``.

    Keyword arguments: ``tasks`` (default every status), ``token``, ``clock`` (default
    a FakeClock at the fixtures' time), ``start_polling`` (default False), ``source``
    (default a FakeSource; ``"client"`` for a real SirayClient),
    ``downloader_factory``, ``thumbs_factory`` (default :func:`offline_thumbs`: the
    fixtures' outputs are at api.siray.ai, which no test may reach); anything else
    overrides a Settings field.
    """

    def make(
        tasks: Iterable[WatchedTask] | None = None,
        *,
        token: str | None = "test-token",
        clock: Clock | None = None,
        start_polling: bool = False,
        source: Any = None,
        downloader_factory: Any = None,
        thumbs_factory: Any = None,
        **changes: Any,
    ) -> SirayApp:
        settings = settings_for(tmp_path, token=token, **changes)
        store = fill_store(settings.data_dir, every_status() if tasks is None else tasks)
        app = SirayApp(
            settings,
            store=store,
            source=None if source == "client" else (source or FakeSource()),
            clock=clock if clock is not None else FakeClock(NOW),
            start_polling=start_polling,
            downloader_factory=downloader_factory,
            thumbs_factory=thumbs_factory or partial(offline_thumbs, tmp_path / "thumbs"),
        )
        app.animation_level = "none"
        return app

    return make


def dashboard(app: SirayApp) -> DashboardScreen:
    """The app's dashboard screen."""
    return app.dashboard


def table(app: SirayApp) -> TaskTable:
    """The app's task table."""
    return app.dashboard.query_one(TaskTable)


def still(pilot: Pilot[Any]) -> None:
    """Stop every cursor blinking on the current screen (for snapshots)."""
    for widget in pilot.app.screen.query("Input, TextArea"):
        if isinstance(widget, Input | TextArea):
            widget.cursor_blink = False


async def ready(pilot: Pilot[Any]) -> None:
    """Wait until the watchlist is read, shown in full and handed to the poller."""
    app = pilot.app
    for _ in range(3000):  # a generous bound (30 s) on a busy machine, not a timing check
        if app.dashboard.loaded and not table(app).filling:  # type: ignore[attr-defined]
            await pilot.pause()
            return
        await pilot.pause(0.01)
    # Going on would test a half-filled table: every later assertion would mean less.
    pytest.fail("the dashboard never finished loading the watchlist")


async def select(pilot: Pilot[Any], task_id: str) -> None:
    """Put the table cursor on ``task_id``."""
    await ready(pilot)
    grid = table(pilot.app)  # type: ignore[arg-type]
    grid.move_cursor(row=grid.get_row_index(task_id), animate=False)
    await pilot.pause()


async def open_details(pilot: Pilot[Any], task_id: str) -> None:
    """Select ``task_id`` and open its details with enter, as a user would."""
    await select(pilot, task_id)
    await pilot.press("enter")
    await pilot.pause()


async def finish_workers(app: SirayApp) -> None:
    """Wait for every worker but the poller's (which runs until the app stops)."""
    others = [w for w in app.workers if w.group != "poller"]
    if others:  # an empty list would mean "every worker" to wait_for_complete
        await app.workers.wait_for_complete(others)


async def previews_loaded(pilot: Pilot[Any]) -> None:
    """Wait until every image preview on the screen has loaded (or failed)."""
    from siray_tui.ui.widgets.preview import ImagePreview

    for _ in range(3000):  # a generous bound (30 s), not a timing check
        waiting = [p for p in pilot.app.screen.query(ImagePreview) if p.target and not p.loaded]
        if not waiting:
            await pilot.pause()
            return
        await pilot.pause(0.01)
    pytest.fail("an image preview never finished loading")
