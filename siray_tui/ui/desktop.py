"""The dashboard's voice outside its window: desktop notifications and the terminal title.

The protocols and their escaping are the core's (:mod:`siray_tui.core.notify`); this
module decides when to speak: a task that failed or succeeded while we watched, the last
unfinished task ending ("all done"), and the live counts in the title. Escape sequences
go through Textual's driver (the one writer of the terminal, so they never land in the
middle of a frame), and only when its output is a terminal.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Final

from siray_tui.core.notify import (
    RESTORE_TITLE,
    SAVE_TITLE,
    Notifier,
    all_done_notice,
    ended_notice,
    title_sequence,
)
from siray_tui.ui.summary import TaskSummary

if TYPE_CHECKING:
    from textual.app import App

    from siray_tui.core.models import WatchedTask

APP: Final = "siray-tui"
SEPARATOR: Final = " · "


def terminal_is_tty() -> bool:
    """Whether the stream Textual draws on (stderr, for Linux and macOS) is a terminal."""
    stream = sys.__stderr__
    try:
        return stream is not None and stream.isatty()
    except (OSError, ValueError):
        return False


def driver_writer(app: App[Any]) -> Callable[[str], None]:
    """Writes raw text to the terminal through the App's driver (nothing before it runs
    or when headless). Textual has no public call for it: ``App.bell`` does the same."""

    def write(data: str) -> None:
        driver = app._driver  # private, as App.bell uses it: see the docstring
        if driver is not None and not app.is_headless:
            driver.write(data)
            driver.flush()

    return write


def title_text(summary: TaskSummary) -> str:
    """``siray-tui · 12 running · 30 queued · 2 failed``, or ``... · all done``."""
    counts = dict(summary.counts)
    running = counts.get("IN_PROGRESS", 0)
    waiting = summary.unfinished - running
    parts = [APP]
    if summary.total and not summary.unfinished:
        parts.append("all done")
    if running:
        parts.append(f"{running} running")
    if waiting > 0:
        parts.append(f"{waiting} queued")
    if counts.get("FAILURE"):
        parts.append(f"{counts['FAILURE']} failed")
    return SEPARATOR.join(parts)


class DesktopNotices:
    """Notifications and title for one dashboard.

    Args:
        notifier: the configured notifier (it knows the events wanted and the way).
        write_title: writes an escape sequence for the title; None: the title is left
            alone (the output is no terminal).
    """

    def __init__(self, notifier: Notifier, write_title: Callable[[str], None] | None) -> None:
        self.notifier = notifier
        self.write_title = write_title
        self._title: str | None = None
        self._unfinished: int | None = None

    @classmethod
    def for_app(cls, app: App[Any], events: tuple[str, ...]) -> DesktopNotices:
        """The notices of a running App, writing through its driver."""
        tty = terminal_is_tty()
        write = driver_writer(app)
        notifier = Notifier(events, env=os.environ, tty=tty, write=write)
        return cls(notifier, write if tty else None)

    def task_ended(self, task: WatchedTask) -> None:
        """A task we watched reached SUCCESS or FAILURE."""
        notice = ended_notice(task)
        if notice is not None:
            self.notifier.send(*notice)

    def counts(self, summary: TaskSummary, *, loaded: bool) -> None:
        """The counts changed (or a second passed): the title, and "all done" once the
        last unfinished task has ended."""
        if not loaded:
            return
        if self._unfinished and summary.unfinished == 0 and summary.total:
            failed = dict(summary.counts).get("FAILURE", 0)
            self.notifier.send(*all_done_notice(summary.total, failed))
        self._unfinished = summary.unfinished
        if self.write_title is None:
            return
        text = title_text(summary)
        if text != self._title:
            if self._title is None:
                self.write_title(SAVE_TITLE)
            self._title = text
            self.write_title(title_sequence(text))

    def restore_title(self) -> None:
        """Give the terminal its own title back (the dashboard is closing)."""
        if self.write_title is not None and self._title is not None:
            self.write_title(RESTORE_TITLE)
            self._title = None
