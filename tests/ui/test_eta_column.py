"""The eta column, the stalled filter, the batch ETA in the summary and the details line."""

from __future__ import annotations

from siray_tui.core.clock import FakeClock
from siray_tui.core.columns import COLUMNS, format_eta, sort_ids, task_record
from siray_tui.core.eta import Estimator
from siray_tui.core.eta_summary import EtaSummary, EtaSweep, eta_summary
from siray_tui.core.models import WatchedTask
from siray_tui.ui.columns import matches, row_spec
from siray_tui.ui.screens.details import DetailsScreen
from siray_tui.ui.widgets.summary_bar import SummaryView, render_summary
from tests.ui.conftest import AppFactory, dashboard, open_details, ready, table
from tests.ui.fixtures import NOW, make_task, many_tasks

ETA = [column.key for column in COLUMNS].index("eta")


def eta_cell(task: WatchedTask, estimator: Estimator, now: float) -> str:
    return "".join(text for text, _ in row_spec(task, now, estimator=estimator)[ETA])


def running(task_id: str = "image_run0000001", progress: str = "50%") -> WatchedTask:
    """Started 30 s before NOW; at 50% that makes 60 s in all, 30 s to go."""
    return make_task(task_id, "IN_PROGRESS", progress=progress, ago=40, queue=10)


def test_format_eta() -> None:
    assert format_eta(35.4) == "~35s"
    assert format_eta(65) == "~1m 05s"
    assert format_eta(-12) == "+12s"
    assert format_eta(None) == "-"


def test_cell_counts_down_then_shows_overdue_and_the_stall_mark() -> None:
    estimator = Estimator()
    task = running()
    estimator.observe(task, NOW)
    assert eta_cell(task, estimator, NOW) == "~30s"
    assert eta_cell(task, estimator, NOW + 5) == "~25s"
    assert eta_cell(task, estimator, NOW + 45) == "+15s"
    spec = row_spec(task, NOW + 75, estimator=estimator)[ETA]
    assert "".join(text for text, _ in spec) == "! +45s"
    assert spec[0][1] == "bold red"  # the mark in the stalled colour
    # final tasks and tasks without an estimator: nothing to expect
    done = make_task("image_done000001", "SUCCESS")
    assert eta_cell(done, estimator, NOW) == "-"
    assert "".join(text for text, _ in row_spec(task, NOW)[ETA]) == "-"


def test_slow_queue_is_marked() -> None:
    estimator = Estimator()
    for n in range(5):
        estimator.observe(make_task(f"image_done00000{n}", "SUCCESS", queue=10, run=30), NOW)
    queued = make_task("image_queue00001", "QUEUED", ago=100, queue=None)
    assert estimator.stall(queued, NOW) == "slow queue"
    assert eta_cell(queued, estimator, NOW) == "! ~30s"


def test_json_record_and_sort_use_the_estimator() -> None:
    estimator = Estimator()
    soon, late = running("image_soon000001", "80%"), running("image_late000001", "10%")
    unknown = make_task("image_pending001", None)
    for task in (soon, late, unknown):
        estimator.observe(task, NOW)
    tasks = {t.task_id: t for t in (late, unknown, soon)}
    ids = list(tasks)
    assert sort_ids(ids, tasks, "eta", False, NOW, estimator) == [
        "image_soon000001",
        "image_late000001",
        "image_pending001",
    ]
    assert sort_ids(ids, tasks, "eta", True, NOW, estimator)[-1] == "image_pending001"
    record = task_record(soon, NOW + 100, estimator)
    assert record["stalled"] is True
    assert record["eta_seconds"] == -92.5


def test_stalled_filter_passes_the_stalled_ids_only() -> None:
    task = running()
    assert not matches(task, "", "stalled")
    assert matches(task, "", "stalled", frozenset({task.task_id}))
    assert matches(task, "", "FAILURE,stalled", frozenset({task.task_id}))


