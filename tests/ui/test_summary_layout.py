"""The summary bar asks for a layout pass only when its height changes.

While polling, the bar changes about once a second; a layout pass re-arranges the whole
screen beside a 10,000-row table, which the polling-stall benchmark showed as ~12 ms a
second of event-loop time. The content must still be right after either kind of update.
"""

from __future__ import annotations

from typing import Any

from textual.app import App, ComposeResult

from siray_tui.ui.widgets.summary_bar import SummaryBar, SummaryView


class BarApp(App[None]):
    def compose(self) -> ComposeResult:
        yield SummaryBar()


async def test_only_a_change_of_height_asks_for_a_layout_pass() -> None:
    app = BarApp()
    async with app.run_test(size=(80, 24)) as pilot:
        bar = app.query_one(SummaryBar)
        layouts: list[bool] = []
        original = bar.update

        def spy(content: Any, *, layout: bool = True) -> None:
            layouts.append(layout)
            original(content, layout=layout)

        bar.update = spy  # type: ignore[method-assign]
        bar.show(SummaryView(request_rate=1.0, running=True))
        await pilot.pause()
        first_height = bar.size.height
        bar.show(SummaryView(request_rate=2.0, running=True))  # same lines, new figure
        await pilot.pause()
        assert "2.0" in str(bar.render())
        assert bar.size.height == first_height
        longer = SummaryView(
            request_rate=2.0, running=True, query="x" * 40, status_filter="FAILURE"
        )
        bar.show(longer)  # at 80 columns the filter wraps onto another line
        await pilot.pause()
        assert bar.size.height > first_height
        bar.show(longer)  # unchanged: no update at all
    assert layouts == [True, False, True]
