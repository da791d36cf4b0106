"""The dashboard's desktop notifications (opt-in), focus gating and terminal title."""

from __future__ import annotations

from typing import Any

from textual import events

from siray_tui.core.clock import SystemClock
from siray_tui.core.notify import RESTORE_TITLE, SAVE_TITLE, Notifier, title_sequence
from siray_tui.ui.desktop import DesktopNotices, title_text
from siray_tui.ui.summary import summarize
from tests.ui.conftest import AppFactory, FakeSource, ready
from tests.ui.fixtures import NOW, make_task

ESC = "\x1b"
HOSTILE = f"GPU melted {ESC}]0;pwned\x07{ESC}[2J"


def capture(events_wanted: tuple[str, ...]) -> tuple[DesktopNotices, list[str], list[str]]:
    """Notices in WezTerm (OSC 9) writing into two lists: notifications and titles."""
    written: list[str] = []
    titles: list[str] = []
    notifier = Notifier(
        events_wanted, env={"TERM_PROGRAM": "WezTerm"}, tty=True, write=written.append
    )
    return DesktopNotices(notifier, titles.append), written, titles


def test_title_text() -> None:
    tasks = [
        make_task("image_a000000001", "IN_PROGRESS"),
        make_task("image_b000000001", "QUEUED", queue=None),
        make_task("image_c000000001", "FAILURE"),
    ]
    assert title_text(summarize(tasks, NOW)) == "siray-tui · 1 running · 1 queued · 1 failed"
    assert title_text(summarize(tasks[2:], NOW)) == "siray-tui · all done · 1 failed"
    assert title_text(summarize([], NOW)) == "siray-tui"


def test_all_done_once_and_title_only_on_change() -> None:
    notices, written, titles = capture(("all-done",))
    running = [make_task("image_a000000001", "IN_PROGRESS")]
    notices.counts(summarize(running, NOW), loaded=False)  # still loading: nothing
    assert titles == []
    notices.counts(summarize(running, NOW), loaded=True)
    notices.counts(summarize(running, NOW), loaded=True)
    assert titles == [SAVE_TITLE, title_sequence("siray-tui · 1 running")]
    done = [make_task("image_a000000001", "SUCCESS")]
    notices.counts(summarize(done, NOW), loaded=True)
    notices.counts(summarize(done, NOW), loaded=True)
    assert written == [f"{ESC}]9;siray-tui: all done: 1 task finished\x07"]
    notices.restore_title()
    notices.restore_title()
    assert titles[-2:] == [title_sequence("siray-tui · all done"), RESTORE_TITLE]


def test_a_watchlist_that_starts_finished_is_not_all_done() -> None:
    notices, written, _ = capture(("all-done",))
    notices.counts(summarize([make_task("image_a000000001", "SUCCESS")], NOW), loaded=True)
    assert written == []


async def test_dashboard_notifies_a_failure_cleaned_and_all_done(make_app: AppFactory) -> None:
    task = make_task("image_run0000001", "IN_PROGRESS", progress="40%")
    failed: dict[str, Any] = {
        "code": "success",
        "data": {"status": "FAILURE", "progress": "40%", "fail_reason": HOSTILE},
    }
    source = FakeSource({task.task_id: failed})
    app = make_app([task], clock=SystemClock(), start_polling=True, source=source)
    notices, written, titles = capture(("failure", "all-done"))
    app.notices = app.dashboard.notices = notices
    async with app.run_test(size=(120, 30)) as pilot:
        await ready(pilot)
        for _ in range(300):  # a bound on a busy machine, not a timing check
            if len(written) >= 2:
                break
            await pilot.pause(0.02)
            app.dashboard.tick()
        assert written == [
            f"{ESC}]9;siray-tui: task failed: image_run0000001: GPU melted\x07",
            f"{ESC}]9;siray-tui: all done: 1 task finished, 1 failed\x07",
        ]
        assert titles[0] == SAVE_TITLE
        assert titles[-1] == title_sequence("siray-tui · all done · 1 failed")
        await pilot.press("q")
    assert titles[-1] == RESTORE_TITLE


async def test_focus_reports_gate_notifications(make_app: AppFactory) -> None:
    app = make_app([make_task("image_run0000001", "IN_PROGRESS")])
    notices, written, _ = capture(("failure",))
    app.notices = app.dashboard.notices = notices
    async with app.run_test(size=(120, 30)) as pilot:
        await ready(pilot)
        focus = notices.notifier.focus
        assert not focus.reported and focus.user_away
        app.post_message(events.AppFocus())
        await pilot.pause()
        assert focus.reported and not focus.user_away
        assert not notices.notifier.send("failure", "t", "b")
        app.post_message(events.AppBlur())
        await pilot.pause()
        assert focus.user_away
        assert notices.notifier.send("failure", "t", "b")
    assert written == [f"{ESC}]9;t: b\x07"]
