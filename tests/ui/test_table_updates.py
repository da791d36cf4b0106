"""Batched table updates: only changed cells are written, never a rebuild, and the
cursor, sort and filter survive."""

from __future__ import annotations

import dataclasses
import random
from typing import Any

from siray_tui.core.columns import SORT_KEYS
from siray_tui.core.models import StatusChange, TaskState, TaskStatus, WatchedTask
from siray_tui.core.poller import TaskUpdated
from siray_tui.ui.columns import matches
from siray_tui.ui.widgets.task_table import TaskTable
from tests.ui.conftest import AppFactory, ready, select, table
from tests.ui.fixtures import NOW, every_status, many_tasks


def progressed(task: WatchedTask, progress: int, status: str | None = None) -> WatchedTask:
    """A copy of ``task`` as a poll reporting ``progress`` (and maybe a new status)."""
    assert task.state is not None
    data = dict(task.state.raw)
    data["progress"] = f"{progress}%"
    if status is not None:
        data["status"] = status
    state = TaskState.from_payload({"code": "success", "data": data}, task_id=task.task_id)
    history = list(task.history)
    if status is not None:
        history.append(StatusChange(status, NOW))
    return dataclasses.replace(task, state=state, last_polled_at=NOW, history=history)


def count_calls(monkeypatch: Any, grid: TaskTable, name: str) -> list[int]:
    calls = [0]
    original = getattr(grid, name)

    def counting(*args: Any, **kwargs: Any) -> Any:
        calls[0] += 1
        return original(*args, **kwargs)

    monkeypatch.setattr(grid, name, counting)
    return calls


async def test_many_events_update_cells_not_rows(make_app: AppFactory, monkeypatch: Any) -> None:
    tasks = many_tasks(600)
    app = make_app(tasks)
    async with app.run_test(size=(120, 36)) as pilot:
        await ready(pilot)
        grid = table(app)
        while grid.filling:
            await pilot.pause(0.05)
        grid.set_sort("status")
        grid.set_filter(text="image")
        while grid.filling:
            await pilot.pause(0.05)
        running = [i for i in grid.shown_ids if grid.tasks[i].status is TaskStatus.IN_PROGRESS]
        target = running[len(running) // 2]
        await select(pilot, target)
        scroll_before = grid.scroll_y
        rebuilds = grid.rebuilds
        clears = count_calls(monkeypatch, grid, "clear")
        updates = count_calls(monkeypatch, grid, "update_cell")
        rng = random.Random(1)
        by_id = dict(grid.tasks)
        for _ in range(1000):  # many events, several per task: only the last one counts
            task_id = rng.choice(running)
            app._forward(
                TaskUpdated(
                    progressed(by_id[task_id], rng.randint(0, 99)), TaskStatus.IN_PROGRESS, False
                )
            )
        await pilot.pause(0.6)
        assert grid.pending == 0
        assert clears[0] == 0 and grid.rebuilds == rebuilds
        assert 0 < updates[0] <= 2 * len(running)  # progress (+ maybe "updated") per row
        assert grid.selected_id == target
        assert grid.scroll_y == scroll_before
        assert grid.sort_column == "status" and grid.text_filter == "image"
        shown = grid.shown_ids
        assert all(matches(grid.tasks[i], "image") for i in shown)
        keys = [SORT_KEYS["status"](grid.tasks[i], NOW) for i in shown]
        assert keys == sorted(keys)
        row_order = [
            grid.coordinate_to_cell_key((r, 0)).row_key.value  # type: ignore[arg-type]
            for r in range(grid.row_count)
        ]
        assert row_order == shown


async def test_status_change_moves_row_and_keeps_cursor(make_app: AppFactory) -> None:
    app = make_app()
    async with app.run_test(size=(120, 36)) as pilot:
        await ready(pilot)
        grid = table(app)
        grid.set_sort("status")
        await select(pilot, "image_9988776655")
        rebuilds = grid.rebuilds
        moving = grid.tasks["image_4c5d6e7f80"]
        app._forward(TaskUpdated(progressed(moving, 100, "SUCCESS"), TaskStatus.IN_PROGRESS, True))
        await pilot.pause(0.5)
        assert grid.rebuilds == rebuilds
        assert grid.selected_id == "image_9988776655"
        assert grid.shown_ids.index("image_4c5d6e7f80") > grid.shown_ids.index("video_1234abcd99")
        messages = [n.message for n in app._notifications]
        assert any("product 12: SUCCESS" in m for m in messages)


async def test_status_filter_drops_finished_rows(make_app: AppFactory) -> None:
    app = make_app()
    async with app.run_test(size=(120, 36)) as pilot:
        await ready(pilot)
        grid = table(app)
        grid.set_filter(status_filter="active")
        await pilot.pause()
        assert "image_4c5d6e7f80" in grid.shown_ids
        moving = grid.tasks["image_4c5d6e7f80"]
        app._forward(TaskUpdated(progressed(moving, 37, "FAILURE"), TaskStatus.IN_PROGRESS, True))
        await pilot.pause(0.5)
        assert "image_4c5d6e7f80" not in grid.shown_ids
        assert grid.row_count == len(grid.shown_ids)


async def test_first_answer_does_not_notify(make_app: AppFactory) -> None:
    pending = [t for t in every_status() if t.task_id == "image_0000000001"]
    app = make_app(pending)
    async with app.run_test(size=(120, 36)) as pilot:
        await ready(pilot)
        done = every_status()[0]
        answered = dataclasses.replace(done, task_id="image_0000000001", label="just added")
        app._forward(TaskUpdated(answered, None, True))
        await pilot.pause(0.5)
        assert table(app).tasks["image_0000000001"].status is TaskStatus.SUCCESS
        assert not [n for n in app._notifications if "SUCCESS" in n.message]


async def test_many_finishes_are_one_notification(make_app: AppFactory) -> None:
    app = make_app()
    async with app.run_test(size=(120, 36)) as pilot:
        await ready(pilot)
        grid = table(app)
        for task_id in (
            "image_4c5d6e7f80",
            "video_1234abcd99",
            "image_9988776655",
            "video_c0ffee0001",
        ):
            app._forward(
                TaskUpdated(
                    progressed(grid.tasks[task_id], 100, "SUCCESS"), TaskStatus.QUEUED, True
                )
            )
        await pilot.pause(0.5)
        finished = [n.message for n in app._notifications if "finished" in n.message]
        assert finished == ["4 tasks finished: 4 SUCCESS, 0 FAILURE"]
