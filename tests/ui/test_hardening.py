"""What a new user hit in the dashboard in fifteen minutes (issue 9): a poll error over
a final task's reason, notification floods, offline polling, narrow keys and themes."""

from __future__ import annotations

from typing import Any

from siray_tui.ui.widgets.summary_bar import SummaryBar
from tests.ui.conftest import AppFactory, open_details, ready, table
from tests.ui.fixtures import make_task

SIZE = (120, 36)


def plain(spec: Any) -> str:
    return "".join(piece for piece, _ in spec)


def summary_text(app: Any) -> str:
    return str(app.dashboard.query_one(SummaryBar).render())


async def test_final_fail_reason_wins_over_a_later_poll_error(make_app: AppFactory) -> None:
    """A FAILURE task that then met a transient 500 (a refresh, or ``status`` in another
    terminal) keeps its reason in the row; the error is in details and the summary."""
    failed = make_task(
        "image_fail000001",
        "FAILURE",
        fail_reason="content policy: prompt rejected",
        last_error="HTTP 500 server error",
    )
    app = make_app([failed])
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot)
        spec = table(app).cell_spec("image_fail000001")
        assert spec is not None
        assert plain(spec[-1]) == "content policy: prompt rejected"
        summary = summary_text(app)
        assert "no poll errors" not in summary
        assert "1 task with a poll error" in summary
        await open_details(pilot, "image_fail000001")
        details = "\n".join(str(w.render()) for w in app.screen.query("Static"))
        assert "HTTP 500 server error" in details
