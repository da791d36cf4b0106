"""The columns of a task list, each in one place: header, cell, plain text, sort key, JSON.

One :data:`COLUMNS` tuple serves the dashboard's table (its headers, cells and the sort
cycle), the CLI's ``list`` table and the ``--json`` record, so a new column is one
:class:`Column` entry. JSON fields that are no table column (the server's timestamps)
are the short :data:`TIME_FIELDS` list beside it.

Headless on purpose (no Textual, no Rich): a cell is a :data:`CellSpec` of ``(text,
style)`` pieces whose styles are plain strings. Generic ones (``dim``, ``bold``,
``italic``) are used as they are; colours that depend on the theme are asked of a
:data:`Styler` by group and name (``status``/``SUCCESS``, ``bar``/``other``,
``reason``/``fail``, ``eta``/``stalled``), which the UI answers from its palette and
which, by default, answers the name itself (``status.SUCCESS``).

Every string from the server goes through :func:`~siray_tui.core.text.clean_text` (or
``first_line``, which cleans) before it lands in a cell.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from operator import attrgetter
from typing import Final

from siray_tui.core.eta import NO_ETA, SLOW_QUEUE, STALLED, Estimator, EtaInfo
from siray_tui.core.models import TaskState, TaskStatus, Timings, WatchedTask
from siray_tui.core.report import format_ago, format_duration, status_text
from siray_tui.core.text import clean_text, first_line

CellSpec = tuple[tuple[str, str], ...]
"""A cell as ``(text, style)`` pieces: hashable and cheap to compare."""

Styler = Callable[[str, str], str]
"""``(group, name) -> style`` for the colours a theme decides: ``status`` (a shown
status), ``bar`` (a status, or ``other``), ``reason`` (``fail``, ``error``,
``missing``) and ``eta`` (``overdue``, ``stalled``, ``slow``)."""

SortKey = Callable[[WatchedTask, float], tuple[int, object]]
"""``(missing, value)``: ``missing`` is 1 for a task without the value, which always sorts
last, whichever the direction."""

PROGRESS_BAR_CELLS: Final = 8
REASON_LIMIT: Final = 200
LIST_REASON_LIMIT: Final = 80
"""The CLI table's reason is shorter: it shares a terminal line with nine columns."""
LABEL_SEPARATOR: Final = " · "

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


def style_name(group: str, name: str) -> str:
    """The default :data:`Styler`: the style's name, e.g. ``status.SUCCESS``."""
    return f"{group}.{name}"


def display_status(task: WatchedTask) -> str:
    """The status word shown (and filtered on): NOT_FOUND, PENDING, the documented status
    (``success`` is shown as SUCCESS) or, for one the API invented, its own word."""
    state = task.state
    if task.not_found or state is None or state.status is TaskStatus.UNKNOWN:
        return clean_text(status_text(task)) or "UNKNOWN"
    return state.status.value


def task_name(task: WatchedTask) -> str:
    """The label when there is one (it is what the user recognises), else the ID."""
    return clean_text(task.label) or task.task_id


@dataclass(slots=True)
class TaskView:
    """One task at one moment, with what several columns need worked out once per row
    (the timings and the shown status), since a table renders 10,000 of them.

    Attributes:
        task: the task.
        now: wall-clock Unix seconds, for the live durations and "updated".
        state: ``task.state``.
        status: :func:`display_status`.
        timings: the state's timings at ``now`` (None before any answer).
        retry_in: seconds until the poller retries after ``last_error``, when known.
        style: the :data:`Styler` for themed colours.
        eta: the expected finish and stall flag (none without an estimator).
    """

    task: WatchedTask
    now: float
    state: TaskState | None
    status: str
    timings: Timings | None
    retry_in: float | None
    style: Styler
    eta: EtaInfo = NO_ETA

    @classmethod
    def of(
        cls,
        task: WatchedTask,
        now: float,
        retry_in: float | None = None,
        style: Styler = style_name,
        estimator: Estimator | None = None,
    ) -> TaskView:
        """The view of ``task`` at ``now`` (see the attributes)."""
        state = task.state
        timings = state.timings(now) if state else None
        eta = NO_ETA if estimator is None else estimator.info(task, now)
        return cls(task, now, state, display_status(task), timings, retry_in, style, eta)


