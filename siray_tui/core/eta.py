"""Expected finish (ETA) and stall flags, learnt from the tasks we watch.

The API says nothing about when a task will end, so the :class:`Estimator` learns it:
from every finished task, the queue and run times seen for its model (else its kind);
from every running task, the history of its progress (each value and the time it was
first seen). From those it answers, for one task at one moment:

* :meth:`Estimator.expected_finish`: a running task's finish extrapolated from its
  progress and start time, blended with the usual run time of its model or kind while
  the progress is low or absent (usual among the tasks that ran at least as long as it
  has: the first to finish are the short ones); a queued task's from the usual queue
  and run times.
* :meth:`Estimator.stall`: ``"stalled"`` when a running task's progress has not moved for
  ``max(60 s, 3 x its usual gap between changes)``; ``"slow queue"`` when a task has
  waited longer than the p95 queue time of its model or kind (once 5 are known). Both
  are worked out from the state at ``now``, so they clear themselves.

Pure: no Textual, no I/O, no clock of its own (every call takes ``now``, Unix seconds),
bounded memory (samples and histories are capped; :meth:`Estimator.forget` drops a task).
Whatever the server sends (progress going backwards, 100% without SUCCESS, a start time
in the future), the answers are finite numbers or None, never an exception.
"""

from __future__ import annotations

import bisect
import math
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass, field
from itertools import pairwise
from typing import Final

from siray_tui.core.models import TaskKind, TaskState, TaskStatus, WatchedTask

STALL_FLOOR: Final = 60.0
"""Seconds without a progress change before a running task may be called stalled."""
STALL_GAPS: Final = 3.0
"""...or this many times its usual gap between changes, whichever is longer."""
SLOW_QUEUE_MIN_SAMPLES: Final = 5
"""Queue times needed before a queue is called slow (a p95 of 2 samples means nothing)."""
MAX_SAMPLES: Final = 200
"""Finished tasks remembered per model or kind: the recent ones describe today's load."""
MAX_PROGRESS_POINTS: Final = 32
"""Progress changes remembered per running task: enough for its usual gap."""
MAX_GROUPS: Final = 512
"""Models (and kinds) remembered: names come from the server, so they are capped too."""
FULL_TRUST_PROGRESS: Final = 10.0
"""Progress (%) from which the extrapolation alone is trusted; below it, the usual run
time of the model or kind weighs in, the more the lower the progress. A whole percent
from 10% on is within a tenth of the task's own pace, while the usual run time of other
tasks can be off tenfold; and a forecast that comes too early costs a poll every
interval until the task is done (at 50%, bench/schedule.py measured 218 of 519 polls at
expected finishes in (a)'s second 100 s to find the task still running; at 10%, 24 of 324)."""

STALLED: Final = "stalled"
SLOW_QUEUE: Final = "slow queue"

_RUNNING_STATUSES: Final = frozenset({TaskStatus.IN_PROGRESS})


def group_of(task: WatchedTask) -> str:
    """The key a task's samples are kept under: ``model:<name>``, else ``kind:<kind>``."""
    model = task.model
    return f"model:{model}" if model else f"kind:{task.kind.value}"


def _finite(value: float | None) -> float | None:
    return value if value is not None and math.isfinite(value) else None


def _median(values: list[float]) -> float:
    ordered = sorted(values)
    middle = len(ordered) // 2
    if len(ordered) % 2:
        return ordered[middle]
    return (ordered[middle - 1] + ordered[middle]) / 2


def _quantile(values: list[float], q: float) -> float:
    """Nearest-rank quantile (``q`` in 0..1) of a non-empty list."""
    ordered = sorted(values)
    rank = max(0, min(len(ordered) - 1, math.ceil(q * len(ordered)) - 1))
    return ordered[rank]


