"""The watchlist value: the tasks a user watches, in order, and how two views of one merge.

Plain data with no file behind it: :class:`~siray_tui.core.store.WatchlistStore` reads
and writes it, :mod:`siray_tui.core.codec` turns it into bytes and back.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field

from siray_tui.core.models import StatusChange, WatchedTask

__all__ = ["AddResult", "Watchlist", "merge_histories"]


class Watchlist(Mapping[str, WatchedTask]):
    """The watched tasks: an ordered mapping of task ID to :class:`WatchedTask`.

    Order is insertion order (the order the user added them), which is also the order in
    the file. Mutate ``tasks`` directly or through the helpers; inside
    :meth:`WatchlistStore.mutate` every change is saved.

    Attributes:
        tasks: task ID -> task, in insertion order.
    """

    __slots__ = ("tasks",)

    def __init__(self, tasks: Iterable[WatchedTask] = ()) -> None:
        self.tasks: dict[str, WatchedTask] = {}
        for task in tasks:
            self.tasks.setdefault(task.task_id, task)

    def __getitem__(self, task_id: str) -> WatchedTask:
        return self.tasks[task_id]

    def __iter__(self) -> Iterator[str]:
        return iter(self.tasks)

    def __len__(self) -> int:
        return len(self.tasks)

    def __contains__(self, task_id: object) -> bool:
        return task_id in self.tasks

    def __repr__(self) -> str:
        return f"Watchlist({len(self.tasks)} tasks)"

    def add_task(self, task: WatchedTask) -> bool:
        """Append ``task`` unless its ID is already there; True when it was added."""
        if task.task_id in self.tasks:
            return False
        self.tasks[task.task_id] = task
        return True

    def remove_task(self, task_id: str) -> WatchedTask | None:
        """Remove and return the task with ``task_id``, or None when there is none."""
        return self.tasks.pop(task_id, None)

    def finished(self) -> list[WatchedTask]:
        """Tasks whose last known status is SUCCESS or FAILURE, in order."""
        return [task for task in self.tasks.values() if task.is_final]

    def unfinished(self) -> list[WatchedTask]:
        """Tasks still to poll (no answer yet, or a status that is not final), in order."""
        return [task for task in self.tasks.values() if not task.is_final]


@dataclass(slots=True)
class AddResult:
    """What :meth:`WatchlistStore.add` did, each list in the order the IDs were given.

    Attributes:
        added: IDs that were not on the watchlist and now are.
        already: IDs that were already there (left as they were, except an empty label
            is filled in when a label was given).
    """

    added: list[str] = field(default_factory=list)
    already: list[str] = field(default_factory=list)


def merge_histories(stored: list[StatusChange], observed: list[StatusChange]) -> list[StatusChange]:
    """Combine two status histories of one task.

    When one history extends the other (the usual case: the same poller saw more), the
    longer one is returned as it is. Otherwise the changes are merged by status, keeping
    the earliest ``seen_at`` of each, ordered by time (ties keep first-seen order).
    """
    if len(observed) >= len(stored) and observed[: len(stored)] == stored:
        return stored if len(observed) == len(stored) else list(observed)
    if observed == stored[: len(observed)]:
        return stored
    earliest: dict[str, StatusChange] = {}
    for change in (*stored, *observed):
        kept = earliest.get(change.status)
        if kept is None or change.seen_at < kept.seen_at:
            earliest[change.status] = change
    return sorted(earliest.values(), key=lambda change: change.seen_at)
