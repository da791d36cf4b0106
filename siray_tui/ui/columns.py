"""What each column of the task table shows for a task, and how rows sort and filter.

Pure functions of a :class:`~siray_tui.core.models.WatchedTask` and the time, with no
Textual import, so they are cheap to test and to call for 10,000 rows. A cell is
described by a :data:`CellSpec` (a tuple of ``(text, style)`` pieces): the table keeps the
last spec of every cell and calls ``update_cell`` only when a spec differs, which is what
makes an update touch only the cells that changed.

Every string from the server goes through :func:`~siray_tui.core.text.clean_text` (or
``first_line``, which cleans) before it lands in a spec, and specs become
:class:`rich.text.Text` (never markup), so ``[/x]`` or ``[@click=...]`` in a fail reason is
shown literally.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Final

from rich.text import Text

from siray_tui.core.models import TaskStatus, WatchedTask
from siray_tui.core.report import format_ago, format_duration, status_text
from siray_tui.core.text import clean_text, first_line

CellSpec = tuple[tuple[str, str], ...]
"""A cell as ``(text, style)`` pieces: hashable and cheap to compare."""

RowSpec = tuple[CellSpec, ...]
"""One spec per column, in :data:`COLUMNS` order."""

PROGRESS_BAR_CELLS: Final = 8
REASON_LIMIT: Final = 200

STATUS_STYLES: Final[dict[str, str]] = {
    "SUCCESS": "bold green",
    "FAILURE": "bold red",
    "IN_PROGRESS": "bold yellow",
    "QUEUED": "cyan",
    "SUBMITTED": "cyan",
    "NOT_START": "dim cyan",
    "UNKNOWN": "magenta",
    "NOT_FOUND": "dim red",
    "PENDING": "dim",
}
"""Style per status as shown; any status the API invents is UNKNOWN and magenta."""

_BAR_STYLES: Final[dict[str, str]] = {
    "SUCCESS": "green",
    "FAILURE": "red",
    "IN_PROGRESS": "yellow",
    "other": "blue",
}

LIGHT_STATUS_STYLES: Final[dict[str, str]] = {
    "SUCCESS": "bold #166a2c",
    "FAILURE": "bold #b3261e",
    "IN_PROGRESS": "bold #8a5300",
    "QUEUED": "#00677f",
    "SUBMITTED": "#00677f",
    "NOT_START": "#245a75",
    "UNKNOWN": "#7b2d9b",
    "NOT_FOUND": "#9c2b2b",
    "PENDING": "#5c5f77",
}
"""On a light theme (catppuccin-latte...) the terminal's yellow and cyan, and anything
dim, are too pale to read: these keep a contrast of 4.5:1 or more on its backgrounds."""

_LIGHT_BAR_STYLES: Final[dict[str, str]] = {
    "SUCCESS": "#166a2c",
    "FAILURE": "#b3261e",
    "IN_PROGRESS": "#8a5300",
    "other": "#245a75",
}

_REASON_STYLES: Final[dict[str, str]] = {"error": "yellow", "missing": "dim red", "fail": "red"}
_LIGHT_REASON_STYLES: Final[dict[str, str]] = {
    "error": "#8a5300",
    "missing": "#9c2b2b",
    "fail": "#b3261e",
}

_palette: list[dict[str, str]] = [STATUS_STYLES, _BAR_STYLES, _REASON_STYLES]
"""The styles in use: the dark palette, or the light one (:func:`use_light_palette`)."""


def use_light_palette(light: bool) -> bool:
    """Pick the status colours for a light or a dark theme; returns whether they changed.

    A module setting rather than an argument: every cell, the summary and the details
    ask for status styles, and one process shows one theme at a time.
    """
    wanted = (
        [LIGHT_STATUS_STYLES, _LIGHT_BAR_STYLES, _LIGHT_REASON_STYLES]
        if light
        else [STATUS_STYLES, _BAR_STYLES, _REASON_STYLES]
    )
    changed = wanted[0] is not _palette[0]
    _palette[:] = wanted
    return changed


# Lifecycle order, for sorting by status: waiting, running, done, then the odd ones.
STATUS_ORDER: Final[tuple[str, ...]] = (
    "PENDING",
    "NOT_START",
    "SUBMITTED",
    "QUEUED",
    "IN_PROGRESS",
    "UNKNOWN",
    "SUCCESS",
    "FAILURE",
    "NOT_FOUND",
)


@dataclass(frozen=True, slots=True)
class Column:
    """One table column.

    Attributes:
        key: the DataTable column key.
        label: the header.
        width: fixed content width in cells: fixed widths spare DataTable from
            re-measuring a whole column when one cell gets narrower.
        live: whether the cell changes with the clock for an unfinished task.
        drop: in a narrow terminal, columns go in this order (1 first); None: never
            (the task and its reason are what the table is for).
    """

    key: str
    label: str
    width: int
    live: bool = False
    drop: int | None = None


COLUMNS: Final[tuple[Column, ...]] = (
    Column("task", "task", 26),
    Column("kind", "kind", 5, drop=4),
    Column("status", "status", 11, drop=8),
    Column("progress", "progress", PROGRESS_BAR_CELLS + 5, drop=6),
    Column("queue", "queue", 7, live=True, drop=2),
    Column("run", "run", 7, live=True, drop=3),
    Column("total", "total", 7, live=True, drop=7),
    Column("outputs", "out", 4, drop=1),
    Column("updated", "updated", 11, live=True, drop=5),
    Column("reason", "reason", 40),
)
TASK_MIN: Final = 16
TASK_WANTED: Final = 32
"""Task cells up to this wide are worth dropping other columns for; wider ones get
what is left once the reason has its minimum."""
TASK_MAX: Final = 64
MIN_REASON_WIDTH: Final = 20
REASON_COMFORT: Final = 24
"""Reason cells that labels do not take from: a fail reason says more than a label."""
SLACK: Final = 2
"""Cells kept free of columns: the vertical scrollbar and one spare."""


def fit_columns(
    width: int, name_width: int, padding: int = 1, id_width: int | None = None
) -> dict[str, int]:
    """The content width of each column shown in a table ``width`` cells wide.

    Columns are dropped in their :attr:`Column.drop` order until the task column gets
    its longest ID (up to :data:`TASK_WANTED`) and the reason its minimum. The task
    column then grows to the longest ID when there is room (IDs are not cut), and on to
    the longest ID and label only while the reason keeps :data:`REASON_COMFORT` cells; the
    reason takes what is left.

    Args:
        width: the table's width in cells.
        name_width: the longest task cell, ID and label (:func:`name_width`).
        padding: DataTable's cell padding, on each side of every column.
        id_width: the longest task ID (default: ``name_width``).

    Returns:
        Widths by column key, for the columns shown only.
    """
    ids = name_width if id_width is None else min(id_width, name_width)
    shown = list(COLUMNS)
    budget = width - SLACK - 2 * padding * 2  # the task and reason columns' padding

    def fixed() -> int:
        return sum(c.width + 2 * padding for c in shown if c.drop is not None)

    wanted = max(TASK_MIN, min(ids, TASK_WANTED))
    for column in sorted((c for c in COLUMNS if c.drop is not None), key=lambda c: c.drop or 0):
        if fixed() + wanted + MIN_REASON_WIDTH <= budget:
            break
        shown.remove(column)
    free = budget - fixed()
    task = max(TASK_MIN, min(ids, TASK_MAX, free - MIN_REASON_WIDTH))
    labelled = min(name_width, TASK_MAX, free - REASON_COMFORT)
    task = max(task, labelled)
    widths = {c.key: c.width for c in shown}
    widths["task"], widths["reason"] = task, max(MIN_REASON_WIDTH, free - task)
    return widths


COLUMN_KEYS: Final[tuple[str, ...]] = tuple(column.key for column in COLUMNS)
LIVE_COLUMNS: Final[tuple[int, ...]] = tuple(i for i, c in enumerate(COLUMNS) if c.live)


def display_status(task: WatchedTask) -> str:
    """The status word shown (and filtered on): NOT_FOUND, PENDING, the documented status
    (``success`` is shown as SUCCESS) or, for one the API invented, its own word."""
    state = task.state
    if task.not_found or state is None or state.status is TaskStatus.UNKNOWN:
        return clean_text(status_text(task)) or "UNKNOWN"
    return state.status.value


def status_style(status: str) -> str:
    """The style for a shown status; anything unrecognised is UNKNOWN (magenta)."""
    styles = _palette[0]
    return styles.get(status, styles["UNKNOWN"])


def task_name(task: WatchedTask) -> str:
    """The label when there is one (it is what the user recognises), else the ID."""
    return clean_text(task.label) or task.task_id


LABEL_SEPARATOR: Final = " · "


def task_spec(task: WatchedTask) -> CellSpec:
    """The task cell: the ID, then the label. The ID comes first because it is unique:
    three tasks labelled ``foxes`` are three different rows even when the cell is cut."""
    label = clean_text(task.label)
    if not label:
        return ((task.task_id, ""),)
    return ((task.task_id, ""), (LABEL_SEPARATOR + label, "italic"))


def name_width(task: WatchedTask) -> int:
    """Cells the task cell needs (an upper bound: the label is measured uncleaned)."""
    return len(task.task_id) + (len(LABEL_SEPARATOR) + len(task.label) if task.label else 0)


def progress_spec(status: str, progress: int | None) -> CellSpec:
    """``████░░░░  45%``: the bar in the status colour, the rest dim; ``-`` when unknown."""
    if progress is None:
        return (("-", "dim"),)
    filled = round(PROGRESS_BAR_CELLS * progress / 100)
    bars = _palette[1]
    style = bars.get(status, bars["other"])
    return (
        ("█" * filled, style),
        ("░" * (PROGRESS_BAR_CELLS - filled), "dim"),
        (f" {progress:>3}%", ""),
    )


def reason_text(task: WatchedTask, retry_in: float | None = None) -> tuple[str, str]:
    """The reason column: a final task's fail reason, else the poll error (and when it
    retries), else "not found".

    A final state is not polled again, so a poll error that came after it (a refresh, or
    ``siray-tui status`` meeting a 500) would otherwise hide the real reason for good; the
    error stays in the details and the summary.

    Args:
        task: the task.
        retry_in: seconds until the poller retries after ``last_error``, when known.

    Returns:
        The text (one line, cleaned, cut) and its style.
    """
    state = task.state
    if state is not None and state.status.is_final and state.fail_reason:
        return first_line(state.fail_reason, REASON_LIMIT), _palette[2]["fail"]
    if task.last_error:
        text = first_line(task.last_error, REASON_LIMIT)
        if retry_in is not None:
            text = f"{text} · retry in {format_duration(max(0.0, retry_in))}"
        return text, _palette[2]["error"]
    if task.not_found:
        return "not found at the image or video endpoint", _palette[2]["missing"]
    if task.state is not None and task.state.fail_reason:
        return first_line(task.state.fail_reason, REASON_LIMIT), _palette[2]["fail"]
    return "", ""


def count_text(count: int) -> str:
    """A count in the 4 cells of the ``out`` column: ``5000`` in full, ``12k`` past 9999."""
    if count < 10_000:
        return str(count)
    if count < 1_000_000:
        return f"{count // 1000}k"
    return f"{min(count // 1_000_000, 999)}M"


def row_spec(task: WatchedTask, now: float, retry_in: float | None = None) -> RowSpec:
    """Every cell of a task's row, in :data:`COLUMNS` order.

    Args:
        task: the task.
        now: wall-clock Unix seconds, for the live durations and "updated".
        retry_in: see :func:`reason_text`.
    """
    state = task.state
    status = display_status(task)
    timings = state.timings(now) if state else None
    outputs = state.output_count if state else 0
    reason, reason_style = reason_text(task, retry_in)
    return (
        task_spec(task),
        ((task.kind.value, "dim" if task.kind.value == "auto" else ""),),
        ((status, status_style(status)),),
        progress_spec(status, state.progress if state else None),
        ((format_duration(timings.queue if timings else None), ""),),
        ((format_duration(timings.run if timings else None), ""),),
        ((format_duration(timings.total if timings else None), "bold" if timings else ""),),
        ((count_text(outputs) if outputs else "-", "" if outputs else "dim"),),
        ((format_ago(task.last_polled_at, now), "dim"),),
        ((reason, reason_style),),
    )


def cell_text(spec: CellSpec) -> Text:
    """A Text for a cell: literal (never markup), one line, cut with an ellipsis."""
    text = Text(no_wrap=True, overflow="ellipsis", end="")
    for piece, style in spec:
        text.append(piece, style)
    return text


def is_live(task: WatchedTask) -> bool:
    """Whether the row's durations tick: anything not final (a final task is frozen)."""
    return not task.is_final


