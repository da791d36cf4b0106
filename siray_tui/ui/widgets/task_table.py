"""TaskTable: the watchlist as a DataTable, one row per task keyed by its ID.

What it asks of DataTable is chosen from measurements at 10,000 rows (see also
:mod:`~siray_tui.ui.widgets.fast_table`):

* **Only changed cells are written**, with ``update_cell`` and never ``update_width``
  (a narrower value re-measures a whole auto-width column: 112 ms per cell). The last
  :data:`~siray_tui.core.columns.CellSpec` written to every cell is kept, and a row is
  re-rendered into specs and compared before anything is written.
* **Updates are batched**: :meth:`stage` keeps the latest state per task; the owner
  calls :meth:`flush` (the dashboard, every 0.25 s). A flush updates the model for every
  task, moves rows in or out of the filter and re-sorts when a sort key changed, but
  writes cells only for the rows on screen; rows off screen are brought up to date when
  they scroll into view. 1,000 status changes therefore cost a screenful of cell writes.
* **Big changes rebuild once, in chunks**: ``remove_row`` costs 4.8 ms per row at 10,000
  rows, so a filter change or a bulk removal clears the table and adds the rows again,
  the first screenful at once and the rest in time-boxed chunks between frames, so the
  event loop never stalls.
* **Sorting uses a key function** over the tasks (durations sort as numbers, not text),
  then ``DataTable.sort`` reorders the rows without re-adding any.
* **The cursor stays on its task** through sorts, filters and updates: its row key is
  remembered and found again.
* **The garbage collector stays out of the way** while rows are added in chunks, and a
  large table's objects are frozen afterwards (:mod:`siray_tui.core.gcpolicy`).
* **Cell texts are shared**: a spec seen before (``SUCCESS`` in green, ``-``, ``1m 05s``)
  reuses its Text instead of building another (Text objects are never mutated here).

Keys: ``up``/``down`` and ``j``/``k``, ``pageup``/``pagedown``, ``home``/``end`` and
``g``/``G`` move the cursor; ``enter`` selects the row (``DataTable.RowSelected``).
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterable, Sequence
from typing import ClassVar, Final

from rich.text import Text
from textual import events
from textual.binding import Binding, BindingType
from textual.coordinate import Coordinate
from textual.widgets.data_table import ColumnKey, RowDoesNotExist, RowKey

from siray_tui.core import gcpolicy
from siray_tui.core.clock import Clock
from siray_tui.core.columns import COLUMNS, SORT_KEYS, CellSpec, sort_ids, sort_key_for
from siray_tui.core.eta import Estimator
from siray_tui.core.models import WatchedTask
from siray_tui.ui.columns import (
    STALLED_FILTER,
    RowSpec,
    cell_text,
    fit_columns,
    matches,
    name_width,
    row_spec,
    split_status_filter,
)
from siray_tui.ui.summary import SummaryTracker
from siray_tui.ui.widgets.fast_table import TableBase

FLUSH_INTERVAL: Final = 0.25
TICK_INTERVAL: Final = 1.0
FIRST_CHUNK: Final = 30
CHUNK_BUDGET: Final = 0.04
"""Seconds of row-adding per chunk: leaves the loop free to paint and take keys."""
SMALL_CHANGE: Final = 40
TEXT_CACHE_LIMIT: Final = 20_000
FREEZE_AT: Final = 2_000


class TaskCell(Text):
    """The text of the ``task`` column, which also carries its row's task ID.

    ``DataTable.sort`` hands a key function cell values only, never the row key; carrying
    the ID here lets the sort look each row's task up by ID.
    """

    def __init__(self, text: Text, task_id: str) -> None:
        super().__init__(
            text.plain,
            style=text.style,
            no_wrap=True,
            overflow="ellipsis",
            end="",
            spans=list(text.spans),
        )
        self.task_id = task_id


class TaskTable(TableBase):
    """The task list: batched, diffed, sorted and filtered without losing the cursor.

    Args:
        clock: wall time for the durations, "updated" and "retry in".
        estimator: the expected finish and stall flags (the ``eta`` column is ``-``
            without one).
        id: the widget ID.
    """

    # The keys users of k9s, lazydocker and htop reach for; home/end move the cursor
    # (DataTable's scroll sideways, which a table that fits its width never needs).
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("j", "cursor_down", "Down", show=False),
        Binding("k", "cursor_up", "Up", show=False),
        Binding("g,home", "scroll_top", "First row", show=False),
        Binding("G,end", "scroll_bottom", "Last row", show=False),
    ]

    def __init__(
        self, clock: Clock, *, estimator: Estimator | None = None, id: str | None = None
    ) -> None:
        super().__init__(cursor_type="row", zebra_stripes=True, show_row_labels=False, id=id)
        self.clock = clock
        self.estimator = estimator
        self.stalled: frozenset[str] = frozenset()
        """IDs of the tasks flagged stalled (:meth:`set_stalled`), for the status filter."""
        self.tasks: dict[str, WatchedTask] = {}
        """Every watched task, shown or filtered out, in watchlist order."""
        self.sort_column = "added"
        self.sort_reverse = False
        self.text_filter = ""
        self.status_filter = "all"
        self.id_filter: frozenset[str] | None = None
        """Only these tasks (a failure group of the stats screen); None: no such filter."""
        self.retry_at: dict[str, float] = {}
        """Wall-clock time at which the poller retries a failing task."""
        self.update_cells = 0
        """How many cells were written by updates (for tests and the benchmark)."""
        self.rebuilds = 0
        """How many times every row was cleared and added again."""
        self._pending: dict[str, WatchedTask] = {}
        self._specs: dict[str, RowSpec] = {}
        self._order: list[str] = []
        self._loaded = 0
        self._generation = 0
        self._wanted_cursor: str | None = None
        self.summary = SummaryTracker()
        """Counts and latency percentiles over every task, kept up to date."""
        self._texts: dict[CellSpec, Text] = {}
        self._canon: dict[CellSpec, CellSpec] = {}
        self._task_cells: dict[str, tuple[CellSpec, TaskCell]] = {}
        self._collector_was_running: bool | None = None
        self._name_width = 0
        self._id_width = 0

    # -- lifecycle -------------------------------------------------------------------

    def on_mount(self) -> None:
        for column in COLUMNS:
            self.add_column(column.header, width=column.width, key=column.key)
        self._fit_columns()

    def _on_resize(self, event: events.Resize) -> None:
        super()._on_resize(event)
        self._fit_columns()
        self.refresh_visible()

    def _fit_columns(self) -> None:
        """Show the columns that fit the width (see :func:`fit_columns`)."""
        if not self.columns:
            return
        widths = fit_columns(
            self.size.width, self._name_width, self.cell_padding, id_width=self._id_width
        )
        for column in COLUMNS:
            width = widths.get(column.key)
            self.set_column_width(column.key, width or 0, hidden=width is None)

    def _measure_names(self, tasks: Iterable[WatchedTask]) -> None:
        """Widen the task column when a longer ID or label arrives."""
        longest = longest_id = 0
        for task in tasks:
            longest = max(longest, name_width(task))
            # with a label, room for " …" too: the ellipsis must not eat the ID's end
            longest_id = max(longest_id, len(task.task_id) + (2 if task.label else 0))
        if longest > self._name_width or longest_id > self._id_width:
            self._name_width = max(self._name_width, longest)
            self._id_width = max(self._id_width, longest_id)
            self._fit_columns()

    # -- queries ---------------------------------------------------------------------

    @property
    def selected_id(self) -> str | None:
        """The task under the cursor, or None when the table is empty."""
        if self.row_count == 0:
            return None
        try:
            key = self.coordinate_to_cell_key(Coordinate(self.cursor_row, 0)).row_key
        except Exception:  # the cursor can briefly point past the end while rows go
            return None
        return key.value

    @property
    def shown_ids(self) -> list[str]:
        """IDs that pass the filters, in display order (including rows still loading)."""
        return list(self._order)

    @property
    def filling(self) -> bool:
        """Whether rows are still being added in chunks."""
        return self._loaded < len(self._order)

    @property
    def pending(self) -> int:
        """States waiting for the next flush."""
        return len(self._pending)

    def cell_spec(self, task_id: str) -> RowSpec | None:
        """The specs last written to a row (None when it is not in the table)."""
        return self._specs.get(task_id)

    # -- whole-table changes ---------------------------------------------------------

    def load(self, tasks: Iterable[WatchedTask], summary: SummaryTracker | None = None) -> None:
        """Show ``tasks``, replacing everything: the first screenful now, the rest in
        chunks.

        Args:
            tasks: the tasks, in watchlist order.
            summary: their summary, when already counted (in a thread, for 10,000
                tasks); else they are counted here.
        """
        self.tasks = {task.task_id: task for task in tasks}
        self._measure_names(self.tasks.values())
        if summary is None:
            self.summary.reset(self.tasks.values(), self.clock.now())
        else:
            self.summary = summary
        self._pending.clear()
        self._rebuild()

    def add_tasks(self, tasks: Sequence[WatchedTask]) -> None:
        """Add new tasks (or replace known ones) now, not at the next flush."""
        now = self.clock.now()
        for task in tasks:
            old = self.tasks.get(task.task_id)
            if old is None:
                self.tasks[task.task_id] = task
                self.summary.add(task, now)
            self._pending[task.task_id] = task
        self._measure_names(tasks)
        self.flush()

    def remove_tasks(self, ids: Iterable[str]) -> list[WatchedTask]:
        """Remove tasks; returns the removed ones (for undo)."""
        removed = [self.tasks.pop(i) for i in dict.fromkeys(ids) if i in self.tasks]
        now = self.clock.now()
        for task in removed:
            self.summary.remove(task, now)
        gone = {task.task_id for task in removed}
        for task_id in gone:
            self._pending.pop(task_id, None)
            self.retry_at.pop(task_id, None)
            self._task_cells.pop(task_id, None)
        shown = [task_id for task_id in self._order if task_id in gone]
        if len(shown) > SMALL_CHANGE:
            self._rebuild()
        else:
            for task_id in shown:
                self._drop_row(task_id)
        return removed

    def set_filter(self, text: str | None = None, status_filter: str | None = None) -> None:
        """Change the text filter and/or the status filter, and show the rows that pass."""
        if text is not None:
            self.text_filter = text
        if status_filter is not None:
            self.status_filter = status_filter
        self._rebuild()

    def set_id_filter(self, ids: frozenset[str] | None) -> None:
        """Show only the tasks in ``ids`` (with the other filters), or lift that (None)."""
        self.id_filter = ids
        self._rebuild()

    def passes(self, task: WatchedTask) -> bool:
        """Whether ``task`` passes every filter: text, status and ID set."""
        ids = self.id_filter
        if ids is not None and task.task_id not in ids:
            return False
        return matches(task, self.text_filter, self.status_filter, self.stalled)

    def set_sort(self, column: str, reverse: bool = False) -> None:
        """Sort by a column key (or ``added``), keeping the cursor on its task."""
        if column not in SORT_KEYS:
            raise ValueError(f"unknown sort column {column!r}")
        self.sort_column, self.sort_reverse = column, reverse
        self._label_headers()
        if self.filling:
            self._rebuild()
        else:
            self._resort(force=True)

    def _wanted(self) -> list[str]:
        """IDs passing the filters, in sort order."""
        passes = self.passes
        return self._sorted([t.task_id for t in self.tasks.values() if passes(t)])

    def _sorted(self, ids: list[str]) -> list[str]:
        if self.sort_column == "added" and not self.sort_reverse:
            return ids  # the dict keeps watchlist order already
        now = self.clock.now()
        return sort_ids(ids, self.tasks, self.sort_column, self.sort_reverse, now, self.estimator)

    def set_stalled(self, ids: Iterable[str]) -> None:
        """The tasks flagged stalled now; rows enter or leave a ``stalled`` filter."""
        stalled = frozenset(ids)
        if stalled == self.stalled:
            return
        self.stalled = stalled
        if STALLED_FILTER in split_status_filter(self.status_filter):
            self._rebuild()

    def _rebuild(self) -> None:
        """Clear and add every passing row again: once, and in chunks."""
        self._wanted_cursor = self.selected_id or self._wanted_cursor
        self._generation += 1
        self.rebuilds += 1
        # Forget the rows before clearing: clear() scrolls to the top, and the scroll
        # watcher would write cells of the rows it has just removed.
        self._specs.clear()
        self._order = []
        self._loaded = 0
        self.clear()
        self._order = self._wanted()
        self._label_headers()
        self._add_chunk(self._generation, first=True)

    def _add_chunk(self, generation: int, first: bool = False) -> None:
        if generation != self._generation:
            return  # a newer rebuild took over
        deadline = time.perf_counter() + CHUNK_BUDGET
        now = self.clock.now()
        order, tasks, end = self._order, self.tasks, len(self._order)
        index = self._loaded
        screenful = index + max(FIRST_CHUNK, self.size.height + 5)
        with self.appending():
            while index < end:
                task_id = order[index]
                spec = self._spec_for(tasks[task_id], now)
                self._specs[task_id] = spec
                self._add_row(task_id, spec)
                index += 1
                if first:
                    if index >= screenful:
                        break
                elif index % 50 == 0 and time.perf_counter() > deadline:
                    break
        self._loaded = index
        wanted = self._wanted_cursor
        if wanted is not None and wanted in self._specs:
            self._move_to(wanted)
            self._wanted_cursor = None
        if self.filling:
            if not first and self._collector_was_running is None:
                self._collector_was_running = gcpolicy.pause()
            self.call_after_refresh(self._add_chunk, generation)
            return
        if self._collector_was_running is not None:
            gcpolicy.resume(self._collector_was_running, freeze=self._loaded > FREEZE_AT)
            self._collector_was_running = None
        if self.sort_column != "added" or self.sort_reverse:
            self._resort()

    def _text(self, spec: CellSpec) -> Text:
        text = self._texts.get(spec)
        if text is None:
            if len(self._texts) >= TEXT_CACHE_LIMIT:
                self._texts.clear()
            text = self._texts[spec] = cell_text(spec)
        return text

    def _task_cell(self, task_id: str, spec: CellSpec) -> TaskCell:
        """The ``task`` cell, reused while its text is unchanged (so that its render,
        cached on the object, survives a rebuild)."""
        cached = self._task_cells.get(task_id)
        if cached is not None and cached[0] == spec:
            return cached[1]
        cell = TaskCell(cell_text(spec), task_id)
        self._task_cells[task_id] = (spec, cell)
        return cell

    def _row_cells(self, task_id: str, spec: RowSpec) -> list[Text]:
        text = self._text
        return [self._task_cell(task_id, spec[0]), *[text(cell) for cell in spec[1:]]]

    def _add_row(self, task_id: str, spec: RowSpec) -> None:
        self.add_row(*self._row_cells(task_id, spec), key=task_id)

    def _drop_row(self, task_id: str) -> None:
        index = self._order.index(task_id)
        self._order.pop(index)
        if task_id in self._specs:
            del self._specs[task_id]
            self._loaded -= 1
            with contextlib.suppress(RowDoesNotExist):
                self.remove_row(task_id)

    def _move_to(self, task_id: str) -> None:
        try:
            row = self.get_row_index(task_id)
        except RowDoesNotExist:
            return
        if row != self.cursor_row:
            self.move_cursor(row=row, animate=False)

    def _resort(self, force: bool = False) -> None:
        """Reorder the rows to the sort order, if it differs (or ``force``)."""
        order = self._sorted(list(self._order))
        if order == self._order and not force:
            return
        keep = self.selected_id
        self._order = order
        rank = {task_id: index for index, task_id in enumerate(order)}

        def by_rank(cell: Text) -> int:
            return rank[cell.task_id] if isinstance(cell, TaskCell) else len(rank)

        self.sort(COLUMNS[0].key, key=by_rank)
        if keep is not None:
            self._move_to(keep)
        self.refresh_visible()

    def _label_headers(self) -> None:
        arrow = " ▼" if self.sort_reverse else " ▲"
        for column in COLUMNS:
            table_column = self.columns.get(ColumnKey(column.key))
            if table_column is not None:
                sorted_here = column.key == self.sort_column
                table_column.label = Text(
                    column.header + (arrow if sorted_here else ""),
                    style="bold" if sorted_here else "",
                )
        self.refresh()

    # -- updates ---------------------------------------------------------------------

    def stage(self, task: WatchedTask, retry_at: float | None = None) -> None:
        """Queue a new state for a watched task; it shows at the next flush.

        Only the latest state per task is kept. Unknown IDs are ignored: an event can
        arrive for a task the user has just removed.

        Args:
            task: the task as the poller reported it (a copy).
            retry_at: wall-clock time of the next retry after a failed poll.
        """
        if task.task_id not in self.tasks:
            return
        if retry_at is None:
            self.retry_at.pop(task.task_id, None)
        else:
            self.retry_at[task.task_id] = retry_at
        self._pending[task.task_id] = task

    def flush(self) -> list[WatchedTask]:
        """Apply the staged states; returns the tasks applied.

        The model takes every state; rows enter or leave the filter; the rows re-sort
        when a sort key changed; cells are written for the rows on screen only.
        """
        if not self._pending:
            return []
        batch, self._pending = list(self._pending.values()), {}
        now = self.clock.now()
        shown = set(self._order)
        entering: list[str] = []
        leaving: list[str] = []
        resort = False
        sort_key = sort_key_for(self.sort_column, self.estimator)
        for task in batch:
            task_id = task.task_id
            old = self.tasks.get(task_id)
            if old is None:
                continue
            self.tasks[task_id] = task
            if old is not task:
                self.summary.replace(old, task, now)
            passes = self.passes(task)
            if task_id not in shown:
                if passes:
                    entering.append(task_id)
            elif not passes:
                leaving.append(task_id)
            elif not resort and sort_key(old, now) != sort_key(task, now):
                resort = True
        with self.folded_refresh():
            if len(entering) + len(leaving) > SMALL_CHANGE:
                self._rebuild()
                return batch
            for task_id in leaving:
                self._drop_row(task_id)
            if entering:
                # Asked before the extend: afterwards the table always looks "filling",
                # and rows left to a chunk that is not running never arrive.
                filling = self.filling
                self._order.extend(entering)
                if not filling:
                    for task_id in entering:
                        spec = self._spec_for(self.tasks[task_id], now)
                        self._specs[task_id] = spec
                        self._add_row(task_id, spec)
                    self._loaded = len(self._order)
                resort = resort or self.sort_column != "added" or self.sort_reverse
            if resort and not self.filling:
                self._resort()
            else:
                self.refresh_visible()
        return batch

    def _spec_for(self, task: WatchedTask, now: float) -> RowSpec:
        retry = self.retry_at.get(task.task_id)
        spec = row_spec(task, now, None if retry is None else retry - now, self.estimator)
        # Keep one copy of each distinct cell spec ("SUCCESS" in green, "1m 05s"...):
        # the last spec of every row is kept, and 10,000 rows of fresh tuples took 15 MB.
        canon = self._canon
        if len(canon) > TEXT_CACHE_LIMIT:
            canon.clear()
        return (spec[0], *[canon.setdefault(cell, cell) for cell in spec[1:]])

    def _apply(self, task: WatchedTask, now: float) -> None:
        """Write the cells of ``task``'s row that differ from what is shown."""
        old = self._specs.get(task.task_id)
        if old is None:
            return  # not added yet: its chunk will render the newest state
        if RowKey(task.task_id) not in self._row_locations:
            del self._specs[task.task_id]  # the row went (a filter, a removal): nothing to write
            return
        new = self._spec_for(task, now)
        if new == old:
            return
        for index, (before, after) in enumerate(zip(old, new, strict=True)):
            if before != after:
                cell = self._task_cell(task.task_id, after) if index == 0 else self._text(after)
                self.update_cell(task.task_id, COLUMNS[index].key, cell)
                self.update_cells += 1
        self._specs[task.task_id] = new

    def tick(self) -> None:
        """Once a second: durations and "updated" move with the clock (rows on screen)."""
        self.refresh_visible()

    def refresh_visible(self) -> None:
        """Bring the rows on screen (and a few around them) up to date."""
        if not self._loaded:
            return
        top = max(0, int(self.scroll_y) - 2)
        bottom = min(self._loaded, int(self.scroll_y) + self.size.height + 2)
        now = self.clock.now()
        tasks = self.tasks
        with self.folded_refresh():
            for task_id in self._order[top:bottom]:
                task = tasks.get(task_id)
                if task is not None:
                    self._apply(task, now)

    def watch_scroll_y(self, old_value: float, new_value: float) -> None:
        super().watch_scroll_y(old_value, new_value)
        if round(old_value) != round(new_value):
            self.refresh_visible()
