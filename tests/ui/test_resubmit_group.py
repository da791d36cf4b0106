"""``N`` in the stats screen: resubmit a failure group, driven through the pilot against
the simulator (a real :class:`SimServer` on loopback, as in test_new_task.py).

Money is at stake, so the simulator's POST counts are the proof: each task sent exactly
once after the confirmation, nothing before it or on cancel, nothing twice.
"""

from __future__ import annotations

from typing import Any

import pytest
from textual.widgets import Static

from siray_tui.core.models import InputImage, TaskKind, TaskRequest, WatchedTask
from siray_tui.core.store import WatchlistStore
from siray_tui.sim import Faults, SimServer
from siray_tui.ui.screens.new_task import COST_LINE
from siray_tui.ui.screens.resubmit_group import ConfirmResubmit, Tally, plan_resubmit
from siray_tui.ui.screens.stats import StatsScreen
from tests.conftest import SimFactory
from tests.ui.conftest import AppFactory, finish_workers, open_details, ready, table
from tests.ui.fixtures import make_task
from tests.ui.test_new_rows import row_ids
from tests.ui.test_new_task import SEEDREAM, WIDE, notes, sim_app, text_of

OLD = [f"image_f{index:09d}" for index in range(3)]


def failed(task_id: str, index: int, *, model: str = SEEDREAM, stored: bool = True) -> WatchedTask:
    """A failed image task (all of them one group: only numbers differ), with its
    stored request (its own prompt, so the simulator counts each) unless added by ID."""
    task = make_task(
        task_id,
        "FAILURE",
        ago=300 + index * 10,
        queue=3,
        run=None,
        fail_reason=f"upstream timeout after {30 + index}s",
    )
    if stored:
        task.request = TaskRequest(TaskKind.IMAGE, model, prompt(index), {"seed": index})
    return task


def prompt(index: int) -> str:
    return f"a fox, take {index}"


async def open_confirm(pilot: Any) -> ConfirmResubmit:
    """``t``, then ``N`` on the first (largest) failure group: the confirmation."""
    await ready(pilot)
    await pilot.press("t")
    await pilot.pause()
    assert isinstance(pilot.app.screen, StatsScreen)
    await pilot.press("N")
    await pilot.pause()
    screen = pilot.app.screen
    assert isinstance(screen, ConfirmResubmit), type(screen).__name__
    return screen


async def confirm(pilot: Any) -> None:
    await pilot.press("y")
    await finish_workers(pilot.app)
    await pilot.pause()


async def test_confirmed_group_is_resubmitted_once_each_with_retry_links(
    make_app: AppFactory, sim: SimServer
) -> None:
    tasks = [failed(task_id, index) for index, task_id in enumerate(OLD)]
    app = sim_app(make_app, sim, tasks)
    async with app.run_test(size=WIDE) as pilot:
        await open_confirm(pilot)
        counts = text_of(app, "#resubmit-counts")
        assert counts.startswith("3 tasks will be sent again") and "cannot" not in counts
        assert COST_LINE in text_of(app, "#resubmit-cost")
        assert "upstream timeout after <n>s" in text_of(app, "#resubmit-group")
        assert sim.post_count == 0  # asking sends nothing
        await confirm(pilot)
        assert isinstance(app.screen, StatsScreen)
        assert [sim.posts_for(prompt(index)) for index in range(3)] == [1, 1, 1]
        assert sim.post_count == 3
        new = [task_id for task_id in row_ids(table(app)) if task_id not in OLD]
        assert len(new) == 3
        assert all(task_id in app.poller.tasks for task_id in new)
        stored = WatchlistStore(app.settings.data_dir).load()
        links = {stored[task_id].request.retry_of: task_id for task_id in new}  # type: ignore[union-attr]
        assert sorted(links) == sorted(OLD)
        for index, old in enumerate(OLD):
            request = stored[links[old]].request
            assert request is not None
            assert (request.prompt, request.params) == (prompt(index), {"seed": index})
        assert notes(app)[-1] == "Resubmitted 3 of 3 tasks"
        assert app.screen.stats.total == 6  # the stats screen counted the new tasks in
        # again: every task is retried already, so nothing is sent twice
        await pilot.press("N")
        await pilot.pause()
        assert isinstance(app.screen, StatsScreen)
        assert "Nothing to resubmit: 3 already retried" in notes(app)[-1]
        assert sim.post_count == 3
        await pilot.press("escape")
        await open_details(pilot, links[OLD[0]])
        assert f"retry of  {OLD[0]}" in text_of(app, "#details-request")
        await pilot.press("escape")
        await open_details(pilot, OLD[0])
        assert f"retried as  {links[OLD[0]]}" in text_of(app, "#details-request")


