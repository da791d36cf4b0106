"""SVG snapshots of the dashboard's screens (fixed clock, UTC, polling off, no blink).

Regenerate with ``pytest tests/ui/test_snapshots.py --snapshot-update`` and look at the
report before committing: a snapshot is only as good as what it was checked to show.
"""

from __future__ import annotations

from typing import Any

from textual.pilot import Pilot

from siray_tui.core.poller import AuthFailed, RateLimited
from siray_tui.ui.columns import SORT_CYCLE
from siray_tui.ui.screens.add_tasks import AddTasksScreen
from tests.ui.conftest import AppFactory, previews_loaded, ready, select, still, table
from tests.ui.fixtures import NOW, every_status, make_task, open_sample_form

WIDE = (140, 36)


async def _settle(pilot: Pilot[Any]) -> None:
    await ready(pilot)
    still(pilot)


def test_dashboard_every_status(snap_compare: Any, make_app: AppFactory) -> None:
    """Every status with its colour, bars, durations, reasons and the summary."""
    assert snap_compare(make_app(), terminal_size=WIDE, run_before=_settle)


def test_no_token(snap_compare: Any, make_app: AppFactory) -> None:
    """Without a token the watchlist still shows, with one line on how to set it."""
    assert snap_compare(make_app(token=None), terminal_size=WIDE, run_before=_settle)


def test_details_of_failed_task(snap_compare: Any, make_app: AppFactory) -> None:
    """Fields in UTC, the multi-line fail reason, history and the raw JSON."""

    async def open_details(pilot: Pilot[Any]) -> None:
        await _settle(pilot)
        await select(pilot, "video_77aa1290bc")

    assert snap_compare(
        make_app(), press=["enter"], terminal_size=(120, 60), run_before=open_details
    )


def test_details_of_successful_task(snap_compare: Any, make_app: AppFactory) -> None:
    """Each output with its own open / download / copy buttons, and under the first three
    the one-line reason their preview is missing (these outputs cannot be fetched)."""

    async def open_details(pilot: Pilot[Any]) -> None:
        await _settle(pilot)
        await select(pilot, "image_a8813a4b4c9")
        await pilot.press("enter")
        await previews_loaded(pilot)

    assert snap_compare(make_app(), terminal_size=(120, 50), run_before=open_details)


def test_add_dialog(snap_compare: Any, make_app: AppFactory) -> None:
    """The paste box counts valid IDs and names the invalid ones."""

    async def open_dialog(pilot: Pilot[Any]) -> None:
        await _settle(pilot)
        await pilot.app.push_screen(
            AddTasksScreen("image_1a2b3c, video_4d5e6f\nnot valid! image_7a8b9c")
        )
        await pilot.pause()
        still(pilot)

    assert snap_compare(make_app(), terminal_size=(120, 36), run_before=open_dialog)


def test_help(snap_compare: Any, make_app: AppFactory) -> None:
    """The key table."""
    assert snap_compare(
        make_app(), press=["question_mark"], terminal_size=(120, 40), run_before=_settle
    )


def test_text_filter(snap_compare: Any, make_app: AppFactory) -> None:
    """``/video`` keeps only matching rows; the summary says how many."""
    assert snap_compare(
        make_app(),
        press=["slash", *"video", "enter"],
        terminal_size=WIDE,
        run_before=_settle,
    )


def test_status_filter_and_sort(snap_compare: Any, make_app: AppFactory) -> None:
    """Active tasks (ticked in the ``f`` picker); ``s`` pressed until the total column, and
    ``S`` reverses it: active tasks only, the longest total first, missing totals last."""

    async def filter_and_sort(pilot: Pilot[Any]) -> None:
        await _settle(pilot)
        await pilot.press("f", "space", "enter", *"s" * SORT_CYCLE.index("total"), "S")
        await pilot.pause()
        grid = table(pilot.app)
        assert grid.status_filter == "active"
        assert (grid.sort_column, grid.sort_reverse) == ("total", True)
        shown = [grid.tasks[task_id] for task_id in grid.shown_ids]
        assert shown and all(not task.is_final for task in shown)
        totals = [t.state.timings(NOW).total if t.state else None for t in shown]
        known = [total for total in totals if total is not None]
        assert totals == sorted(known, reverse=True) + [None] * (len(totals) - len(known))

    assert snap_compare(make_app(), terminal_size=WIDE, run_before=filter_and_sort)


