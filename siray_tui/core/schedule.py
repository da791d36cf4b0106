"""Where the poll budget goes: when each task is next worth asking (:func:`plan`) and in
which order due polls go out when the rate cap cannot serve them all (:class:`DueQueue`).

The rate cap is a budget, spent where a change is most likely. Without a forecast every
unfinished task is asked every ``interval`` (+/- jitter), so when the budget binds every
task gets the same share, and a task that has just finished waits its turn behind tasks
nowhere near done. With a :class:`~siray_tui.core.policy.FinishForecast`, after each
answer:

* a running task whose expected finish comes within ``max_staleness`` (and within the
  age limit below): the next poll is at that finish (never sooner than ``interval``),
  then every ``interval`` while it is overdue: ``NEAR``;
* expected finish further off: every ``max_staleness``: ``FAR``, and promoted to
  ``NEAR`` when its expected finish comes while it still waits (when the budget binds,
  a far task can wait longer than ``max_staleness``, but never past its finish);
* nothing to forecast from yet (queued, or running without progress): a wait that
  grows with the task's age, from ``interval`` up to ``max_staleness`` (a task that
  has waited long rarely changes in the next second): ``BLIND``; no wait, far or near,
  is longer than that (a young task's forecast rests on little);
* overdue by more than ``max_staleness``: the forecast has failed this task (stuck, or
  slower than it said); it is kept fresh like any far one rather than hogging the budget
  at ``interval``: ``FAR``.

New tasks, refreshes and the retries the poller's rules want at once are ``NOW``.

:class:`DueQueue` keeps one heap per urgency. Among the polls that are due it hands out
NOW first, then NEAR ones, and BLIND and FAR ones as one round (the longest due first),
except that:

* BLIND polls at the head of the round go before NEAR ones, until a NEAR one is
  ``near_grace`` (the poller passes ``max_staleness``) past its due time. A task with a
  forecast finishes about when it says, so making it wait costs a bounded delay; a task
  with none may have finished at any moment since its last answer. When a batch is
  added as fast as the budget allows (``submit --file``), every first answer says "not
  started" and the second polls take 100 s per 1,000 tasks: polls at expected finishes
  going first made that round longer, so the youngest tasks were found finished late.
  bench/schedule.py (b), 5% failures, over the tasks running at the last submission:
  p95 43.8 s (0.57 of the even policy's) with NEAR first, 36.3 s (0.47) with BLIND
  first within a 30 s grace (a 20 s grace: 38.2 s; 45 s: 47.2 s, as NEAR polls then
  wait past the tail themselves); the p50 went from 3.7 s to 4.9 s (0.15 -> 0.21);
* while BLIND or FAR polls wait behind NEAR ones, at least one poll in every
  :data:`FAR_SHARE` goes to the round, so nothing starves (NOW polls come from the user
  or a new batch, so they end).

Within the round the earliest due goes first: when the budget cannot keep tasks
``max_staleness`` old, they are asked oldest-due first, a round robin that shares what
is left evenly. Every operation is O(log n) (stale entries are skipped lazily, and
rebuilt away in O(n) once they outnumber the live ones 3 to 1), so 10,000 tasks cost
hardly more per poll than 10.
"""

from __future__ import annotations

import heapq
import itertools
import math
import random
from dataclasses import dataclass
from enum import IntEnum
from typing import Final

from siray_tui.core.models import TaskStatus, WatchedTask
from siray_tui.core.policy import FinishForecast, PollPolicy

COMPACT_SLACK: Final = 1024
"""Stale heap entries tolerated beyond 3 per live one before the heaps are rebuilt."""
FAR_SHARE: Final = 4
"""While BLIND or FAR polls are due, at least one poll in this many goes to them."""
AGE_SHARE: Final = 3.0
"""No poll waits longer than this many times the task's age (nor less than interval,
nor more than max_staleness): with an interval of 1 s, a task with no forecast is asked
0, 1, 4, 16, 46 ... seconds after it was submitted rather than every second."""


class Urgency(IntEnum):
    """Which heap a scheduled poll waits in; lower goes first among due polls."""

    NOW = 0
    BLIND = 1  # no forecast yet: queued, or running without progress
    NEAR = 2
    FAR = 3


