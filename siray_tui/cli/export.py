"""The ``export`` command: the watchlist (or some statuses of it) as CSV, JSON or NDJSON.

No network: it exports the last known state of each task, like ``list``. The formats
live in :mod:`siray_tui.core.export`, which the dashboard's ``e`` shares.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from pathlib import Path
from typing import TextIO

from siray_tui.cli.output import report_warnings
from siray_tui.config import Settings
from siray_tui.core.columns import STATUS_ORDER, display_status
from siray_tui.core.errors import ExportError
from siray_tui.core.eta import Estimator
from siray_tui.core.export import records, render, write_atomic
from siray_tui.core.models import WatchedTask
from siray_tui.core.store import WatchlistStore

EXIT_OK = 0
EXIT_USAGE = 2


def status_key(text: str) -> str:
    """A status as the user may type it (``success``, ``in-progress``) in the shown form."""
    return text.strip().upper().replace("-", "_").replace(" ", "_")


def wanted_statuses(given: Sequence[str] | None) -> set[str]:
    """The statuses named by the ``--status`` options (each may list several, with commas)."""
    return {status_key(name) for option in given or () for name in option.split(",") if name}


def run_export(
    settings: Settings,
    fmt: str,
    output: str | None,
    statuses: Sequence[str] | None,
    out: TextIO,
    err: TextIO,
) -> int:
    """Print (or write to ``output``) every task, or those in ``statuses``.

    A status that is neither documented nor held by any task is most likely a typo, so it
    is an error rather than a silently empty export.
    """
    store = WatchlistStore(settings.data_dir)
    tasks: list[WatchedTask] = list(store.load().tasks.values())
    report_warnings(store, err)
    now = time.time()
    estimator = Estimator.learnt_from(tasks, now)  # from all tasks, not only those shown
    wanted = wanted_statuses(statuses)
    if wanted:
        present = {display_status(task) for task in tasks}
        unknown = sorted(wanted - present - set(STATUS_ORDER))
        if unknown:
            err.write(
                f"siray-tui: error: unknown status {unknown[0]!r}"
                f" (one of {', '.join(STATUS_ORDER)})\n"
            )
            return EXIT_USAGE
        tasks = [task for task in tasks if display_status(task) in wanted]
    pieces = render(fmt, records(tasks, now, estimator))
    if output is None or output == "-":
        for piece in pieces:  # piece by piece: see print_tasks on closing pipes
            out.write(piece)
        out.flush()
        return EXIT_OK
    try:
        write_atomic(Path(output), pieces)
    except ExportError as exc:
        err.write(f"siray-tui: error: {exc}\n")
        return EXIT_USAGE
    return EXIT_OK
