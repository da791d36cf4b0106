"""Hostile server text (docs/api.md) through the real poller-event path and every screen.

Measured without the cleaning: a str cell holding ``[/x]`` crashes the app,
``[@click=app.quit]`` becomes a clickable action, and ESC/OSC bytes reach the terminal.
"""

from __future__ import annotations

from typing import Any

from textual.strip import Strip

from siray_tui.core.clock import SystemClock
from siray_tui.core.errors import AuthError, ServerError
from siray_tui.core.models import TaskKind, TaskState
from siray_tui.ui.screens.details import DetailsScreen
from tests.ui.conftest import AppFactory, FakeSource, finish_workers, open_details, ready, table
from tests.ui.fixtures import make_task

HOSTILE = (
    "[/x]",
    "[@click=app.quit]x[/]",
    "\x1b[31mred",
    "\x1b]52;c;ZXZpbA==\x07",
    "\x1b]0;title\x07",
    "long " + "y" * 5000,
    "bidi \u202eevil\u202c",
    "NUL \x00 byte",
)
TEXT = " ".join(HOSTILE)
MULTILINE = "\n".join(HOSTILE)


class HostileSource(FakeSource):
    """Answers hostile payloads, or raises errors whose messages are hostile."""

    async def get_task(self, task_id: str, kind: TaskKind) -> TaskState:
        self.calls.append(task_id)
        if task_id == "image_err0000001":
            raise ServerError(f"HTTP 500 server error: {TEXT}", status_code=500)
        if task_id == "image_auth000001":
            raise AuthError(f"HTTP 401 unauthorized: {TEXT}", status_code=401)
        status = "FAILURE" if task_id.startswith("image_fail") else TEXT
        payload = {
            "code": "success",
            "message": TEXT,
            "data": {
                "task_id": TEXT,
                "status": status,
                "progress": TEXT,
                "outputs": [*HOSTILE, "https://ok.example.com/a.png"],
                "submit_time": TEXT,
                "fail_reason": MULTILINE,
                "action": TEXT,
            },
        }
        return TaskState.from_payload(payload, task_id=task_id)


def strips_of(app: Any) -> list[Strip]:
    return list(app.screen._compositor.render_strips())


def assert_inert(app: Any) -> None:
    """Nothing clickable from the server, no escape byte, no bidi override on screen."""
    for strip in strips_of(app):
        for segment in strip:
            meta = segment.style.meta if segment.style else {}
            assert "quit" not in str(meta.get("@click", "")), (segment.text, meta)
            assert "\x1b" not in segment.text
            assert "\u202e" not in segment.text
            assert "\x00" not in segment.text
    svg = app.export_screenshot()
    for bad in ("\x1b", "\u202e", "\x00", "\x07"):
        assert bad not in svg


async def test_hostile_payloads_through_the_poller(make_app: AppFactory) -> None:
    tasks = [
        make_task("image_fail000001", None, label=TEXT, polled_ago=None),
        make_task("image_odd0000001", None, polled_ago=None),
        make_task("image_err0000001", None, polled_ago=None),
    ]
    app = make_app(tasks, clock=SystemClock(), start_polling=True, source=HostileSource())
    async with app.run_test(size=(120, 36)) as pilot:
        await ready(pilot)
        grid = table(app)
        for _ in range(60):
            await pilot.pause(0.05)
            if (
                all(
                    grid.tasks[t.task_id].last_polled_at or grid.tasks[t.task_id].last_error
                    for t in tasks
                )
                and grid.pending == 0
            ):
                break
        await pilot.pause(0.3)
        assert grid.tasks["image_fail000001"].status is not None
        assert grid.tasks["image_err0000001"].last_error
        assert app.is_running and app.return_code is None
        assert_inert(app)
        plain = "".join(strip.text for strip in strips_of(app))
        assert "[/x]" in plain  # the fail reason's first line, shown literally
        for task_id in ("image_fail000001", "image_odd0000001", "image_err0000001"):
            await open_details(pilot, task_id)
            assert isinstance(app.screen, DetailsScreen)
            assert_inert(app)
            if task_id == "image_fail000001":  # its label, in the title: literal, not obeyed
                title = "".join(strip.text for strip in strips_of(app))
                assert "[@click=app.quit]" in title
            app.copy_to_clipboard("unchanged")
            await pilot.press("c")  # copies only a URL that passes the check
            if task_id == "image_err0000001":  # never answered, so no outputs: its ID
                assert app.clipboard == task_id
            else:  # the first output, "[/x]", fails the check: nothing is copied
                assert app.clipboard == "unchanged"
                app.screen.query_one(f"#copy-{len(HOSTILE) + 1}").focus()
                await pilot.pause()
                await pilot.press("c")  # the one output that passes, exactly
                assert app.clipboard == "https://ok.example.com/a.png"
            await pilot.press("escape")
        await pilot.press("o")
        await finish_workers(app)
        assert app.is_running and app.return_code is None


async def test_hostile_auth_message_in_banner(make_app: AppFactory) -> None:
    tasks = [make_task("image_auth000001", None, polled_ago=None)]
    app = make_app(tasks, clock=SystemClock(), start_polling=True, source=HostileSource())
    async with app.run_test(size=(120, 36)) as pilot:
        await ready(pilot)
        for _ in range(40):
            await pilot.pause(0.05)
            if app.dashboard.banner.kind == "auth":
                break
        assert app.dashboard.banner.kind == "auth"
        await pilot.pause(0.3)
        assert app.is_running
        assert_inert(app)
