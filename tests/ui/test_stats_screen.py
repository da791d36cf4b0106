"""``t``: the stats and triage screen, driven through the pilot, and its group actions."""

from __future__ import annotations

import csv
import io
from typing import Any

from textual.widgets import DataTable, Input, Static

from siray_tui.core.models import WatchedTask
from siray_tui.core.store import WatchlistStore
from siray_tui.ui.screens.stats import StatsScreen
from tests.ui.conftest import AppFactory, finish_workers, ready, table
from tests.ui.fixtures import every_status, make_task

SIZE = (120, 40)
GROUP = [f"image_x{index:08d}" for index in range(5)]


def triage_tasks() -> list[WatchedTask]:
    """Every status, five failures that differ only in numbers, and a hostile reason."""
    return [
        *every_status(),
        *(
            make_task(
                task_id,
                "FAILURE",
                ago=300 + index * 40,
                queue=3,
                run=None,
                fail_reason=f"upstream timeout after {30 + index}s on worker-{index}",
            )
            for index, task_id in enumerate(GROUP)
        ),
        make_task(
            "video_hostile001",
            "FAILURE",
            ago=100,
            queue=1,
            run=2,
            fail_reason="[bold red]pwned[/] [@click=app.quit]x[/] \x1b]0;title\x07done",
        ),
    ]


def notes(app: Any) -> list[str]:
    return [n.message for n in app._notifications]


def stored_ids(app: Any) -> set[str]:
    return set(WatchlistStore(app.settings.data_dir).load().tasks)


async def open_stats(pilot: Any) -> StatsScreen:
    await ready(pilot)
    await pilot.press("t")
    await pilot.pause()
    screen = pilot.app.screen
    assert isinstance(screen, StatsScreen)
    return screen


async def test_t_opens_the_stats_and_escape_closes_them(make_app: AppFactory) -> None:
    app = make_app(triage_tasks())
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_stats(pilot)
        assert screen.stats.total == len(triage_tasks())
        failures = screen.query_one("#failures", DataTable)
        assert failures.row_count == 4
        first = failures.get_row_at(0)
        assert [cell.plain for cell in first[:1]] == ["5"]
        assert first[2].plain == "upstream timeout after <n>s on worker-<n>"
        kinds = screen.query_one("#by-kind", DataTable)
        assert [kinds.get_row_at(i)[0].plain for i in range(kinds.row_count)] == [
            "image",
            "video",
            "auto",
        ]
        await pilot.press("escape")
        assert app.screen is app.dashboard


async def test_server_text_is_shown_literally(make_app: AppFactory) -> None:
    app = make_app(triage_tasks())
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_stats(pilot)
        failures = screen.query_one("#failures", DataTable)
        reasons = [failures.get_row_at(i)[2].plain for i in range(failures.row_count)]
        hostile = next(reason for reason in reasons if "pwned" in reason)
        assert hostile == "[bold red]pwned[/] [@click=app.quit]x[/] done"
        failures.move_cursor(row=reasons.index(hostile), animate=False)
        await pilot.pause()
        example = screen.query_one("#failure-example", Static)
        shown = str(example.render())
        assert "[bold red]pwned[/] [@click=app.quit]x[/] done" in shown
        assert "\x1b" not in shown and "\x07" not in shown
        await pilot.click("#failure-example")  # a click on "[@click=...]" text quits nothing
        assert app.is_running


