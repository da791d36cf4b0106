"""Where the poll budget goes: the even policy against the budgeted one, in one run.

Detection latency is when the poller first saw a task's final state minus when the task
really finished. Both policies poll the same tasks, from the same seed, in the same run:

(a) 1,000 tasks submitted together at t=0 (all at once), lifecycles drawn by the
    simulator's ``Scenario`` (queue 3 to 60 s, run 20 to 300 s, 20% failures: some
    rejected at the end of their queue, some dying part-way), at the default budget
    (interval 4 s, 10 requests per second, 8 in flight). Goals: the budgeted policy's p50
    at most a third of the even policy's, its p95 at most half.
(b) The same lifecycles, but the 1,000 tasks arrive the way ``submit --file`` creates
    them at its default rate, 10 a second over 100 s, each polled at once when it is
    added; at 5%, 10% and 20% failures. Measured over all tasks, and over the tasks
    still running when the last one was submitted (the "1,000 running tasks" a watcher
    then has; the ones that finished meanwhile are left out). Same goals.
(c) 40 tasks with the lifecycles of ``bench/poll.py`` (b) (queue 1 to 3 s, run 2 to 6 s,
    every fifth a failure; interval 1 s, 100 requests per second: the budget does not
    bind). Goals: at most 4 requests per task, at a detection p50 no worse than the
    interval.
(d) The cost of scheduling: 10,000 running tasks planned and handed out by the
    budgeted policy's queue (``core/schedule.py``), per poll, against 1,000.

Where the p95 goal is missed, and the floor line. What a poll can know: an answer while
a task runs forecasts a success exactly (the simulator's progress is linear in time),
but a first answer NOT_START or queued says nothing, a failure looks like a slower
success until it dies, and a rejection like a queued task until the end of its queue:
no forecast finds those, only a poll does. The floor keeps the even policy's polls and
gives each the worth of what is truly known after it: a success that one of them found
running is seen the moment it finishes, every other task when the even policy saw it
(the even round robin polls every unknown task as often as the budget allows). It is a
reference, not a proof (a schedule can poll some unknown tasks more often than the even
round robin, but then polls others less); where it is above half the even policy's p95,
the goal is out of reach for a schedule that does not know which tasks will fail:

* (a): the first polls take 100 s. 137 tasks finish before theirs (42 of them more than
  half the even p95 late; the tasks are alike, so no order of first polls does better
  but by chance), and a task answered before it ends waits for the polls after that
  round: at seed 15, 66 rejections, 44 failures and 19 successes never seen running
  are beyond the goal's latency in the floor, where 50 (5%) may be.
* (b) over all tasks: the tasks that finish while the batch is submitted wait for the
  first polls to end (they take the whole budget, as new tasks go first).
* (b) over the running tasks, 10% and 20% failures: a rejection among them ends its
  queue after the last submission; its only answer before then was its first one,
  NOT_START, and the round of second polls, oldest first, reaches a task submitted at
  time s after s + 100 s, while its queue (60 s at most) ended by s + 60 s: 40 s or
  more late, beyond the goal's latency (37.7 s and 36.5 s). At seed 15 that is 19 of
  the 913 running tasks and 42 of the 864, every one of them in the floor's tail (and,
  at 20%, in the budgeted run's).

At seed 15 the budgeted schedule is within 0.05 of the floor in every case. Its polls
of tasks with no forecast go before its polls at expected finishes unless those are
30 s late (``core/schedule.py``), which shortens the round of second polls in (b)
enough for the goal at 5% failures (p95 0.57 of the even policy's with the polls at
expected finishes first, 0.47 now). The last line of each case is the floor this bench
printed before: nothing known before a task's second poll, and all second polls in one
round right after the first polls, every final seen for free: too pessimistic in (a),
and in (b) it spends no poll on seeing a task final.

No HTTP: the poller drives an in-process source built on the simulator's ``Scenario``
(the same lifecycles the HTTP simulator serves, rendered by the same ``render_task``)
under a ``FakeClock`` that jumps to the next pending sleep, so simulated hours take
seconds and every figure is the same on every run. Each answer takes 0.05 s of simulated
time. The forecast is the project's estimator (``core/eta.py``), fed by the poller.

Usage: ``.venv/bin/python bench/schedule.py [--tasks 1000] [--seed 15]``
"""

