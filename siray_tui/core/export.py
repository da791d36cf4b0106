"""Exporting tasks as CSV, JSON or NDJSON: the ``export`` command and the dashboard's ``e``.

Every format carries the ``--json`` record of :func:`~siray_tui.core.columns.task_record`,
field for field, so a column added there shows up here too. ``json`` and ``ndjson`` are
that record as it is (``export --format ndjson`` prints what ``list --json`` prints, as an
array for ``json``); CSV is for spreadsheets, so its cells are text a spreadsheet reads
well: times as ISO 8601 UTC, durations as plain numbers of seconds, lists joined by
spaces, and no cell that a spreadsheet would run as a formula.

Files are written atomically: a temporary file in the same folder, then ``os.replace``,
so a reader (or a crash) never sees half an export, and an unwritable path loses nothing.
"""

from __future__ import annotations

import contextlib
import csv
import io
import json
import os
import secrets
from collections.abc import Iterable, Iterator, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Final

from siray_tui.core.columns import JSON_FIELDS, task_record
from siray_tui.core.errors import ExportError
from siray_tui.core.eta import Estimator
from siray_tui.core.models import WatchedTask

FORMATS: Final[tuple[str, ...]] = ("csv", "json", "ndjson")
TIME_FIELDS: Final[frozenset[str]] = frozenset(
    name for name in JSON_FIELDS if name.endswith(("_time", "_at"))
)
"""Fields holding Unix seconds (by their documented names), written as ISO 8601 in CSV."""
FORMULA_STARTS: Final = ("=", "+", "-", "@", "\t", "\r")
"""What makes a spreadsheet (Excel, LibreOffice, Google Sheets) read a cell as a formula."""


def records(
    tasks: Iterable[WatchedTask], now: float, estimator: Estimator | None = None
) -> list[dict[str, object]]:
    """The ``--json`` record of each task, in the given order; without an estimator,
    ETAs come from one that learnt from these tasks."""
    tasks = list(tasks)
    estimator = estimator or Estimator.learnt_from(tasks, now)
    return [task_record(task, now, estimator=estimator) for task in tasks]


def iso_utc(seconds: float) -> str:
    """``2025-11-16T06:31:12Z``: Unix seconds as ISO 8601 in UTC, to the second."""
    moment = datetime.fromtimestamp(round(seconds), UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def defuse(text: str) -> str:
    """``text`` with a leading ``'`` when a spreadsheet would run it as a formula.

    A fail reason is the server's text, so ``=HYPERLINK("http://evil", "click")`` could
    otherwise become a live formula in the user's spreadsheet (CSV injection).
    """
    return "'" + text if text.startswith(FORMULA_STARTS) else text


def csv_cell(name: str, value: object) -> str:
    """One CSV cell for field ``name``.

    Our own numbers stay numbers (a negative ETA is a number, not a formula); every
    string, including list items joined by spaces, may be the server's and is defused.
    """
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return iso_utc(value) if name in TIME_FIELDS else str(value)
    if isinstance(value, list | tuple):
        return defuse(" ".join(str(item) for item in value))
    return defuse(str(value))


def csv_lines(rows: Sequence[dict[str, object]]) -> Iterator[str]:
    """A header line, then a line per record (``\\r\\n`` ends each, as RFC 4180 says)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)

    def line(cells: Sequence[str]) -> str:
        writer.writerow(cells)
        text = buffer.getvalue()
        buffer.seek(0)
        buffer.truncate()
        return text

    yield line(JSON_FIELDS)
    for row in rows:
        yield line([csv_cell(name, row.get(name)) for name in JSON_FIELDS])


def json_lines(rows: Sequence[dict[str, object]]) -> Iterator[str]:
    """One JSON array, an object per line inside it (readable, and written line by line)."""
    if not rows:
        yield "[]\n"
        return
    last = len(rows) - 1
    yield "[\n"
    for index, row in enumerate(rows):
        yield json.dumps(row, ensure_ascii=False) + ("\n" if index == last else ",\n")
    yield "]\n"


def ndjson_lines(rows: Sequence[dict[str, object]]) -> Iterator[str]:
    """One JSON object per line, as ``list --json`` prints."""
    for row in rows:
        yield json.dumps(row, ensure_ascii=False) + "\n"


def render(fmt: str, rows: Sequence[dict[str, object]]) -> Iterator[str]:
    """The export of ``rows`` in format ``fmt`` (one of :data:`FORMATS`), in pieces.

    Raises:
        ValueError: an unknown format.
    """
    if fmt == "csv":
        return csv_lines(rows)
    if fmt == "json":
        return json_lines(rows)
    if fmt == "ndjson":
        return ndjson_lines(rows)
    raise ValueError(f"unknown export format {fmt!r} (one of {', '.join(FORMATS)})")


def write_atomic(path: Path, pieces: Iterable[str]) -> None:
    """Write ``pieces`` to ``path`` as UTF-8, all or nothing.

    The text goes to a hidden temporary file beside ``path`` (same file system, so the
    rename is atomic), which is fsynced and renamed over ``path``; on any failure it is
    removed and ``path`` is left as it was. The file gets the usual permissions (the
    umask decides), not the 0600 of a temporary file: an export is meant to be shared.

    Raises:
        ExportError: one line naming the path and the reason.
    """
    temp = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(6)}.tmp")
    try:
        fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o666)
        try:
            with open(fd, "w", encoding="utf-8", newline="", closefd=False) as stream:
                for piece in pieces:
                    stream.write(piece)
                stream.flush()
                os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(temp, path)
    except OSError as exc:
        with contextlib.suppress(OSError):
            os.unlink(temp)
        reason = (exc.strerror or str(exc)).lower()
        raise ExportError(f"cannot write {path}: {reason}") from None


def unused_path(folder: Path, stem: str, suffix: str) -> Path:
    """``folder/stem.suffix``, or ``stem-2.suffix``... when that name is taken: two
    exports in the same second must not overwrite each other."""
    path = folder / f"{stem}{suffix}"
    number = 2
    while path.exists():
        path = folder / f"{stem}-{number}{suffix}"
        number += 1
    return path


def export_file(folder: Path, tasks: Sequence[WatchedTask], now: float, fmt: str = "csv") -> Path:
    """Export ``tasks`` to a new ``siray-tui-export-<UTC time>.<fmt>`` in ``folder`` (made
    when missing); returns its path. Blocking: the dashboard calls it in a thread, so the
    ETAs come from an estimator of its own (the session's changes on the event loop).

    Raises:
        ExportError: the folder or the file could not be written.
    """
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        reason = (exc.strerror or str(exc)).lower()
        raise ExportError(f"cannot create {folder}: {reason}") from None
    stamp = datetime.fromtimestamp(now, UTC).strftime("%Y%m%d-%H%M%S")
    path = unused_path(folder, f"siray-tui-export-{stamp}", f".{fmt}")
    write_atomic(path, render(fmt, records(tasks, now)))
    return path
