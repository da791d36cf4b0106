"""``n`` (new task) and ``N`` (resubmit), driven through the pilot against the simulator.

The app talks to a real :class:`SimServer` on loopback (``source="client"``), so the
models list, the submission, its validation and its answer are the simulator's; the
assertions look at what a person sees: the form's lines, the table's real rows, the
details, and what was saved and received.
"""

from __future__ import annotations

from typing import Any

import pytest
from textual.widgets import Button, Input, Select, Static, TextArea

from siray_tui.core.models import TaskKind, TaskRequest
from siray_tui.core.store import WatchlistStore
from siray_tui.sim import Faults, SimServer
from siray_tui.ui.request_view import literal_json, request_content
from siray_tui.ui.screens.details import DetailsScreen
from siray_tui.ui.screens.new_task import COST_LINE, NewTaskScreen, parse_params
from tests.conftest import SimFactory
from tests.ui.conftest import AppFactory, finish_workers, open_details, ready, select, table
from tests.ui.fixtures import make_task, sample_request
from tests.ui.test_new_rows import assert_rows_match, row_ids, screen_text

WIDE = (200, 40)
"""Wide enough for the model column (the first to go when the terminal is narrow)."""
SEEDREAM = "bytedance/seedream-4.5-t2i"
HOSTILE = "a [bold red]fox[/] \x1b[31mred\x1b[0m [@click=app.quit]quit[/] \u202eevil"


def sim_app(make_app: AppFactory, sim: SimServer, tasks: Any = None, **changes: Any) -> Any:
    """An app whose client talks to ``sim`` (polling off: rows come from the submit)."""
    return make_app(
        [] if tasks is None else tasks, source="client", base_url=sim.base_url, **changes
    )


def form(app: Any) -> NewTaskScreen:
    screen = app.screen
    assert isinstance(screen, NewTaskScreen), type(screen).__name__
    return screen


def text_of(app: Any, selector: str) -> str:
    """The plain text a Static of the current screen shows."""
    return str(app.screen.query_one(selector, Static).render())


async def open_form(pilot: Any, key: str = "n") -> NewTaskScreen:
    await pilot.press(key)
    await pilot.pause()
    screen = form(pilot.app)
    await pilot.app.workers.wait_for_complete([w for w in screen.workers])
    await pilot.pause()
    return screen


async def fill(
    pilot: Any,
    *,
    model: str | None = None,
    prompt: str | None = None,
    params: str | None = None,
    label: str | None = None,
) -> None:
    screen = form(pilot.app)
    if model is not None:
        screen.query_one("#new-model", Input).value = model
    if prompt is not None:
        screen.query_one("#new-prompt", TextArea).text = prompt
    if params is not None:
        screen.query_one("#new-params", TextArea).text = params
    if label is not None:
        screen.query_one("#new-label", Input).value = label
    await pilot.pause()


async def submit(pilot: Any) -> None:
    await pilot.press("ctrl+s")
    await finish_workers(pilot.app)
    await pilot.pause()


def notes(app: Any) -> list[str]:
    return [n.message for n in app._notifications]