@dataclass(frozen=True, slots=True)
class Field:
    """One field of the ``--json`` record.

    Attributes:
        name: the JSON name (the README documents them).
        value: the value, JSON-ready: numbers, strings (cleaned), lists, None.
    """

    name: str
    value: Callable[[TaskView], object]


@dataclass(frozen=True, slots=True)
class Column:
    """One column of every task list: the dashboard's table, ``list`` and ``--json``.

    Attributes:
        key: the column key (the DataTable's, and the sort's).
        header: the dashboard's header; the CLI shows it in capitals.
        width: fixed content width in the dashboard: fixed widths spare DataTable from
            re-measuring a whole column when one cell gets narrower.
        cells: the dashboard cell.
        plain: the CLI ``list`` cell (one line, cleaned).
        sort_key: orders tasks by this column (on values, not on their text).
        fields: what the column contributes to the ``--json`` record.
        live: whether the cell changes with the clock for an unfinished task.
        drop: in a narrow terminal, columns go in this order (1 first); None: never
            (the task and its reason are what the table is for).
        sort_with: for a column whose order needs the estimator (``eta``): the sort key
            given one; :attr:`sort_key` is the order without one.
    """

    key: str
    header: str
    width: int
    cells: Callable[[TaskView], CellSpec]
    plain: Callable[[TaskView], str]
    sort_key: SortKey
    fields: tuple[Field, ...]
    live: bool = False
    drop: int | None = None
    sort_with: Callable[[Estimator], SortKey] | None = None


# -- cells ---------------------------------------------------------------------------


def task_spec(view: TaskView) -> CellSpec:
    """The task cell: the ID, then the label. The ID comes first because it is unique:
    three tasks labelled ``foxes`` are three different rows even when the cell is cut."""
    task = view.task
    label = clean_text(task.label)
    if not label:
        return ((task.task_id, ""),)
    return ((task.task_id, ""), (LABEL_SEPARATOR + label, "italic"))


def progress_spec(status: str, progress: int | None, style: Styler = style_name) -> CellSpec:
    """``████░░░░  45%``: the bar in the status colour, the rest dim; ``-`` when unknown."""
    if progress is None:
        return (("-", "dim"),)
    filled = round(PROGRESS_BAR_CELLS * progress / 100)
    return (
        ("█" * filled, style("bar", status)),
        ("░" * (PROGRESS_BAR_CELLS - filled), "dim"),
        (f" {progress:>3}%", ""),
    )


def reason_text(
    task: WatchedTask, retry_in: float | None = None, style: Styler = style_name
) -> tuple[str, str]:
    """The reason column: a final task's fail reason, else the poll error (and when it
    retries), else "not found".

    A final state is not polled again, so a poll error that came after it (a refresh, or
    ``siray-tui status`` meeting a 500) would otherwise hide the real reason for good; the
    error stays in the details and the summary.

    Args:
        task: the task.
        retry_in: seconds until the poller retries after ``last_error``, when known.
        style: the :data:`Styler`.

    Returns:
        The text (one line, cleaned, cut) and its style.
    """
    state = task.state
    if state is not None and state.status.is_final and state.fail_reason:
        return first_line(state.fail_reason, REASON_LIMIT), style("reason", "fail")
    if task.last_error:
        text = first_line(task.last_error, REASON_LIMIT)
        if retry_in is not None:
            text = f"{text} · retry in {format_duration(max(0.0, retry_in))}"
        return text, style("reason", "error")
    if task.not_found:
        return "not found at any endpoint", style("reason", "missing")
    if state is not None and state.fail_reason:
        return first_line(state.fail_reason, REASON_LIMIT), style("reason", "fail")
    return "", ""


