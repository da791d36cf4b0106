"""The watchlist file's format: entries to tasks and back, fast.

A 10,000-task watchlist is about 6 MB of JSON, and every change re-reads it, so:

* ``WatchedTask.from_json`` / ``to_json`` cost 25-60 µs per task (isinstance chains,
  regexes, frozen-dataclass set-up), so this module has its own decoder and encoder.
  They produce exactly the same tasks (a property test holds :func:`decode_task` to
  ``from_json``) and fall back to the models' own code for anything unusual. Status
  histories are written as ``[status, seen_at]`` pairs, which parse about a fifth faster
  than objects; ``{"status", "seen_at"}`` objects (``to_json``'s form) are read too.
* The file holds one compact entry per line (no ``indent``: it makes the json module
  drop from its C encoder to pure Python, six times slower). A mutation splits the file
  into its entries' texts (each still parsed on its own) and writes every entry whose
  task did not change back as the very text it read: only changed tasks are encoded.
* The store keeps the file its last mutation read or wrote, decoded, and reuses it only
  while the file's bytes are exactly equal to it (a full comparison, no timestamps or
  inode numbers, so it can never be stale). Callers always get copies of its tasks. So

The layout is ``{"version":1,"tasks":[`` and a newline, one entry per line joined by
``",\n"``, then ``"\n]}"``. Any other valid JSON document of the same shape is read too
(slower, through ``json.loads``); :class:`~siray_tui.core.store.WatchlistStore` decides
what to do with a file that is not usable.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import json.scanner
import re
import types
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from siray_tui.core import gcpolicy, limits
from siray_tui.core.errors import PayloadError, StoreError
from siray_tui.core.models import (
    OUTPUTS_DROPPED_KEY,
    SURROGATE_ESCAPE,
    StatusChange,
    TaskKind,
    TaskRequest,
    TaskState,
    TaskStatus,
    WatchedTask,
    bounded_raw,
    cap_outputs,
    cap_text,
    parse_progress,
    parse_timestamp,
    validate_task_id,
)
from siray_tui.core.text import clean_text
from siray_tui.core.watchlist import Watchlist

__all__ = [
    "EMPTY",
    "ENCODER",
    "WATCHLIST_VERSION",
    "Parsed",
    "Row",
    "decode_entries",
    "decode_lines",
    "decode_task",
    "encode_task",
    "file_bytes",
    "peek_tasks",
    "plan_write",
    "split_lines",
]

WATCHLIST_VERSION = 1
"""The format this code writes; files with a higher version are refused, never rewritten."""

_PEEK_HEAD = re.compile(r'\s*\{\s*"version"\s*:\s*1\s*,\s*"tasks"\s*:\s*\[')
_PEEK_GAP = re.compile(r"[\s,]*")


@dataclass(frozen=True, slots=True)
class Row:
    """One task as read from (or written to) the file.

    Attributes:
        task: the decoded task. Cached rows are pristine: never handed out (callers get
            copies), never modified.
        fingerprint: every field of ``task`` but the state (see :func:`_fingerprint`);
            empty when it was not computed (a plain load).
        text: the entry's exact JSON text in the file, or None when the file was not
            written in this module's one-entry-per-line layout.
        entry: the parsed entry when ``text`` is None (written back as it was).
    """

    task: WatchedTask
    fingerprint: tuple[object, ...]
    text: str | None
    entry: object = None


@dataclass(frozen=True, slots=True)
class Parsed:
    """A decoded file: its bytes, its usable tasks in order, and what was skipped."""

    data: bytes
    rows: dict[str, Row]
    skipped: list[str]

    def watchlist(self, *, copy: bool = True) -> Watchlist:
        """The tasks as a Watchlist: copies unless the rows are not kept anywhere."""
        watchlist = Watchlist()
        rows = self.rows
        if not copy:
            watchlist.tasks = {task_id: row.task for task_id, row in rows.items()}
            return watchlist
        with gcpolicy.building():
            watchlist.tasks = {task_id: row.task.copy() for task_id, row in rows.items()}
        return watchlist


EMPTY = Parsed(b"", {}, [])


def _fingerprint(task: WatchedTask) -> tuple[object, ...]:
    # state is compared by identity separately: TaskState equality ignores ``raw``.
    return (
        task.task_id,
        task.kind,
        task.label,
        task.added_at,
        task.last_polled_at,
        task.last_error,
        task.not_found,
        tuple(task.history),
        task.request,
    )


def plan_write(parsed: Parsed, watchlist: Watchlist) -> tuple[list[str], dict[str, Row]] | None:
    """The entry texts to save after a mutation and the rows they make, or None.

    A task whose fingerprint and state are those of its row is written back as the
    row's text, byte for byte; only changed and new tasks are encoded. None means
    nothing changed (same tasks, same order, same contents): no write at all.
    """
    tasks = watchlist.tasks
    rows = parsed.rows
    changed = len(tasks) != len(rows) or list(tasks) != list(rows)
    texts: list[str] = []
    new_rows: dict[str, Row] = {}
    for task_id, task in tasks.items():
        if task.task_id != task_id:
            raise StoreError(f"task {task.task_id!r} was filed under {task_id!r}")
        row = rows.get(task_id)
        if row is not None and row.task is task and row.text is not None:
            texts.append(row.text)  # the row's own task, untouched
            new_rows[task_id] = row
            continue
        fingerprint = _fingerprint(task)
        if row is not None and row.task.state is task.state and row.fingerprint == fingerprint:
            text = row.text
            if text is None:  # read from a file in another layout: re-serialise as read
                text = ENCODER.encode(row.entry)
                row = Row(row.task, row.fingerprint, text)
        else:
            if row is None:
                validate_task_id(task_id)
            changed = True
            text = ENCODER.encode(encode_task(task))
            row = Row(task.copy(), fingerprint, text)
        texts.append(text)
        new_rows[task_id] = row
    return (texts, new_rows) if changed else None


# -- fast decoding and encoding ----------------------------------------------------------

ENCODER = json.JSONEncoder(separators=(",", ":"), check_circular=False)
_KIND_BY_TEXT = {kind.value: kind for kind in TaskKind}
_STATUS_BY_TEXT = {status.value: status for status in TaskStatus}
_MILLISECONDS_THRESHOLD = 100_000_000_000  # as in models.parse_timestamp
# An entry text this short holds a data object whose compact JSON is within MAX_RAW_JSON:
# encoding again grows a text at most 4.5 times (the number 1e15 comes back as
# 1000000000000000.0), so the data object needs no bounded_raw walk.
_SMALL_ENTRY = limits.MAX_RAW_JSON // 5

_Setter = Callable[[Any, Any], None]


def _slot_setters(cls: type, names: tuple[str, ...]) -> tuple[_Setter, ...] | None:
    """The slot setters of dataclass ``cls``, if its fields are exactly ``names``.

    A frozen dataclass's ``__init__`` sets each field through ``object.__setattr__``
    (4 µs for TaskState); filling the slots directly costs a quarter of that. This is
    only done while the class is a plain slotted dataclass with exactly these fields and
    no ``__post_init__``; otherwise (models.py changed) the normal constructor is used.
    """
    if not dataclasses.is_dataclass(cls) or hasattr(cls, "__post_init__"):
        return None
    if tuple(item.name for item in dataclasses.fields(cls)) != names:
        return None
    slots = [cls.__dict__.get(name) for name in names]
    if not all(isinstance(slot, types.MemberDescriptorType) for slot in slots):
        return None
    return tuple(slot.__set__ for slot in slots)  # type: ignore[union-attr]


_STATE_FIELDS = (
    "task_id",
    "status",
    "raw_status",
    "progress",
    "outputs",
    "fail_reason",
    "message",
    "submit_time",
    "start_time",
    "finish_time",
    "action",
    "outputs_more",
    "raw",
)
_CHANGE_FIELDS = ("status", "seen_at")
_TASK_FIELDS = (
    "task_id",
    "kind",
    "label",
    "added_at",
    "state",
    "last_polled_at",
    "last_error",
    "not_found",
    "history",
    "request",
)
_STATE_SETTERS = _slot_setters(TaskState, _STATE_FIELDS)
_CHANGE_SETTERS = _slot_setters(StatusChange, _CHANGE_FIELDS)
_TASK_SETTERS = _slot_setters(WatchedTask, _TASK_FIELDS)


def _new_state(
    task_id: str,
    status: TaskStatus,
    raw_status: str,
    progress: int | None,
    outputs: tuple[str, ...],
    fail_reason: str,
    message: str,
    submit_time: float | None,
    start_time: float | None,
    finish_time: float | None,
    action: str | None,
    outputs_more: int,
    raw: dict[str, Any],
) -> TaskState:
    """``TaskState(...)``, filling the slots directly when allowed (see above)."""
    setters = _STATE_SETTERS
    if setters is None:
        return TaskState(
            task_id,
            status,
            raw_status,
            progress,
            outputs,
            fail_reason,
            message,
            submit_time,
            start_time,
            finish_time,
            action,
            outputs_more,
            raw,
        )
    made = object.__new__(TaskState)
    s0, s1, s2, s3, s4, s5, s6, s7, s8, s9, s10, s11, s12 = setters
    s0(made, task_id)
    s1(made, status)
    s2(made, raw_status)
    s3(made, progress)
    s4(made, outputs)
    s5(made, fail_reason)
    s6(made, message)
    s7(made, submit_time)
    s8(made, start_time)
    s9(made, finish_time)
    s10(made, action)
    s11(made, outputs_more)
    s12(made, raw)
    return made


def _new_task(
    task_id: str,
    kind: TaskKind,
    label: str,
    added_at: float,
    state: TaskState | None,
    last_polled_at: float | None,
    last_error: str | None,
    not_found: bool,
    history: list[StatusChange],
    request: TaskRequest | None,
) -> WatchedTask:
    """``WatchedTask(...)``, filling the slots directly when allowed (see above)."""
    setters = _TASK_SETTERS
    if setters is None:
        return WatchedTask(
            task_id,
            kind,
            label,
            added_at,
            state,
            last_polled_at,
            last_error,
            not_found,
            history,
            request,
        )
    made = object.__new__(WatchedTask)
    s0, s1, s2, s3, s4, s5, s6, s7, s8, s9 = setters
    s0(made, task_id)
    s1(made, kind)
    s2(made, label)
    s3(made, added_at)
    s4(made, state)
    s5(made, last_polled_at)
    s6(made, last_error)
    s7(made, not_found)
    s8(made, history)
    s9(made, request)
    return made


def _clean(text: object, limit: int) -> str:
    """``clean_text(text)[:limit]``; printable ASCII, which it would not change, skips it."""
    if type(text) is str and text.isascii() and text.isprintable():
        return text[:limit]
    if type(text) is str:
        text = text[:limit]  # cleaning only shortens: no need to clean what is cut off
    return clean_text(text)[:limit]


def _timestamp(value: object) -> float | None:
    """``models.parse_timestamp``, with the common case (a plain positive number) first."""
    if (type(value) is float or type(value) is int) and 0 < value < _MILLISECONDS_THRESHOLD:
        return float(value)
    return parse_timestamp(value)


_progress_of_text = functools.lru_cache(maxsize=1024)(parse_progress)


def _raw_fits(text: str | None) -> bool:
    """Whether an entry's text shows its data object can be kept as parsed.

    That is, small enough and without a lone surrogate (as ``\\udXXX``; a false alarm
    only costs the check). Else ``bounded_raw`` must cut or clean it, as ``from_payload``
    does: a hand-edited or old file is no more trusted than an answer.
    """
    if text is None or len(text) > _SMALL_ENTRY:
        return False
    return "\\u" not in text or SURROGATE_ESCAPE.search(text) is None


def _decode_state(
    data: dict[str, Any], message: object, task_id: str, raw_fits: bool
) -> TaskState | None:
    """What ``TaskState.from_payload`` makes of a stored state, None where it fails.

    Args:
        raw_fits: the data object is known to need no ``bounded_raw`` (see _raw_fits).
    """
    get = data.get
    raw_status = get("status")
    status_text: str
    if type(raw_status) is str and raw_status in _STATUS_BY_TEXT:
        status_text = raw_status
        status = _STATUS_BY_TEXT[raw_status]
    else:
        if raw_status is None or isinstance(raw_status, dict | list) or raw_status == "":
            return None
        status_text = _clean(str(raw_status), limits.MAX_STATUS)  # cut, then clean
        status = TaskStatus.parse(status_text)
    raw_progress = get("progress")
    if type(raw_progress) is str:
        progress = _progress_of_text(raw_progress)
    else:
        progress = parse_progress(raw_progress)
    if progress is None and status is TaskStatus.SUCCESS:
        progress = 100
    raw_outputs = get("outputs")
    outputs: tuple[str, ...]
    outputs_more = 0
    capped = False  # a field was cut: the stored data object is cut down to match
    dropped = get(OUTPUTS_DROPPED_KEY)
    if type(raw_outputs) is list and len(raw_outputs) <= limits.MAX_OUTPUTS and dropped is None:
        outputs = tuple([item for item in raw_outputs if type(item) is str and item])
    elif type(raw_outputs) is str and dropped is None:
        outputs = (raw_outputs,) if raw_outputs else ()
    else:
        outputs, outputs_more = cap_outputs(raw_outputs, dropped)
        capped = type(raw_outputs) is list and len(raw_outputs) > limits.MAX_OUTPUTS
    fail_reason = get("fail_reason") or ""
    if (
        type(fail_reason) is not str
        or len(fail_reason) > limits.MAX_FAIL_REASON
        or not (fail_reason.isascii() and fail_reason.isprintable())
    ):
        capped = capped or (type(fail_reason) is str and len(fail_reason) > limits.MAX_FAIL_REASON)
        fail_reason = cap_text(fail_reason, limits.MAX_FAIL_REASON, multiline=True)
    message = message or ""
    if (
        type(message) is not str
        or len(message) > limits.MAX_MESSAGE
        or not (message.isascii() and message.isprintable())
    ):
        message = cap_text(message, limits.MAX_MESSAGE)
    action = get("action")
    action = _clean(action, limits.MAX_STATUS) if type(action) is str else None
    threshold = _MILLISECONDS_THRESHOLD
    submit_time = get("submit_time")
    if not (
        (type(submit_time) is int or type(submit_time) is float) and 0 < submit_time < threshold
    ):
        submit_time = parse_timestamp(submit_time)
    start_time = get("start_time")
    if not ((type(start_time) is int or type(start_time) is float) and 0 < start_time < threshold):
        start_time = parse_timestamp(start_time)
    finish_time = get("finish_time")
    if not (
        (type(finish_time) is int or type(finish_time) is float) and 0 < finish_time < threshold
    ):
        finish_time = parse_timestamp(finish_time)
    state = _new_state(
        task_id,
        status,
        status_text,
        progress,
        outputs,
        fail_reason,
        message,
        None if submit_time is None else float(submit_time),
        None if start_time is None else float(start_time),
        None if finish_time is None else float(finish_time),
        action,
        outputs_more,
        # Fresh from the parser and kept nowhere else, except as the entry of a file in
        # another layout, which is only ever serialised again: no copy needed.
        data,
    )
    if capped or not raw_fits:  # e.g. written by a version without caps
        object.__setattr__(state, "raw", bounded_raw(data, state))
    return state


def decode_task(entry: object, text: str | None = None) -> WatchedTask:
    """``WatchedTask.from_json(entry)`` for an entry decoded from JSON, only faster.

    Anything unusual (not an object, a bad ID or kind) is handed to ``from_json`` itself,
    so errors and edge cases behave exactly as there.

    Args:
        entry: the parsed entry.
        text: the entry's JSON text, when known: a short one spares the stored data
            object the size and surrogate check (a JSON encoding of it).

    Raises:
        PayloadError: the entry is not a usable task (from ``from_json``).
    """
    if type(entry) is not dict:
        return WatchedTask.from_json(entry)
    get = entry.get
    task_id = get("task_id")
    kind_text = get("kind", "auto")
    kind = _KIND_BY_TEXT.get(kind_text) if type(kind_text) is str else None
    if type(task_id) is not str or kind is None:
        return WatchedTask.from_json(entry)  # raises the PayloadError that says why
    try:
        validate_task_id(task_id)
    except ValueError:
        return WatchedTask.from_json(entry)
    state: TaskState | None = None
    stored = get("state")
    if type(stored) is dict:
        data = stored.get("data")
        if type(data) is dict:
            state = _decode_state(data, stored.get("message"), task_id, _raw_fits(text))
    history: list[StatusChange] = []
    raw_history = get("history")
    if type(raw_history) is list:
        append = history.append
        known = _STATUS_BY_TEXT
        threshold = _MILLISECONDS_THRESHOLD
        setters = _CHANGE_SETTERS
        new = object.__new__
        for item in raw_history:
            # [status, seen_at] as this module writes it, or to_json's {"status", "seen_at"}
            if type(item) is list:
                if len(item) != 2:
                    continue
                status, seen = item
            elif type(item) is dict:
                status = item.get("status")
                seen = item.get("seen_at")
            else:
                continue
            if type(status) is not str:
                continue
            if (type(seen) is float or type(seen) is int) and 0 < seen < threshold:
                seen = float(seen)
            else:
                seen = parse_timestamp(seen) or 0.0
            if status not in known:
                if not (status.isascii() and status.isprintable()):
                    status = clean_text(status)
                status = status[: limits.MAX_STATUS]
            if setters is None:
                append(StatusChange(status, seen))
            else:
                change = new(StatusChange)
                setters[0](change, status)
                setters[1](change, seen)
                append(change)
    label = get("label")
    last_error = get("last_error")
    stored_request = get("request")
    added_at = get("added_at")
    if not (
        (type(added_at) is float or type(added_at) is int)
        and 0 < added_at < _MILLISECONDS_THRESHOLD
    ):
        added_at = parse_timestamp(added_at) or 0.0
    last_polled_at = get("last_polled_at")
    if not (type(last_polled_at) is float and 0 < last_polled_at < _MILLISECONDS_THRESHOLD):
        last_polled_at = _timestamp(last_polled_at)
    return _new_task(
        task_id,
        kind,
        _clean(label, limits.MAX_LABEL) if type(label) is str else "",
        float(added_at),
        state,
        last_polled_at,
        _clean(last_error, limits.MAX_ERROR) if type(last_error) is str else None,
        get("not_found") is True,
        history,
        None if stored_request is None else TaskRequest.from_json(stored_request),
    )


_HEADER = f'{{"version":{WATCHLIST_VERSION},"tasks":[\n'
_FOOTER = "\n]}\n"
_EMPTY_DOCUMENT = f'{{"version":{WATCHLIST_VERSION},"tasks":[]}}\n'
# typeshed types the C scanner as taking itself; it takes the decoder whose settings it uses.
_SCAN = json.scanner.make_scanner(json.JSONDecoder())  # type: ignore[arg-type]


def split_lines(data: bytes) -> list[str] | None:
    """The entry texts of a file in this module's layout, or None for any other file.

    Splitting on ``",\n"`` is exact for files this module wrote (a JSON string never
    holds a raw newline, and the compact encoder puts none between tokens); every piece
    is still parsed on its own, so a file that only looks like ours falls back safely.
    """
    if not data.startswith(_HEADER.encode()) or not data.endswith(_FOOTER.encode()):
        return [] if data == _EMPTY_DOCUMENT.encode() else None
    try:
        text = data.decode("ascii")
    except UnicodeDecodeError:
        return None
    return text[len(_HEADER) : -len(_FOOTER)].split(",\n")


def decode_lines(data: bytes, lines: list[str], *, for_change: bool) -> Parsed | None:
    """Decode one entry per line, keeping each line's text; None if a line is not one."""
    entries: list[object] = []
    append = entries.append
    scan = _SCAN
    for line in lines:
        try:
            entry, end = scan(line, 0)
        except (StopIteration, ValueError, RecursionError):
            return None
        if end != len(line):
            return None
        append(entry)
    return decode_entries(data, entries, for_change=for_change, texts=lines)


