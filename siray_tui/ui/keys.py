"""The dashboard's keys, defined once for the bindings, the help screen and the palette.

The footer, the help screen and the command palette must offer the same actions (and the
README's key table lists them); deriving all three from :data:`DASHBOARD_KEYS` keeps them so.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from textual.binding import Binding


@dataclass(frozen=True, slots=True)
class KeySpec:
    """One dashboard action.

    Attributes:
        keys: Textual key names, comma-separated (``"delete,x"``).
        action: the action method on the dashboard screen (without ``action_``).
        label: short footer text.
        help: one sentence for the help screen and the command palette.
        shown: the keys as the help screen writes them.
        footer: whether the footer shows it (the footer has room for the common ones).
        footer_shown: the keys as the footer writes them, when shorter than ``shown``.
    """

    keys: str
    action: str
    label: str
    help: str
    shown: str
    footer: bool = True
    footer_shown: str = ""


DASHBOARD_KEYS: Final[tuple[KeySpec, ...]] = (
    KeySpec("a", "add", "Add", "Add task IDs (paste many at once)", "a"),
    KeySpec(
        "delete,x",
        "remove",
        "Remove",
        "Remove the selected task (u undoes)",
        "delete / x",
        footer_shown="x",
    ),
    KeySpec("u", "undo", "Undo", "Undo the last removal", "u", footer=False),
    KeySpec("n", "new_task", "New", "Submit a new task (spends credits)", "n"),
    KeySpec(
        "N",
        "resubmit",
        "Resubmit",
        "Resubmit the selected task from its stored request (editable)",
        "N",
        footer=False,
    ),
    KeySpec("enter", "details", "Details", "Show every detail of the selected task", "enter"),
    # v stays out of the footer too (help and palette have it): at 120 columns the footer
    # would lose m.
    KeySpec(
        "v",
        "toggle_preview",
        "Preview",
        "Show or hide the selected task's image beside the table",
        "v",
        footer=False,
    ),
    KeySpec("o", "open", "Open", "Open the selected task's first output in a browser", "o"),
    KeySpec("d", "download", "Download", "Download the selected task's outputs", "d"),
    # c and r stay out of the footer, so that at 120 columns it holds f, m, ? and q.
    KeySpec(
        "c", "copy", "Copy ID", "Copy the selected task's ID to the clipboard", "c", footer=False
    ),
    KeySpec(
        "e",
        "export",
        "Export",
        "Export the rows shown (filter and sort applied) to a CSV file in the download folder",
        "e",
        footer=False,
    ),
    KeySpec("r", "refresh", "Refresh", "Poll the selected task now", "r", footer=False),
    KeySpec("R", "refresh_all", "Refresh all", "Poll every task now", "R", footer=False),
    KeySpec("p", "toggle_pause", "Pause", "Pause or resume polling", "p"),
    KeySpec("slash", "filter", "Filter", "Filter rows by text (escape clears)", "/"),
    KeySpec("s", "cycle_sort", "Sort", "Sort by the next column", "s"),
    KeySpec("S", "reverse_sort", "Reverse", "Reverse the sort order", "S", footer=False),
    KeySpec("f", "pick_status", "Status", "Show only some statuses (several at once)", "f"),
    KeySpec("m", "toggle_toasts", "Mute", "Mute or unmute toasts for finished tasks", "m"),
    # after m: at 120 columns the footer keeps m and leaves t out; from 130 it has both
    KeySpec(
        "t",
        "stats",
        "Stats",
        "Stats and failure triage: per kind and model, failures grouped by reason",
        "t",
    ),
    KeySpec("question_mark", "help", "Help", "Show the keys", "?"),
    KeySpec("q", "quit", "Quit", "Quit siray-tui", "q"),
)


def bindings(specs: tuple[KeySpec, ...] = DASHBOARD_KEYS) -> list[Binding]:
    """Textual bindings for ``specs``."""
    return [
        Binding(
            spec.keys,
            spec.action,
            spec.label,
            show=spec.footer,
            key_display=spec.footer_shown or spec.shown,
        )
        for spec in specs
    ]
