"""StatsScreen: stats per kind and model, completions over time, failures grouped (``t``).

The numbers come from :func:`~siray_tui.core.stats.compute_stats` over the dashboard's
tasks; this screen only lays them out. Reasons are the server's text (cleaned and
normalised in the core) and are shown as literal text, never as markup.

| Key | Action |
| --- | --- |
| ``enter`` | show the highlighted group's tasks in the table (``escape`` there clears) |
| ``c`` | copy the group's task IDs (separated by spaces) |
| ``N`` | resubmit every task of the group that has a stored request (after a confirmation) |
| ``x`` / ``delete`` | remove every task of the group (``u`` undoes) |
| ``u`` | undo the last removal |
| ``r`` | count again |
| ``escape`` / ``t`` / ``q`` | back to the table |
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Sequence
from typing import ClassVar, Final, Protocol

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.content import Content
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Header, Sparkline, Static

from siray_tui.core.clock import Clock
from siray_tui.core.models import WatchedTask
from siray_tui.core.report import format_ago, format_duration, plural
from siray_tui.core.stats import FailureGroup, GroupStats, Stats, Timeline, compute_stats

MAX_GROUPS: Final = 500
"""Failure groups listed; past that, reasons are too varied for grouping to help."""
STAT_HEADERS: Final = ("tasks", "ended", "success", "queue p50", "p95", "run p50", "p95")


class TriageHost(Protocol):
    """What the screen asks of the dashboard: its tasks, and what to do with a group."""

    clock: Clock

    def triage_tasks(self) -> Iterable[WatchedTask]:
        """Every watched task, as the table shows it."""
        ...

    def show_group(self, ids: frozenset[str], reason: str) -> None:
        """Show only these tasks in the table."""
        ...

    def copy_ids(self, ids: Sequence[str]) -> None:
        """Put the IDs on the clipboard, and say so."""
        ...

    def remove_ids(self, ids: list[str]) -> None:
        """Remove the tasks (undoable)."""
        ...

    def resubmit_ids(self, ids: Sequence[str], reason: str) -> None:
        """Resubmit the tasks that have a stored request, once the user confirms."""
        ...

    def action_undo(self) -> None:
        """Restore the last removed batch."""
        ...


def _percent(rate: float | None) -> str:
    return "-" if rate is None else f"{rate:.0%}"


def stat_row(group: GroupStats) -> list[Text]:
    """The cells of one kind or model."""
    cells = [
        str(group.tasks),
        str(group.succeeded + group.failed),
        _percent(group.success_rate),
        format_duration(group.queue.median),
        format_duration(group.queue.p95),
        format_duration(group.run.median),
        format_duration(group.run.p95),
    ]
    return [Text(group.name), *(Text(cell, justify="right") for cell in cells)]


def _local(seconds: float) -> str:
    return time.strftime("%m-%d %H:%M", time.localtime(seconds))


def timeline_caption(line: Timeline) -> Content:
    """What the chart shows: its time range, a bar's width, the peak and the failures."""
    if line.start is None or line.end is None or not any(line.completed):
        return Content.assemble(("No task has ended yet.", "dim"))
    start, end = _local(line.start), _local(line.end)
    if end[:5] == start[:5]:
        end = end[6:]  # the same day: the time says it
    return Content.assemble(
        (f"{sum(line.completed)} ended", "bold"),
        f" ({sum(line.failed)} failed)  {start} → {end}",
        ("  bar ", "dim"),
        format_duration(line.bucket),
        ("  peak ", "dim"),
        str(max(line.completed)),
    )


