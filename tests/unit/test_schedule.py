"""The budgeted scheduler (core/schedule.py) driving the poller, on a fake clock.

A stub forecast says when each task should finish, so each test decides exactly what
the scheduler knows; the poller is the real one, run by the Harness of test_poller.
"""

from __future__ import annotations

import itertools
import random
import statistics
from collections import Counter
from collections.abc import Callable

import pytest

from siray_tui.core.eta import Estimator
from siray_tui.core.models import TaskKind, TaskState, WatchedTask
from siray_tui.core.poller import PollPolicy
from siray_tui.core.schedule import DueQueue, Urgency, plan
from tests.unit.test_poller import Harness, Outcome, state

FAR_AWAY = 10_000.0


class StubForecast:
    """Expected finish per task: a function of the wall clock, or far away by default."""

    def __init__(self) -> None:
        self.finish: dict[str, Callable[[float], float | None]] = {}
        self.observed: Counter[str] = Counter()

    def observe(self, task: WatchedTask, now: float) -> None:
        self.observed[task.task_id] += 1

    def expected_finish(self, task: WatchedTask, now: float) -> float | None:
        rule = self.finish.get(task.task_id)
        return now + FAR_AWAY if rule is None else rule(now)


def budgeted(h: Harness) -> StubForecast:
    forecast = StubForecast()
    h.poller.forecast = forecast
    return forecast


def policy(**changes: float) -> PollPolicy:
    values: dict[str, float] = {
        "interval": 4.0,
        "concurrency": 4,
        "rate": 2.0,
        "jitter": 0.1,
        "max_staleness": 30.0,
    }
    values.update(changes)
    return PollPolicy(
        interval=values["interval"],
        concurrency=int(values["concurrency"]),
        rate=values["rate"],
        jitter=values["jitter"],
        max_staleness=values["max_staleness"],
    )


def gaps(times: list[float]) -> list[float]:
    return [b - a for a, b in itertools.pairwise(times)]


# -- the budget binds ------------------------------------------------------------------------


async def test_task_near_its_expected_finish_is_polled_first_when_the_budget_binds() -> None:
    async with Harness(policy=policy()) as h:
        forecast = budgeted(h)
        finish = h.clock.now() + 260.0
        forecast.finish["image_near"] = lambda now: finish

        def near(t: str, k: TaskKind, n: int) -> Outcome:
            return state(t, "SUCCESS" if h.clock.now() >= finish else "IN_PROGRESS", 50)

        h.source.scripts["image_near"] = near
        h.source.default = lambda t, k, n: state(t, "IN_PROGRESS", 10)
        h.add(*(f"image_{i:03d}" for i in range(199)), "image_near")  # near: asked last
        await h.advance(450)
    # 200 tasks kept 30 s old need 6.7 requests/s: the 2/s budget binds, and is all used;
    # each far task waits about 100 s: the near one would be seen 36 s late in its turn.
    assert len(h.source.calls) >= 2 * 450 * 0.95
    later = [t for t in h.source.times("image_near") if t >= h.start + 260.0]
    assert later[0] - (h.start + 260.0) <= 1.0  # the first rate slot after its finish
    assert h.poller.tasks["image_near"].is_final
    assert len(later) == 1  # and never again


async def test_far_tasks_share_evenly_and_never_starve_behind_near_ones() -> None:
    async with Harness(policy=policy()) as h:
        forecast = budgeted(h)
        overdue = [f"image_over_{i}" for i in range(10)]
        far = [f"image_far_{i:03d}" for i in range(100)]
        for task_id in overdue:  # always just overdue: asked every interval, 2.5/s alone
            forecast.finish[task_id] = lambda now: now - 1.0
        h.source.default = lambda t, k, n: state(t, "IN_PROGRESS", 50)
        h.add(*overdue, *far)
        await h.advance(1000)
    late = Counter(c.task_id for c in h.source.calls if c.at >= h.start + 200)
    counts = [late[task_id] for task_id in far]
    # A quarter of the 2/s budget at least: 800 s x 0.5/s over 100 tasks is 4 polls each.
    assert min(counts) >= 3
    assert max(counts) - min(counts) <= 1  # in turn: evenly
    assert min(late[task_id] for task_id in overdue) > max(counts)  # near ones still first


