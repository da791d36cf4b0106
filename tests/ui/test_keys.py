"""Every dashboard key, driven through Textual's pilot (``run_test(size=(120, 36))``)."""

from __future__ import annotations

import json
import webbrowser
from pathlib import Path
from typing import Any

import pytest
from textual.command import CommandPalette
from textual.widgets import Input, Select, SelectionList, Static, TextArea
from textual.widgets.data_table import ColumnKey

from siray_tui.core.clock import SystemClock
from siray_tui.core.models import TaskKind, WatchedTask
from siray_tui.core.store import WatchlistStore
from siray_tui.sim import SimServer
from siray_tui.ui.columns import SORT_CYCLE
from siray_tui.ui.commands import command_name
from siray_tui.ui.keys import DASHBOARD_KEYS
from siray_tui.ui.screens.add_tasks import AddTasksScreen, parse_ids
from siray_tui.ui.screens.details import DetailsScreen
from siray_tui.ui.screens.help import HelpScreen
from siray_tui.ui.screens.status_picker import StatusPicker
from siray_tui.ui.widgets.task_table import TaskTable
from tests.ui.conftest import (
    AppFactory,
    FakeSource,
    dashboard,
    finish_workers,
    open_details,
    ready,
    select,
    table,
)
from tests.ui.fixtures import every_status, make_task

SIZE = (120, 36)


def stored_ids(app: Any) -> list[str]:
    return list(WatchlistStore(app.settings.data_dir).load().tasks)


def notes(app: Any) -> list[str]:
    return [n.message for n in app._notifications]


async def test_add_dialog_adds_valid_and_names_invalid(make_app: AppFactory) -> None:
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot)
        await pilot.press("a")
        assert isinstance(app.screen, AddTasksScreen)
        app.screen.query_one(TextArea).text = "image_new001, video_new002\nbad/id! image_new001"
        app.screen.query_one(Select).value = TaskKind.VIDEO
        app.screen.query_one("#add-label", Input).value = "batch 7"
        await pilot.press("ctrl+s")
        await finish_workers(app)
        await pilot.pause()
        grid = table(app)
        assert {"image_new001", "video_new002"} <= set(grid.tasks)
        assert grid.tasks["image_new001"].kind is TaskKind.VIDEO
        assert grid.tasks["image_new001"].label == "batch 7"
        assert {"image_new001", "video_new002"} <= set(stored_ids(app))
        message = notes(app)[-1]
        assert "Added 2 tasks" in message and "'bad/id!'" in message
        assert "image_new001" in app.poller.tasks


def test_parse_ids_separators() -> None:
    ids, invalid = parse_ids('["image_a1", "video_b2"],image_a1;task-c.3\n\t x/y')
    assert ids == ["image_a1", "video_b2", "task-c.3"]
    assert [piece for piece, _ in invalid] == ["x/y"]


@pytest.mark.parametrize("key", ["x", "delete"])
async def test_remove_and_undo(make_app: AppFactory, key: str) -> None:
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot)
        await select(pilot, "video_77aa1290bc")
        before = table(app).tasks["video_77aa1290bc"]
        await pilot.press(key)
        await finish_workers(app)
        assert "video_77aa1290bc" not in table(app).tasks
        assert "video_77aa1290bc" not in stored_ids(app)
        assert "video_77aa1290bc" not in app.poller.tasks
        assert "press u to undo" in notes(app)[-1]
        await pilot.press("u")
        await finish_workers(app)
        await pilot.pause()
        restored = table(app).tasks["video_77aa1290bc"]
        assert restored.state == before.state and restored.history == before.history
        assert "video_77aa1290bc" in stored_ids(app)
        stored = WatchlistStore(app.settings.data_dir).load().tasks["video_77aa1290bc"]
        assert stored.state is not None and stored.state.fail_reason.startswith("GPU worker")


async def test_enter_opens_details(make_app: AppFactory) -> None:
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot)
        await open_details(pilot, "image_0b91c2f3aa")
        assert isinstance(app.screen, DetailsScreen)
        assert app.screen.shown_task.task_id == "image_0b91c2f3aa"
        await pilot.press("escape")
        assert not isinstance(app.screen, DetailsScreen)


async def test_open_output_in_browser(
    make_app: AppFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    opened: list[str] = []
    monkeypatch.setenv("DISPLAY", ":0")
    monkeypatch.setattr(webbrowser, "open", lambda url, new=0: opened.append(url) or True)
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot)
        await select(pilot, "image_a8813a4b4c9")
        await pilot.press("o")
        await finish_workers(app)
        assert opened == ["https://api.siray.ai/redirect/a0"]