def test_small_terminal(snap_compare: Any, make_app: AppFactory) -> None:
    """80x24: columns drop by priority (task and reason stay), the footer keeps help and
    quit, the summary wraps, nothing overlaps."""
    assert snap_compare(make_app(), terminal_size=(80, 24), run_before=_settle)


def test_100_columns(snap_compare: Any, make_app: AppFactory) -> None:
    """100x30: the reason column is on screen, long IDs are whole, help and quit stay."""
    tasks = [
        *every_status(),
        make_task("task-0c1d2e3f-4a5b-6c7d-8e9f-0a1b2c3d4e5f", "QUEUED", label="foxes"),
        make_task("task-9f8e7d6c-5b4a-3c2d-1e0f-a9b8c7d6e5f4", "QUEUED", label="foxes"),
    ]
    assert snap_compare(make_app(tasks), terminal_size=(100, 30), run_before=_settle)


def test_add_dialog_80x24(snap_compare: Any, make_app: AppFactory) -> None:
    """80x24: the add dialog's buttons are on screen."""

    async def open_dialog(pilot: Pilot[Any]) -> None:
        await _settle(pilot)
        await pilot.app.push_screen(AddTasksScreen("image_1a2b3c, video_4d5e6f"))
        await pilot.pause()
        still(pilot)

    assert snap_compare(make_app(), terminal_size=(80, 24), run_before=open_dialog)


def test_status_picker(snap_compare: Any, make_app: AppFactory) -> None:
    """``f``: statuses with check boxes, the invented one (PAUSED_BY_PROVIDER) included."""
    assert snap_compare(
        make_app(), press=["f", "down", "space"], terminal_size=(80, 30), run_before=_settle
    )


def test_auth_banner(snap_compare: Any, make_app: AppFactory) -> None:
    """The poller's word that the token was rejected (a 401) becomes a banner saying
    polling stopped, not a traceback. The poller stopping itself is tested with it, in
    tests/unit/test_poller.py; here polling is off, as in every snapshot."""

    async def reject(pilot: Pilot[Any]) -> None:
        await _settle(pilot)
        app = pilot.app
        app._forward(AuthFailed("HTTP 401 unauthorized: invalid token"))
        await pilot.pause()
        assert app.is_running and app.return_code is None

    assert snap_compare(make_app(), terminal_size=WIDE, run_before=reject)


def test_rate_limit_banner(snap_compare: Any, make_app: AppFactory) -> None:
    """A 429 shows when polling resumes."""

    async def limit(pilot: Pilot[Any]) -> None:
        await _settle(pilot)
        pilot.app._forward(RateLimited(until=NOW + 42, retry_after=42.0))
        await pilot.pause()

    assert snap_compare(make_app(), terminal_size=WIDE, run_before=limit)


def test_hostile_text_is_literal(snap_compare: Any, make_app: AppFactory) -> None:
    """Markup, escapes and bidi controls from the server show as inert text."""
    hostile = make_task(
        "image_bad000001",
        "FAILURE",
        label="[@click=app.quit]label[/]",
        ago=100,
        queue=5,
        run=20,
        fail_reason="[/x] \x1b[31mred\x1b]0;title\x07 \u202eevil\u202c [@click=app.quit]x[/]",
        last_error=None,
    )
    tasks = [*every_status()[:3], hostile]
    assert snap_compare(make_app(tasks), terminal_size=WIDE, run_before=_settle)


def test_new_task_form(snap_compare: Any, make_app: AppFactory) -> None:
    """The new-task form pre-filled (as ``N`` does): the models list filtered by the
    typed model, the body that will be sent, the credits line. The list is a fixed one
    (no network) and the clock is fixed."""

    async def open_form(pilot: Pilot[Any]) -> None:
        await _settle(pilot)
        await open_sample_form(pilot)
        await pilot.pause()
        still(pilot)

    assert snap_compare(make_app(), terminal_size=(110, 50), run_before=open_form)
