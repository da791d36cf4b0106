"""WatchlistEdits: the dashboard's changes to the watchlist, and other processes' changes.

Adding (``a``), removing (``delete``/``x``) and undoing (``u``) touch three things that must
agree: the table, the poller and ``watchlist.json``. The poller and the file belong to the
:class:`~siray_tui.core.session.WatchSession` (which writes the file in a thread, keeps the
undo stack and watches the file for other processes' changes); this class keeps the
table in line with it.

The DashboardScreen derives from this class; it provides the widgets and the session.
"""

from __future__ import annotations

from textual import work
from textual.screen import Screen

from siray_tui.core.clock import Clock
from siray_tui.core.columns import task_name
from siray_tui.core.errors import SirayError
from siray_tui.core.events import StoreFailed, WatchlistChanged
from siray_tui.core.models import WatchedTask
from siray_tui.core.report import plural
from siray_tui.core.session import WatchSession
from siray_tui.core.text import first_line
from siray_tui.ui.screens.add_tasks import AddRequest, AddTasksScreen
from siray_tui.ui.widgets.task_table import TaskTable


class WatchlistEdits(Screen[None]):
    """Adds, removals with undo, and other processes' changes (a base of DashboardScreen)."""

    session: WatchSession
    clock: Clock
    loaded: bool

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
        """Add the valid IDs of a request to the session (file and poller) and the table."""
        added: list[WatchedTask] = []
        already: list[str] = []
        if request.ids:
            try:
                result, added = await self.session.add_ids(
                    request.ids, kind=request.kind, label=request.label
                )
            except SirayError as exc:
                self.notify(first_line(str(exc), 300), severity="error", markup=False)
                return
            already = result.already
        self.table.add_tasks(added)
        self.refresh_summary()
        text = f"Added {plural(len(added), 'task')}"
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
        self.session.remove(task.task_id for task in removed)
        what = task_name(removed[0]) if len(removed) == 1 else f"{len(removed)} tasks"
        self.notify(f"Removed {what} — press u to undo", markup=False)
        self.refresh_summary()

    def action_undo(self) -> None:
        if not self._ready():
            return
        tasks = self.session.undo()
        if tasks is None:
            self.notify("Nothing to undo", severity="warning")
            return
        self.table.add_tasks(tasks)
        self.notify(f"Restored {plural(len(tasks), 'task')}", markup=False)
        self.refresh_summary()

    def watchlist_changed(self, event: WatchlistChanged) -> None:
        """Another process changed the file; the session has updated the poller."""
        if event.added:
            self.table.add_tasks(event.added)
        if event.removed:
            self.table.remove_tasks(event.removed)
        if event.added or event.removed:
            self.refresh_summary()

    def store_failed(self, event: StoreFailed) -> None:
        """A background write of the watchlist failed: say so (the table stays as it is)."""
        self.notify(event.message, severity="error", markup=False)