async def test_open_without_browser_shows_url(
    make_app: AppFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DISPLAY", ":0")
    monkeypatch.setattr(webbrowser, "open", lambda url, new=0: False)
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot)
        await select(pilot, "image_a8813a4b4c9")
        await pilot.press("o")
        await finish_workers(app)
        assert "https://api.siray.ai/redirect/a0" in notes(app)[-1]


async def test_open_refuses_unsafe_url(
    make_app: AppFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    opened: list[str] = []
    monkeypatch.setenv("DISPLAY", ":0")
    monkeypatch.setattr(webbrowser, "open", lambda url, new=0: opened.append(url) or True)
    bad = make_task("image_js0000001", "SUCCESS", outputs=["javascript:alert(1)"])
    app = make_app([bad])
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot)
        await pilot.press("o")
        await finish_workers(app)
        assert opened == []
        assert "refused" in notes(app)[-1]


def polling_app(make_app: AppFactory, sim: SimServer, task_id: str, **changes: Any) -> Any:
    """An app that really polls the simulator for one task, on the real clock."""
    return make_app(
        [make_task(task_id, None, polled_ago=None)],
        clock=SystemClock(),
        start_polling=True,
        source="client",
        base_url=sim.base_url,
        **changes,
    )


async def wait_for_outputs(pilot: Any, app: Any, task_id: str) -> WatchedTask:
    """Pause until the table holds the task's outputs (up to 10 s); returns the task."""
    grid = table(app)
    for _ in range(200):
        await pilot.pause(0.05)
        task: WatchedTask = grid.tasks[task_id]
        if task.state and task.state.outputs:
            break
    return task


async def test_download_from_simulator(make_app: AppFactory, sim: SimServer) -> None:
    done = sim.scenario.add_task("image", queue_s=0.1, run_s=0.1, outputs=2, created_at=1.0)
    app = polling_app(make_app, sim, done.task_id)
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot)
        await wait_for_outputs(pilot, app, done.task_id)
        await pilot.press("d")
        await finish_workers(app)
        folder = Path(app.settings.download_dir) / done.task_id
        files = sorted(p.name for p in folder.iterdir())
        assert files == ["1.png", "2.png"]
        assert str(folder) in notes(app)[-1]


async def test_auto_download_when_a_task_succeeds(make_app: AppFactory, sim: SimServer) -> None:
    running = sim.scenario.add_task("image", queue_s=0.1, run_s=0.4, outputs=2)
    app = polling_app(make_app, sim, running.task_id, auto_download=True, interval=1.0)
    folder = Path(app.settings.download_dir) / running.task_id
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot)
        for _ in range(200):
            await pilot.pause(0.05)
            if folder.exists() and len([p for p in folder.iterdir() if p.suffix == ".png"]) == 2:
                break
        await finish_workers(app)
        assert sorted(p.name for p in folder.iterdir()) == ["1.png", "2.png"]


async def test_no_download_without_auto_download(make_app: AppFactory, sim: SimServer) -> None:
    running = sim.scenario.add_task("image", queue_s=0.1, run_s=0.2, outputs=1)
    app = polling_app(make_app, sim, running.task_id, interval=1.0)
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot)
        task = await wait_for_outputs(pilot, app, running.task_id)
        await finish_workers(app)
        assert task.state and task.state.outputs
        assert not (Path(app.settings.download_dir) / running.task_id).exists()


async def test_copy_task_id(make_app: AppFactory) -> None:
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot)
        await select(pilot, "video_1234abcd99")
        await pilot.press("c")
        assert app.clipboard == "video_1234abcd99"
        assert "video_1234abcd99" in notes(app)[-1]


async def test_details_take_a_state_that_arrives_before_they_mount(
    make_app: AppFactory,
) -> None:
    """The once-a-second tick can reach a details screen pushed but not yet mounted."""
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot)
        await select(pilot, "video_1234abcd99")  # unfinished: the tick re-renders it
        board = dashboard(app)
        board.action_details()
        details = board._details_screen()
        assert details is not None and not details.is_mounted
        board.tick()  # used to raise: the screen's widgets did not exist yet
        await pilot.pause()
        assert app.screen is details and details.is_mounted
        assert app.is_running and app.return_code is None
        title = details.query_one("#details-title", Static).content
        assert "video_1234abcd99" in str(title)