def count_text(count: int) -> str:
    """A count in the 4 cells of the ``out`` column: ``5000`` in full, ``12k`` past 9999."""
    if count < 10_000:
        return str(count)
    if count < 1_000_000:
        return f"{count // 1000}k"
    return f"{min(count // 1_000_000, 999)}M"


def _kind_cells(view: TaskView) -> CellSpec:
    kind = view.task.kind.value
    return ((kind, "dim" if kind == "auto" else ""),)


def _status_cells(view: TaskView) -> CellSpec:
    return ((view.status, view.style("status", view.status)),)


def _progress_cells(view: TaskView) -> CellSpec:
    return progress_spec(view.status, view.state.progress if view.state else None, view.style)


def _outputs_cells(view: TaskView) -> CellSpec:
    outputs = view.state.output_count if view.state else 0
    return ((count_text(outputs), "") if outputs else ("-", "dim"),)


def _reason_cells(view: TaskView) -> CellSpec:
    return (reason_text(view.task, view.retry_in, view.style),)


# -- the expected finish ---------------------------------------------------------------


def format_eta(seconds: float | None) -> str:
    """``~35s`` to go, ``+12s`` overdue, ``-`` when unknown."""
    if seconds is None:
        return "-"
    if seconds < 0:
        return f"+{format_duration(-seconds)}"
    return f"~{format_duration(seconds)}"


_FLAG_STYLES: Final = {STALLED: "stalled", SLOW_QUEUE: "slow"}
STALL_MARK: Final = "!"
"""Before the ETA of a stalled task (or one stuck in a slow queue): ASCII, one cell in
every terminal, unlike the warning signs."""


def _eta_cells(view: TaskView) -> CellSpec:
    seconds, flag = view.eta.seconds, view.eta.flag
    if seconds is None:
        text, style = ("-", "dim") if flag is None else (flag, "")
    elif seconds < 0:
        text, style = format_eta(seconds), view.style("eta", "overdue")
    else:
        text, style = format_eta(seconds), ""
    if flag is None:
        return ((text, style),)
    flagged = view.style("eta", _FLAG_STYLES[flag])
    return ((STALL_MARK + " ", flagged), (text, flagged if seconds is None else style))


def _plain_eta(view: TaskView) -> str:
    text = format_eta(view.eta.seconds)
    return text if view.eta.flag is None else f"{text} {view.eta.flag}"


def _eta_sort(estimator: Estimator) -> SortKey:
    """Soonest first (the most overdue at the top), unknown last."""
    return lambda task, now: _value(estimator.eta_seconds(task, now))


def _model_cells(view: TaskView) -> CellSpec:
    model = view.task.model
    # the part after the vendor's slash tells models apart in a narrow cell
    return ((model.rsplit("/", 1)[-1], "") if model else ("-", "dim"),)


REQUEST_FIELDS: Final[tuple[Field, ...]] = (Field("model", lambda view: view.task.model),)
"""The ``--json`` fields from the stored request (null for a task added by ID); the
``model`` column brings them."""


# -- plain text (the CLI table) ------------------------------------------------------


def _plain_name(view: TaskView) -> str:
    task = view.task
    return task.task_id if not task.label else f"{task.label} ({task.task_id})"


def _plain_progress(view: TaskView) -> str:
    progress = view.state.progress if view.state else None
    return "-" if progress is None else f"{progress}%"


def _plain_reason(view: TaskView) -> str:
    reason = view.task.last_error or (view.state.fail_reason if view.state else "")
    return first_line(reason, LIST_REASON_LIMIT)


# -- sort keys -----------------------------------------------------------------------


def _value(value: object) -> tuple[int, object]:
    return (1, 0) if value is None else (0, value)


def _status_rank(task: WatchedTask, now: float) -> tuple[int, object]:
    status = display_status(task)
    rank = STATUS_ORDER.index(status) if status in STATUS_ORDER else STATUS_ORDER.index("UNKNOWN")
    return (0, (rank, status))


def _reason_key(task: WatchedTask, now: float) -> tuple[int, object]:
    text = reason_text(task)[0]
    return _value(text.lower() or None)


# -- durations: a cell, a plain text, a sort key and a field from one name ----------


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 3)


