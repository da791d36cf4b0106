"""AddTasksScreen: paste any number of task IDs, pick a kind and a label.

Scripts print IDs in every shape (one per line, comma-separated, in a JSON-ish list), so
anything that is not an ID character separates IDs: commas, semicolons, white space,
quotes and brackets. Invalid IDs do not block the valid ones: the dialog counts both as
you type, and the dashboard adds the valid IDs and names the invalid ones.

| Key | Action |
| --- | --- |
| ``ctrl+s`` | add the valid IDs |
| ``escape`` | cancel |
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import ClassVar

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.content import Content
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Label, Select, Static, TextArea

from siray_tui.core.errors import InvalidTaskIdError
from siray_tui.core.models import TaskKind, validate_task_id
from siray_tui.core.text import clean_text

_SEPARATORS = re.compile(r"[\s,;\"'\[\](){}]+")


@dataclass(frozen=True, slots=True)
class AddRequest:
    """What the user asked to add.

    Attributes:
        ids: valid IDs, each once, in the order pasted.
        invalid: ``(what was pasted, why it is not an ID)`` pairs, cleaned for display.
        kind: the endpoint to use.
        label: a label for every new task.
    """

    ids: list[str] = field(default_factory=list)
    invalid: list[tuple[str, str]] = field(default_factory=list)
    kind: TaskKind = TaskKind.AUTO
    label: str = ""


def parse_ids(text: str) -> tuple[list[str], list[tuple[str, str]]]:
    """Split pasted text into valid IDs (deduplicated) and invalid pieces with reasons."""
    valid: dict[str, None] = {}
    invalid: list[tuple[str, str]] = []
    for piece in _SEPARATORS.split(text):
        if not piece:
            continue
        try:
            valid[validate_task_id(piece)] = None
        except InvalidTaskIdError as exc:
            invalid.append((clean_text(piece)[:60], clean_text(exc.reason)))
    return list(valid), invalid


class AddTasksScreen(ModalScreen[AddRequest | None]):
    """The add dialog; dismisses with an :class:`AddRequest`, or None when cancelled."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("ctrl+s", "submit", "Add", priority=True),
        Binding("escape", "cancel", "Cancel"),
    ]

    def __init__(self, initial: str = "") -> None:
        super().__init__()
        self._initial = initial

    def compose(self) -> ComposeResult:
        with Vertical(id="add-dialog"):
            yield Static(Content.assemble(("Add tasks", "bold")), id="add-title")
            yield Label("Task IDs: commas, spaces or new lines separate them")
            yield TextArea(
                self._initial,
                id="add-ids",
                soft_wrap=True,
                placeholder="image_a8813a4b4c9, video_5f2e...",
            )
            with Horizontal(id="add-options"):
                yield Label("Kind", classes="add-label")
                yield Select(
                    [(kind.value, kind) for kind in TaskKind],
                    value=TaskKind.AUTO,
                    allow_blank=False,
                    id="add-kind",
                )
                yield Label("Label", classes="add-label")
                yield Input(placeholder="optional, e.g. product shots", id="add-label")
            yield Static("", id="add-hint", markup=False)
            with Horizontal(id="add-buttons"):
                yield Button("Add", variant="primary", id="add-ok")
                yield Button("Cancel", id="add-cancel")
                yield Static(
                    Content.assemble(("ctrl+s", "bold"), " add   ", ("escape", "bold"), " cancel"),
                    id="add-keys",
                )

    def on_mount(self) -> None:
        self._update_hint()
        self.query_one("#add-ids", TextArea).focus()

    @on(TextArea.Changed)
    def _update_hint(self) -> None:
        ids, invalid = parse_ids(self.query_one("#add-ids", TextArea).text)
        parts: list[tuple[str, str] | str] = [(f"{len(ids)} valid", "bold")]
        if invalid:
            names = ", ".join(repr(piece) for piece, _ in invalid[:3])
            more = f" and {len(invalid) - 3} more" if len(invalid) > 3 else ""
            parts += [" · ", (f"{len(invalid)} invalid: {names}{more}", "$warning")]
        self.query_one("#add-hint", Static).update(Content.assemble(*parts))

    def request(self) -> AddRequest:
        """The request as the form stands."""
        ids, invalid = parse_ids(self.query_one("#add-ids", TextArea).text)
        kind = self.query_one("#add-kind", Select).value
        label = self.query_one("#add-label", Input).value
        return AddRequest(
            ids=ids,
            invalid=invalid,
            kind=kind if isinstance(kind, TaskKind) else TaskKind.AUTO,
            label=clean_text(label).strip(),
        )

    @on(Button.Pressed, "#add-ok")
    def action_submit(self) -> None:
        request = self.request()
        if not request.ids and not request.invalid:
            self.notify("Paste at least one task ID", severity="warning")
            return
        self.dismiss(request)

    @on(Button.Pressed, "#add-cancel")
    def action_cancel(self) -> None:
        self.dismiss(None)