from __future__ import annotations

import argparse
import asyncio
import random
import sys
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from siray_tui.core.clock import FakeClock
from siray_tui.core.eta import Estimator
from siray_tui.core.models import TaskKind, TaskState, TaskStatus, WatchedTask
from siray_tui.core.policy import FinishForecast, PollPolicy
from siray_tui.core.poller import Poller, PollerEvent, TaskUpdated
from siray_tui.core.schedule import DueQueue, Urgency
from siray_tui.sim.faults import Faults, render_task
from siray_tui.sim.scenario import Scenario, SimTask

LATENCY = 0.05  # simulated seconds per answer
SPACING = 0.1  # seconds between two submissions in (b): submit --file's default rate
FAILURE_RATES = (0.05, 0.10, 0.20)
BASE = "http://127.0.0.1:9"  # only rendered into output URLs; nothing connects


def make_forecast() -> FinishForecast:
    """What WatchSession gives its poller: a fresh estimator, which learns as it goes."""
    return Estimator()


class ScenarioSource:
    """Answers ``get_task`` from a Scenario's lifecycles after ``LATENCY`` simulated
    seconds, and counts the requests per task."""

    def __init__(self, scenario: Scenario, clock: FakeClock) -> None:
        self.scenario = scenario
        self.clock = clock
        self.requests: Counter[str] = Counter()
        self.first_asked: dict[str, float] = {}
        self.first_running: dict[str, float] = {}  # when an answer first said IN_PROGRESS
        self._rng = random.Random(0)
        self._faults = Faults()

    async def get_task(self, task_id: str, kind: TaskKind) -> TaskState:
        self.requests[task_id] += 1
        self.first_asked.setdefault(task_id, self.clock.now())
        await self.clock.sleep(LATENCY)
        task = self.scenario.get(task_id)
        assert task is not None
        state = task.state_at(self.clock.now())
        body = render_task(task, state, BASE, self._faults, self._rng)
        answer = TaskState.from_payload(body, task_id=task_id)
        if answer.status is TaskStatus.IN_PROGRESS:
            self.first_running.setdefault(task_id, self.clock.now())
        return answer