async def test_tasks_with_no_forecast_go_before_polls_at_finishes_within_max_staleness() -> None:
    # A batch still queued at its first answers: nothing is known of any of them until
    # a poll finds it running, while a task with a forecast finishes when it says.
    async with Harness(policy=policy(max_staleness=20.0)) as h:
        forecast = budgeted(h)
        finish = h.clock.now() + 100.0
        forecast.finish["image_near"] = lambda now: finish
        h.source.scripts["image_near"] = lambda t, k, n: state(
            t, "SUCCESS" if h.clock.now() >= finish else "IN_PROGRESS", 50
        )
        queued = [f"image_q_{i:03d}" for i in range(100)]
        for task_id in queued:
            forecast.finish[task_id] = lambda now: None
        h.source.default = lambda t, k, n: state(t, "QUEUED")
        h.add("image_near", *queued)
        await h.advance(200)
    # 100 queued tasks every 20 s need 5/s: the 2/s budget binds all along.
    seen = h.source.times("image_near")[-1] - (h.start + 100.0)
    between = [c.task_id for c in h.source.calls if h.start + 100.0 <= c.at < h.start + 115.0]
    assert len(between) >= 2 * 15 * 0.9 and "image_near" not in between  # the round goes on
    assert 15.0 <= seen <= 20.0 + 1.0  # and the finish waits max_staleness at most
    assert h.poller.tasks["image_near"].is_final


async def test_new_tasks_and_refreshes_go_at_once_when_the_budget_binds() -> None:
    async with Harness(policy=policy()) as h:
        budgeted(h)
        h.source.default = lambda t, k, n: state(t, "IN_PROGRESS", 50)
        h.add(*(f"image_{i:03d}" for i in range(100)))
        await h.advance(150)  # far behind: 100 tasks every 30 s would need 3.3/s
        recent = h.source.calls[-1].task_id  # its turn comes again in about 50 s
        asked = len(h.source.times(recent))
        h.add("image_new")
        await h.advance(1.5)  # the next slot of the 2-per-second window
        assert len(h.source.times("image_new")) == 1
        h.poller.refresh([recent])
        await h.advance(1.5)
        assert len(h.source.times(recent)) == asked + 1


# -- the budget allows -------------------------------------------------------------------------


async def test_every_far_task_is_polled_within_max_staleness_and_not_every_interval() -> None:
    async with Harness(policy=policy(rate=10.0)) as h:
        budgeted(h)
        h.source.default = lambda t, k, n: state(t, "IN_PROGRESS", 50)
        ids = [f"image_{i:02d}" for i in range(50)]
        h.add(*ids)
        await h.advance(600)
    for task_id in ids:
        spaces = gaps(h.source.times(task_id))
        assert max(spaces) <= 30.0 * 1.1 + 0.5
        assert statistics.fmean(spaces) >= 25.0  # the budget is not spent on them


async def test_a_task_without_forecast_waits_in_proportion_to_its_age() -> None:
    async with Harness(policy=policy(rate=10.0, jitter=0.0)) as h:
        forecast = budgeted(h)
        forecast.finish["image_q"] = lambda now: None
        h.source.scripts["image_q"] = lambda t, k, n: state(t, "QUEUED")
        h.add("image_q")
        await h.advance(200)
    assert gaps(h.source.times("image_q"))[:4] == pytest.approx([4.0, 12.0, 30.0, 30.0])


async def test_whole_second_submit_time_does_not_age_a_new_task() -> None:
    """The API's submit_time is whole seconds: a task just submitted may say 0.9 s ago."""
    async with Harness(policy=policy(interval=1.0, rate=10.0, jitter=0.0)) as h:
        forecast = budgeted(h)
        forecast.finish["image_q"] = lambda now: None
        submitted = int(h.clock.now()) - 1  # in the second before the first answer

        def queued(t: str, k: TaskKind, n: int) -> Outcome:
            data = {"status": "QUEUED", "submit_time": submitted}
            return TaskState.from_payload({"code": "success", "data": data}, task_id=t)

        h.source.scripts["image_q"] = queued
        h.add("image_q")
        await h.advance(20)
    assert gaps(h.source.times("image_q"))[:3] == pytest.approx([1.0, 3.0, 12.0])


def lifecycles(h: Harness, forecast: StubForecast, count: int) -> dict[str, float]:
    """bench/poll.py's short tasks: queue 1-3 s, run 2-6 s, progress climbing; the
    forecast knows a running task's finish exactly, and nothing about a queued one.
    Returns when each task finishes (monotonic)."""
    rng = random.Random(5)
    ends: dict[str, float] = {}
    for i in range(count):
        task_id = f"image_{i:02d}"
        queue, run = rng.uniform(1.0, 3.0), rng.uniform(2.0, 6.0)
        start_wall, start = h.clock.now() + queue, h.start + queue
        ends[task_id] = start + run

        def script(t: str, k: TaskKind, n: int, start: float = start, run: float = run) -> Outcome:
            elapsed = h.clock.monotonic() - start
            if elapsed < 0:
                return state(t, "QUEUED")
            if elapsed >= run:
                return state(t, "SUCCESS", 100)
            return state(t, "IN_PROGRESS", int(99 * elapsed / run))

        def finish(
            now: float, task_id: str = task_id, end: float = start_wall + run
        ) -> float | None:
            seen: TaskState | None = h.poller.tasks[task_id].state
            return end if seen is not None and seen.progress else None

        h.source.scripts[task_id] = script
        forecast.finish[task_id] = finish
    return ends