def _jittered(policy: PollPolicy, seconds: float, rng: random.Random) -> float:
    jitter = policy.jitter
    return seconds * rng.uniform(1 - jitter, 1 + jitter)


@dataclass(frozen=True, slots=True)
class Plan:
    """When to ask a task next, relative to now (seconds), and how urgently.

    ``promote_in``: for a FAR poll, seconds until it becomes NEAR if still waiting.
    """

    delay: float
    urgency: Urgency
    promote_in: float | None = None


def _running(task: WatchedTask) -> bool:
    """Running with a progress to extrapolate from (what makes a forecast precise)."""
    state = task.state
    return (
        state is not None
        and bool(state.progress)
        and (state.status is TaskStatus.IN_PROGRESS or state.start_time is not None)
    )


def _submitted(task: WatchedTask, now: float) -> float:
    """When the task was submitted, as late as what we know allows.

    The server's ``submit_time`` is in whole seconds, so the task may be up to a second
    younger than it says; it cannot be younger than our first answer about it. Erring
    young keeps the first polls of a new task close together.
    """
    seen = task.history[0].seen_at if task.history else now
    state = task.state
    if state is None or state.submit_time is None:
        return seen
    return min(state.submit_time + 1.0, seen)


def plan(
    policy: PollPolicy,
    forecast: FinishForecast | None,
    task: WatchedTask,
    now: float,
    rng: random.Random,
    *,
    interval: float,
) -> Plan:
    """When ``task`` (unfinished, just answered) is worth asking again, and how urgent
    that poll is. ``now`` is Unix seconds; ``forecast`` has already seen the answer.
    ``interval`` is the task's own (the caller's to choose: the policy's, or one per
    kind), so the scheduler need not know how intervals are set."""
    if forecast is None:
        return Plan(_jittered(policy, interval, rng), Urgency.FAR)
    staleness = max(policy.max_staleness, interval)
    finish = forecast.expected_finish(task, now)
    # A young task's forecast rests on little (a few percent of progress, timestamps in
    # whole seconds): never wait much longer than the task has lived.
    wait = min(staleness, max(interval, AGE_SHARE * (now - _submitted(task, now))))
    if finish is None or not math.isfinite(finish) or not _running(task):
        # No forecast, or one from other tasks' usual times only: a queued task's run
        # time is anyone's guess, and a whole batch would come due at one instant.
        return Plan(_jittered(policy, wait, rng), Urgency.BLIND)
    ahead = finish - now
    if ahead > wait:
        return Plan(_jittered(policy, wait, rng), Urgency.FAR, promote_in=ahead)
    if ahead > interval:
        return Plan(ahead, Urgency.NEAR)  # exactly at the expected finish
    if ahead >= -staleness:
        return Plan(_jittered(policy, interval, rng), Urgency.NEAR)
    return Plan(_jittered(policy, staleness, rng), Urgency.FAR)


@dataclass(frozen=True, slots=True)
class Pick:
    """The poll :meth:`DueQueue.peek` would hand out next."""

    task_id: str
    due: float
    urgency: Urgency
    far_waiting: bool  # a BLIND or FAR poll was due too (it counts towards their share)


