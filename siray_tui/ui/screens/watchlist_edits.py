"""WatchlistEdits: the dashboard's changes to the watchlist, and other processes' changes.

Adding (``a``), removing (``delete``/``x``) and undoing (``u``) touch three things that must
agree: the table, the poller and ``watchlist.json``. The file is written in a thread (the
store fsyncs; a 10,000-task file takes ~100 ms), the table and poller at once. Changes
another process makes to the file (``siray-tui add`` from a script, the demo's arrivals)
are noticed every few seconds and applied the same way.

The DashboardScreen derives from this class; it provides the widgets and the poller.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

from textual import work
from textual.screen import Screen

from siray_tui.core.clock import Clock
from siray_tui.core.columns import task_name
from siray_tui.core.errors import SirayError
from siray_tui.core.models import WatchedTask
from siray_tui.core.poller import Poller
from siray_tui.core.store import WatchlistStore
from siray_tui.core.text import first_line
from siray_tui.ui import messages
from siray_tui.ui.screens.add_tasks import AddRequest, AddTasksScreen
from siray_tui.ui.sync import SyncResult, WatchlistSync
from siray_tui.ui.widgets.task_table import TaskTable

if TYPE_CHECKING:
    from textual.timer import Timer


class WatchlistEdits(Screen[None]):
    """Adds, removals with undo, and the watch on the file (a base of DashboardScreen)."""

    store: WatchlistStore
    poller: Poller
    clock: Clock
    loaded: bool

    def __init__(self) -> None:
        super().__init__()
        self.undo_stack: list[list[WatchedTask]] = []
        """Removed batches, newest last, with their states (``u`` restores)."""
        self._removed_here: set[str] = set()
        self._sync: WatchlistSync | None = None
        self._syncing = False
        self._sync_timer: Timer | None = None

    @property
    def table(self) -> TaskTable:
        """The task table."""
        return self.query_one(TaskTable)

    def refresh_summary(self) -> None:
        """Show the summary bar (the dashboard draws it)."""

    def _ready(self) -> bool:
        """Whether the watchlist is read (changes before that would race the read)."""
        if not self.loaded:
            self.notify("Still reading the watchlist…", severity="warning")
        return self.loaded

    def _selected(self) -> WatchedTask | None:
        if not self._ready():
            return None
        task_id = self.table.selected_id
        task = self.table.tasks.get(task_id) if task_id else None
        if task is None:
            self.notify("No task selected: add some with a", severity="warning")
        return task

    def action_add(self) -> None:
        if not self._ready():
            return
        self.app.push_screen(AddTasksScreen(), self._add_requested)

    def _add_requested(self, request: AddRequest | None) -> None:
        if request is not None:
            self.add_ids(request)

    @work(group="store", exit_on_error=False)
    async def add_ids(self, request: AddRequest) -> None:
        """Add the valid IDs of a request to the store, the table and the poller."""
        added: list[str] = []
        already: list[str] = []
        if request.ids:
            try:
                result = await asyncio.to_thread(
                    self.store.add, request.ids, kind=request.kind, label=request.label
                )
            except SirayError as exc:
                self.notify(first_line(str(exc), 300), severity="error", markup=False)
                return
            added, already = result.added, result.already
        now = self.clock.now()
        tasks = [
            WatchedTask(
                task_id=task_id,
                kind=request.kind,
                label=request.label,
                added_at=now,
            )
            for task_id in added
        ]
        self._removed_here.difference_update(added)
        self.table.add_tasks(tasks)
        self.poller.add(task.copy() for task in tasks)
        self.refresh_summary()
        text = f"Added {len(added)} task{'s' if len(added) != 1 else ''}"
        if already:
            text += f" ({len(already)} already watched)"
        if request.invalid:
            names = "; ".join(f"{piece!r}: {why}" for piece, why in request.invalid[:5])
            more = f" and {len(request.invalid) - 5} more" if len(request.invalid) > 5 else ""
            text += f". {len(request.invalid)} invalid, not added: {names}{more}"
        self.notify(text, severity="warning" if request.invalid else "information", markup=False)

    def action_remove(self) -> None:
        task = self._selected()
        if task is not None:
            self.remove_ids([task.task_id])

    def remove_ids(self, ids: list[str]) -> None:
        """Remove tasks everywhere, keeping them for ``u``."""
        removed = self.table.remove_tasks(ids)
        if not removed:
            return
        gone = [task.task_id for task in removed]
        self.poller.remove(gone)
        self._removed_here.update(gone)
        self.undo_stack.append(removed)
        self._store_call("remove", gone)
        what = task_name(removed[0]) if len(removed) == 1 else f"{len(removed)} tasks"
        self.notify(f"Removed {what} — press u to undo", markup=False)
        self.refresh_summary()

    def action_undo(self) -> None:
        if not self._ready():
            return
        if not self.undo_stack:
            self.notify("Nothing to undo", severity="warning")
            return
        tasks = self.undo_stack.pop()
        self._removed_here.difference_update(task.task_id for task in tasks)
        self.table.add_tasks(tasks)
        self.poller.add(task.copy() for task in tasks)
        self._store_call("restore", tasks)
        self.notify(f"Restored {len(tasks)} task{'s' if len(tasks) != 1 else ''}", markup=False)
        self.refresh_summary()

    @work(group="store", exit_on_error=False)
    async def _store_call(self, what: str, payload: list[str] | list[WatchedTask]) -> None:
        try:
            if what == "remove":
                await asyncio.to_thread(self.store.remove, [str(i) for i in payload])
            else:
                tasks = [t for t in payload if isinstance(t, WatchedTask)]
                await asyncio.to_thread(
                    self.store.mutate, lambda wl: [wl.add_task(t.copy()) for t in tasks]
                )
        except SirayError as exc:
            self.notify(first_line(str(exc), 300), severity="error", markup=False)

    def on_watchlist_changed(self, message: messages.WatchlistChanged) -> None:
        added = [t for t in message.added if t.task_id not in self._removed_here]
        if added:
            self.table.add_tasks(added)
            self.poller.add(task.copy() for task in added)
        if message.removed:
            self.table.remove_tasks(message.removed)
            self.poller.remove(message.removed)
        if added or message.removed:
            self.refresh_summary()

    def _check_sync(self) -> None:
        if self._sync is not None and not self._syncing and self._sync.changed():
            self._syncing = True
            self._read_sync(frozenset(self.table.tasks))

    @work(group="sync", exit_on_error=False)
    async def _read_sync(self, shown: frozenset[str]) -> None:
        assert self._sync is not None
        try:
            result: SyncResult = await asyncio.to_thread(self._sync.read, shown)
        except SirayError:
            return  # the next stamp change tries again; the file is the store's to fix
        finally:
            self._syncing = False
        if result.added or result.removed:
            self.post_message(messages.WatchlistChanged(result.added, result.removed))