async def test_40_tasks_unbound_budget_at_most_4_requests_each_seen_within_interval() -> None:
    async with Harness(policy=policy(interval=1.0, rate=100.0, concurrency=8)) as h:
        forecast = budgeted(h)
        ends = lifecycles(h, forecast, 40)
        h.add(*ends)
        await h.advance(60)
    assert all(task.is_final for task in h.poller.tasks.values())
    assert len(h.source.calls) / 40 <= 4.0  # every interval, it was 7.1
    seen = {task_id: h.source.times(task_id)[-1] for task_id in ends}
    assert statistics.median(seen[i] - ends[i] for i in ends) <= 1.0


async def test_with_a_forecast_still_one_poll_in_flight_per_task_and_finals_left_alone() -> None:
    async with Harness(policy=policy(interval=1.0, rate=50.0), latency=3.0) as h:
        forecast = budgeted(h)
        forecast.finish["image_a"] = lambda now: now + 2.0  # NEAR, due while in flight
        h.source.scripts["image_done"] = lambda t, k, n: state(t, "SUCCESS", 100)
        h.source.default = lambda t, k, n: state(t, "IN_PROGRESS", 50)
        h.add("image_a", "image_b", "image_done")
        await h.advance(1.0)
        h.poller.refresh(["image_a"])  # in flight: deferred, not doubled
        await h.advance(100)
        assert h.source.overlaps == 0
        assert len(h.source.times("image_done")) == 1
        h.poller.refresh(["image_done"])  # unless asked
        await h.advance(10)
    assert len(h.source.times("image_done")) == 2
    assert forecast.observed["image_done"] == 2  # every answer reaches the forecast


# -- the queue itself -------------------------------------------------------------------------


def test_due_queue_order_share_and_promotion() -> None:
    queue = DueQueue()
    queue.push("far", 1.0, Urgency.FAR)
    queue.push("near", 5.0, Urgency.NEAR)
    queue.push("now", 9.0, Urgency.NOW)
    pick = queue.peek(0.0)
    assert pick is not None and (pick.task_id, pick.due) == ("far", 1.0)  # when to wake
    pick = queue.peek(10.0)
    assert pick is not None and pick.task_id == "now"  # among the due: NOW, NEAR, FAR
    queue.take(pick)
    pick = queue.peek(10.0)
    assert pick is not None and pick.task_id == "near"
    queue.take(pick)

    # FAR gets one poll in four while NEAR ones keep coming due.
    queue = DueQueue()
    queue.push("far", 10.0, Urgency.FAR)
    handed: list[str] = []
    for _ in range(8):
        queue.push(f"near{len(handed)}", 10.0, Urgency.NEAR)
        pick = queue.peek(10.0)
        assert pick is not None
        queue.take(pick)
        handed.append(pick.urgency.name)
        if pick.urgency is Urgency.FAR:
            queue.push("far", 10.0, Urgency.FAR)
    assert handed == ["NEAR", "NEAR", "NEAR", "FAR"] * 2

    # BLIND polls (nothing to forecast from) go before NEAR ones until those are
    # near_grace late; BLIND and FAR are one round, longest due first.
    queue = DueQueue(near_grace=30.0)
    queue.push("near", 10.0, Urgency.NEAR)
    queue.push("blind", 8.0, Urgency.BLIND)
    queue.push("far", 9.0, Urgency.FAR)
    pick = queue.peek(39.0)
    assert pick is not None and (pick.task_id, pick.far_waiting) == ("blind", True)
    queue.take(pick)
    pick = queue.peek(39.0)  # FAR is no BLIND: NEAR first, as before
    assert pick is not None and pick.task_id == "near"
    queue.push("near", 10.0, Urgency.NEAR)
    queue.push("blind", 8.5, Urgency.BLIND)
    pick = queue.peek(40.5)  # 30.5 s late: its grace is over
    assert pick is not None and pick.task_id == "near"
    queue.take(pick)
    pick = queue.peek(40.5)
    assert pick is not None and pick.task_id == "blind"  # longest due of the round
    queue = DueQueue(near_grace=30.0)
    queue.push("blind", 5.0, Urgency.BLIND)
    queue.push("far", 3.0, Urgency.FAR)
    pick = queue.peek(6.0)
    assert pick is not None and pick.task_id == "far"

    # A FAR poll still waiting when its task's finish comes becomes NEAR.
    queue = DueQueue()
    queue.push("busy", 0.0, Urgency.NEAR)
    queue.push("far", 10.0, Urgency.FAR, promote_at=20.0)
    queue.push("other", 5.0, Urgency.FAR)
    pick = queue.peek(25.0)
    assert pick is not None and pick.task_id == "busy"
    queue.take(pick)
    pick = queue.peek(25.0)
    assert pick is not None and (pick.task_id, pick.urgency) == ("far", Urgency.NEAR)
    assert len(queue) == 2


