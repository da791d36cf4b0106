"""Toasts for finished tasks, at most one every few seconds.

A batch finishing one task at a time would otherwise stack a toast per task over the
table. The first finish after a quiet spell is announced at once; those that follow
within :data:`ANNOUNCE_EVERY` seconds are held and announced together when it ends.
Time comes from the injected clock, so tests step through it.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Final

from siray_tui.core.columns import task_name
from siray_tui.core.models import TaskStatus, WatchedTask
from siray_tui.core.report import plural
from siray_tui.core.text import first_line

ANNOUNCE_EVERY: Final = 5.0


@dataclass(frozen=True, slots=True)
class Toast:
    """One notification to show."""

    message: str
    title: str = ""
    error: bool = False


def toast_for(finished: list[WatchedTask]) -> Toast:
    """One toast for the tasks that finished: the task itself, or the counts."""
    if len(finished) == 1:
        task = finished[0]
        if task.status is TaskStatus.SUCCESS:
            count = len(task.state.outputs) if task.state else 0
            outputs = plural(count, "output")
            return Toast(f"{task_name(task)}: SUCCESS, {outputs}", "Task finished")
        reason = first_line(task.state.fail_reason if task.state else "", 160)
        text = f"{task_name(task)}: FAILURE" + (f": {reason}" if reason else "")
        return Toast(text, "Task failed", error=True)
    ok = sum(1 for t in finished if t.status is TaskStatus.SUCCESS)
    failed = len(finished) - ok
    return Toast(
        f"{len(finished)} tasks finished: {ok} SUCCESS, {failed} FAILURE", error=failed > 0
    )


class Announcer:
    """Holds finished tasks until a toast is due (see the module docstring).

    Args:
        every: seconds between two toasts at least.
    """

    def __init__(self, every: float = ANNOUNCE_EVERY) -> None:
        self.every = every
        self._held: list[WatchedTask] = []
        self._last: float | None = None

    @property
    def held(self) -> int:
        """Finished tasks waiting for the next toast."""
        return len(self._held)

    def add(self, finished: Iterable[WatchedTask]) -> None:
        """Hold tasks that just finished."""
        self._held.extend(finished)

    def due(self, now: float) -> Toast | None:
        """The toast to show now (``now``: monotonic seconds), if one is due."""
        if not self._held or (self._last is not None and now - self._last < self.every):
            return None
        self._last = now
        finished, self._held = self._held, []
        return toast_for(finished)

    def drop(self) -> None:
        """Forget what is held (toasts were muted)."""
        self._held.clear()