def _duration_column(key: str, *, bold: bool = False, drop: int) -> Column:
    """The ``queue``, ``run`` or ``total`` column (``Timings`` has the same names)."""

    phase = attrgetter(key)
    style = "bold" if bold else ""

    def seconds(view: TaskView) -> float | None:
        timings = view.timings
        return None if timings is None else phase(timings)

    def cells(view: TaskView) -> CellSpec:
        timings = view.timings
        if timings is None:
            return (("-", ""),)
        return ((format_duration(phase(timings)), style),)

    def sort_key(task: WatchedTask, now: float) -> tuple[int, object]:
        if task.state is None:
            return _value(None)
        return _value(getattr(task.state.timings(now), key))

    return Column(
        key,
        key,
        7,
        cells=cells,
        plain=lambda view: format_duration(seconds(view)),
        sort_key=sort_key,
        fields=(Field(f"{key}_seconds", lambda view: _round(seconds(view))),),
        live=True,
        drop=drop,
    )


COLUMNS: Final[tuple[Column, ...]] = (
    Column(
        "task",
        "task",
        26,
        cells=task_spec,
        plain=_plain_name,
        sort_key=lambda task, now: (0, (task_name(task).lower(), task.task_id)),
        fields=(
            Field("task_id", lambda view: view.task.task_id),
            Field("label", lambda view: view.task.label),
        ),
    ),
    Column(
        "kind",
        "kind",
        5,
        cells=_kind_cells,
        plain=lambda view: view.task.kind.value,
        sort_key=lambda task, now: (0, task.kind.value),
        fields=(Field("kind", lambda view: view.task.kind.value),),
        drop=4,
    ),
    Column(
        "model",
        "model",
        18,
        cells=_model_cells,
        plain=lambda view: view.task.model or "-",
        sort_key=lambda task, now: _value(task.model),
        fields=REQUEST_FIELDS,
        drop=1,  # ties with "out" and goes first (earlier in the list): a nice-to-have
    ),
    Column(
        "status",
        "status",
        11,
        cells=_status_cells,
        plain=lambda view: status_text(view.task),
        sort_key=_status_rank,
        fields=(Field("status", lambda view: status_text(view.task)),),
        drop=8,
    ),
    Column(
        "progress",
        "progress",
        PROGRESS_BAR_CELLS + 5,
        cells=_progress_cells,
        plain=_plain_progress,
        sort_key=lambda task, now: _value(task.state.progress if task.state else None),
        fields=(Field("progress", lambda view: view.state.progress if view.state else None),),
        drop=6,
    ),
    _duration_column("queue", drop=2),
    _duration_column("run", drop=3),
    _duration_column("total", bold=True, drop=7),
    Column(
        "eta",
        "eta",
        9,
        cells=_eta_cells,
        plain=_plain_eta,
        sort_key=lambda task, now: _value(None),
        fields=(
            Field("eta_seconds", lambda view: _round(view.eta.seconds)),
            Field("stalled", lambda view: view.eta.stalled),
        ),
        live=True,
        drop=6,  # after "updated" and "progress" (same rank, later column): kept long
        sort_with=_eta_sort,
    ),
    Column(
        "outputs",
        "out",
        4,
        cells=_outputs_cells,
        plain=lambda view: str(len(view.state.outputs)) if view.state else "0",
        sort_key=lambda task, now: (0, task.state.output_count if task.state else 0),
        fields=(
            Field(
                "outputs",
                lambda view: [clean_text(url) for url in view.state.outputs] if view.state else [],
            ),
        ),
        drop=1,
    ),
    Column(
        "updated",
        "updated",
        11,
        cells=lambda view: ((format_ago(view.task.last_polled_at, view.now), "dim"),),
        plain=lambda view: format_ago(view.task.last_polled_at, view.now),
        # the freshest first
        sort_key=lambda task, now: _value(
            -task.last_polled_at if task.last_polled_at is not None else None
        ),
        fields=(Field("last_polled_at", lambda view: view.task.last_polled_at),),
        live=True,
        drop=5,
    ),
    Column(
        "reason",
        "reason",
        40,
        cells=_reason_cells,
        plain=_plain_reason,
        sort_key=_reason_key,
        fields=(
            Field("fail_reason", lambda view: view.state.fail_reason if view.state else ""),
            Field("error", lambda view: view.task.last_error),
        ),
    ),
)
"""Every column, in the dashboard's (and ``list``'s) order."""

