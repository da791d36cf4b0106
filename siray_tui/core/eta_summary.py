"""When the unfinished tasks, as a whole, should be done: the dashboard's summary ("all
done ~4m, p50 ~1m", the stalled count) and ``wait``'s progress line, from the
:class:`~siray_tui.core.eta.Estimator`'s answer for each task. Pure, no Textual.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Final

from siray_tui.core.eta import Estimator
from siray_tui.core.models import TaskStatus, WatchedTask
from siray_tui.core.stats import percentile

_FINAL: Final = frozenset({TaskStatus.SUCCESS, TaskStatus.FAILURE})
ETA_BUDGET: Final = 1_500
"""Unfinished tasks :class:`EtaSweep` asks the estimator about per step (a few ms)."""


@dataclass(frozen=True, slots=True)
class EtaSummary:
    """When the unfinished tasks should be done, and which are stalled.

    Times are wall-clock moments rather than seconds from now, so that a summary worked
    out a few seconds ago (a large watchlist is not gone through every second) still
    counts down on every repaint.

    Attributes:
        median_at: when half of the unfinished tasks with an ETA should be done, or None
            when none has one.
        last_at: when all of them should be done.
        stalled: IDs of the tasks flagged stalled.
    """

    median_at: float | None = None
    last_at: float | None = None
    stalled: frozenset[str] = frozenset()


def eta_summary(tasks: Iterable[WatchedTask], estimator: Estimator, now: float) -> EtaSummary:
    """The :class:`EtaSummary` of ``tasks`` at ``now`` (finished ones are skipped cheaply).

    An overdue task counts as due now: "all done in ~0s" reads better than a batch ETA
    in the past, and the table shows how late each one is.
    """
    sweep = EtaSweep(estimator)
    return sweep.step({task.task_id: task for task in tasks}, now, budget=None)


class EtaSweep:
    """:func:`eta_summary` spread over several ticks for a large watchlist.

    Asking the estimator about 10,000 tasks takes 10-30 ms, too long for one tick: each
    :meth:`step` goes through at most ``budget`` unfinished tasks, and a summary is
    published when a whole round is done (its times are wall-clock moments, so it keeps
    counting down meanwhile). A watchlist within the budget is done in every step.
    """

    def __init__(self, estimator: Estimator) -> None:
        self.estimator = estimator
        self.result = EtaSummary()
        self._ids: list[str] = []
        self._next = 0
        self._finishes: list[float] = []
        self._stalled: list[str] = []

    def step(
        self, tasks: Mapping[str, WatchedTask], now: float, budget: int | None = ETA_BUDGET
    ) -> EtaSummary:
        """Go on with the round (start one when none is under way; ``budget`` None: do a
        whole new round now); returns the latest whole summary."""
        if budget is None or self._next >= len(self._ids):  # None: a whole new round now
            self._ids = [
                task_id
                for task_id, task in tasks.items()
                if task.state is not None and task.state.status not in _FINAL
            ]
            self._next = 0
            self._finishes, self._stalled = [], []
        end = len(self._ids) if budget is None else min(len(self._ids), self._next + budget)
        info = self.estimator.info
        finishes, stalled = self._finishes, self._stalled
        for task_id in self._ids[self._next : end]:
            task = tasks.get(task_id)
            if task is None or task.state is None or task.state.status in _FINAL:
                continue  # removed or finished since the round began
            eta = info(task, now)
            if eta.seconds is not None:
                finishes.append(now + (eta.seconds if eta.seconds > 0 else 0.0))
            if eta.stalled:
                stalled.append(task_id)
        self._next = end
        if self._next >= len(self._ids):
            finishes.sort()
            self.result = EtaSummary(
                percentile(finishes, 0.5), finishes[-1] if finishes else None, frozenset(stalled)
            )
        return self.result


__all__ = ["ETA_BUDGET", "EtaSummary", "EtaSweep", "eta_summary"]
