"""The watchlist commands: ``add``, ``remove``, ``clear --finished``, ``list``.

None of them touches the network. Each reads or changes the file through one
WatchlistStore call, so ``add -`` of 10,000 IDs is one lock, one load and one save.
"""

from __future__ import annotations

import io
import time
from collections.abc import Sequence
from typing import TextIO

from siray_tui.cli.ids import read_ids, split_ids
from siray_tui.cli.output import print_json_lines, print_tasks, report_warnings
from siray_tui.config import Settings
from siray_tui.core.models import TaskKind
from siray_tui.core.report import plural
from siray_tui.core.store import WatchlistStore

EXIT_OK = 0
EXIT_INVALID = 2


def add(
    settings: Settings,
    ids: Sequence[str],
    kind: TaskKind,
    label: str,
    stdin: TextIO,
    out: TextIO,
    err: TextIO,
) -> int:
    """Validate every ID, add the valid ones in one save; exit 2 if any input was invalid.

    Problems in stdin are reported with their line number, one line each.
    """
    if isinstance(stdin, io.TextIOWrapper):
        stdin.reconfigure(errors="replace")  # a stray byte is one invalid ID, not a traceback
    valid: list[str] = []
    invalid = 0
    for arg in ids:
        from_stdin = arg == "-"
        found = read_ids(stdin.read() if from_stdin else arg)
        valid.extend(found.ids)
        invalid += len(found.problems)
        for problem in found.problems:
            where = f"line {problem.line}: " if from_stdin else ""
            err.write(f"siray-tui: {where}{problem.message}\n")
    if not valid and not invalid:
        err.write("siray-tui: no task IDs given (pass IDs, or - to read them from stdin)\n")
        return EXIT_INVALID
    store = WatchlistStore(settings.data_dir)
    result = store.add(valid, kind=kind, label=label) if valid else None
    report_warnings(store, err)
    added = len(result.added) if result else 0
    already = len(result.already) if result else 0
    parts = [f"added {plural(added, 'task')}"]
    if already:
        parts.append(f"{already} already watched")
    if invalid:
        parts.append(f"{invalid} invalid")
    out.write(", ".join(parts).capitalize() + ".\n")
    return EXIT_INVALID if invalid else EXIT_OK


def remove(settings: Settings, ids: Sequence[str], out: TextIO, err: TextIO) -> int:
    """Remove the given IDs; exit 2 if any was not on the watchlist."""
    wanted = list(dict.fromkeys(split_ids(ids)))
    store = WatchlistStore(settings.data_dir)
    removed = store.remove(wanted)
    report_warnings(store, err)
    gone = set(removed)
    unknown = [task_id for task_id in wanted if task_id not in gone]
    for task_id in unknown:
        err.write(f"siray-tui: not on the watchlist: {task_id!r}\n")
    out.write(f"Removed {plural(len(removed), 'task')}.\n")
    return EXIT_INVALID if unknown else EXIT_OK


def clear_finished(settings: Settings, out: TextIO, err: TextIO) -> int:
    """Remove every SUCCESS and FAILURE task."""
    store = WatchlistStore(settings.data_dir)
    removed = store.clear_finished()
    report_warnings(store, err)
    out.write(f"Removed {plural(len(removed), 'finished task')}.\n")
    return EXIT_OK


def list_tasks(settings: Settings, json_output: bool, out: TextIO, err: TextIO) -> int:
    """The watchlist as last seen, without touching the network."""
    store = WatchlistStore(settings.data_dir)
    tasks = store.load().tasks.values()
    report_warnings(store, err)
    now = time.time()
    if json_output:
        print_json_lines(tasks, now, out)
    else:
        print_tasks(tasks, now, out)
    return EXIT_OK
