"""Printing tasks for people (an aligned table) and for scripts (one JSON object per line)."""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from typing import Final, TextIO

from siray_tui.core.columns import COLUMNS, TaskView, task_record
from siray_tui.core.eta import Estimator
from siray_tui.core.models import WatchedTask
from siray_tui.core.store import WatchlistStore

HEADERS: Final[tuple[str, ...]] = tuple(column.header.upper() for column in COLUMNS)


def task_row(task: WatchedTask, now: float, estimator: Estimator | None = None) -> tuple[str, ...]:
    """The ``list`` columns for one task (all text already cleaned)."""
    view = TaskView.of(task, now, estimator=estimator)
    return tuple([column.plain(view) for column in COLUMNS])


def learnt(
    tasks: Iterable[WatchedTask], now: float, estimator: Estimator | None
) -> tuple[list[WatchedTask], Estimator]:
    """The tasks as a list, and ``estimator``, or else one that learnt from them."""
    tasks = list(tasks)
    return tasks, estimator or Estimator.learnt_from(tasks, now)


def render_table(rows: Sequence[Sequence[str]], headers: Sequence[str] = HEADERS) -> str:
    """Columns padded to their widest cell; trailing spaces trimmed."""
    widths = [len(h) for h in headers]
    for row in rows:
        for index, cell in enumerate(row):
            widths[index] = max(widths[index], len(cell))
    lines = []
    for row in (headers, *rows):
        line = "  ".join(cell.ljust(widths[i]) for i, cell in enumerate(row))
        lines.append(line.rstrip())
    return "\n".join(lines)


def print_tasks(
    tasks: Iterable[WatchedTask], now: float, out: TextIO, estimator: Estimator | None = None
) -> None:
    """The aligned table of ``tasks``, or a friendly line when there are none (the ETAs
    from ``estimator``, else learnt from ``tasks``)."""
    tasks, estimator = learnt(tasks, now, estimator)
    rows = [task_row(task, now, estimator) for task in tasks]
    if not rows:
        out.write("No tasks on the watchlist. Add some with: siray-tui add ID...\n")
        return
    # Line by line: one huge write that a closing pipe cuts short is dropped by CPython
    # without an error, so ``list | head -1`` would exit 0 having lost the rest unsaid.
    for line in render_table(rows).split("\n"):
        out.write(line + "\n")


def print_json_lines(
    tasks: Iterable[WatchedTask], now: float, out: TextIO, estimator: Estimator | None = None
) -> None:
    """One JSON object per task per line (``--json``; ETAs as for :func:`print_tasks`)."""
    tasks, estimator = learnt(tasks, now, estimator)
    for task in tasks:
        out.write(json.dumps(task_record(task, now, estimator), ensure_ascii=False) + "\n")
    out.flush()


def report_warnings(store: WatchlistStore, err: TextIO) -> None:
    """Tell the user, once each, what the store had to do (a corrupt file moved aside)."""
    for warning in store.warnings:
        err.write(f"siray-tui: warning: {warning}\n")
    store.warnings.clear()