# -- sorting -------------------------------------------------------------------------

SortKey = Callable[[WatchedTask, float], tuple[int, object]]
"""``(missing, value)``: ``missing`` is 1 for a task without the value, which always sorts
last, whichever the direction."""


def _value(value: object) -> tuple[int, object]:
    return (1, 0) if value is None else (0, value)


def _status_rank(task: WatchedTask, now: float) -> tuple[int, object]:
    status = display_status(task)
    rank = STATUS_ORDER.index(status) if status in STATUS_ORDER else STATUS_ORDER.index("UNKNOWN")
    return (0, (rank, status))


def _timing(name: str) -> SortKey:
    def key(task: WatchedTask, now: float) -> tuple[int, object]:
        if task.state is None:
            return _value(None)
        return _value(getattr(task.state.timings(now), name))

    return key


def _reason_key(task: WatchedTask, now: float) -> tuple[int, object]:
    text = reason_text(task)[0]
    return _value(text.lower() or None)


SORT_KEYS: Final[dict[str, SortKey]] = {
    "added": lambda task, now: (0, task.added_at),
    "task": lambda task, now: (0, (task_name(task).lower(), task.task_id)),
    "kind": lambda task, now: (0, task.kind.value),
    "status": _status_rank,
    "progress": lambda task, now: _value(task.state.progress if task.state else None),
    "queue": _timing("queue"),
    "run": _timing("run"),
    "total": _timing("total"),
    "outputs": lambda task, now: (0, task.state.output_count if task.state else 0),
    "updated": lambda task, now: _value(
        -task.last_polled_at if task.last_polled_at is not None else None
    ),
    "reason": _reason_key,
}
"""Sort keys by column key, plus ``added`` (watchlist order, the default).

Durations sort on the numbers, not on their text; "updated" puts the freshest first;
empty values go last whatever the column and direction.
"""