async def test_n_submits_an_image_task_and_its_row_appears_at_once(
    make_app: AppFactory, sim: SimServer
) -> None:
    app = sim_app(make_app, sim, [make_task("video_77aa1290bc", "FAILURE")])
    async with app.run_test(size=WIDE) as pilot:
        await ready(pilot)
        screen = await open_form(pilot)
        # type to filter, then pick from the list: the model is set and the kind follows
        await pilot.press(*"seedream", "down", "enter")
        await pilot.pause()
        assert screen.query_one("#new-model", Input).value == SEEDREAM
        assert screen.query_one("#new-kind", Select).value is TaskKind.IMAGE
        assert "models" in text_of(app, "#new-catalog")
        await fill(pilot, prompt="a red fox", params='{"seed": 7}', label="fox")
        assert COST_LINE in text_of(app, "#new-cost")
        assert '"seed": 7' in text_of(app, "#new-preview")
        await submit(pilot)
        assert not isinstance(app.screen, NewTaskScreen)
        grid = table(app)
        new = [task_id for task_id in row_ids(grid) if task_id != "video_77aa1290bc"]
        assert len(new) == 1 and new[0].startswith("image_")
        assert_rows_match(grid)
        assert grid.cursor_row == grid.get_row_index(new[0])
        shown = screen_text(app)
        assert "model" in shown and "seedream-4.5-t2i" in shown and new[0] in shown
        stored = WatchlistStore(app.settings.data_dir).load()[new[0]]
        assert stored.request is not None and stored.request.model == SEEDREAM
        assert stored.request.params == {"seed": 7} and stored.label == "fox"
        assert sim.posts_for("a red fox") == 1
        assert new[0] in app.poller.tasks


async def test_picking_a_video_model_sets_the_kind(make_app: AppFactory, sim: SimServer) -> None:
    app = sim_app(make_app, sim)
    async with app.run_test(size=WIDE) as pilot:
        await ready(pilot)
        screen = await open_form(pilot)
        await pilot.press(*"veo", "down", "enter")
        await pilot.pause()
        assert screen.query_one("#new-model", Input).value == "google/veo-3.1-t2v"
        assert screen.query_one("#new-kind", Select).value is TaskKind.VIDEO
        # free text is allowed: a model the list does not know keeps the kind chosen
        await fill(pilot, model="someone/private-model")
        assert screen.query_one("#new-kind", Select).value is TaskKind.VIDEO
        assert '"model": "someone/private-model"' in text_of(app, "#new-preview")


async def test_markup_and_escapes_are_literal_in_preview_table_and_details(
    make_app: AppFactory, sim: SimServer
) -> None:
    app = sim_app(make_app, sim)
    async with app.run_test(size=WIDE) as pilot:
        await ready(pilot)
        await open_form(pilot)
        await fill(pilot, model=SEEDREAM, prompt=HOSTILE, label="[b]lbl[/b]")
        preview = text_of(app, "#new-preview")
        assert "[bold red]fox[/]" in preview and "[@click=app.quit]quit[/]" in preview
        assert "\\u001b[31m" in preview and "\\u202e" in preview
        assert "\x1b" not in preview and "\u202e" not in preview
        await submit(pilot)
        assert app.is_running
        grid = table(app)
        (task_id,) = row_ids(grid)
        assert "[b]lb" in screen_text(app)  # cut to the column, but not parsed
        assert str(grid.get_cell(task_id, "task")).endswith("[b]lbl[/b]")
        await open_details(pilot, task_id)
        assert isinstance(app.screen, DetailsScreen)
        request = text_of(app, "#details-request")
        assert "[bold red]fox[/]" in request and "[@click=app.quit]quit[/]" in request
        assert "\x1b" not in request and "\u202e" not in request
        assert SEEDREAM in request and "retry of" not in request


async def test_invalid_params_block_submit(make_app: AppFactory, sim: SimServer) -> None:
    app = sim_app(make_app, sim)
    async with app.run_test(size=WIDE) as pilot:
        await ready(pilot)
        screen = await open_form(pilot)
        await fill(pilot, model=SEEDREAM, prompt="blocked fox", params='{"seed": 7,}')
        assert screen.query_one("#new-ok", Button).disabled
        assert text_of(app, "#new-params-error").startswith("params: ")
        await submit(pilot)  # ctrl+s too: nothing is sent
        assert isinstance(app.screen, NewTaskScreen)
        assert sim.posts_for("blocked fox") == 0
        assert text_of(app, "#new-error").startswith("params: ")
        await fill(pilot, params="[1, 2]")
        assert "JSON object" in text_of(app, "#new-params-error")
        assert screen.query_one("#new-ok", Button).disabled
        await fill(pilot, params='{"seed": 7}')
        assert not screen.query_one("#new-ok", Button).disabled
        assert text_of(app, "#new-params-error") == ""


