"""The ETA estimator: learning from finished tasks, extrapolating running ones, stalls."""

from __future__ import annotations

import math

from hypothesis import given, settings
from hypothesis import strategies as st

from siray_tui.core.eta import SLOW_QUEUE, STALLED, Estimator
from siray_tui.core.models import TaskKind, TaskRequest, TaskState, TaskStatus, WatchedTask

T0 = 1_763_000_000.0


def task(
    task_id: str,
    status: TaskStatus | None,
    *,
    progress: int | None = None,
    submit: float | None = T0,
    start: float | None = None,
    finish: float | None = None,
    kind: TaskKind = TaskKind.IMAGE,
) -> WatchedTask:
    watched = WatchedTask(task_id, kind=kind, added_at=T0)
    if status is not None:
        watched.state = TaskState(
            task_id,
            status,
            status.value,
            progress=progress,
            submit_time=submit,
            start_time=start,
            finish_time=finish,
        )
    return watched


def teach(
    estimator: Estimator, runs: list[float], queue: float = 10.0, kind: TaskKind = TaskKind.IMAGE
) -> None:
    """Finished tasks of ``kind`` that queued ``queue`` s and ran each of ``runs``."""
    for index, run in enumerate(runs):
        done = task(
            f"done{kind.value}{index}",
            TaskStatus.SUCCESS,
            progress=100,
            start=T0 + queue,
            finish=T0 + queue + run,
            kind=kind,
        )
        estimator.observe(done, T0 + 1000)


def test_the_model_comes_from_the_stored_request() -> None:
    assert task("a", TaskStatus.QUEUED).model is None  # added by ID
    submitted = task("b", TaskStatus.QUEUED)
    submitted.request = TaskRequest(TaskKind.IMAGE, "vendor/m1", "a fox")
    assert submitted.model == "vendor/m1"


def test_observe_is_idempotent_for_a_finished_task() -> None:
    estimator = Estimator()
    done = task("d", TaskStatus.SUCCESS, progress=100, start=T0 + 10, finish=T0 + 70)
    for _ in range(5):
        estimator.observe(done, T0 + 100)
    teach(estimator, [120.0])
    # one 60 s sample and one 120 s sample: the median is 90, not pulled to 60 by repeats
    assert estimator.known(done)[1] == 90.0


def test_running_task_extrapolates_from_progress() -> None:
    estimator = Estimator()
    running = task("r", TaskStatus.IN_PROGRESS, progress=50, start=T0)
    estimator.observe(running, T0 + 30)
    # 50% in 30 s: 60 s in all, 30 s left
    assert estimator.expected_finish(running, T0 + 30) == T0 + 60
    assert estimator.eta_seconds(running, T0 + 30) == 30
    # between two polls the finish holds still, so the countdown is a countdown
    assert estimator.eta_seconds(running, T0 + 35) == 25


def test_low_progress_blends_with_the_usual_run_time() -> None:
    estimator = Estimator()
    teach(estimator, [100.0])
    running = task("r", TaskStatus.IN_PROGRESS, progress=5, start=T0)
    estimator.observe(running, T0 + 2)
    # progress alone says 40 s in all; the kind usually runs 100 s; 5% weighs 0.5
    assert estimator.expected_finish(running, T0 + 2) == T0 + 0.5 * 40 + 0.5 * 100


def test_from_ten_percent_the_progress_alone_is_trusted() -> None:
    # 10% in whole percent is within a tenth of the true pace; other tasks' run times
    # (which vary tenfold) are a worse guess, and a forecast that comes too early
    # costs a poll every interval until the task is done.
    estimator = Estimator()
    teach(estimator, [100.0])
    running = task("r", TaskStatus.IN_PROGRESS, progress=20, start=T0)
    estimator.observe(running, T0 + 2)
    assert estimator.expected_finish(running, T0 + 2) == T0 + 10


def test_low_progress_blends_only_with_the_runs_longer_than_its_own() -> None:
    # The first tasks of a batch to finish are its short ones: their median says
    # nothing of a task that has already outrun them all but one.
    estimator = Estimator()
    teach(estimator, [30.0, 30.0, 30.0, 200.0, 300.0])
    running = task("r", TaskStatus.IN_PROGRESS, progress=5, start=T0)
    estimator.observe(running, T0 + 40)
    # progress alone says 800 s; the runs longer than 40 s have a median of 250 s
    assert estimator.expected_finish(running, T0 + 40) == T0 + 0.5 * 800 + 0.5 * 250


def test_a_run_longer_than_any_seen_trusts_its_progress_alone() -> None:
    estimator = Estimator()
    teach(estimator, [30.0])
    running = task("r", TaskStatus.IN_PROGRESS, progress=10, start=T0)
    estimator.observe(running, T0 + 40)
    assert estimator.expected_finish(running, T0 + 40) == T0 + 400


def test_absent_or_zero_progress_uses_the_usual_run_time() -> None:
    estimator = Estimator()
    teach(estimator, [100.0])
    for progress in (None, 0):
        running = task(f"r{progress}", TaskStatus.IN_PROGRESS, progress=progress, start=T0)
        estimator.observe(running, T0 + 5)
        assert estimator.expected_finish(running, T0 + 5) == T0 + 100
        # 0% for ever: overdue, a finite negative number
        assert estimator.eta_seconds(running, T0 + 500) == -400