def sort_ids(
    ids: list[str], tasks: dict[str, WatchedTask], column: str, reverse: bool, now: float
) -> list[str]:
    """``ids`` in the order of ``column``, tasks without a value last either way."""
    key = SORT_KEYS[column]
    keyed = [(key(tasks[i], now), i) for i in ids]
    present = [(k[1], i) for k, i in keyed if k[0] == 0]
    missing = [i for k, i in keyed if k[0] != 0]
    present.sort(key=lambda pair: pair[0], reverse=reverse)  # type: ignore[arg-type,return-value]
    return [i for _, i in present] + missing


SORT_CYCLE: Final[tuple[str, ...]] = ("added", *COLUMN_KEYS)
"""The order ``s`` steps through."""


# -- filtering -----------------------------------------------------------------------

STATUS_FILTERS: Final[tuple[str, ...]] = ("all", "active", "SUCCESS", "FAILURE", "errors")
"""The order ``f`` steps through: everything, unfinished, done, failed, and problems (poll
errors, not found, statuses the API invented)."""


def split_status_filter(status_filter: str) -> list[str]:
    """The names in a status filter: ``all`` (none), one name, or names joined by commas
    (the picker's choice: a task passes when it matches any of them)."""
    return [] if status_filter == "all" else [n for n in status_filter.split(",") if n]


