"""Tasks that arrive while the dashboard runs get a row, whatever path they take.

The model (``grid.tasks``) and the summary always took them; these tests look at the
rows themselves (the table's row keys and the text on screen), which is what a person
sees.
"""

from __future__ import annotations

import asyncio
from typing import Any

from textual.widgets import TextArea

from siray_tui.core.clock import FakeClock
from siray_tui.core.models import TaskStatus
from siray_tui.core.poller import TaskUpdated
from siray_tui.core.store import WatchlistStore
from siray_tui.ui.widgets.task_table import TaskTable
from tests.ui.conftest import AppFactory, finish_workers, ready, select, table
from tests.ui.fixtures import NOW, every_status, make_task, many_tasks
from tests.ui.test_table_updates import progressed

SIZE = (120, 36)


def row_ids(grid: TaskTable) -> list[str]:
    """The row keys of the table, top to bottom."""
    return [str(row.key.value) for row in grid.ordered_rows]


def assert_rows_match(grid: TaskTable) -> None:
    """Every task that passes the filters has its row, in display order."""
    assert row_ids(grid) == grid.shown_ids
    assert not grid.filling


def screen_text(app: Any) -> str:
    return "\n".join(strip.text for strip in app.screen._compositor.render_strips())


async def test_add_dialog_gives_rows(make_app: AppFactory) -> None:
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot)
        await pilot.press("a")
        app.screen.query_one(TextArea).text = "image_new001\nvideo_new002"
        await pilot.press("ctrl+s")
        await finish_workers(app)
        await pilot.pause(0.3)
        grid = table(app)
        assert {"image_new001", "video_new002"} <= set(row_ids(grid))
        assert_rows_match(grid)
        assert "image_new001" in screen_text(app)


async def test_undo_gives_the_row_back(make_app: AppFactory) -> None:
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot)
        await select(pilot, "video_77aa1290bc")
        await pilot.press("x")
        await finish_workers(app)
        await pilot.press("u")
        await finish_workers(app)
        await pilot.pause(0.3)
        grid = table(app)
        assert "video_77aa1290bc" in row_ids(grid)
        assert_rows_match(grid)


async def test_task_entering_the_status_filter_gets_a_row(make_app: AppFactory) -> None:
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot)
        grid = table(app)
        grid.set_filter(status_filter="SUCCESS")
        await pilot.pause(0.1)
        moving = grid.tasks["image_4c5d6e7f80"]
        app._forward(TaskUpdated(progressed(moving, 100, "SUCCESS"), TaskStatus.IN_PROGRESS, True))
        await pilot.pause(0.5)
        assert "image_4c5d6e7f80" in row_ids(grid)
        assert_rows_match(grid)


async def test_another_writer_adds_tasks_while_the_app_runs(make_app: AppFactory) -> None:
    """A second process (here a second WatchlistStore in a thread, writing the same
    file) adds tasks in batches; the sync check notices them and they get rows.

    The check runs every few seconds on a timer; the test asserts the timer is there
    and then makes each check itself, so a busy machine cannot make it miss a tick.
    """
    app = make_app(every_status())
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot)
        timers = {timer.name for timer in app.dashboard._timers}
        assert "watchlist-sync" in timers
        other = WatchlistStore(app.settings.data_dir)
        wanted: set[str] = set()
        grid = table(app)
        for batch in range(3):
            ids = [f"image_script{batch}{n:03d}" for n in range(4)]
            wanted.update(ids)
            await asyncio.to_thread(other.add, ids, label="script")
            app.session.check_sync()
            await app.session.settle()
            for _ in range(3000):  # a generous bound (30 s) for the rows to be drawn
                if wanted <= set(row_ids(grid)) and not grid.filling:
                    break
                await pilot.pause(0.01)
            assert wanted <= set(row_ids(grid))
        await pilot.pause()
        assert_rows_match(grid)
        assert "image_script0000" in screen_text(app)


async def test_filter_after_scrolling_does_not_crash(make_app: AppFactory) -> None:
    """PageDown twice, then a text filter: the rows scrolled past are gone when the
    table clears and scrolls to the top, and nothing may write to them."""
    clock = FakeClock(NOW)
    app = make_app(many_tasks(300), clock=clock)
    async with app.run_test(size=(160, 30)) as pilot:
        await ready(pilot)
        await pilot.press("pagedown", "pagedown")
        await pilot.pause()
        clock.advance(90)  # "updated" of every row differs from what was written
        await pilot.press("slash", *"image")
        await pilot.pause(0.5)
        grid = table(app)
        assert app.is_running and app.return_code is None
        assert grid.text_filter == "image"
        assert_rows_match(grid)


async def test_sort_after_scrolling_does_not_crash(make_app: AppFactory) -> None:
    clock = FakeClock(NOW)
    app = make_app(many_tasks(300), clock=clock)
    async with app.run_test(size=(160, 30)) as pilot:
        await ready(pilot)
        grid = table(app)
        grid.add_tasks([make_task("image_late000001", None, polled_ago=None)])
        await pilot.press("pagedown")
        for _ in range(5):
            clock.advance(70)
            await pilot.press("s")
            await pilot.pause(0.05)
        await pilot.pause(0.5)
        assert app.is_running and app.return_code is None
        assert_rows_match(grid)