def test_nothing_known_gives_none() -> None:
    estimator = Estimator()
    running = task("r", TaskStatus.IN_PROGRESS, progress=None, start=T0)
    estimator.observe(running, T0 + 5)
    assert estimator.expected_finish(running, T0 + 5) is None
    queued = task("q", TaskStatus.QUEUED)
    assert estimator.expected_finish(queued, T0 + 5) is None
    assert estimator.expected_finish(task("p", None), T0) is None


def test_final_task_has_no_eta() -> None:
    estimator = Estimator()
    teach(estimator, [100.0])
    done = task("d", TaskStatus.FAILURE, start=T0, finish=T0 + 5)
    estimator.observe(done, T0 + 10)
    assert estimator.expected_finish(done, T0 + 10) is None
    assert estimator.stall(done, T0 + 10_000) is None


def test_success_on_the_first_poll_is_learnt() -> None:
    estimator = Estimator()
    done = task("d", TaskStatus.SUCCESS, progress=100, start=T0 + 4, finish=T0 + 44)
    estimator.observe(done, T0 + 50)
    queued = task("q", TaskStatus.QUEUED, submit=T0 + 50)
    # one sample is enough: queued 4 s and ran 40 s
    assert estimator.expected_finish(queued, T0 + 50) == T0 + 50 + 4 + 40


def test_failure_teaches_queue_time_only() -> None:
    estimator = Estimator()
    failed = task("f", TaskStatus.FAILURE, start=T0 + 10, finish=T0 + 11)
    estimator.observe(failed, T0 + 20)
    assert estimator.known(failed)[:2] == (10.0, None)


def test_queued_task_waits_the_usual_queue_then_runs() -> None:
    estimator = Estimator()
    teach(estimator, [60.0], queue=20.0)
    queued = task("q", TaskStatus.QUEUED, submit=T0)
    assert estimator.expected_finish(queued, T0 + 5) == T0 + 20 + 60
    # queued longer than usual: it still needs its run time from now
    assert estimator.expected_finish(queued, T0 + 50) == T0 + 50 + 60


def test_progress_going_backwards_restarts_the_extrapolation() -> None:
    estimator = Estimator()
    running = task("r", TaskStatus.IN_PROGRESS, progress=80, start=T0)
    estimator.observe(running, T0 + 40)
    back = task("r", TaskStatus.IN_PROGRESS, progress=20, start=T0)
    estimator.observe(back, T0 + 60)
    # 20% at 60 s: 300 s in all
    assert estimator.expected_finish(back, T0 + 60) == T0 + 300
    assert estimator.stall(back, T0 + 100) is None


def test_hundred_percent_without_success_is_due_when_it_got_there() -> None:
    estimator = Estimator()
    running = task("r", TaskStatus.IN_PROGRESS, progress=100, start=T0)
    estimator.observe(running, T0 + 30)
    assert estimator.expected_finish(running, T0 + 90) == T0 + 30
    assert estimator.eta_seconds(running, T0 + 90) == -60
    assert estimator.stall(running, T0 + 1000) is None  # its work is done, not stuck


def test_start_time_in_the_future_counts_as_now() -> None:
    estimator = Estimator()
    teach(estimator, [100.0])
    skewed = task("s", TaskStatus.IN_PROGRESS, progress=None, start=T0 + 3600)
    estimator.observe(skewed, T0)
    assert estimator.expected_finish(skewed, T0) == T0 + 100
    halfway = task("h", TaskStatus.IN_PROGRESS, progress=50, start=T0 + 3600)
    estimator.observe(halfway, T0)
    eta = estimator.eta_seconds(halfway, T0)
    assert eta is not None and 0 <= eta <= 100


def test_running_without_start_time_counts_from_when_we_saw_it_run() -> None:
    estimator = Estimator()
    teach(estimator, [100.0])
    running = task("r", TaskStatus.IN_PROGRESS, start=None)
    estimator.observe(running, T0 + 10)
    estimator.observe(running, T0 + 20)
    assert estimator.expected_finish(running, T0 + 20) == T0 + 110


def test_stalled_after_sixty_seconds_without_progress() -> None:
    estimator = Estimator()
    running = task("r", TaskStatus.IN_PROGRESS, progress=30, start=T0)
    estimator.observe(running, T0)
    assert estimator.stall(running, T0 + 60) is None
    assert estimator.stall(running, T0 + 61) == STALLED
    # it clears itself as soon as progress moves
    moved = task("r", TaskStatus.IN_PROGRESS, progress=31, start=T0)
    estimator.observe(moved, T0 + 62)
    assert estimator.stall(moved, T0 + 63) is None


