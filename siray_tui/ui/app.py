"""SirayApp: wiring only. It owns the session, runs its poller in one worker, and forwards events.

Everything visible lives in :mod:`siray_tui.ui.screens`; everything that talks to the
API lives in :mod:`siray_tui.core`, behind one :class:`~siray_tui.core.session.WatchSession`.
The App builds both, starts the poller in a single exclusive async worker, and posts each
core event to the dashboard inside one :class:`~siray_tui.ui.messages.PollerMessage`.
"""

from __future__ import annotations

from typing import ClassVar

from textual import events, work
from textual.app import App
from textual.theme import Theme

from siray_tui.config import Settings
from siray_tui.core.clock import Clock
from siray_tui.core.events import SessionEvent
from siray_tui.core.policy import TaskSource
from siray_tui.core.session import DownloaderFactory, ThumbsFactory, WatchSession
from siray_tui.core.store import WatchlistStore
from siray_tui.ui.columns import use_light_palette
from siray_tui.ui.commands import DashboardCommands
from siray_tui.ui.desktop import DesktopNotices
from siray_tui.ui.messages import PollerMessage
from siray_tui.ui.screens.dashboard import SETUP_HINT, DashboardScreen


class SirayApp(App[int]):
    """The dashboard application.

    Args:
        settings: resolved settings.
        store: the watchlist (default: the one in ``settings.data_dir``).
        source: what the poller asks (default: the client ``settings`` make).
        clock: time for the poller and the durations (tests pass a FakeClock).
        start_polling: run the poller (snapshot tests turn it off).
        downloader_factory: makes the Downloader (tests inject one).
        thumbs_factory: makes the preview cache (tests inject one).
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
        thumbs_factory: ThumbsFactory | None = None,
    ) -> None:
        super().__init__()
        self.settings = settings
        self.session = WatchSession(
            settings,
            store=store,
            source=source,
            clock=clock,
            on_event=self._forward,
            downloader_factory=downloader_factory,
            thumbs_factory=thumbs_factory,
        )
        self.clock = self.session.clock
        self.store = self.session.store
        self.poller = self.session.poller
        # The dashboard's hint, not the CLI's: here the fix also includes trying --demo.
        problem = SETUP_HINT if self.session.token_problem else None
        self.start_polling = start_polling and problem is None
        self.sub_title = "demo" if settings.demo else settings.base_url
        self.dashboard = DashboardScreen(
            settings, self.session, polling=self.start_polling, token_problem=problem
        )
        self.notices = DesktopNotices.for_app(self, settings.notify)
        """Desktop notifications (opt-in) and the terminal title."""
        self.dashboard.notices = self.notices

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

    def on_app_focus(self, event: events.AppFocus) -> None:
        self.notices.notifier.focus.set(True)

    def on_app_blur(self, event: events.AppBlur) -> None:
        self.notices.notifier.focus.set(False)

    def _forward(self, event: SessionEvent) -> None:
        self.dashboard.post_message(PollerMessage(event))

    async def action_quit(self) -> None:
        """Stop polling cleanly (the poller writes what it observed) and exit."""
        self.poller.stop()
        await self.workers.wait_for_complete([w for w in self.workers if w.group == "poller"])
        await self.poller.flush()
        self.notices.restore_title()
        self.exit(0)

    async def on_unmount(self) -> None:
        self.notices.restore_title()
        await self.session.aclose()
