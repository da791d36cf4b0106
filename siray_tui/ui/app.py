"""SirayApp: wiring only. It owns the poller, runs it in one worker, and forwards events.

Everything visible lives in :mod:`siray_tui.ui.screens`; everything that talks to the
API lives in :mod:`siray_tui.core`. The App builds both, starts the poller in a single
exclusive async worker, and re-posts each poller event to the dashboard as a message.
"""

from __future__ import annotations

from typing import ClassVar

from textual import work
from textual.app import App
from textual.theme import Theme

from siray_tui.config import Settings
from siray_tui.core.client import SirayClient
from siray_tui.core.clock import Clock, SystemClock
from siray_tui.core.poller import Poller, PollerEvent, PollPolicy, TaskSource
from siray_tui.core.store import WatchlistStore
from siray_tui.ui.columns import use_light_palette
from siray_tui.ui.commands import DashboardCommands
from siray_tui.ui.messages import from_event
from siray_tui.ui.outputs import DownloaderFactory
from siray_tui.ui.screens.dashboard import SETUP_HINT, DashboardScreen


def token_problem(settings: Settings) -> str | None:
    """Why the dashboard must not poll (no token for a real API), or None."""
    if settings.token or settings.allow_loopback_http:
        return None  # the demo or a local simulator: it answers 401 itself if it wants a token
    return SETUP_HINT


class SirayApp(App[int]):
    """The dashboard application.

    Args:
        settings: resolved settings.
        store: the watchlist (default: the one in ``settings.data_dir``).
        source: what the poller asks (default: a SirayClient for ``settings``).
        clock: time for the poller and the durations (tests pass a FakeClock).
        start_polling: run the poller (snapshot tests turn it off).
        downloader_factory: makes the Downloader (tests inject one).
    """

    CSS_PATH = "app.tcss"
    TITLE = "siray-tui"
    COMMANDS: ClassVar = App.COMMANDS | {DashboardCommands}
    VERTICAL_BREAKPOINTS = [(0, "-short"), (30, "-tall")]
    """Screens get ``-short`` below 30 lines (app.tcss fits the add dialog to 24)."""

    def __init__(
        self,
        settings: Settings,
        *,
        store: WatchlistStore | None = None,
        source: TaskSource | None = None,
        clock: Clock | None = None,
        start_polling: bool = True,
        downloader_factory: DownloaderFactory | None = None,
    ) -> None:
        super().__init__()
        self.settings = settings
        self.clock: Clock = clock if clock is not None else SystemClock()
        self.store = store if store is not None else WatchlistStore(settings.data_dir)
        self._client: SirayClient | None = None
        if source is None:
            self._client = SirayClient(
                settings.base_url,
                settings.token,
                insecure=settings.insecure,
                deadline=settings.request_deadline,
                clock=self.clock,
            )
            source = self._client
        policy = PollPolicy(settings.interval, settings.concurrency, settings.rate)
        self.poller = Poller(
            source, policy=policy, store=self.store, clock=self.clock, on_event=self._forward
        )
        problem = token_problem(settings)
        self.start_polling = start_polling and problem is None
        self.sub_title = "demo" if settings.demo else settings.base_url
        self.dashboard = DashboardScreen(
            settings,
            self.store,
            self.poller,
            self.clock,
            polling=self.start_polling,
            token_problem=problem,
            downloader_factory=downloader_factory,
        )

    def on_mount(self) -> None:
        use_light_palette(not self.current_theme.dark)
        self.theme_changed_signal.subscribe(self, self._theme_changed)
        self.push_screen(self.dashboard)
        if self.start_polling:
            self._run_poller()

    def _theme_changed(self, theme: Theme) -> None:
        """Status colours readable on the new theme's background (light or dark)."""
        if use_light_palette(not theme.dark):
            self.dashboard.restyle()

    @work(exclusive=True, group="poller", exit_on_error=False)
    async def _run_poller(self) -> None:
        await self.poller.run()

    def _forward(self, event: PollerEvent) -> None:
        self.dashboard.post_message(from_event(event))

    async def action_quit(self) -> None:
        """Stop polling cleanly (the poller writes what it observed) and exit."""
        self.poller.stop()
        await self.workers.wait_for_complete([w for w in self.workers if w.group == "poller"])
        await self.poller.flush()
        self.exit(0)

    async def on_unmount(self) -> None:
        actions = getattr(self.dashboard, "actions", None)
        if actions is not None:
            await actions.aclose()
        if self._client is not None:
            await self._client.aclose()
