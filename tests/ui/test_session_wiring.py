"""The dashboard drives the App's one WatchSession: its downloader, its poller, its store."""

from __future__ import annotations

from siray_tui.core.clock import FakeClock
from siray_tui.core.downloads import Downloader
from tests.ui.conftest import AppFactory, ready
from tests.ui.fixtures import NOW

SIZE = (120, 36)


async def test_the_dashboards_downloader_knows_the_output_scope(make_app: AppFactory) -> None:
    """An API at a private address hands out outputs there; the dashboard used to build its
    own downloader without that scope, so such downloads were refused in the UI only."""
    app = make_app(base_url="https://10.1.2.3")
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot)
        assert app.dashboard.actions.session is app.session
        assert app.session.downloader.allow_scope == "private"


async def test_injected_parts_reach_the_session(make_app: AppFactory) -> None:
    made: list[Downloader] = []

    def factory() -> Downloader:
        made.append(Downloader(app.settings.download_dir))
        return made[-1]

    clock = FakeClock(NOW)
    app = make_app(clock=clock, downloader_factory=factory)
    assert app.session.clock is clock and app.dashboard.clock is clock
    assert app.session.client is None  # the FakeSource stands in for the API
    assert app.dashboard.poller is app.session.poller
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot)
        assert app.session.downloader is made[0]