class DueQueue:
    """Scheduled polls, one heap of ``(due, sequence, task_id)`` per :class:`Urgency`.

    A task has at most one live entry: the one whose sequence ``_live`` holds, so
    rescheduling pushes a new entry and never searches a heap for the old one.
    """

    def __init__(self, near_grace: float = 30.0) -> None:
        self.near_grace = near_grace
        """Seconds a due NEAR poll waits behind BLIND ones before it goes first."""
        self._heaps: tuple[list[tuple[float, int, str]], ...] = tuple([] for _ in Urgency)
        self._promotions: list[tuple[float, int, str]] = []  # (when, FAR entry's sequence, id)
        self._live: dict[str, int] = {}
        self._sequence = itertools.count()
        self._near_streak = 0  # BLIND/NEAR polls handed out in a row while FAR ones waited

    def __contains__(self, task_id: object) -> bool:
        return task_id in self._live

    def __len__(self) -> int:
        return len(self._live)

    @property
    def entries(self) -> int:
        """Heap entries kept, live or stale: at most 4 per live one, plus a constant."""
        return sum(len(heap) for heap in self._heaps) + len(self._promotions)

    def push(
        self, task_id: str, due: float, urgency: Urgency, *, promote_at: float | None = None
    ) -> None:
        """Schedule ``task_id`` (replacing its earlier schedule, if any); a FAR poll still
        waiting at ``promote_at`` becomes a NEAR one due then."""
        if urgency is Urgency.FAR and promote_at is not None and promote_at <= due:
            urgency, due, promote_at = Urgency.NEAR, promote_at, None  # finish comes first
        sequence = next(self._sequence)
        self._live[task_id] = sequence
        heapq.heappush(self._heaps[urgency], (due, sequence, task_id))
        if urgency is Urgency.FAR and promote_at is not None:
            # Only a FAR poll still waiting after its due time (the budget binds, so
            # the scheduler is awake) can reach this, so it needs no timer of its own.
            heapq.heappush(self._promotions, (promote_at, sequence, task_id))
        if self.entries > 4 * len(self._live) + COMPACT_SLACK:
            self._compact()

    def _compact(self) -> None:
        """Drop stale entries: a promotion hours ahead would otherwise stay until then."""
        live = self._live
        for heap in (*self._heaps, self._promotions):
            heap[:] = [entry for entry in heap if live.get(entry[2]) == entry[1]]
            heapq.heapify(heap)

    def _promote(self, now: float) -> None:
        promotions = self._promotions
        live = self._live
        while promotions and promotions[0][0] <= now:
            when, sequence, task_id = heapq.heappop(promotions)
            if live.get(task_id) == sequence:
                self.push(task_id, when, Urgency.NEAR)

    def discard(self, task_id: str) -> None:
        """Unschedule ``task_id``; its heap entry is skipped when it surfaces."""
        self._live.pop(task_id, None)

    def _top(self, urgency: Urgency) -> tuple[float, int, str] | None:
        heap = self._heaps[urgency]
        live = self._live
        while heap:
            entry = heap[0]
            if live.get(entry[2]) == entry[1]:
                return entry
            heapq.heappop(heap)
        return None

    def peek(self, now: float) -> Pick | None:
        """The poll to hand out next: a due one by the rules above, else the earliest
        (whose ``due`` says how long the scheduler may sleep); None when nothing waits."""
        self._promote(now)
        tops = [self._top(urgency) for urgency in Urgency]
        due = {
            urgency: top[0]
            for urgency, top in zip(Urgency, tops, strict=True)
            if top is not None and top[0] <= now
        }
        if due:
            chosen = self._choose(due, now)
        else:
            live = [
                (top[0], urgency)
                for urgency, top in zip(Urgency, tops, strict=True)
                if top is not None
            ]
            if not live:
                return None
            chosen = min(live)[1]
        top = tops[chosen]
        assert top is not None
        return Pick(top[2], top[0], chosen, Urgency.BLIND in due or Urgency.FAR in due)

    def _choose(self, due: dict[Urgency, float], now: float) -> Urgency:
        """Which of the due polls (their due times by urgency) goes next: the rules in
        the module docstring."""
        if Urgency.NOW in due:
            return Urgency.NOW
        # BLIND and FAR polls are one round, the longest due first
        waiting = [urgency for urgency in (Urgency.BLIND, Urgency.FAR) if urgency in due]
        first = min(waiting, key=due.__getitem__, default=None)
        near = due.get(Urgency.NEAR)
        if near is None:
            assert first is not None
            return first
        if first is None:
            return Urgency.NEAR
        if first is Urgency.BLIND and near > now - self.near_grace:
            return Urgency.BLIND
        return first if self._near_streak >= FAR_SHARE - 1 else Urgency.NEAR

    def take(self, pick: Pick) -> None:
        """Hand out ``pick`` (from :meth:`peek` just now): unschedule it, count the share."""
        self._live.pop(pick.task_id, None)
        if pick.urgency in (Urgency.BLIND, Urgency.FAR):
            self._near_streak = 0
        elif pick.urgency is Urgency.NEAR and pick.far_waiting:
            self._near_streak += 1


__all__ = ["FAR_SHARE", "DueQueue", "Pick", "Plan", "Urgency", "plan"]
