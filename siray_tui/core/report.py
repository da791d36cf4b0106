"""How a watched task is reported: the ``--json`` record and human-readable durations.

The CLI's ``list``, ``status`` and ``wait`` and the dashboard all describe tasks the same
way, so the ``--json`` field names (listed in README.md) and the duration format live here, once.
"""

from __future__ import annotations

import math
from typing import Any

from siray_tui.core.models import WatchedTask
from siray_tui.core.text import clean_text

JSON_FIELDS = (
    "task_id",
    "kind",
    "label",
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
    "last_polled_at",
    "error",
)


def format_duration(seconds: float | None) -> str:
    """``None`` → ``-``; 5.2 → ``5s``; 65 → ``1m 05s``; 3725 → ``1h 02m``; days as ``2d 03h``."""
    if seconds is None or not math.isfinite(seconds):
        return "-"
    whole = max(0, int(seconds))
    if whole < 60:
        return f"{whole}s"
    minutes, secs = divmod(whole, 60)
    if minutes < 60:
        return f"{minutes}m {secs:02d}s"
    hours, minutes = divmod(minutes, 60)
    if hours < 24:
        return f"{hours}h {minutes:02d}m"
    days, hours = divmod(hours, 24)
    return f"{days}d {hours:02d}h"


def format_ago(then: float | None, now: float) -> str:
    """How long ago ``then`` was, e.g. ``12s ago``; ``never`` for None."""
    if then is None:
        return "never"
    return f"{format_duration(max(0.0, now - then))} ago"


def status_text(task: WatchedTask) -> str:
    """The status to show: as the server said it, NOT_FOUND, or PENDING before any answer."""
    if task.not_found:
        return "NOT_FOUND"
    if task.state is None:
        return "PENDING"
    return task.state.raw_status


def task_record(task: WatchedTask, now: float) -> dict[str, Any]:
    """The ``--json`` object for one task, with exactly the fields README.md lists.

    ``progress`` is an int 0-100 or null, durations are numbers (seconds) or null, and
    every string from the server is already cleaned of control characters.
    """
    state = task.state
    timings = state.timings(now) if state else None
    return {
        "task_id": task.task_id,
        "kind": task.kind.value,
        "label": task.label,
        "status": status_text(task),
        "progress": state.progress if state else None,
        "outputs": [clean_text(url) for url in state.outputs] if state else [],
        "fail_reason": state.fail_reason if state else "",
        "submit_time": state.submit_time if state else None,
        "start_time": state.start_time if state else None,
        "finish_time": state.finish_time if state else None,
        "queue_seconds": _round(timings.queue) if timings else None,
        "run_seconds": _round(timings.run) if timings else None,
        "total_seconds": _round(timings.total) if timings else None,
        "last_polled_at": task.last_polled_at,
        "error": task.last_error,
    }


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 3)