@pytest.mark.parametrize(
    ("status", "ahead", "expected"),
    [
        ("IN_PROGRESS", 100.0, (30.0, Urgency.FAR, 100.0)),  # far: stale at most 30 s
        ("IN_PROGRESS", 10.0, (10.0, Urgency.NEAR, None)),  # at its expected finish
        ("IN_PROGRESS", 2.0, (4.0, Urgency.NEAR, None)),  # not sooner than interval
        ("IN_PROGRESS", -10.0, (4.0, Urgency.NEAR, None)),  # overdue: every interval
        ("IN_PROGRESS", -100.0, (30.0, Urgency.FAR, None)),  # the forecast failed it
        ("QUEUED", 10.0, (30.0, Urgency.BLIND, None)),  # a queued task's guess is not used
    ],
)
def test_plan(status: str, ahead: float, expected: tuple[float, Urgency, float | None]) -> None:
    forecast = StubForecast()
    forecast.finish["image_a"] = lambda now: now + ahead
    task = WatchedTask("image_a")
    task.observe(state("image_a", status, 50), at=1_000.0)
    rng = random.Random(1)
    planned = plan(policy(jitter=0.0), forecast, task, 1_100.0, rng, interval=4.0)  # 100 s old
    assert (planned.delay, planned.urgency, planned.promote_in) == expected


@pytest.mark.parametrize(
    ("ahead", "expected"),
    [
        (2.0, (8.0, Urgency.NEAR)),  # not sooner than the interval given
        (-10.0, (8.0, Urgency.NEAR)),  # overdue: every interval given
        (-35.0, (8.0, Urgency.NEAR)),  # ...while overdue by less than max_staleness
    ],
)
def test_plan_uses_the_interval_it_is_given(ahead: float, expected: tuple[float, Urgency]) -> None:
    # The caller picks the interval (e.g. one per kind), not the policy's own.
    forecast = StubForecast()
    forecast.finish["image_a"] = lambda now: now + ahead
    task = WatchedTask("image_a")
    task.observe(state("image_a", "IN_PROGRESS", 50), at=1_000.0)
    slow = policy(jitter=0.0, interval=4.0, max_staleness=40.0)
    planned = plan(slow, forecast, task, 1_100.0, random.Random(1), interval=8.0)
    assert (planned.delay, planned.urgency) == expected


def test_a_long_run_is_next_asked_at_its_own_pace_not_the_short_runs_seen_so_far() -> None:
    # The first tasks of a batch to finish are its short ones; a task that has outrun
    # them all is not asked near their finish time (a wasted poll) but near its own.
    estimator = Estimator()
    short = WatchedTask("image_short")
    short.observe(
        TaskState.from_payload(
            {
                "code": "success",
                "data": {
                    "status": "SUCCESS",
                    "progress": "100%",
                    "submit_time": 900,
                    "start_time": 910,
                    "finish_time": 940,
                },
            },
            task_id="image_short",
        ),
        at=950.0,
    )
    estimator.observe(short, 950.0)  # ran 30 s
    long = WatchedTask("image_long")
    payload = {
        "status": "IN_PROGRESS",
        "progress": "10%",
        "submit_time": 1_000,
        "start_time": 1_000,
    }
    long.observe(
        TaskState.from_payload({"code": "success", "data": payload}, task_id="image_long"),
        at=1_040.0,
    )
    estimator.observe(long, 1_040.0)  # 10% in 40 s: 400 s in all
    planned = plan(policy(jitter=0.0), estimator, long, 1_040.0, random.Random(1), interval=4.0)
    assert planned.promote_in == 360.0


def test_due_queue_stale_entries_stay_bounded() -> None:
    queue = DueQueue()
    for round_number in range(200):  # every task replanned 200 times, finishes hours away
        for i in range(100):
            now = float(round_number)
            queue.push(f"t{i}", now + 30.0, Urgency.FAR, promote_at=now + 36_000.0)
    assert len(queue) == 100
    assert queue.entries <= 4 * 100 + 1024 + 1
    pick = queue.peek(1_000_000.0)
    assert pick is not None and pick.urgency is Urgency.NEAR  # promoted: finish has come


def test_max_staleness_must_be_positive() -> None:
    with pytest.raises(ValueError, match="max_staleness"):
        PollPolicy(max_staleness=0)
    with pytest.raises(ValueError, match="max_staleness"):
        PollPolicy(max_staleness=float("inf"))
