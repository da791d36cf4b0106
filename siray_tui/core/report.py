"""How a watched task reads to people: durations, "ago" and the status word.

The CLI's ``list``, ``status`` and ``wait`` and the dashboard all describe tasks the same
way, so the duration format lives here, once; the columns and the ``--json`` record built
from these are in :mod:`siray_tui.core.columns`.
"""

from __future__ import annotations

import math

from siray_tui.core.models import WatchedTask


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


def plural(count: int, noun: str) -> str:
    """``1 task``, ``2 tasks``, ``0 files``: the count with its noun, in the right number."""
    return f"{count} {noun}{'' if count == 1 else 's'}"