class StatsScreen(Screen[None]):
    """Stats and failure triage. See the module docstring for its keys.

    Args:
        host: the dashboard (its tasks, and the group actions).
    """

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape,t,q", "close", "Back", key_display="esc"),
        Binding("enter", "show", "Show in table"),
        Binding("c", "copy_ids", "Copy IDs"),
        Binding("N", "resubmit_group", "Resubmit"),
        Binding("x,delete", "remove_group", "Remove all", key_display="x"),
        Binding("u", "undo", "Undo"),
        Binding("r", "recount", "Recount"),
    ]

    def __init__(self, host: TriageHost) -> None:
        super().__init__()
        self.host = host
        self.stats = Stats()

    def compose(self) -> ComposeResult:
        yield Header(icon="◆")
        with Vertical(id="stats-body"):
            yield Static(id="stats-title")
            yield Static(Content.assemble(("By kind", "bold underline")), classes="stats-section")
            yield DataTable(id="by-kind", cursor_type="none", zebra_stripes=True)
            yield Static(Content.assemble(("By model", "bold underline")), classes="stats-section")
            yield DataTable(id="by-model", cursor_type="none", zebra_stripes=True)
            yield Static(
                Content.assemble(("Completions over time", "bold underline")),
                classes="stats-section",
            )
            yield Sparkline([], id="timeline")
            yield Static(id="timeline-caption")
            yield Static(
                Content.assemble(
                    ("Failures by reason", "bold underline"),
                    ("   enter", "bold"),
                    " show · ",
                    ("c", "bold"),
                    " copy IDs · ",
                    ("N", "bold"),
                    " resubmit · ",
                    ("x", "bold"),
                    " remove all",
                ),
                classes="stats-section",
            )
            yield DataTable(id="failures", cursor_type="row", zebra_stripes=True)
            yield Static(id="failure-example")
        yield Footer()

    def on_mount(self) -> None:
        self.sub_title = "stats and triage"
        for table_id in ("#by-kind", "#by-model"):
            table = self.query_one(table_id, DataTable)
            table.can_focus = False
            name = "kind" if table_id == "#by-kind" else "model"
            table.add_column(name, key="name")
            for header in STAT_HEADERS:
                table.add_column(Text(header, justify="right"))
        failures = self.query_one("#failures", DataTable)
        failures.add_column(Text("count", justify="right"), key="count")
        failures.add_column("newest", key="newest")
        failures.add_column("reason", key="reason")
        failures.focus()
        self.recount()

    # -- showing ---------------------------------------------------------------------

    def recount(self) -> None:
        """Count everything again and show it; the cursor stays on its group (on its row
        number when the group is gone)."""
        now = self.host.clock.now()
        stats = compute_stats(self.host.triage_tasks(), now)
        failed = sum(group.count for group in stats.failures)
        self.query_one("#stats-title", Static).update(
            Content.assemble(
                (plural(stats.total, "task"), "bold"),
                ("  ·  ", "dim"),
                plural(failed, "failure"),
                " in ",
                plural(len(stats.failures), "group"),
            )
        )
        for table_id, groups in (("#by-kind", stats.by_kind), ("#by-model", stats.by_model)):
            table = self.query_one(table_id, DataTable)
            table.clear()
            for group in groups:
                table.add_row(*stat_row(group))
        chart = self.query_one("#timeline", Sparkline)
        chart.data = list(stats.timeline.completed)
        self.query_one("#timeline-caption", Static).update(timeline_caption(stats.timeline))
        self._show_failures(stats, now)

    def _show_failures(self, stats: Stats, now: float) -> None:
        groups = stats.failures
        table = self.query_one("#failures", DataTable)
        row = table.cursor_row
        selected = self.selected_group()  # from the old stats: the group the user was on
        self.stats = stats
        table.clear()
        for index, group in enumerate(groups[:MAX_GROUPS]):
            table.add_row(
                Text(str(group.count), justify="right"),
                Text(format_ago(group.newest, now) if group.newest else "-"),
                Text(group.reason, no_wrap=True, overflow="ellipsis"),
                key=str(index),
            )
        if len(groups) > MAX_GROUPS:
            table.add_row(Text(""), Text(""), Text(f"… and {len(groups) - MAX_GROUPS} more groups"))
        if groups:
            # stay on the same group when it is still there (it may have moved up or down)
            reasons = [group.reason for group in groups[:MAX_GROUPS]]
            if selected is not None and selected.reason in reasons:
                row = reasons.index(selected.reason)
            table.move_cursor(row=min(row, len(reasons) - 1), animate=False)
        self._show_example()

    @on(DataTable.RowHighlighted, "#failures")
    def _highlighted(self) -> None:
        self._show_example()

    def _show_example(self) -> None:
        group = self.selected_group()
        example = self.query_one("#failure-example", Static)
        if group is None:
            text = "No failures." if not self.stats.failures else ""
            example.update(Content.assemble((text, "dim")))
            return
        example.update(
            Content.assemble(
                ("newest: ", "dim"),
                group.task_ids[0],
                ("  ", "dim"),
                group.example,  # literal: the server's text, cleaned in the core
            )
        )

    def selected_group(self) -> FailureGroup | None:
        """The failure group under the cursor."""
        table = self.query_one("#failures", DataTable)
        index = table.cursor_row
        groups = self.stats.failures
        if not groups or not 0 <= index < min(len(groups), MAX_GROUPS):
            return None
        return groups[index]

    # -- actions ---------------------------------------------------------------------

    def _group_or_say(self) -> FailureGroup | None:
        group = self.selected_group()
        if group is None:
            self.notify("No failure group selected", severity="warning")
        return group

    @on(DataTable.RowSelected, "#failures")
    def _selected(self, event: DataTable.RowSelected) -> None:
        event.stop()
        self.action_show()

    def action_show(self) -> None:
        group = self._group_or_say()
        if group is not None:
            self.dismiss(None)
            self.host.show_group(frozenset(group.task_ids), group.reason)

    def action_copy_ids(self) -> None:
        group = self._group_or_say()
        if group is not None:
            self.host.copy_ids(group.task_ids)

    def action_resubmit_group(self) -> None:
        group = self._group_or_say()
        if group is not None:
            self.host.resubmit_ids(group.task_ids, group.reason)

    def action_remove_group(self) -> None:
        group = self._group_or_say()
        if group is not None:
            self.host.remove_ids(list(group.task_ids))
            self.recount()

    def action_undo(self) -> None:
        self.host.action_undo()
        self.recount()

    def action_recount(self) -> None:
        self.recount()

    def action_close(self) -> None:
        self.dismiss(None)