async def test_copy_output_url_in_details(make_app: AppFactory) -> None:
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot)
        await open_details(pilot, "image_a8813a4b4c9")
        await pilot.click("#copy-2")
        assert app.clipboard == "https://api.siray.ai/redirect/a1"
        # Each copy starts from other text, so a key that copies nothing cannot pass.
        app.copy_to_clipboard("something else")
        await pilot.press("c")  # the click left the focus in output 2's row
        assert app.clipboard == "https://api.siray.ai/redirect/a1"
        app.copy_to_clipboard("something else")
        app.screen.set_focus(None)
        await pilot.press("c")  # no output row focused: the first output
        assert app.clipboard == "https://api.siray.ai/redirect/a0"


def _polling_app(make_app: AppFactory) -> tuple[Any, FakeSource]:
    tasks = every_status()
    payloads = {t.task_id: {"code": "success", "data": dict(t.state.raw)} for t in tasks if t.state}
    source = FakeSource(payloads)
    return make_app(tasks, clock=SystemClock(), start_polling=True, source=source), source


async def test_refresh_selected_and_all(make_app: AppFactory) -> None:
    app, source = _polling_app(make_app)
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot)
        await pilot.pause(0.3)
        source.calls.clear()
        await select(pilot, "image_a8813a4b4c9")  # final: never polled unless refreshed
        await pilot.press("r")
        await pilot.pause(0.3)
        assert "image_a8813a4b4c9" in source.calls
        source.calls.clear()
        await pilot.press("R")
        await pilot.pause(1.0)
        assert {"video_5f2e0c1d7a", "image_0b91c2f3aa"} <= set(source.calls)


async def test_pause_and_resume(make_app: AppFactory) -> None:
    app, _ = _polling_app(make_app)
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot)
        await pilot.press("p")
        await pilot.pause()
        assert app.poller.paused
        summary = str(app.dashboard.query_one("#summary").render())
        assert "PAUSED" in summary
        await pilot.press("p")
        await pilot.pause()
        assert not app.poller.paused


async def test_filter_and_escape(make_app: AppFactory) -> None:
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot)
        await pilot.press("slash", *"gpu", "enter")
        await pilot.pause()
        grid = table(app)
        assert grid.shown_ids == ["video_77aa1290bc"]  # matched on the fail reason
        assert grid.row_count == 1
        await pilot.press("escape")
        await pilot.pause()
        assert len(grid.shown_ids) == len(grid.tasks)
        assert not app.dashboard.query_one("#filter", Input).display


async def test_sort_keeps_cursor_on_task(make_app: AppFactory) -> None:
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot)
        await select(pilot, "product 12".replace("product 12", "image_4c5d6e7f80"))
        grid = table(app)
        for _ in range(12):
            await pilot.press("s")
            await pilot.pause()
            assert grid.selected_id == "image_4c5d6e7f80"
        for _ in range(len(SORT_CYCLE)):  # on to "total", wherever it is in the cycle
            if grid.sort_column == "total":
                break
            await pilot.press("s")
        assert grid.sort_column == "total"
        totals = [
            t.state.timings(app.clock.now()).total
            for t in (grid.tasks[i] for i in grid.shown_ids)
            if t.state and t.state.timings(app.clock.now()).total is not None
        ]
        assert totals == sorted(totals)
        await pilot.press("S")
        assert grid.sort_reverse and grid.selected_id == "image_4c5d6e7f80"


async def test_status_picker_shows_several_statuses(make_app: AppFactory) -> None:
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot)
        grid = table(app)
        await pilot.press("f")
        await pilot.pause()
        assert isinstance(app.screen, StatusPicker)
        picker = app.screen.query_one(SelectionList)
        picker.select("SUCCESS")
        picker.select("FAILURE")
        await pilot.press("enter")
        await pilot.pause()
        assert grid.status_filter == "SUCCESS,FAILURE"
        assert sorted(grid.tasks[i].status.value for i in grid.shown_ids) == [  # type: ignore[union-attr]
            "FAILURE",
            "FAILURE",
            "SUCCESS",
            "SUCCESS",
        ]
        assert "status SUCCESS, FAILURE" in str(dashboard(app).query_one("#summary").render())
        await pilot.press("f")
        await pilot.pause()
        app.screen.query_one(SelectionList).deselect_all()
        app.screen.query_one(SelectionList).select("PAUSED_BY_PROVIDER")  # an invented one
        await pilot.press("enter")
        await pilot.pause()
        assert grid.shown_ids == ["task-5e6f7a8b9c0d"]
        await pilot.press("f")
        await pilot.pause()
        app.screen.query_one(SelectionList).deselect_all()
        await pilot.press("enter")  # nothing ticked: every task
        await pilot.pause()
        assert grid.status_filter == "all" and len(grid.shown_ids) == len(grid.tasks)