async def test_rejected_submission_shows_the_api_message_and_keeps_the_form(
    make_app: AppFactory, sim: SimServer
) -> None:
    app = sim_app(make_app, sim)
    async with app.run_test(size=WIDE) as pilot:
        await ready(pilot)
        screen = await open_form(pilot)
        await fill(pilot, model="nobody/no-such-model", prompt="a fox\nsecond line", label="x")
        await submit(pilot)
        assert app.screen is screen
        error = text_of(app, "#new-error")
        assert error.startswith("Rejected by the API")
        assert "nobody/no-such-model" in error and "does not exist" in error
        assert "\n" not in error
        # the API quotes the model back: its markup stays literal, its escapes go
        await fill(pilot, model="nobody/[b]x\x1b[31m")
        await submit(pilot)
        error = text_of(app, "#new-error")
        assert "nobody/[b]x" in error and "\x1b" not in error and "does not exist" in error
        await fill(pilot, model="nobody/no-such-model")
        # nothing typed is lost, and the form can be sent again
        assert screen.query_one("#new-prompt", TextArea).text == "a fox\nsecond line"
        assert screen.query_one("#new-model", Input).value == "nobody/no-such-model"
        assert screen.query_one("#new-label", Input).value == "x"
        assert not screen.query_one("#new-ok", Button).disabled
        assert row_ids(table(app)) == []


@pytest.mark.parametrize("case", ["token", "uncertain", "unreachable", "rate-limited"])
async def test_other_failures_say_what_happened(
    make_app: AppFactory, sim_factory: SimFactory, case: str
) -> None:
    if case == "token":
        server = sim_factory(token="the-right-token")
        expected = "rejected the token"
    elif case == "uncertain":
        server = sim_factory(faults=Faults(ambiguous_rate=1.0))
        expected = "may have been created"
    elif case == "rate-limited":
        server = sim_factory(faults=Faults(rate_limit_every=1, retry_after=0.01))
        expected = "Rate limited by the API, nothing was created"
    else:
        server = sim_factory()
        expected = "Not sent, nothing was created"
    app = sim_app(make_app, server)
    if case == "unreachable":
        server.stop()  # nothing listens there any more: the connection is refused
    async with app.run_test(size=WIDE) as pilot:
        await ready(pilot)
        screen = await open_form(pilot)
        await fill(pilot, model=SEEDREAM, prompt="a fox")
        await submit(pilot)
        assert app.screen is screen
        assert expected in text_of(app, "#new-error")
        assert screen.query_one("#new-prompt", TextArea).text == "a fox"
        assert row_ids(table(app)) == []
        if case == "uncertain":  # created, maybe paid for: never sent again by itself
            assert server.posts_for("a fox") == 1


async def test_capital_n_prefills_and_links_retry_of_and_retried_as(
    make_app: AppFactory, sim: SimServer
) -> None:
    old = make_task("image_0b91c2f3aa", "FAILURE", label="banner")
    old.request = sample_request()
    app = sim_app(make_app, sim, [old])
    async with app.run_test(size=WIDE) as pilot:
        await ready(pilot)
        await select(pilot, old.task_id)
        screen = await open_form(pilot, "N")
        assert old.task_id in str(screen.query_one("#new-title", Static).render())
        assert screen.query_one("#new-model", Input).value == SEEDREAM
        assert screen.query_one("#new-prompt", TextArea).text == sample_request().prompt
        assert parse_params(screen.query_one("#new-params", TextArea).text) == {
            "size": "2048x2048",
            "seed": 7,
        }
        assert screen.query_one("#new-label", Input).value == "banner"
        screen.query_one("#new-prompt", TextArea).text = "a red fox, take two"
        await submit(pilot)
        grid = table(app)
        (new,) = [task_id for task_id in row_ids(grid) if task_id != old.task_id]
        stored = WatchlistStore(app.settings.data_dir).load()
        assert stored[new].request is not None
        assert stored[new].request.retry_of == old.task_id
        assert stored[new].request.prompt == "a red fox, take two"
        assert sim.posts_for("a red fox, take two") == 1
        await open_details(pilot, new)
        assert f"retry of  {old.task_id}" in text_of(app, "#details-request")
        await pilot.press("escape")
        await open_details(pilot, old.task_id)
        assert f"retried as  {new}" in text_of(app, "#details-request")


