"""The command palette's dashboard commands: the same actions as the keys, by name."""

from __future__ import annotations

from functools import partial

from textual.command import DiscoveryHit, Hit, Hits, Provider

from siray_tui.ui.keys import DASHBOARD_KEYS, KeySpec


def command_name(spec: KeySpec) -> str:
    """What the palette lists, e.g. ``Remove task (delete / x)``."""
    return f"{spec.help} ({spec.shown})"


class DashboardCommands(Provider):
    """Offers every dashboard key as a palette command, run on the dashboard screen."""

    def _run(self, spec: KeySpec) -> None:
        self.app.call_later(partial(self.screen.run_action, spec.action))

    async def discover(self) -> Hits:
        for spec in DASHBOARD_KEYS:
            if hasattr(self.screen, f"action_{spec.action}"):
                yield DiscoveryHit(command_name(spec), partial(self._run, spec), help=spec.label)

    async def search(self, query: str) -> Hits:
        matcher = self.matcher(query)
        for spec in DASHBOARD_KEYS:
            if not hasattr(self.screen, f"action_{spec.action}"):
                continue
            name = command_name(spec)
            score = matcher.match(name)
            if score > 0:
                yield Hit(score, matcher.highlight(name), partial(self._run, spec), help=spec.label)