def decode_entries(
    data: bytes, entries: list[Any], *, for_change: bool, texts: list[str] | None = None
) -> Parsed:
    """Decode every entry; unusable ones and repeated IDs are skipped with a reason."""
    rows: dict[str, Row] = {}
    skipped: list[str] = []
    for index, entry in enumerate(entries):
        try:
            task = decode_task(entry, None if texts is None else texts[index])
        except (PayloadError, ArithmeticError) as exc:
            # ArithmeticError: models.parse_timestamp overflows on a huge integer.
            skipped.append(f"entry {index}: {exc}")
            continue
        task_id = task.task_id
        if task_id in rows:
            skipped.append(f"entry {index}: duplicate task {task_id!r}")
            continue
        rows[task_id] = Row(
            task,
            _fingerprint(task) if for_change else (),
            texts[index] if texts is not None else None,
            None if texts is not None else entry,
        )
    return Parsed(data, rows, skipped)


def encode_task(task: WatchedTask) -> dict[str, Any]:
    """``task.to_json()``, only faster (the same dict, key for key)."""
    state = task.state
    stored_state: dict[str, Any] | None = None
    if state is not None:
        raw = state.raw
        stored_state = {
            "data": raw if type(raw) is dict else dict(raw),
            "message": state.message,
        }
    return {
        "task_id": task.task_id,
        "kind": task.kind.value,
        "label": task.label,
        "added_at": task.added_at,
        "last_polled_at": task.last_polled_at,
        "last_error": task.last_error,
        "not_found": task.not_found,
        "state": stored_state,
        "history": [[change.status, change.seen_at] for change in task.history],
        **({"request": task.request.to_json()} if task.request else {}),
    }


# -- the file as a whole -----------------------------------------------------------------


def file_bytes(texts: list[str]) -> bytes:
    """The whole file for these entry texts, one entry per line."""
    if not texts:
        return _EMPTY_DOCUMENT.encode("ascii")
    return (_HEADER + ",\n".join(texts) + _FOOTER).encode("ascii")


def peek_tasks(text: str, limit: int) -> list[WatchedTask]:
    """Up to ``limit`` tasks from the start of a file's text, without parsing the rest.

    Best effort by design: anything unexpected (another version, a damaged entry)
    returns what was decoded so far, or nothing.
    """
    head = _PEEK_HEAD.match(text)
    if head is None:
        return []
    decoder = json.JSONDecoder()
    position = head.end()
    tasks: list[WatchedTask] = []
    while len(tasks) < limit:
        position = _PEEK_GAP.match(text, position).end()  # type: ignore[union-attr]
        if position >= len(text) or text[position] == "]":
            break
        try:
            entry, position = decoder.raw_decode(text, position)
            tasks.append(decode_task(entry))
        except (ValueError, PayloadError):
            break
    return tasks