@dataclass(slots=True)
class _Samples:
    """The queue and run times of one model's (or kind's) finished tasks, with the
    statistics worked out once per new sample rather than once per table row."""

    queue: deque[float] = field(default_factory=lambda: deque(maxlen=MAX_SAMPLES))
    run: deque[float] = field(default_factory=lambda: deque(maxlen=MAX_SAMPLES))
    _stats: tuple[float | None, float | None, float | None] | None = None
    _runs: list[float] | None = None  # run times in order, for run_beyond

    def add(self, queue: float | None, run: float | None) -> None:
        if queue is not None:
            self.queue.append(queue)
        if run is not None:
            self.run.append(run)
        self._stats = None
        self._runs = None

    def run_beyond(self, elapsed: float) -> float | None:
        """The median run time of the tasks that ran longer than ``elapsed``; None when
        none did. The first tasks of a batch to finish are its short ones, so the plain
        median says a long task is about to end long after it has passed it."""
        if self._runs is None:
            self._runs = sorted(self.run)
        runs = self._runs
        first = bisect.bisect_right(runs, elapsed)
        if first == len(runs):
            return None
        middle = first + (len(runs) - first) // 2
        if (len(runs) - first) % 2:
            return runs[middle]
        return (runs[middle - 1] + runs[middle]) / 2

    def stats(self) -> tuple[float | None, float | None, float | None]:
        """(median queue, median run, p95 queue or None below 5 samples)."""
        if self._stats is None:
            queue, run = list(self.queue), list(self.run)
            self._stats = (
                _median(queue) if queue else None,
                _median(run) if run else None,
                _quantile(queue, 0.95) if len(queue) >= SLOW_QUEUE_MIN_SAMPLES else None,
            )
        return self._stats


@dataclass(slots=True)
class _Track:
    """A running task's progress: each value with the time it was first seen.

    A list, not a deque: thousands of running tasks each have one, and an empty deque
    alone takes 600 bytes.
    """

    points: list[tuple[int | None, float]] = field(default_factory=list)
    usual_gap: float | None = None
    running_since: float | None = None
    """When we first saw it running (for a server that sends no start time)."""

    def see(self, progress: int | None, now: float) -> None:
        if self.points and self.points[-1][0] == progress:
            return
        self.points.append((progress, now))
        if len(self.points) > MAX_PROGRESS_POINTS:
            del self.points[0]
        # the gaps between changes of a known value: a None (absent) is no change of pace
        times = [t for value, t in self.points if value is not None]
        gaps = [b - a for a, b in pairwise(times) if b > a]
        self.usual_gap = _median(gaps) if gaps else None


@dataclass(frozen=True, slots=True)
class EtaInfo:
    """What the table, the ``--json`` record and the summary show for one task.

    Attributes:
        seconds: expected seconds to finish from ``now`` (negative when overdue), or None.
        flag: ``"stalled"``, ``"slow queue"`` or None.
    """

    seconds: float | None
    flag: str | None

    @property
    def stalled(self) -> bool:
        """Only a stalled task counts as stalled (a slow queue is a softer warning)."""
        return self.flag == STALLED


NO_ETA: Final = EtaInfo(None, None)


@dataclass(slots=True)
class _Plan:
    """What one task's answers need, worked out once per observed state: asking is then
    a little arithmetic on the clock (the dashboard asks for 10,000 tasks every second).

    The usual times are read from ``samples`` at each ask, so a finished task of the same
    model or kind moves the others' ETAs without replanning them.
    """

    state: TaskState
    kind: TaskKind
    samples: _Samples | None
    running: bool
    start: float
    """Running: when it started (by the server's clock, else ours; never in the future)."""
    by_progress: float | None
    """Running: the whole run time, extrapolated from the progress."""
    elapsed: float
    """Running: how long it had run when its progress was last seen to change."""
    weight: float
    """Running: how much ``by_progress`` counts against the usual run time (0..1)."""
    stall_after: float | None
    """Running: the time after which it is stalled (None: it cannot be)."""
    since: float
    """Waiting: when it was submitted."""