def test_stall_waits_three_usual_gaps_for_a_slow_task() -> None:
    estimator = Estimator()
    for step in range(4):  # progress moves every 50 s
        estimator.observe(
            task("r", TaskStatus.IN_PROGRESS, progress=10 * (step + 1), start=T0), T0 + 50 * step
        )
    last_change = T0 + 150
    running = task("r", TaskStatus.IN_PROGRESS, progress=40, start=T0)
    assert estimator.stall(running, last_change + 149) is None
    assert estimator.stall(running, last_change + 151) == STALLED


def test_absent_progress_is_never_called_stalled() -> None:
    estimator = Estimator()
    running = task("r", TaskStatus.IN_PROGRESS, progress=None, start=T0)
    estimator.observe(running, T0)
    assert estimator.stall(running, T0 + 10_000) is None


def test_zero_percent_for_ever_is_stalled() -> None:
    estimator = Estimator()
    running = task("r", TaskStatus.IN_PROGRESS, progress=0, start=T0)
    estimator.observe(running, T0)
    assert estimator.stall(running, T0 + 3600) == STALLED


def test_slow_queue_once_five_queue_times_are_known() -> None:
    estimator = Estimator()
    teach(estimator, [30.0] * 4, queue=10.0)
    queued = task("q", TaskStatus.QUEUED, submit=T0)
    assert estimator.stall(queued, T0 + 500) is None  # four samples: no p95 yet
    teach(estimator, [30.0] * 5, queue=10.0)
    assert estimator.stall(queued, T0 + 9) is None
    assert estimator.stall(queued, T0 + 11) == SLOW_QUEUE
    # per kind: a video queue is not judged by image times
    video = task("v", TaskStatus.QUEUED, submit=T0, kind=TaskKind.VIDEO)
    assert estimator.stall(video, T0 + 500) is None


def test_forget_drops_a_running_task() -> None:
    estimator = Estimator()
    running = task("r", TaskStatus.IN_PROGRESS, progress=30, start=T0)
    estimator.observe(running, T0)
    estimator.forget("r")
    assert estimator.stall(running, T0 + 1000) is None


def test_memory_is_bounded() -> None:
    estimator = Estimator()
    for value in range(1000):
        estimator.observe(
            task("r", TaskStatus.IN_PROGRESS, progress=value % 100, start=T0), T0 + value
        )
    teach(estimator, [float(n) for n in range(1, 1000)])
    running = task("r", TaskStatus.IN_PROGRESS, progress=99, start=T0)
    assert len(estimator._tracks["r"].points) <= 32
    assert all(len(s.run) <= 200 for s in estimator._samples.values())
    assert estimator.stall(running, T0 + 1000) is None


_timestamps = st.one_of(
    st.none(), st.floats(min_value=0, max_value=4e9, allow_nan=False, allow_infinity=False)
)


@settings(max_examples=300, deadline=None)
@given(
    steps=st.lists(
        st.tuples(
            st.sampled_from(list(TaskStatus)),
            st.one_of(st.none(), st.integers(min_value=0, max_value=100)),
            _timestamps,
            _timestamps,
            _timestamps,
            st.floats(min_value=0, max_value=1e6, allow_nan=False),
            st.sampled_from([TaskKind.IMAGE, TaskKind.VIDEO, TaskKind.AUTO]),
            st.sampled_from(["a", "b", "c"]),
        ),
        max_size=30,
    ),
    ask_at=st.floats(min_value=0, max_value=1e7, allow_nan=False),
)
def test_never_raises_never_nan_or_inf(
    steps: list[
        tuple[
            TaskStatus, int | None, float | None, float | None, float | None, float, TaskKind, str
        ]
    ],
    ask_at: float,
) -> None:
    estimator = Estimator()
    now = T0
    seen: list[WatchedTask] = []
    for status, progress, submit, start, finish, advance, kind, task_id in steps:
        now += advance
        watched = task(
            task_id, status, progress=progress, submit=submit, start=start, finish=finish, kind=kind
        )
        estimator.observe(watched, now)
        seen.append(watched)
    for watched in seen:
        for when in (now, now + ask_at, max(0.0, now - ask_at)):
            for value in (
                estimator.expected_finish(watched, when),
                estimator.eta_seconds(watched, when),
            ):
                assert value is None or math.isfinite(value)
            assert estimator.stall(watched, when) in (None, STALLED, SLOW_QUEUE)
            info = estimator.info(watched, when)
            assert info.seconds is None or math.isfinite(info.seconds)


def test_a_model_with_one_sample_else_its_kind() -> None:
    """A model's own times win, even from one sample; a model never seen falls back on
    its kind's."""
    estimator = Estimator()
    teach(estimator, [100.0, 100.0])  # added by ID, no model: the kind's times
    fast = task("m1done", TaskStatus.SUCCESS, progress=100, start=T0 + 10, finish=T0 + 50)
    fast.request = TaskRequest(TaskKind.IMAGE, "m1", "p")
    estimator.observe(fast, T0 + 60)
    for label, run in (("m1", 40.0), ("m2", 100.0)):
        queued = task(f"q{label}", TaskStatus.IN_PROGRESS, start=T0)
        queued.request = TaskRequest(TaskKind.IMAGE, label, "p")
        estimator.observe(queued, T0 + 1)
        assert estimator.expected_finish(queued, T0 + 1) == T0 + run
