"""Task IDs from text as users have it: bare IDs, the API's answers, our ``--json`` lines.

Bare IDs are separated by commas and any white space. Where a token starts with ``{``,
``[`` or ``"``, a JSON value is read there instead (it may span lines, and several may
follow each other, as in NDJSON): an object gives its ``task_id``, else its
``data.task_id`` (the API's submission and query answers), else its ``id``; an array
gives each of its items; a string is one ID. Text without any of those three characters
(10,000 IDs from a script) takes a fast path that never looks for JSON.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any, Final

from siray_tui.core.errors import InvalidTaskIdError
from siray_tui.core.models import validate_task_id

_TOKEN: Final = re.compile(r"[^\s,]+")
_JSON_START: Final = frozenset('{["')
_DECODER: Final = json.JSONDecoder()
_NO_ID: Final = 'a JSON object without "task_id", "data.task_id" or "id"'


@dataclass(frozen=True, slots=True)
class Problem:
    """Something in the text that is not a task ID.

    Attributes:
        line: where it starts, counted from 1.
        message: why it is not one, in one line.
    """

    line: int
    message: str


@dataclass
class ReadIds:
    """What :func:`read_ids` found: the valid IDs in order, and every problem."""

    ids: list[str] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)


def split_ids(chunks: Iterable[str]) -> Iterator[str]:
    """Bare task IDs from text where commas and any white space separate them."""
    for chunk in chunks:
        yield from _TOKEN.findall(chunk)


def read_ids(text: str) -> ReadIds:
    """Every task ID (and problem) in ``text``, in order; see the module docstring."""
    found = ReadIds()
    lines = _LineCounter(text)
    if not any(char in text for char in _JSON_START):
        for match in _TOKEN.finditer(text):
            try:
                found.ids.append(validate_task_id(match.group()))
            except InvalidTaskIdError as exc:
                found.problems.append(Problem(lines.at(match.start()), str(exc)))
        return found
    position = 0
    while (token := _TOKEN.search(text, position)) is not None:
        start = token.start()
        if text[start] not in _JSON_START:
            position = token.end()
            _add(found, token.group(), lines, start)
            continue
        try:
            value, position = _DECODER.raw_decode(text, start)
        except (json.JSONDecodeError, RecursionError) as exc:
            end = text.find("\n", start)
            position = len(text) if end < 0 else end
            reason = exc.msg if isinstance(exc, json.JSONDecodeError) else "nested too deeply"
            found.problems.append(Problem(lines.at(start), f"not valid JSON: {reason}"))
            continue
        _add_json(found, value, lines, start)
    return found


def _add_json(found: ReadIds, value: Any, lines: _LineCounter, start: int) -> None:
    if isinstance(value, list):
        for number, item in enumerate(value, start=1):
            if isinstance(item, str | dict):
                _add_json(found, item, lines, start)
            else:
                message = f"item {number} of the array is not a task ID"
                found.problems.append(Problem(lines.at(start), message))
    elif isinstance(value, str):
        _add(found, value, lines, start)
    elif isinstance(value, dict) and (task_id := _id_of(value)) is not None:
        _add(found, task_id, lines, start)
    else:
        found.problems.append(Problem(lines.at(start), _NO_ID))


def _id_of(record: dict[str, Any]) -> str | None:
    """``task_id``, else ``data.task_id``, else ``id``: the first that is a string."""
    data = record.get("data")
    candidates = (
        record.get("task_id"),
        data.get("task_id") if isinstance(data, dict) else None,
        record.get("id"),
    )
    return next((c for c in candidates if isinstance(c, str) and c), None)


def _add(found: ReadIds, raw: str, lines: _LineCounter, start: int) -> None:
    try:
        found.ids.append(validate_task_id(raw))
    except InvalidTaskIdError as exc:
        found.problems.append(Problem(lines.at(start), str(exc)))


class _LineCounter:
    """Line numbers of increasing positions (only asked for problems), each newline counted once."""

    def __init__(self, text: str) -> None:
        self._text = text
        self._position = 0
        self._line = 1

    def at(self, position: int) -> int:
        self._line += self._text.count("\n", self._position, position)
        self._position = position
        return self._line
