"""KeyFooter: a Footer that keeps help and quit when the terminal is narrow.

Textual's Footer lays its keys out left to right and cuts what does not fit, so at 100
columns the last ones (``? Help``, ``q Quit``) were the ones lost. This footer leaves out
whole keys instead, from the right, and never the ones in :data:`ESSENTIAL`.
"""

from __future__ import annotations

from typing import Final

from textual import events
from textual.app import ComposeResult
from textual.widget import Widget
from textual.widgets import Footer
from textual.widgets._footer import FooterKey

ESSENTIAL: Final = frozenset({"help", "quit"})
"""Actions always in the footer: the way to every other key, and the way out."""
PALETTE_WIDTH: Final = 14
"""The command palette key, docked right: ``▏^p palette`` and its padding."""


def key_width(key: FooterKey) -> int:
    """Cells a key takes in a (non-compact) footer: `` k `` then ``Label ``."""
    return len(key.key_display) + 2 + (len(key.description) + 1 if key.description else 0)


class KeyFooter(Footer):
    """The footer, fitted to its width by leaving out whole keys (see the module)."""

    def compose(self) -> ComposeResult:
        widgets: list[Widget] = list(super().compose())
        keys = [w for w in widgets if isinstance(w, FooterKey)]
        palette = [k for k in keys if k.has_class("-command-palette")]
        room = (self.size.width or self.app.size.width) - PALETTE_WIDTH * len(palette)
        room -= sum(key_width(k) for k in keys if k.action in ESSENTIAL)
        for widget in widgets:
            if not isinstance(widget, FooterKey) or widget in palette or widget.action in ESSENTIAL:
                yield widget
            elif key_width(widget) <= room:
                room -= key_width(widget)
                yield widget
            else:
                room = 0  # keep the order: no later, shorter key jumps the queue

    def _on_resize(self, event: events.Resize) -> None:
        if event.size.width != getattr(self, "_fitted_width", None):
            self._fitted_width = event.size.width
            self.call_after_refresh(self.recompose)