def test_batch_eta_and_stalled_count_in_the_summary() -> None:
    estimator = Estimator()
    tasks = [running("image_a000000001", "50%"), running("image_b000000001", "20%")]
    tasks.append(make_task("image_done000001", "SUCCESS"))
    for task in tasks:
        estimator.observe(task, NOW)
    eta = eta_summary(tasks, estimator, NOW)
    # the finished one ran 30 s; 50% in 30 s is 30 s to go; 20% blends 150 s with 30 s
    assert eta.median_at == NOW + 30
    assert eta.last_at is not None and eta.last_at > NOW + 30
    assert eta.stalled == frozenset()
    text = render_summary(SummaryView(eta=eta, now=NOW)).plain
    assert "all\u00a0done\u00a0~" in text and "p50\u00a0~30s" in text
    # worked out a while ago, it still counts down
    assert "p50\u00a0~20s" in render_summary(SummaryView(eta=eta, now=NOW + 10)).plain
    later = eta_summary(tasks, estimator, NOW + 100)
    assert later.stalled == {"image_a000000001", "image_b000000001"}
    assert "2\u00a0stalled" in render_summary(SummaryView(eta=later, now=NOW + 100)).plain


def test_sweep_spreads_a_large_watchlist_over_steps() -> None:
    estimator = Estimator()
    tasks = {t.task_id: t for t in many_tasks(500)}
    for task in tasks.values():
        estimator.observe(task, NOW)
    whole = eta_summary(tasks.values(), estimator, NOW)
    assert whole.median_at is not None and whole.last_at is not None
    sweep = EtaSweep(estimator)
    unfinished = sum(1 for t in tasks.values() if t.state and not t.state.status.is_final)
    steps = -(-unfinished // 100)  # rounded up
    for _ in range(steps - 1):
        assert sweep.step(tasks, NOW, budget=100) == EtaSummary()  # nothing whole yet
    assert sweep.step(tasks, NOW, budget=100) == whole
    # the next round starts over, and sees a task that stalled meanwhile
    later = sweep.step(tasks, NOW + 1000, budget=None)
    assert later.stalled and later.stalled <= set(tasks)


async def test_dashboard_eta_ticks_and_stalled_filter(make_app: AppFactory) -> None:
    clock = FakeClock(NOW)
    task = running()
    app = make_app(tasks=[task, make_task("image_done000001", "SUCCESS")], clock=clock)
    async with app.run_test(size=(160, 30)) as pilot:
        await ready(pilot)
        grid, screen = table(app), dashboard(app)
        screen.tick()
        await pilot.pause()
        spec = grid.cell_spec(task.task_id)
        assert spec is not None and "".join(t for t, _ in spec[ETA]) == "~30s"
        clock.advance(5)
        screen.tick()
        await pilot.pause()
        spec = grid.cell_spec(task.task_id)
        assert spec is not None and "".join(t for t, _ in spec[ETA]) == "~25s"

        grid.set_filter(status_filter="stalled")
        assert grid.shown_ids == []
        clock.advance(60)  # 65 s without progress
        screen.tick()
        await pilot.pause()
        assert grid.shown_ids == [task.task_id]
        assert "1\u00a0stalled" in str(screen.query_one("#summary").render())


async def test_details_show_eta_and_flag(make_app: AppFactory) -> None:
    clock = FakeClock(NOW)
    task = running()
    app = make_app(tasks=[task], clock=clock)
    async with app.run_test(size=(120, 40)) as pilot:
        await open_details(pilot, task.task_id)
        assert isinstance(app.screen, DetailsScreen)
        fields = str(app.screen.query_one("#details-fields").render())
        assert "~30s (" in fields
        clock.advance(120)
        dashboard(app).tick()
        await pilot.pause()
        fields = str(app.screen.query_one("#details-fields").render())
        assert "+1m 30s overdue" in fields
        assert "stalled: its progress has not moved" in fields