def quantile(values: list[float], q: float) -> float:
    """Nearest rank; 0 for no values."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * len(ordered)) - 1))] if values else 0.0


@dataclass
class Outcome:
    latencies: list[float]
    requests_per_task: float
    simulated_seconds: float
    unasked: list[float]  # latencies of the tasks that finished before their first poll
    failures: list[float]  # latencies of the failed tasks
    tasks: list[SimTask]  # in the order of ``latencies``
    start: float  # Unix time the first task was submitted
    seen_running: list[bool]  # a poll found the task running (so it finished after)

    def quantile(self, q: float) -> float:
        return quantile(self.latencies, q)

    def split(self, at: float) -> tuple[list[float], list[float]]:
        """The latencies of the tasks that finished before Unix time ``at``, and after."""
        before: list[float] = []
        after: list[float] = []
        for latency, task in zip(self.latencies, self.tasks, strict=True):
            (before if task.finished_at < at else after).append(latency)
        return before, after


async def settle() -> None:
    for _ in range(40):
        await asyncio.sleep(0)


async def watch(
    make_tasks: Callable[[Scenario], Callable[[int], SimTask]],
    count: int,
    scenario_args: dict[str, object],
    policy: PollPolicy,
    forecast: FinishForecast | None,
    seed: int,
    spacing: float = 0.0,
) -> Outcome:
    """Poll a fresh scenario's ``count`` tasks until every one was seen final; the
    ``i``-th is submitted (and added to the poller, which asks a new task at once)
    ``i * spacing`` seconds after the start."""
    clock = FakeClock()
    scenario = Scenario(seed, clock=clock.now, **scenario_args)  # type: ignore[arg-type]
    make_task = make_tasks(scenario)
    tasks: list[SimTask] = []
    source = ScenarioSource(scenario, clock)
    seen: dict[str, float] = {}

    def on_event(event: PollerEvent) -> None:
        if isinstance(event, TaskUpdated) and event.task.is_final:
            seen.setdefault(event.task.task_id, clock.now())

    poller = Poller(
        source,
        policy=policy,
        clock=clock,
        rng=random.Random(seed),
        on_event=on_event,
        forecast=forecast,
    )
    start, origin = clock.now(), clock.monotonic()

    def submit_due() -> None:
        new: list[SimTask] = []
        while len(tasks) < count and origin + len(tasks) * spacing <= clock.monotonic():
            task = make_task(len(tasks))
            tasks.append(task)
            new.append(task)
        poller.add(WatchedTask(t.task_id, kind=TaskKind(t.kind), added_at=clock.now()) for t in new)

    submit_due()
    runner = asyncio.create_task(poller.run())
    while True:
        await settle()
        if len(seen) == count:
            break
        deadline = clock.next_deadline()
        if len(tasks) < count:
            arrival = origin + len(tasks) * spacing
            deadline = arrival if deadline is None else min(deadline, arrival)
        assert deadline is not None, f"idle with {count - len(seen)} tasks unseen"
        clock.advance(max(0.0, deadline - clock.monotonic()))
        submit_due()
    poller.stop()
    await runner
    latencies = [seen[t.task_id] - t.finished_at for t in tasks]
    assert min(latencies) >= 0
    return Outcome(
        latencies,
        sum(source.requests.values()) / len(tasks),
        clock.now() - start,
        [
            seen[t.task_id] - t.finished_at
            for t in tasks
            if source.first_asked[t.task_id] >= t.finished_at
        ],
        [seen[t.task_id] - t.finished_at for t in tasks if t.outcome == "failure"],
        tasks,
        start,
        [t.task_id in source.first_running for t in tasks],
    )


def drawn(scenario: Scenario) -> Callable[[int], SimTask]:
    """Tasks submitted when called, 60% images, every trait drawn by the scenario."""
    rng = random.Random(scenario.seed)
    return lambda _: scenario.submit("image" if rng.random() < 0.6 else "video")


def short_lifecycles(scenario: Scenario) -> Callable[[int], SimTask]:
    """bench/poll.py (b)'s tasks: the same specs from the same seed."""
    rng = random.Random(5)

    def make(i: int) -> SimTask:
        kind = "image" if i % 2 else "video"
        queue, run = rng.uniform(1.0, 3.0), rng.uniform(2.0, 6.0)
        outcome = "failure" if i % 5 == 0 else "success"
        return scenario.add_task(kind, queue_s=queue, run_s=run, outcome=outcome)  # type: ignore[arg-type]

    return make


def queue_cost(count: int, polls: int) -> float:
    """Microseconds per poll handed out by a DueQueue holding ``count`` tasks (each poll:
    peek, take, and push the task back, as the poller does)."""
    rng = random.Random(1)
    queue = DueQueue()
    for i in range(count):
        queue.push(f"t{i}", rng.uniform(0, 30), Urgency(i % 3))
    now = 30.0
    started = time.perf_counter()
    for _ in range(polls):
        pick = queue.peek(now)
        assert pick is not None
        queue.take(pick)
        queue.push(pick.task_id, now + rng.uniform(4, 30), Urgency(rng.randrange(1, 3)))
        now += 0.1
    return (time.perf_counter() - started) / polls * 1e6


def floor_of(even: Outcome) -> Outcome:
    """The even policy's polls, each worth what is truly known after it: a success that
    any of them found running is seen the moment it finishes (its progress is linear,
    so that one answer forecasts it exactly), every other task when the even policy saw
    it (a failure looks like a slower success until it dies, a rejection like a queued
    task: no forecast finds them, only a poll does, and the even round robin is what
    polls every unknown task as often as the budget allows)."""
    latencies = [
        0.0 if running and task.outcome == "success" else latency
        for latency, task, running in zip(
            even.latencies, even.tasks, even.seen_running, strict=True
        )
    ]
    return replace(even, latencies=latencies)