def join_status_filter(names: Iterable[str]) -> str:
    """The status filter for ``names`` (none: ``all``)."""
    return ",".join(names) or "all"


def matches_status_filter(task: WatchedTask, status_filter: str) -> bool:
    """Whether ``task`` passes a status filter (see :func:`split_status_filter`): a
    :data:`STATUS_FILTERS` group or a shown status, or several of them."""
    if status_filter == "all":
        return True
    if "," in status_filter:
        return any(matches_status_filter(task, n) for n in split_status_filter(status_filter))
    if status_filter == "active":
        return not task.is_final and not task.not_found
    if status_filter == "errors":
        unknown = task.state is not None and task.state.status is TaskStatus.UNKNOWN
        return task.not_found or bool(task.last_error) or unknown
    return display_status(task) == status_filter


def search_text(task: WatchedTask) -> str:
    """What the ``/`` filter searches: ID, label, status and reasons, lower-cased."""
    state = task.state
    parts = [
        task.task_id,
        clean_text(task.label),
        display_status(task),
        clean_text(task.last_error or ""),
        clean_text(state.fail_reason) if state else "",
    ]
    return "\n".join(parts).lower()


def matches(task: WatchedTask, query: str, status_filter: str = "all") -> bool:
    """Whether ``task`` passes both the text filter (substring, any case) and the status
    filter."""
    if not matches_status_filter(task, status_filter):
        return False
    return not query or query.lower() in search_text(task)


def is_final_status(status: str) -> bool:
    """SUCCESS or FAILURE as shown."""
    return status in (TaskStatus.SUCCESS.value, TaskStatus.FAILURE.value)
