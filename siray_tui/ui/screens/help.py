"""HelpScreen: every key of the dashboard and the details screen, in one table.

| Key | Action |
| --- | --- |
| ``escape`` / ``q`` / ``?`` | close |
"""

from __future__ import annotations

from typing import ClassVar

from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import VerticalScroll
from textual.content import Content
from textual.screen import ModalScreen
from textual.widgets import Static

from siray_tui.ui.columns import status_style
from siray_tui.ui.keys import DASHBOARD_KEYS

DETAILS_KEYS: tuple[tuple[str, str], ...] = (
    ("o / d / c", "open, download or copy the selected output"),
    ("tab", "move between outputs and their buttons"),
    ("escape", "back to the table"),
)
MORE_KEYS: tuple[tuple[str, str], ...] = (
    ("ctrl+p", "command palette: every action by name"),
    ("up / down / j / k", "move the cursor (pgup / pgdn: a page)"),
    ("home / end / g / G", "first / last row"),
    ("click a header", "sort by that column (again: reverse)"),
)
LEGEND: tuple[tuple[str, str], ...] = (
    ("PENDING", "added, not asked yet"),
    ("NOT_START", "accepted by the API, not started"),
    ("SUBMITTED", "submitted to a worker"),
    ("QUEUED", "waiting for a worker"),
    ("IN_PROGRESS", "running (the bar is the API's progress)"),
    ("SUCCESS", "done: the outputs are ready (o opens, d downloads)"),
    ("FAILURE", "done: the reason column says why"),
    ("NOT_FOUND", "neither the image nor the video endpoint knows the ID"),
    ("MODERATION", "or any other word: a status the API reported that siray-tui"),
    ("", "does not know. Shown as the API wrote it, in the UNKNOWN colour,"),
    ("", "and polled on until SUCCESS or FAILURE (f, errors: lists them)"),
)


def _section(title: str, rows: tuple[tuple[str, str], ...]) -> Content:
    width = max(len(key) for key, _ in rows) + 2
    parts: list[tuple[str, str] | str] = [(title, "bold underline"), "\n"]
    for key, text in rows:
        parts += [(key.ljust(width), "bold $accent"), text, "\n"]
    return Content.assemble(*parts)


def status_legend() -> Content:
    """What each status means, each name in the colour the table gives it."""
    width = max(len(name) for name, _ in LEGEND) + 2
    parts: list[tuple[str, str] | str] = [("Statuses", "bold underline"), "\n"]
    for name, text in LEGEND:
        parts += [(name.ljust(width), status_style(name) if name else ""), text, "\n"]
    return Content.assemble(*parts)


def help_text() -> Content:
    """The whole help as one Content (also used by tests)."""
    dashboard = tuple((spec.shown, spec.help) for spec in DASHBOARD_KEYS)
    return Content("\n").join(
        [
            _section("Dashboard", dashboard),
            _section("Details", DETAILS_KEYS),
            _section("Everywhere", MORE_KEYS),
        ]
    )


class HelpScreen(ModalScreen[None]):
    """The key reference."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape,q,question_mark", "close", "Close"),
    ]

    def compose(self) -> ComposeResult:
        with VerticalScroll(id="help-body"):
            yield Static(Content.assemble(("siray-tui keys", "bold")), id="help-title")
            yield Static(help_text(), id="help-text")
            yield Static(status_legend(), id="help-statuses")

    def action_close(self) -> None:
        self.dismiss(None)