class Estimator:
    """Learns queue and run times and progress rates; answers ETA and stall questions.

    Feed it every observation (:meth:`observe`, idempotent for an unchanged state); ask
    it at any time. One per :class:`~siray_tui.core.session.WatchSession`.
    """

    def __init__(self) -> None:
        self._samples: dict[str, _Samples] = {}
        self._tracks: dict[str, _Track] = {}
        self._plans: dict[str, _Plan] = {}
        self._learnt: set[str] = set()
        """IDs of final tasks whose times are in the samples (so they count once)."""

    @classmethod
    def learnt_from(cls, tasks: Iterable[WatchedTask], now: float) -> Estimator:
        """A new estimator that observed each of ``tasks`` once: what a command without
        a running session knows (the finished tasks' times give the others' ETA)."""
        estimator = cls()
        for task in tasks:
            estimator.observe(task, now)
        return estimator

    # -- learning ------------------------------------------------------------------------

    def observe(self, task: WatchedTask, now: float) -> None:
        """Record what ``task`` looks like at ``now`` (call on every observation)."""
        state = task.state
        if state is None:
            return
        task_id = task.task_id
        self._plans.pop(task_id, None)
        if state.status.is_final:
            self._tracks.pop(task_id, None)
            if task_id not in self._learnt:
                self._learnt.add(task_id)
                self._learn(task, now)
            return
        self._learnt.discard(task_id)  # refreshed back to running: it may finish again
        if not self._running(task):
            return  # waiting: its progress says nothing yet (and 10,000 may be waiting)
        track = self._tracks.get(task_id)
        if track is None:
            track = self._tracks[task_id] = _Track(running_since=now)
        track.see(state.progress, now)

    def forget(self, task_id: str) -> None:
        """Drop what is kept about one task (it left the watchlist); its samples stay."""
        self._tracks.pop(task_id, None)
        self._plans.pop(task_id, None)
        self._learnt.discard(task_id)

    def _learn(self, task: WatchedTask, now: float) -> None:
        state = task.state
        assert state is not None
        timings = state.timings(now)
        queue, run = _finite(timings.queue), _finite(timings.run)
        if state.status is not TaskStatus.SUCCESS:
            run = None  # a failure's run time says nothing about how long a success takes
        if queue is None and run is None:
            return
        key = group_of(task)
        samples = self._samples.get(key)
        if samples is None:
            if len(self._samples) >= MAX_GROUPS:
                self._samples.pop(next(iter(self._samples)))
            samples = self._samples[key] = _Samples()
            self._plans.clear()  # plans point at the group they found: a new one may fit
        samples.add(queue, run)

    def _group(self, task: WatchedTask) -> _Samples | None:
        samples = self._samples.get(group_of(task))
        if samples is None and task.model is not None:
            samples = self._samples.get(f"kind:{task.kind.value}")
        return samples

    def known(self, task: WatchedTask) -> tuple[float | None, float | None, float | None]:
        """(median queue, median run, p95 queue) for the task's model, else its kind."""
        samples = self._group(task)
        return samples.stats() if samples is not None else (None, None, None)

    # -- answers -------------------------------------------------------------------------

    @staticmethod
    def _running(task: WatchedTask) -> bool:
        state = task.state
        return state is not None and (
            state.status in _RUNNING_STATUSES
            or (state.start_time is not None and not state.status.is_final)
        )

    def _plan(self, task: WatchedTask, now: float) -> _Plan | None:
        """The task's plan (None when final or not found), made when its state is new."""
        state = task.state
        if state is None or task.not_found or state.status.is_final:
            return None
        plan = self._plans.get(task.task_id)
        if plan is None or plan.state is not state or plan.kind is not task.kind:
            plan = self._plans[task.task_id] = self._make_plan(task, state, now)
        return plan

    def _make_plan(self, task: WatchedTask, state: TaskState, now: float) -> _Plan:
        track = self._tracks.get(task.task_id)
        last = track.points[-1] if track is not None and track.points else None
        plan = _Plan(
            state,
            task.kind,
            self._group(task),
            self._running(task),
            start=now,
            by_progress=None,
            elapsed=0.0,
            weight=0.0,
            stall_after=None,
            since=now,
        )
        if plan.running:
            start = state.start_time
            if start is None:
                start = track.running_since if track and track.running_since is not None else now
            # a server clock ahead of ours must not push the finish out
            plan.start = start = min(start, now)
            progress = state.progress
            seen = min(last[1], now) if last is not None and last[0] == progress else now
            plan.elapsed = max(0.0, seen - start)
            if progress is not None and progress > 0:
                # the run so far, scaled up: measured to when this value was first seen,
                # so the answer holds still between two polls instead of drifting
                plan.by_progress = max(0.0, seen - start) * 100.0 / progress
                plan.weight = min(1.0, progress / FULL_TRUST_PROGRESS)
            # no progress reported: no way to tell a stall; 100%: done, not stuck
            if track is not None and last is not None and last[0] is not None and last[0] < 100:
                plan.stall_after = last[1] + max(STALL_FLOOR, STALL_GAPS * (track.usual_gap or 0))
        else:
            since = state.submit_time
            if since is None:
                since = task.history[0].seen_at if task.history else task.added_at or now
            plan.since = min(since, now)
        return plan

    @staticmethod
    def _finish(plan: _Plan, now: float) -> float | None:
        usual_queue, usual_run, _ = plan.samples.stats() if plan.samples else (None, None, None)
        if plan.running:
            by_progress = plan.by_progress
            if by_progress is None:
                total = usual_run
            else:
                # the usual run of the tasks that ran at least as long as this one has
                usual = plan.samples.run_beyond(plan.elapsed) if plan.samples else None
                if usual is None:
                    total = by_progress
                else:
                    total = plan.weight * by_progress + (1.0 - plan.weight) * usual
            return None if total is None else _finite(plan.start + total)
        if usual_run is None:
            return None
        # waiting: it starts after the usual queue time, or now if that has passed
        return _finite(max(plan.since + (usual_queue or 0.0), now) + usual_run)

    @staticmethod
    def _flag(plan: _Plan, now: float) -> str | None:
        if plan.running:
            stall_after = plan.stall_after
            return STALLED if stall_after is not None and now > stall_after else None
        slow = plan.samples.stats()[2] if plan.samples else None
        return SLOW_QUEUE if slow is not None and now - plan.since > slow else None

    def expected_finish(self, task: WatchedTask, now: float) -> float | None:
        """Epoch seconds the task should finish at; None when final or nothing is known."""
        plan = self._plan(task, now)
        return None if plan is None else self._finish(plan, now)

    def eta_seconds(self, task: WatchedTask, now: float) -> float | None:
        """Seconds from ``now`` to the expected finish (negative when overdue), or None."""
        finish = self.expected_finish(task, now)
        return None if finish is None else _finite(finish - now)

    def stall(self, task: WatchedTask, now: float) -> str | None:
        """``"stalled"``, ``"slow queue"`` or None (see the module docstring)."""
        plan = self._plan(task, now)
        return None if plan is None else self._flag(plan, now)

    def info(self, task: WatchedTask, now: float) -> EtaInfo:
        """Both answers at once, for a table row or a ``--json`` record."""
        plan = self._plan(task, now)
        if plan is None:
            return NO_ETA
        finish = self._finish(plan, now)
        return EtaInfo(None if finish is None else _finite(finish - now), self._flag(plan, now))


__all__ = [
    "NO_ETA",
    "SLOW_QUEUE",
    "STALLED",
    "Estimator",
    "EtaInfo",
    "group_of",
]