@pytest.mark.parametrize("keys", [["escape"], ["n"], ["enter"]])
async def test_cancel_sends_nothing(make_app: AppFactory, sim: SimServer, keys: list[str]) -> None:
    """escape, n, and an enter out of habit (Cancel has the focus) all send nothing."""
    app = sim_app(make_app, sim, [failed(task_id, i) for i, task_id in enumerate(OLD)])
    async with app.run_test(size=WIDE) as pilot:
        await open_confirm(pilot)
        await pilot.press(*keys)
        await finish_workers(app)
        await pilot.pause()
        assert isinstance(app.screen, StatsScreen)
        assert sim.post_count == 0
        assert sorted(row_ids(table(app))) == OLD


async def test_tasks_without_a_stored_request_are_counted_and_skipped(
    make_app: AppFactory, sim: SimServer
) -> None:
    tasks = [failed(task_id, i, stored=i != 1) for i, task_id in enumerate(OLD)]
    tasks.append(failed("image_f000000009", 9, stored=False))
    app = sim_app(make_app, sim, tasks)
    async with app.run_test(size=WIDE) as pilot:
        await open_confirm(pilot)
        counts = text_of(app, "#resubmit-counts").splitlines()
        assert counts[0].startswith("2 tasks will be sent again")
        assert counts[1] == "2 cannot be: added by ID: no stored request."
        await confirm(pilot)
        assert [sim.posts_for(prompt(index)) for index in (0, 2)] == [1, 1]
        assert sim.post_count == 2
        assert notes(app)[-1] == "Resubmitted 2 of 2 tasks"
        assert len(row_ids(table(app))) == len(tasks) + 2


async def test_a_group_with_no_stored_request_asks_nothing(
    make_app: AppFactory, sim: SimServer
) -> None:
    app = sim_app(
        make_app, sim, [failed(task_id, i, stored=False) for i, task_id in enumerate(OLD)]
    )
    async with app.run_test(size=WIDE) as pilot:
        await ready(pilot)
        await pilot.press("t", "N")
        await pilot.pause()
        assert isinstance(app.screen, StatsScreen)
        assert notes(app)[-1] == "Nothing to resubmit: 3 added by ID: no stored request"
        assert sim.post_count == 0


async def test_rejections_are_reported_with_the_first_api_message(
    make_app: AppFactory, sim: SimServer
) -> None:
    tasks = [
        failed(OLD[0], 0),
        failed(OLD[1], 1, model="nobody/[b]x\x1b[31m"),
        failed(OLD[2], 2, model="nobody/other"),
    ]
    app = sim_app(make_app, sim, tasks)
    async with app.run_test(size=WIDE) as pilot:
        await open_confirm(pilot)
        await confirm(pilot)
        assert sim.post_count == 3
        summary = notes(app)[-1]
        assert summary.startswith("Resubmitted 1 of 3 tasks. 2 rejected by the API (first: ")
        assert "nobody/[b]x" in summary and "does not exist" in summary
        assert "\x1b" not in summary and "nobody/other" not in summary
        assert len([t for t in row_ids(table(app)) if t not in OLD]) == 1


async def test_a_refused_token_stops_at_the_first(
    make_app: AppFactory, sim_factory: SimFactory
) -> None:
    server = sim_factory(token="the-right-token")
    app = sim_app(make_app, server, [failed(task_id, i) for i, task_id in enumerate(OLD)])
    async with app.run_test(size=WIDE) as pilot:
        await open_confirm(pilot)
        await confirm(pilot)
        assert server.post_count == 1
        summary = notes(app)[-1]
        assert summary.startswith("Resubmitted 0 of 3 tasks. stopped: the API rejected the token")
        assert summary.endswith("; 3 not sent")


async def test_uncertain_ones_are_never_resent_by_the_group(
    make_app: AppFactory, sim_factory: SimFactory
) -> None:
    server = sim_factory(faults=Faults(ambiguous_rate=1.0))
    app = sim_app(make_app, server, [failed(task_id, i) for i, task_id in enumerate(OLD[:2])])
    async with app.run_test(size=WIDE) as pilot:
        await open_confirm(pilot)
        await confirm(pilot)
        assert [server.posts_for(prompt(index)) for index in range(2)] == [1, 1]
        summary = notes(app)[-1]
        assert "2 uncertain: may have been created" in summary
        assert OLD[0] in summary and OLD[1] in summary
        await pilot.press("N")
        await pilot.pause()
        assert isinstance(app.screen, StatsScreen)
        assert "2 resubmitted earlier with an uncertain outcome" in notes(app)[-1]
        assert server.post_count == 2


