"""The Textual dashboard. Importing this package does not import Textual: headless
commands (``siray-tui wait`` in a script) should not pay for it."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from siray_tui.config import Settings

__all__ = ["run_dashboard"]


def run_dashboard(settings: Settings) -> int:
    """Run the dashboard until the user quits; returns the exit status (0)."""
    from siray_tui.ui.app import SirayApp

    app = SirayApp(settings)
    result = app.run()
    return result if isinstance(result, int) else (app.return_code or 0)