async def test_capital_n_on_a_task_added_by_id_says_so(make_app: AppFactory) -> None:
    app = make_app()
    async with app.run_test(size=WIDE) as pilot:
        await ready(pilot)
        await select(pilot, "video_77aa1290bc")
        await pilot.press("N")
        await pilot.pause()
        assert not isinstance(app.screen, NewTaskScreen)
        assert "added by ID" in notes(app)[-1] and "video_77aa1290bc" in notes(app)[-1]


def test_literal_json_is_the_json_sent() -> None:
    import json

    body = {"prompt": HOSTILE, "model": "m"}
    shown = literal_json(body)
    assert json.loads(shown) == body
    assert all(ch.isprintable() or ch == "\n" for ch in shown)


def test_request_params_put_urls_back_and_name_files() -> None:
    from siray_tui.core.models import InputImage
    from siray_tui.ui.screens.new_task import request_params

    url = InputImage(url="https://example.com/fox.png")
    file = InputImage(name="fox.png", size=1234, sha256="ab" * 32)
    request = TaskRequest(TaskKind.IMAGE, "m", "p", {"seed": 1}, (url,))
    assert request_params(request) == ({"seed": 1, "image": url.url}, "")
    params, note = request_params(TaskRequest(TaskKind.IMAGE, "m", "p", {}, (url, file)))
    assert params == {"images": [url.url]} and "fox.png (1,234 bytes)" in note


async def test_closing_the_form_while_sending_still_gives_the_row(
    make_app: AppFactory, sim_factory: SimFactory
) -> None:
    """The submission is the dashboard's worker, not the form's: escape while it is in
    flight cancels nothing (the task may be created and paid for), and it gets its row."""
    server = sim_factory(faults=Faults(latency=0.5))
    app = sim_app(make_app, server)
    async with app.run_test(size=WIDE) as pilot:
        await ready(pilot)
        await open_form(pilot)
        await fill(pilot, model=SEEDREAM, prompt="a patient fox")
        await pilot.press("ctrl+s")
        await pilot.pause()
        assert "Sending" in text_of(app, "#new-error")
        await pilot.press("escape")
        await pilot.pause()
        assert not isinstance(app.screen, NewTaskScreen)
        await finish_workers(app)
        await pilot.pause()
        (task_id,) = row_ids(table(app))
        assert server.posts_for("a patient fox") == 1
        assert f"Submitted {task_id}" in notes(app)[-1]


def test_request_section_shows_images_as_size_and_hash() -> None:
    from siray_tui.core.models import InputImage

    task = make_task("image_0b91c2f3aa", "SUCCESS")
    assert "none stored: added by ID" in str(request_content(task))
    image = InputImage(name="fox\x1b[2J.png", size=123_456, sha256="ab" * 32)
    task.request = TaskRequest(
        TaskKind.IMAGE, "m", "line one\nline [two]", {"seed": 7}, (image,), "image_0"
    )
    shown = str(request_content(task, ["image_9"]))
    assert "fox.png  123,456 bytes  sha256 " + "ab" * 32 in shown and "\x1b" not in shown
    assert "retry of  image_0" in shown and "retried as  image_9" in shown
    assert "line [two]" in shown and '"seed": 7' in shown