async def test_a_429_is_waited_out_and_nothing_is_lost(
    make_app: AppFactory, sim_factory: SimFactory
) -> None:
    """Unlike the form, the group waits out a 429 (which created nothing) and goes on."""
    server = sim_factory(faults=Faults(rate_limit_every=2, retry_after=5))
    app = sim_app(make_app, server, [failed(task_id, i) for i, task_id in enumerate(OLD)])
    async with app.run_test(size=WIDE) as pilot:
        await open_confirm(pilot)
        await pilot.press("y")
        for _ in range(3000):  # a bound, not a timing check: the clock is moved by hand
            if not [w for w in app.workers if w.group == "submit" and w.is_running]:
                break
            app.clock.advance(1)
            await pilot.pause(0.01)
        await finish_workers(app)
        await pilot.pause()
        assert notes(app)[-1] == "Resubmitted 3 of 3 tasks"
        assert [server.posts_for(prompt(index)) for index in range(3)] == [1, 2, 2]
        assert len(row_ids(table(app))) == 6


def test_plan_leaves_out_input_files_and_unsendable_requests() -> None:
    url = InputImage(url="https://example.com/fox.png")
    file = InputImage(name="fox.png", size=12, sha256="ab" * 32)
    tasks = {
        "image_a1": failed("image_a1", 1),
        "image_a2": failed("image_a2", 2),
        "image_a3": failed("image_a3", 3),
        "image_a4": failed("image_a4", 4),
    }
    tasks["image_a1"].request = TaskRequest(TaskKind.IMAGE, "m", "p", {}, (url,))
    tasks["image_a2"].request = TaskRequest(TaskKind.IMAGE, "m", "p", {}, (file,))
    tasks["image_a3"].request = TaskRequest(TaskKind.AUTO, "m", "p")
    plan = plan_resubmit([*tasks, "image_gone"], tasks)
    assert [old for old, _ in plan.sends] == ["image_a1", "image_a4"]
    (_, submission), _ = plan.sends
    assert submission.body["image"] == url.url and submission.request.retry_of == "image_a1"
    assert (plan.files, plan.unusable) == (["image_a2"], ["image_a3"])


def test_summary_names_every_outcome() -> None:
    tally = Tally(6, accepted=["image_n1"], rejected=1, first_rejection="bad\nsecond line")
    tally.not_sent, tally.first_not_sent = 1, "connection refused"
    tally.uncertain = ["image_u1"]
    tally.stopped = "the API rejected the token (401)"
    assert tally.summary() == (
        "Resubmitted 1 of 6 tasks. 1 rejected by the API (first: bad). 1 uncertain: may "
        "have been created (and charged), not resent; check the account before sending "
        "again: image_u1. 1 not sent, nothing created (connection refused). stopped: the "
        "API rejected the token (401); 2 not sent"
    )
    assert tally.severity == "error"
    assert Tally(1, accepted=["image_n1"]).severity == "information"


async def test_stats_screen_shows_the_key(make_app: AppFactory, sim: SimServer) -> None:
    app = sim_app(make_app, sim, [failed(OLD[0], 0)])
    async with app.run_test(size=WIDE) as pilot:
        await ready(pilot)
        await pilot.press("t")
        await pilot.pause()
        headers = [str(s.render()) for s in app.screen.query(".stats-section").results(Static)]
        assert any("N resubmit ·" in header for header in headers)
        shown = app.screen.active_bindings["N"]
        assert shown.binding.show and shown.binding.action == "resubmit_group"


async def test_a_second_group_waits_for_the_first(
    make_app: AppFactory, sim_factory: SimFactory
) -> None:
    """N again while a group is being sent asks nothing and sends nothing more."""
    server = sim_factory(faults=Faults(latency=1.0))  # generous: N comes while it sends
    app = sim_app(make_app, server, [failed(task_id, i) for i, task_id in enumerate(OLD)])
    async with app.run_test(size=WIDE) as pilot:
        await open_confirm(pilot)
        await pilot.press("y")
        await pilot.pause()
        await pilot.press("N")
        await pilot.pause()
        assert isinstance(app.screen, StatsScreen)
        assert "still being resubmitted" in notes(app)[-1]
        await finish_workers(app)
        assert server.post_count == 3