async def test_vim_and_home_end_keys_move_the_cursor(make_app: AppFactory) -> None:
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot)
        grid = table(app)
        order = grid.shown_ids
        await pilot.press("j", "j")
        assert grid.selected_id == order[2]
        await pilot.press("k")
        assert grid.selected_id == order[1]
        await pilot.press("G")
        assert grid.selected_id == order[-1]
        await pilot.press("g")
        assert grid.selected_id == order[0]
        await pilot.press("end")
        assert grid.selected_id == order[-1]
        await pilot.press("home")
        assert grid.selected_id == order[0]


async def test_clicking_a_header_sorts_by_it(make_app: AppFactory) -> None:
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot)
        grid = table(app)
        await pilot.click(TaskTable, offset=(grid.columns[ColumnKey("task")].width + 5, 0))
        await pilot.pause()
        assert (grid.sort_column, grid.sort_reverse) == ("kind", False)
        assert "kind ▲" in str(grid.columns[ColumnKey("kind")].label)
        await pilot.click(TaskTable, offset=(grid.columns[ColumnKey("task")].width + 5, 0))
        await pilot.pause()
        assert (grid.sort_column, grid.sort_reverse) == ("kind", True)
        assert "kind ▼" in str(grid.columns[ColumnKey("kind")].label)
        assert "sort kind ▼" in str(dashboard(app).query_one("#summary").render())


async def test_help_and_quit(make_app: AppFactory) -> None:
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot)
        await pilot.press("question_mark")
        assert isinstance(app.screen, HelpScreen)
        await pilot.press("escape")
        assert not isinstance(app.screen, HelpScreen)
        await pilot.press("q")
        await pilot.pause()
    assert app.return_code == 0


async def test_command_palette_lists_every_action(make_app: AppFactory) -> None:
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot)
        await pilot.press("ctrl+p")
        await pilot.pause()
        palette = app.screen
        assert isinstance(palette, CommandPalette)
        # With an empty query the palette lists what the providers discover; the list
        # fills in asynchronously, so wait (with a generous bound) for every action.
        commands = {command_name(spec) for spec in DASHBOARD_KEYS}
        listed: set[str] = set()
        for _ in range(200):
            options = palette.query_one("CommandList").options
            listed = {str(option.prompt).split("\n")[0] for option in options}
            if commands <= listed:
                break
            await pilot.pause(0.05)
        assert sorted(commands - listed) == []
        await pilot.press(*"remove")
        await pilot.pause(0.5)
        listed = str([str(o.prompt) for o in palette.query_one("CommandList").options])
        assert command_name(DASHBOARD_KEYS[1]) in listed
        await pilot.press("enter")
        await finish_workers(app)
        await pilot.pause()
        assert len(table(app).tasks) == len(every_status()) - 1
    commands = [command_name(spec) for spec in DASHBOARD_KEYS]
    assert len(set(commands)) == len(DASHBOARD_KEYS)


async def test_store_written_by_another_process_shows_up(make_app: AppFactory) -> None:
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot)
        WatchlistStore(app.settings.data_dir).add(["video_fromscript1"], label="script")
        app.session.check_sync()
        await app.session.settle()
        await pilot.pause()
        assert table(app).tasks["video_fromscript1"].label == "script"
        assert "video_fromscript1" in app.poller.tasks


def test_json_of_details_escapes_controls() -> None:
    from siray_tui.ui.screens.details import raw_json

    task = make_task("image_ctl0000001", "FAILURE", fail_reason="a\x1b[31mb")
    assert "\x1b" not in raw_json(task)
    assert json.loads(raw_json(task))["fail_reason"] == "a\x1b[31mb"


async def test_d_in_details_downloads_the_selected_output_only(
    make_app: AppFactory, sim: SimServer
) -> None:
    done = sim.scenario.add_task("image", queue_s=0.1, run_s=0.1, outputs=3, created_at=1.0)
    app = polling_app(make_app, sim, done.task_id)
    async with app.run_test(size=(120, 50)) as pilot:
        await ready(pilot)
        await wait_for_outputs(pilot, app, done.task_id)
        await open_details(pilot, done.task_id)
        app.screen.query_one("#open-2").focus()  # the second output's row
        await pilot.pause()
        await pilot.press("d")
        await finish_workers(app)
        folder = Path(app.settings.download_dir) / done.task_id
        assert sorted(p.name for p in folder.iterdir()) == ["2.png"]
