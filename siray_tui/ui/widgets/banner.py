"""Banner: one docked line that says what stops polling (no token, bad token, 429).

A problem that blocks every task is not a per-row error or a toast that fades: it stays
on screen until it is resolved, then the banner hides itself. The text is set as
:class:`~textual.content.Content` built from plain strings, so server text cannot inject
markup.
"""

from __future__ import annotations

from typing import Literal

from textual.content import Content
from textual.widgets import Static

Severity = Literal["warning", "error", "information"]


class Banner(Static):
    """A one-or-two-line notice docked at the top; hidden when empty."""

    DEFAULT_CSS = """
    Banner {
        dock: top;
        height: auto;
        padding: 0 1;
        display: none;
        text-style: bold;
    }
    Banner.-visible { display: block; }
    Banner.-warning { background: $warning 30%; color: $text; }
    Banner.-error { background: $error 40%; color: $text; }
    Banner.-information { background: $primary 30%; color: $text; }
    """

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__("", id=id, markup=False)
        self.kind: str | None = None
        """What the banner is about (``"token"``, ``"auth"``, ``"rate"``), or None."""

    def show(self, kind: str, message: str | Content, severity: Severity = "warning") -> None:
        """Show ``message``; ``kind`` lets a later :meth:`clear` remove only its own."""
        self.kind = kind
        self.update(message if isinstance(message, Content) else Content(message))
        self.set_class(True, "-visible")
        for name in ("warning", "error", "information"):
            self.set_class(name == severity, f"-{name}")

    def clear(self, kind: str | None = None) -> None:
        """Hide the banner (only if it is about ``kind``, when given)."""
        if kind is not None and self.kind != kind:
            return
        self.kind = None
        self.update("")
        self.set_class(False, "-visible")

    @property
    def text(self) -> str:
        """The plain text shown ("" when hidden)."""
        return str(self.visual) if self.kind else ""
