"""StatusPicker: choose which statuses the table shows, several at once (``f``).

| Key | Action |
| --- | --- |
| ``space`` | tick or untick the highlighted status |
| ``enter`` | show the ticked statuses (none ticked: every task) |
| ``escape`` | close without changing anything |
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import ClassVar

from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.content import Content
from textual.screen import ModalScreen
from textual.widgets import SelectionList, Static

from siray_tui.core.columns import STATUS_ORDER
from siray_tui.ui.columns import (
    STALLED_FILTER,
    STATUS_FILTERS,
    join_status_filter,
    split_status_filter,
)

GROUPS: tuple[tuple[str, str], ...] = (
    ("active", "active: everything not finished"),
    ("errors", "errors: poll errors, not found, statuses the API invented"),
    (STALLED_FILTER, "stalled: running, but no progress for longer than usual"),
)


def choices(present: Iterable[str]) -> list[str]:
    """The groups, the known statuses, then any other status a task has now."""
    known = [s for s in STATUS_ORDER if s != "UNKNOWN"]
    others = sorted(set(present) - set(known) - {*STATUS_FILTERS, STALLED_FILTER})
    return [name for name, _ in GROUPS] + known + others


class StatusPicker(ModalScreen[str | None]):
    """A list of statuses with check boxes; dismisses with the joined choice or None.

    Args:
        current: the table's status filter (``all`` or names joined by commas).
        present: the statuses the watched tasks have now (to offer invented ones).
    """

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("enter", "apply", "Show", priority=True),
        Binding("escape", "cancel", "Cancel"),
    ]

    def __init__(self, current: str, present: Iterable[str]) -> None:
        super().__init__()
        self._current = set(split_status_filter(current))
        self._choices = choices(present)

    def compose(self) -> ComposeResult:
        described = dict(GROUPS)
        with Vertical(id="status-dialog"):
            yield Static(Content.assemble(("Show tasks whose status is", "bold")))
            yield SelectionList[str](
                *[(described.get(n, n), n, n in self._current) for n in self._choices],
                id="status-list",
            )
            yield Static(
                Content.assemble(
                    ("space", "bold"),
                    " tick   ",
                    ("enter", "bold"),
                    " show (none ticked: all)   ",
                    ("escape", "bold"),
                    " cancel",
                ),
                id="status-keys",
            )

    def action_apply(self) -> None:
        selected = self.query_one(SelectionList).selected
        self.dismiss(join_status_filter([n for n in self._choices if n in selected]))

    def action_cancel(self) -> None:
        self.dismiss(None)
