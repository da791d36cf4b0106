"""The numbers in the summary bar, computed from the tasks (pure, no Textual).

Latency percentiles are over finished tasks only: an unfinished task's queue or run time
is still growing, and mixing it in would make the p95 drift with the clock.
"""

from __future__ import annotations

import bisect
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field

from siray_tui.core.columns import STATUS_ORDER, display_status
from siray_tui.core.models import WatchedTask
from siray_tui.core.stats import Latency, percentile


@dataclass(frozen=True, slots=True)
class TaskSummary:
    """Counts and latencies over every watched task (filters do not change them)."""

    total: int = 0
    counts: tuple[tuple[str, int], ...] = ()
    queue: Latency = field(default_factory=Latency)
    run: Latency = field(default_factory=Latency)
    unfinished: int = 0
    errored: int = 0
    """Tasks whose latest poll failed (found, but the answer was an error)."""


def has_poll_error(task: WatchedTask) -> bool:
    """Whether the task carries a poll error (a missing task is counted as NOT_FOUND)."""
    return bool(task.last_error) and not task.not_found


def summarize(tasks: Iterable[WatchedTask], now: float) -> TaskSummary:
    """Count tasks per shown status and take latency percentiles over finished ones.

    Args:
        tasks: every watched task.
        now: wall-clock seconds (final tasks do not depend on it; kept for symmetry).
    """
    counts: Counter[str] = Counter()
    queue: list[float] = []
    run: list[float] = []
    total = unfinished = errored = 0
    for task in tasks:
        total += 1
        errored += has_poll_error(task)
        counts[display_status(task)] += 1
        state = task.state
        if state is None or not state.status.is_final:
            if not task.not_found:
                unfinished += 1
            continue
        timings = state.timings(now)
        if timings.queue is not None:
            queue.append(timings.queue)
        if timings.run is not None:
            run.append(timings.run)
    known = [(status, counts[status]) for status in STATUS_ORDER if counts[status]]
    others = sorted((s, n) for s, n in counts.items() if s not in STATUS_ORDER)
    return TaskSummary(
        total=total,
        counts=tuple(known + others),
        queue=Latency.of(queue),
        run=Latency.of(run),
        unfinished=unfinished,
        errored=errored,
    )


def _finished_timings(task: WatchedTask, now: float) -> tuple[float | None, float | None]:
    state = task.state
    if state is None or not state.status.is_final:
        return None, None
    timings = state.timings(now)
    return timings.queue, timings.run


class SummaryTracker:
    """:func:`summarize`, kept up to date one task at a time.

    Recounting 10,000 tasks takes ~30 ms, too much four times a second; a changed task
    moves one count and at most two entries of two sorted lists (bisect), so the summary
    costs in proportion to the changes.
    """

    def __init__(self) -> None:
        self._counts: Counter[str] = Counter()
        self._queue: list[float] = []
        self._run: list[float] = []
        self._unfinished = 0
        self._total = 0
        self._errored = 0
        self._cached: TaskSummary | None = None

    def reset(self, tasks: Iterable[WatchedTask], now: float) -> None:
        """Start over from ``tasks``."""
        self._counts.clear()
        self._queue.clear()
        self._run.clear()
        self._unfinished = self._total = self._errored = 0
        for task in tasks:
            self._account(task, now, +1, insort=False)
        self._queue.sort()
        self._run.sort()

    def add(self, task: WatchedTask, now: float) -> None:
        """Count a task that joined."""
        self._account(task, now, +1)

    def remove(self, task: WatchedTask, now: float) -> None:
        """Uncount a task that left."""
        self._account(task, now, -1)

    def replace(self, old: WatchedTask, new: WatchedTask, now: float) -> None:
        """A task changed state."""
        self._account(old, now, -1)
        self._account(new, now, +1)

    def _account(self, task: WatchedTask, now: float, sign: int, insort: bool = True) -> None:
        self._cached = None
        self._total += sign
        if has_poll_error(task):
            self._errored += sign
        self._counts[display_status(task)] += sign
        state = task.state
        if (state is None or not state.status.is_final) and not task.not_found:
            self._unfinished += sign
        for value, values in zip(
            _finished_timings(task, now), (self._queue, self._run), strict=True
        ):
            if value is None:
                continue
            if sign > 0:
                if insort:
                    bisect.insort(values, value)
                else:
                    values.append(value)
            else:
                index = bisect.bisect_left(values, value)
                if index < len(values) and values[index] == value:
                    del values[index]

    def summary(self) -> TaskSummary:
        """The current summary (cached until the next change)."""
        if self._cached is None:
            counts = self._counts
            known = [(s, counts[s]) for s in STATUS_ORDER if counts[s] > 0]
            others = sorted((s, n) for s, n in counts.items() if s not in STATUS_ORDER and n > 0)
            self._cached = TaskSummary(
                total=self._total,
                counts=tuple(known + others),
                queue=_latency(self._queue),
                run=_latency(self._run),
                unfinished=self._unfinished,
                errored=self._errored,
            )
        return self._cached


def _latency(ordered: list[float]) -> Latency:
    return Latency(percentile(ordered, 0.5), percentile(ordered, 0.95), len(ordered))
