"""What a new user hit in the dashboard in fifteen minutes (issue 9): a poll error over
a final task's reason, notification floods, offline polling, narrow keys and themes."""

from __future__ import annotations

import socket
from typing import Any

from rich.color import Color

from siray_tui.core.clock import FakeClock, SystemClock
from siray_tui.core.columns import COLUMNS
from siray_tui.core.models import TaskStatus
from siray_tui.core.poller import TaskUpdated
from siray_tui.ui.announce import ANNOUNCE_EVERY
from siray_tui.ui.columns import fit_columns
from siray_tui.ui.reachability import Reachability
from siray_tui.ui.widgets.summary_bar import SummaryBar
from tests.ui.conftest import AppFactory, open_details, ready, table
from tests.ui.fixtures import NOW, make_task

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


def screen_lines(app: Any) -> list[str]:
    return [strip.text for strip in app.screen._compositor.render_strips()]


async def test_100_columns_keep_reason_help_and_quit(make_app: AppFactory) -> None:
    app = make_app()
    async with app.run_test(size=(100, 30)) as pilot:
        await ready(pilot)
        await pilot.pause(0.2)
        lines = screen_lines(app)
        assert any("invalid image size" in line for line in lines)  # the reason column
        assert "? Help" in lines[-1] and "q Quit" in lines[-1]


def test_columns_drop_by_priority_and_ids_are_whole_when_there_is_room() -> None:
    narrow = fit_columns(80, 20)
    assert {"task", "reason", "status"} <= set(narrow) and "outputs" not in narrow
    assert sum(w + 2 for w in narrow.values()) <= 80
    wide = fit_columns(200, 44)
    assert wide["task"] == 44 and set(wide) == {c.key for c in COLUMNS}


async def test_labelled_tasks_show_their_ids(make_app: AppFactory) -> None:
    foxes = [make_task(f"image_fox00000{n}", "QUEUED", label="foxes") for n in range(3)]
    app = make_app(foxes)
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot)
        cells = [plain(table(app).cell_spec(t.task_id)[0]) for t in foxes]  # type: ignore[index]
        assert cells == [f"image_fox00000{n} · foxes" for n in range(3)]


def finishing(task_id: str, status: str = "SUCCESS") -> TaskUpdated:
    """The poller's event for a watched task that has just finished."""
    after = make_task(task_id, status, fail_reason="boom" if status == "FAILURE" else "")
    return TaskUpdated(after, TaskStatus.IN_PROGRESS, True)


async def test_a_batch_finishing_is_one_toast_per_few_seconds(make_app: AppFactory) -> None:
    """Tasks finishing one by one (a flush each) make one toast, then one with the
    counts when the window ends: never a toast per task."""
    clock = FakeClock(NOW)
    ids = [f"image_batch{n:05d}" for n in range(14)]
    app = make_app([make_task(i, "IN_PROGRESS", run=None) for i in ids], clock=clock)
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot)
        for index, task_id in enumerate(ids):
            app._forward(finishing(task_id, "FAILURE" if index in (3, 9) else "SUCCESS"))
            await pilot.pause(0.3)  # a flush per task, as a batch trickling in
            clock.advance(0.1)
        shown = [n.message for n in app._notifications]
        assert shown == ["image_batch00000: SUCCESS, 0 outputs"]
        clock.advance(ANNOUNCE_EVERY)
        await pilot.pause(0.4)
        shown = [n.message for n in app._notifications]
        assert shown[1:] == ["13 tasks finished: 11 SUCCESS, 2 FAILURE"]


async def test_toasts_can_be_muted_by_key_and_by_config(make_app: AppFactory) -> None:
    clock = FakeClock(NOW)
    app = make_app([make_task("image_mute000001", "IN_PROGRESS", run=None)], clock=clock)
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot)
        await pilot.press("m")
        assert "muted" in list(app._notifications)[-1].message
        app._forward(finishing("image_mute000001"))
        await pilot.pause(0.4)
        assert not [n for n in app._notifications if "SUCCESS" in n.message]
        footer = [strip.text for strip in app.screen._compositor.render_strips()][-1]
        assert "m Mute" in footer
    muted = make_app([make_task("image_mute000002", "IN_PROGRESS", run=None)], notify_toasts=False)
    async with muted.run_test(size=SIZE) as pilot:
        await ready(pilot)
        muted._forward(finishing("image_mute000002"))
        await pilot.pause(0.4)
        assert not list(muted._notifications)


