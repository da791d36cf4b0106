"""The task table's side of the columns: colours per theme, widths, Text, and filters.

What each column shows, how it sorts and what it adds to ``--json`` is in
:mod:`siray_tui.core.columns`; this module turns those cells into what the table shows.
A cell is a :data:`~siray_tui.core.columns.CellSpec` (a tuple of ``(text, style)``
pieces) whose theme colours :func:`theme_style` fills in from the current palette: the
table keeps the last spec of every cell and calls ``update_cell`` only when a spec
differs, which is what makes an update (or a switch of theme) touch only the cells that
changed.

Specs become :class:`rich.text.Text` (never markup), so ``[/x]`` or ``[@click=...]`` in a
fail reason is shown literally. No Textual import: cheap to test and to call for 10,000
rows.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable
from typing import Final

from rich.text import Text

from siray_tui.core.columns import COLUMNS, LABEL_SEPARATOR, CellSpec, TaskView, display_status
from siray_tui.core.eta import Estimator
from siray_tui.core.models import TaskStatus, WatchedTask
from siray_tui.core.text import clean_text

RowSpec = tuple[CellSpec, ...]
"""One spec per column, in :data:`~siray_tui.core.columns.COLUMNS` order."""

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

_ETA_STYLES: Final[dict[str, str]] = {"overdue": "yellow", "stalled": "bold red", "slow": "yellow"}
_LIGHT_ETA_STYLES: Final[dict[str, str]] = {
    "overdue": "#8a5300",
    "stalled": "bold #b3261e",
    "slow": "#8a5300",
}

_DARK: Final[dict[str, dict[str, str]]] = {
    "status": STATUS_STYLES,
    "bar": _BAR_STYLES,
    "reason": _REASON_STYLES,
    "eta": _ETA_STYLES,
}
_LIGHT: Final[dict[str, dict[str, str]]] = {
    "status": LIGHT_STATUS_STYLES,
    "bar": _LIGHT_BAR_STYLES,
    "reason": _LIGHT_REASON_STYLES,
    "eta": _LIGHT_ETA_STYLES,
}
_FALLBACK: Final[dict[str, str]] = {
    "status": "UNKNOWN",
    "bar": "other",
    "reason": "error",
    "eta": "overdue",
}
"""The style of a name a group does not know (a status the API invented)."""

_palette: list[dict[str, dict[str, str]]] = [_DARK]
"""The styles in use: the dark palette, or the light one (:func:`use_light_palette`)."""


def use_light_palette(light: bool) -> bool:
    """Pick the status colours for a light or a dark theme; returns whether they changed.

    A module setting rather than an argument: every cell, the summary and the details
    ask for status styles, and one process shows one theme at a time.
    """
    wanted = _LIGHT if light else _DARK
    changed = wanted is not _palette[0]
    _palette[0] = wanted
    return changed


def theme_style(group: str, name: str) -> str:
    """The :data:`~siray_tui.core.columns.Styler` of the table: the current palette's
    style for ``name`` in ``group`` (``status``, ``bar``, ``reason``)."""
    styles = _palette[0][group]
    style = styles.get(name)
    return styles[_FALLBACK[group]] if style is None else style


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

    Columns are dropped in their :attr:`~siray_tui.core.columns.Column.drop` order until
    the task column gets its longest ID (up to :data:`TASK_WANTED`) and the reason its
    minimum. The task column then grows to the longest ID when there is room (IDs are not
    cut), and on to the longest ID and label only while the reason keeps
    :data:`REASON_COMFORT` cells; the reason takes what is left.

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


def status_style(status: str) -> str:
    """The style for a shown status; anything unrecognised is UNKNOWN (magenta)."""
    return theme_style("status", status)


def name_width(task: WatchedTask) -> int:
    """Cells the task cell needs (an upper bound: the label is measured uncleaned)."""
    return len(task.task_id) + (len(LABEL_SEPARATOR) + len(task.label) if task.label else 0)


_CELLS: Final = tuple(column.cells for column in COLUMNS)


def row_spec(
    task: WatchedTask,
    now: float,
    retry_in: float | None = None,
    estimator: Estimator | None = None,
) -> RowSpec:
    """Every cell of a task's row, in :data:`~siray_tui.core.columns.COLUMNS` order, in
    the current palette's colours.

    Args:
        task: the task.
        now: wall-clock Unix seconds, for the live durations and "updated".
        retry_in: seconds until the poller retries after ``last_error``, when known.
        estimator: for the ``eta`` column (``-`` without one).
    """
    view = TaskView.of(task, now, retry_in, theme_style, estimator)
    return tuple([cells(view) for cells in _CELLS])


def cell_text(spec: CellSpec) -> Text:
    """A Text for a cell: literal (never markup), one line, cut with an ellipsis."""
    text = Text(no_wrap=True, overflow="ellipsis", end="")
    for piece, style in spec:
        text.append(piece, style)
    return text


SORT_CYCLE: Final[tuple[str, ...]] = ("added", *(column.key for column in COLUMNS))
"""The order ``s`` steps through."""


# -- filtering -----------------------------------------------------------------------

STATUS_FILTERS: Final[tuple[str, ...]] = ("all", "active", "SUCCESS", "FAILURE", "errors")
"""The order ``f`` steps through: everything, unfinished, done, failed, and problems (poll
errors, not found, statuses the API invented)."""

STALLED_FILTER: Final = "stalled"
"""The status filter of the tasks flagged as stalled (no progress for a while): a flag
that comes and goes with the clock, so the table is told which tasks carry it."""


def split_status_filter(status_filter: str) -> list[str]:
    """The names in a status filter: ``all`` (none), one name, or names joined by commas
    (the picker's choice: a task passes when it matches any of them)."""
    return [] if status_filter == "all" else [n for n in status_filter.split(",") if n]


def join_status_filter(names: Iterable[str]) -> str:
    """The status filter for ``names`` (none: ``all``)."""
    return ",".join(names) or "all"


def matches_status_filter(
    task: WatchedTask, status_filter: str, stalled: Collection[str] = frozenset()
) -> bool:
    """Whether ``task`` passes a status filter (see :func:`split_status_filter`): a
    :data:`STATUS_FILTERS` group, :data:`STALLED_FILTER` (the IDs in ``stalled``) or a
    shown status, or several of them."""
    if status_filter == "all":
        return True
    if "," in status_filter:
        names = split_status_filter(status_filter)
        return any(matches_status_filter(task, n, stalled) for n in names)
    if status_filter == STALLED_FILTER:
        return task.task_id in stalled
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


def matches(
    task: WatchedTask,
    query: str,
    status_filter: str = "all",
    stalled: Collection[str] = frozenset(),
) -> bool:
    """Whether ``task`` passes both the text filter (substring, any case) and the status
    filter (``stalled``: the IDs of the stalled tasks)."""
    if not matches_status_filter(task, status_filter, stalled):
        return False
    return not query or query.lower() in search_text(task)