TIME_FIELDS: Final[tuple[Field, ...]] = (
    Field("submit_time", lambda view: view.state.submit_time if view.state else None),
    Field("start_time", lambda view: view.state.start_time if view.state else None),
    Field("finish_time", lambda view: view.state.finish_time if view.state else None),
)
"""The ``--json`` fields that are no column: the server's own timestamps."""


DOCUMENTED_ORDER: Final[tuple[str, ...]] = (
    "task_id",
    "kind",
    "label",
    "model",
    "status",
    "progress",
    "outputs",
    "fail_reason",
    "submit_time",
    "start_time",
    "finish_time",
    "queue_seconds",
    "run_seconds",
    "total_seconds",
    "eta_seconds",
    "stalled",
    "last_polled_at",
    "error",
)
"""The order of the ``--json`` fields the README documents: scripts may rely on it. A
field a new column brings goes after these, in column order."""


def _record_order(fields: list[Field]) -> tuple[Field, ...]:
    rank = {name: index for index, name in enumerate(DOCUMENTED_ORDER)}
    return tuple(sorted(fields, key=lambda field: rank.get(field.name, len(rank))))


RECORD_FIELDS: Final[tuple[Field, ...]] = _record_order(
    [*(field for column in COLUMNS for field in column.fields), *TIME_FIELDS]
)
"""Every ``--json`` field, in record order."""

JSON_FIELDS: Final[tuple[str, ...]] = tuple(field.name for field in RECORD_FIELDS)

SORT_KEYS: Final[dict[str, SortKey]] = {
    "added": lambda task, now: (0, task.added_at),
    **{column.key: column.sort_key for column in COLUMNS},
}
"""Sort keys by column key, plus ``added`` (watchlist order, the default).

Durations sort on the numbers, not on their text; "updated" puts the freshest first;
empty values go last whatever the column and direction.
"""


_SORT_WITH: Final[dict[str, Callable[[Estimator], SortKey]]] = {
    column.key: column.sort_with for column in COLUMNS if column.sort_with is not None
}


def sort_key_for(column: str, estimator: Estimator | None = None) -> SortKey:
    """The sort key of ``column`` (see :data:`SORT_KEYS`), with the estimator for the
    columns that need one."""
    with_estimator = _SORT_WITH.get(column)
    if with_estimator is not None and estimator is not None:
        return with_estimator(estimator)
    return SORT_KEYS[column]


def sort_ids(
    ids: list[str],
    tasks: dict[str, WatchedTask],
    column: str,
    reverse: bool,
    now: float,
    estimator: Estimator | None = None,
) -> list[str]:
    """``ids`` in the order of ``column``, tasks without a value last either way."""
    key = sort_key_for(column, estimator)
    keyed = [(key(tasks[i], now), i) for i in ids]
    present = [(k[1], i) for k, i in keyed if k[0] == 0]
    missing = [i for k, i in keyed if k[0] != 0]
    present.sort(key=lambda pair: pair[0], reverse=reverse)  # type: ignore[arg-type,return-value]
    return [i for _, i in present] + missing


def task_record(
    task: WatchedTask, now: float, estimator: Estimator | None = None
) -> dict[str, object]:
    """The ``--json`` object for one task: :data:`JSON_FIELDS`, in that order.

    ``progress`` is an int 0-100 or null, durations are numbers (seconds) or null, and
    every string from the server is already cleaned of control characters.
    ``eta_seconds`` and ``stalled`` come from ``estimator`` (null and false without one).
    """
    view = TaskView.of(task, now, estimator=estimator)
    return {field.name: field.value(view) for field in RECORD_FIELDS}
