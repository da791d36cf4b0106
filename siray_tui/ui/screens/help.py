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

from siray_tui.ui.keys import DASHBOARD_KEYS

DETAILS_KEYS: tuple[tuple[str, str], ...] = (
    ("o / d / c", "open, download or copy the selected output"),
    ("tab", "move between outputs and their buttons"),
    ("escape", "back to the table"),
)
MORE_KEYS: tuple[tuple[str, str], ...] = (
    ("ctrl+p", "command palette: every action by name"),
    ("up / down / pgup / pgdn", "move the cursor"),
)


def _section(title: str, rows: tuple[tuple[str, str], ...]) -> Content:
    width = max(len(key) for key, _ in rows) + 2
    parts: list[tuple[str, str] | str] = [(title, "bold underline"), "\n"]
    for key, text in rows:
        parts += [(key.ljust(width), "bold $accent"), text, "\n"]
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
            yield Static(
                Content(
                    "Statuses: PENDING (not asked yet) → NOT_START → SUBMITTED → QUEUED"
                    " → IN_PROGRESS → SUCCESS | FAILURE; NOT_FOUND: no endpoint knows it."
                ),
                id="help-statuses",
            )

    def action_close(self) -> None:
        self.dismiss(None)