def closed_port() -> int:
    """A loopback port nobody listens on (bound, then released): connections are refused."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


async def test_offline_is_loud(make_app: AppFactory) -> None:
    """Every poll fails to connect: the summary says offline, names the base URL and
    when it retries, instead of "▶ live"."""
    base_url = f"http://127.0.0.1:{closed_port()}"
    tasks = [make_task(f"image_down0000{n}", None, polled_ago=None) for n in range(4)]
    app = make_app(
        tasks, clock=SystemClock(), start_polling=True, source="client", base_url=base_url
    )
    async with app.run_test(size=(160, 36)) as pilot:
        await ready(pilot)
        for _ in range(100):
            if "offline" in summary_text(app):
                break
            await pilot.pause(0.05)
        summary = summary_text(app)
        assert f"⚠ offline: {base_url} unreachable, retrying" in summary
        assert "▶ live" not in summary


def test_any_answer_ends_offline() -> None:
    reach = Reachability()
    for n in range(3):
        reach.failed(f"t{n}", retry_at=100.0 + n, unreachable=True)
    assert reach.offline and reach.retry_in(90.0) == 10.0
    reach.failed("t0", retry_at=120.0, unreachable=False)  # the server answered (a 500)
    assert not reach.offline
    for n in range(3):
        reach.failed(f"t{n}", retry_at=100.0, unreachable=True)
    reach.answered()
    assert not reach.offline


def contrast(one: Color, other: Color) -> float:
    """WCAG 2 contrast ratio of two colours (1 to 21)."""

    def luminance(color: Color) -> float:
        def channel(value: int) -> float:
            v = value / 255
            return v / 12.92 if v <= 0.03928 else ((v + 0.055) / 1.055) ** 2.4

        r, g, b = color.get_truecolor()
        return 0.2126 * channel(r) + 0.7152 * channel(g) + 0.0722 * channel(b)

    high, low = sorted((luminance(one), luminance(other)), reverse=True)
    return (high + 0.05) / (low + 0.05)


async def test_status_names_are_readable_on_a_light_theme(make_app: AppFactory) -> None:
    """Every status word in the table, on catppuccin-latte: 4.5:1 at least (WCAG AA);
    the terminal's yellow (IN_PROGRESS) was 2.3:1."""
    app = make_app()
    async with app.run_test(size=(140, 36)) as pilot:
        await ready(pilot)
        app.theme = "catppuccin-latte"
        await pilot.pause(0.3)
        statuses = {"SUCCESS", "FAILURE", "IN_PROGRESS", "QUEUED", "SUBMITTED", "NOT_START"}
        statuses |= {"NOT_FOUND", "PENDING", "PAUSED_BY_…"}
        seen: dict[str, float] = {}
        for strip in app.screen._compositor.render_strips()[6:]:
            if "image_a8813a4b4c9" in strip.text:
                continue  # the cursor's row has the cursor's colours
            for segment in strip:
                word = segment.text.strip()
                style = segment.style
                if word in statuses and style and style.color and style.bgcolor:
                    seen[word] = min(seen.get(word, 21.0), contrast(style.color, style.bgcolor))
        assert set(seen) == statuses
        assert {w: r for w, r in seen.items() if r < 4.5} == {}


async def test_help_explains_every_status_and_invented_ones(make_app: AppFactory) -> None:
    app = make_app()
    async with app.run_test(size=(120, 60)) as pilot:
        await ready(pilot)
        await pilot.press("question_mark")
        await pilot.pause()
        legend = str(app.screen.query_one("#help-statuses").render())
        for status in ("PENDING", "QUEUED", "IN_PROGRESS", "SUCCESS", "FAILURE", "NOT_FOUND"):
            assert status in legend
        assert "MODERATION" in legend and "status the API reported" in legend
