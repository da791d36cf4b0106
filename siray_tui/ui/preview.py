"""The first screenful of the watchlist, read before the whole file is parsed.

Parsing a 10,000-task ``watchlist.json`` (about 6 MB) takes ~200 ms; the dashboard reads
it in a thread, but the table would stay empty meanwhile. The file's shape is fixed by
DESIGN.md (``{"version": 1, "tasks": [...]}``), so the first entries can be decoded one
at a time with :meth:`json.JSONDecoder.raw_decode` in a few milliseconds and shown at
once; the store's full, validated read then replaces them.

Best effort by design: anything unexpected (another version, a damaged entry) returns
what was decoded so far, or nothing, and the full read reports the problem.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

from siray_tui.core.errors import SirayError
from siray_tui.core.models import WatchedTask

_HEAD = re.compile(r'\s*\{\s*"version"\s*:\s*1\s*,\s*"tasks"\s*:\s*\[')
_GAP = re.compile(r"[\s,]*")


def preview_tasks(path: Path, limit: int) -> list[WatchedTask]:
    """Up to ``limit`` tasks from the start of the watchlist file at ``path``."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return []
    head = _HEAD.match(text)
    if head is None:
        return []
    decoder = json.JSONDecoder()
    position = head.end()
    tasks: list[WatchedTask] = []
    while len(tasks) < limit:
        gap = _GAP.match(text, position)
        position = gap.end() if gap else position
        if position >= len(text) or text[position] == "]":
            break
        try:
            entry, position = decoder.raw_decode(text, position)
            tasks.append(WatchedTask.from_json(entry))
        except (ValueError, SirayError):
            break
    return tasks
