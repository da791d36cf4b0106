"""Noticing changes other processes make to ``watchlist.json``.

The usual workflow is a script that runs ``siray-tui add`` while the dashboard is open
(and the demo adds tasks the same way), so the dashboard checks the file's stamp every
few seconds and, when it moved, reads it in a thread and reports the IDs that appeared
or disappeared. Our own poller also rewrites the file, so a changed stamp alone means
nothing; only the difference in IDs counts. A removal counts only for an ID that was in
the previous reading, so a task we have just added (and not yet seen in the file) is
never taken for one another process removed.
"""

from __future__ import annotations

import os
from collections.abc import Collection
from dataclasses import dataclass, field
from pathlib import Path

from siray_tui.core.models import WatchedTask
from siray_tui.core.store import WatchlistStore


@dataclass
class SyncResult:
    """What another process changed since the last reading."""

    added: list[WatchedTask] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)


def _stamp(path: Path) -> tuple[int, int] | None:
    try:
        info = os.stat(path)
    except OSError:
        return None
    return (info.st_mtime_ns, info.st_size)


class WatchlistSync:
    """Tracks the watchlist file between readings.

    Args:
        store: the store whose own writes are not another process's changes (the
            session's); a file that holds exactly what it last wrote is not parsed.
        known: the IDs as first loaded.
    """

    def __init__(self, store: WatchlistStore, known: Collection[str]) -> None:
        self.store = store
        self._path = store.path
        self._stamp = _stamp(self._path)
        self._previous: set[str] = set(known)

    def changed(self) -> bool:
        """Whether the file's stamp moved since the last reading (cheap: one stat)."""
        return _stamp(self._path) != self._stamp

    def read(self, shown: Collection[str]) -> SyncResult:
        """Read the file (call in a thread: it may parse JSON) and diff it against ``shown``.

        Args:
            shown: the IDs the dashboard has now.
        """
        self._stamp = _stamp(self._path)
        tasks = self.store.current_tasks()
        result = SyncResult(
            added=[task.copy() for task_id, task in tasks.items() if task_id not in shown],
            removed=[i for i in self._previous if i not in tasks and i in shown],
        )
        self._previous = set(tasks)
        return result