def second_poll_floor(outcome: Outcome, spacing: float, rate: float) -> Outcome:
    """The floor this bench printed first: nothing known of a task before its second
    poll, and the second polls in one round at the full rate, oldest first, once the
    first polls are done (the even policy's order)."""
    count = len(outcome.tasks)
    step = max(spacing, 1.0 / rate)  # first polls: one per submission, within the cap
    latencies: list[float] = []
    for i, task in enumerate(outcome.tasks):
        first = outcome.start + i * step
        second = outcome.start + count * step + i / rate
        polled = first if task.finished_at < first else second
        latencies.append(max(0.0, polled - task.finished_at))
    return replace(outcome, latencies=latencies)


def print_ratios(
    even: list[float], budget: list[float], floor: list[float], second: list[float]
) -> None:
    """The goals' ratios, and the floors' p95 against the even policy's."""
    p50 = quantile(budget, 0.5) / quantile(even, 0.5)
    p95 = quantile(budget, 0.95) / quantile(even, 0.95)
    least = quantile(floor, 0.95) / quantile(even, 0.95)
    print(row("      p50 budgeted / even", f"{p50:.2f}", "<= 0.33", verdict(p50 <= 1 / 3)))
    print(row("      p95 budgeted / even", f"{p95:.2f}", "<= 0.50", verdict(p95 <= 0.5)))
    print(
        row(
            "      p95 floor (see the docstring) / even",
            f"{quantile(floor, 0.95):.1f} s; {least:.2f}",
            "goal reachable?",
            "yes" if least <= 0.5 else "no",
        )
    )
    print(
        row(
            "      p95 if nothing were known before the 2nd poll / even",
            f"{quantile(second, 0.95):.1f} s; {quantile(second, 0.95) / quantile(even, 0.95):.2f}",
        )
    )


def print_spaced(even: Outcome, budget: Outcome, submitted: float) -> None:
    """Case (b) at one failure rate: over all tasks, and over the tasks still running
    when the last one was submitted (the ones a watcher of 1,000 running tasks has)."""
    even_early, even_late = even.split(submitted)
    budget_early, budget_late = budget.split(submitted)
    _, floor_late = floor_of(even).split(submitted)
    second = second_poll_floor(even, SPACING, PollPolicy().rate)
    _, second_late = second.split(submitted)
    for view, e, g, f, s in (
        (
            f"all tasks ({len(even.latencies)})",
            even.latencies,
            budget.latencies,
            floor_of(even).latencies,
            second.latencies,
        ),
        (
            f"running when the last was submitted ({len(even_late)})",
            even_late,
            budget_late,
            floor_late,
            second_late,
        ),
    ):
        print(row(f"    {view}:", ""))
        for name, values in (("even", e), ("budgeted", g)):
            print(
                row(
                    f"      {name}: p50 / p95",
                    f"{quantile(values, 0.5):.1f} s / {quantile(values, 0.95):.1f} s",
                )
            )
        print_ratios(e, g, f, s)
    print(
        row(
            "    requests per task: even; budgeted",
            f"{even.requests_per_task:.2f}; {budget.requests_per_task:.2f}",
        )
    )
    print(
        row(
            "    finished during the submissions (first polls take all",
            f"{len(even_early)}; even {quantile(even_early, 0.5):.1f} s",
        )
    )
    print(row("      the budget): p50", f"budgeted {quantile(budget_early, 0.5):.1f} s"))


def row(name: str, result: str, goal: str = "", verdict: str = "") -> str:
    return f"{name:<58} {result:>24}  {goal:<24} {verdict}".rstrip()


def verdict(ok: bool) -> str:
    return "ok" if ok else "MISSED"