async def test_enter_shows_the_group_in_the_table_until_escape(make_app: AppFactory) -> None:
    app = make_app(triage_tasks())
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot)
        grid = table(app)
        grid.set_filter(status_filter="SUCCESS")  # lifted: the group's tasks must all show
        await pilot.pause()
        await open_stats(pilot)
        await pilot.press("enter")
        await pilot.pause()
        assert app.screen is app.dashboard
        assert sorted(grid.shown_ids) == GROUP
        assert grid.status_filter == "all"
        assert "showing 5 of" in str(app.dashboard.query_one("SummaryBar").render())
        # the filter holds through updates: a task outside the group changing stays out
        grid.stage(make_task("image_a8813a4b4c9", "SUCCESS", ago=5, queue=1, run=1))
        grid.flush()
        assert sorted(grid.shown_ids) == GROUP
        await pilot.press("escape")
        await pilot.pause()
        assert len(grid.shown_ids) == len(triage_tasks())
        # and / lifts it too, opening the text filter instead
        await open_stats(pilot)
        await pilot.press("enter")
        await pilot.pause()
        assert sorted(grid.shown_ids) == GROUP
        await pilot.press("slash")
        await pilot.pause()
        assert len(grid.shown_ids) == len(triage_tasks())
        assert app.dashboard.query_one("#filter", Input).has_focus


async def test_e_exports_the_group_shown(make_app: AppFactory) -> None:
    app = make_app(triage_tasks())
    async with app.run_test(size=SIZE) as pilot:
        await open_stats(pilot)
        await pilot.press("enter", "e")
        await finish_workers(app)
        (path,) = app.settings.download_dir.glob("siray-tui-export-*.csv")
        rows = csv.DictReader(io.StringIO(path.read_text("utf-8"), newline=""))
        assert sorted(row["task_id"] for row in rows) == GROUP


async def test_c_copies_the_group_ids(make_app: AppFactory) -> None:
    app = make_app(triage_tasks())
    async with app.run_test(size=SIZE) as pilot:
        await open_stats(pilot)
        app.copy_to_clipboard("something else")
        await pilot.press("c")
        # newest failure first: the task submitted last (the smallest "ago")
        assert app.clipboard == " ".join(GROUP)
        assert notes(app)[-1] == "Copied 5 task IDs"
        assert isinstance(app.screen, StatsScreen)


async def test_x_removes_the_group_and_u_brings_it_back(make_app: AppFactory) -> None:
    app = make_app(triage_tasks())
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_stats(pilot)
        await pilot.press("x")
        await app.session.settle()
        await pilot.pause()
        grid = table(app)
        assert not set(GROUP) & set(grid.tasks)
        assert not set(GROUP) & set(app.poller.tasks)
        assert not set(GROUP) & stored_ids(app)
        assert "press u to undo" in notes(app)[-1]
        # the screen counted again: the group is gone, the others stay
        assert screen.stats.total == len(triage_tasks()) - 5
        assert [g.count for g in screen.stats.failures] == [1, 1, 1]
        await pilot.press("u")
        await app.session.settle()
        await pilot.pause()
        assert set(GROUP) <= set(grid.tasks)
        assert set(GROUP) <= set(app.poller.tasks)
        assert set(GROUP) <= stored_ids(app)
        assert screen.stats.failures[0].count == 5
        restored = grid.tasks[GROUP[0]]
        assert restored.state is not None and restored.state.fail_reason.startswith("upstream")


async def test_recount_keeps_the_cursor_on_its_group(make_app: AppFactory) -> None:
    app = make_app(triage_tasks())
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_stats(pilot)
        await pilot.press("down")
        group = screen.selected_group()
        assert group is not None and "pwned" in group.reason
        app.dashboard.remove_ids(GROUP)  # the largest group goes: the others move up
        await pilot.press("r")
        await pilot.pause()
        assert screen.selected_group() == group
        assert screen.query_one("#failures", DataTable).cursor_row == 0


async def test_group_actions_without_failures_say_so(make_app: AppFactory) -> None:
    app = make_app([make_task("image_ok000001", "SUCCESS", ago=100, queue=1, run=2)])
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_stats(pilot)
        await pilot.press("x", "c")
        assert notes(app)[-2:] == ["No failure group selected"] * 2
        assert "No failures." in str(screen.query_one("#failure-example", Static).render())
        assert len(table(app).tasks) == 1