async def main(args: argparse.Namespace) -> None:
    default = PollPolicy()
    big = {"queue_seconds": (3.0, 60.0), "run_seconds": (20.0, 300.0), "failure_rate": 0.2}
    even = await watch(drawn, args.tasks, big, default, None, args.seed)
    budget = await watch(drawn, args.tasks, big, default, make_forecast(), args.seed)

    spaced: list[tuple[float, Outcome, Outcome]] = []
    for rate in FAILURE_RATES:
        lifecycles = {**big, "failure_rate": rate}
        spaced.append(
            (
                rate,
                await watch(drawn, args.tasks, lifecycles, default, None, args.seed, SPACING),
                await watch(
                    drawn, args.tasks, lifecycles, default, make_forecast(), args.seed, SPACING
                ),
            )
        )

    small_policy = PollPolicy(interval=1.0, concurrency=8, rate=100.0)
    small = {"queue_seconds": (1.0, 3.0), "run_seconds": (2.0, 6.0)}
    small_even = await watch(short_lifecycles, 40, small, small_policy, None, args.seed)
    small_budget = await watch(
        short_lifecycles, 40, small, small_policy, make_forecast(), args.seed
    )
    cost_small = min(queue_cost(1_000, 20_000) for _ in range(3))
    cost_big = min(queue_cost(10_000, 20_000) for _ in range(3))

    print(
        f"bench/schedule.py: seed {args.seed}, simulated time (FakeClock), "
        f"{LATENCY:g} s per answer; forecast: core.eta.Estimator; Python {sys.version.split()[0]}"
    )
    print(row("measure", "result", "goal", "verdict"))
    print("-" * 116)
    print(
        f"(a) {args.tasks} tasks submitted together at t=0, queue 3-60 s, run 20-300 s, "
        "20% failures, default budget"
    )
    for name, outcome in (("even", even), ("budgeted", budget)):
        print(
            row(
                f"    {name}: detection p50 / p95; requests per task",
                f"{outcome.quantile(0.5):.1f} s / {outcome.quantile(0.95):.1f} s; "
                f"{outcome.requests_per_task:.1f}",
                f"all seen after {outcome.simulated_seconds:.0f} s",
            )
        )
    for name, outcome in (("even", even), ("budgeted", budget)):
        print(
            row(
                f"    {name}: finished before their first poll; p50 / p95",
                f"{len(outcome.unasked)}; {quantile(outcome.unasked, 0.5):.1f} s / "
                f"{quantile(outcome.unasked, 0.95):.1f} s",
            )
        )
        print(
            row(
                f"    {name}: failures (no forecast sees them); p50 / p95",
                f"{len(outcome.failures)}; {quantile(outcome.failures, 0.5):.1f} s / "
                f"{quantile(outcome.failures, 0.95):.1f} s",
            )
        )
    print_ratios(
        even.latencies,
        budget.latencies,
        floor_of(even).latencies,
        second_poll_floor(even, 0.0, default.rate).latencies,
    )
    print(
        f"(b) {args.tasks} tasks submitted at {1 / SPACING:g}/s (batch submit's default rate), "
        "each polled at once when added; queue 3-60 s, run 20-300 s, default budget"
    )
    for rate, even_b, budget_b in spaced:
        print(f"  {rate:.0%} failures")
        print_spaced(even_b, budget_b, even_b.start + (args.tasks - 1) * SPACING)
    print("(c) 40 tasks, queue 1-3 s, run 2-6 s, interval 1 s, 100 requests/s (not binding)")
    for name, outcome in (("even", small_even), ("budgeted", small_budget)):
        print(
            row(
                f"    {name}: requests per task; detection p50 / p95",
                f"{outcome.requests_per_task:.2f}; "
                f"{outcome.quantile(0.5):.2f} s / {outcome.quantile(0.95):.2f} s",
            )
        )
    print(
        row(
            "    budgeted requests per task",
            f"{small_budget.requests_per_task:.2f}",
            "<= 4",
            verdict(small_budget.requests_per_task <= 4),
        )
    )
    print(
        row(
            "    budgeted detection p50",
            f"{small_budget.quantile(0.5):.2f} s",
            "<= 1 s (the interval)",
            verdict(small_budget.quantile(0.5) <= 1.0),
        )
    )
    print("(d) scheduling cost per poll (peek + take + push), best of 3")
    print(row("    1,000 tasks", f"{cost_small:.2f} us"))
    ratio = cost_big / cost_small
    print(
        row(
            "    10,000 tasks; ratio to 1,000",
            f"{cost_big:.2f} us; {ratio:.2f}",
            "<= 3 (log n, not n: 10)",
            verdict(ratio <= 3),
        )
    )


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--tasks", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=15)
    return parser.parse_args()


if __name__ == "__main__":
    asyncio.run(main(parse_args()))
