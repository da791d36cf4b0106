"""Image previews in the dashboard: drawn in details, the ``v`` pane, and bad images.

The images come from the simulator over loopback (real PNGs and hostile ones); the
snapshots use a fixed PNG through a MockTransport so their bytes never change.
"""

from __future__ import annotations

import random
from functools import partial
from pathlib import Path
from typing import Any

import httpx
from rich.console import Console
from textual.content import Content
from textual.pilot import Pilot

from siray_tui.core.thumbs import ThumbCache, ThumbFailure, Thumbnail
from siray_tui.sim import SimServer
from siray_tui.sim.media import make_png
from siray_tui.ui.screens.details import DetailsScreen
from siray_tui.ui.widgets.preview import HalfBlocks, ImagePreview, PreviewPane
from tests.ui.conftest import (
    AppFactory,
    offline_thumbs,
    open_details,
    previews_loaded,
    ready,
    select,
    still,
    table,
)
from tests.ui.fixtures import make_task

PICTURE = make_png(random.Random("siray-preview-snapshot"), 48, 32)


def sim_tasks(sim: SimServer, *names: str) -> list[Any]:
    """One finished image task per hostile-image name, its output at the simulator."""
    return [
        make_task(
            f"image_{name.replace('-', '')}",
            "SUCCESS",
            label=name,
            progress="100%",
            outputs=[sim.url(f"/files-hostile/{name}.png")],
        )
        for name in names
    ]


def sim_app(make_app: AppFactory, sim: SimServer, tmp_path: Path, *names: str) -> Any:
    thumbs = partial(ThumbCache.for_cache, tmp_path / "thumbs", allow_loopback_http=True)
    return make_app(sim_tasks(sim, *names), base_url=sim.base_url, thumbs_factory=thumbs)


def serve_picture(request: httpx.Request) -> httpx.Response:
    return httpx.Response(200, content=PICTURE, headers={"Content-Type": "image/png"})


def picture_thumbs(folder: Path) -> ThumbCache:
    return offline_thumbs(folder, httpx.MockTransport(serve_picture))


async def test_details_draw_an_image_output(
    make_app: AppFactory, sim: SimServer, tmp_path: Path
) -> None:
    app = sim_app(make_app, sim, tmp_path, "large")
    async with app.run_test(size=(120, 50)) as pilot:
        await open_details(pilot, "image_large")
        await previews_loaded(pilot)
        preview = app.screen.query_one(ImagePreview)
        assert isinstance(app.screen, DetailsScreen)
        assert isinstance(preview.loaded, Thumbnail)
        assert preview.loaded.source_size == (4096, 4096)
        assert isinstance(preview.content, HalfBlocks)


async def test_bad_images_in_details_show_one_line_each(
    make_app: AppFactory, sim: SimServer, tmp_path: Path
) -> None:
    names = ("lying", "truncated", "bomb", "not-image")
    app = sim_app(make_app, sim, tmp_path, *names)
    async with app.run_test(size=(120, 50)) as pilot:
        for name in names:
            await open_details(pilot, f"image_{name.replace('-', '')}")
            await previews_loaded(pilot)
            preview = app.screen.query_one(ImagePreview)
            assert isinstance(preview.loaded, ThumbFailure), name
            assert isinstance(preview.content, Content)
            shown = preview.content.plain
            assert shown.startswith("preview: "), name
            assert "\n" not in shown
            await pilot.press("escape")
            await pilot.pause()
        assert app.is_running


async def test_v_shows_the_pane_which_follows_the_cursor(
    make_app: AppFactory, sim: SimServer, tmp_path: Path
) -> None:
    app = sim_app(make_app, sim, tmp_path, "large", "not-image")
    async with app.run_test(size=(140, 40)) as pilot:
        await select(pilot, "image_large")
        pane = app.screen.query_one(PreviewPane)
        assert not pane.display
        await pilot.press("v")
        await previews_loaded(pilot)
        assert pane.display
        assert isinstance(pane.image.loaded, Thumbnail)
        grid = table(app)
        grid.move_cursor(row=grid.get_row_index("image_notimage"), animate=False)
        await pilot.pause(0.4)  # past the debounce
        await previews_loaded(pilot)
        assert pane.task_id == "image_notimage"
        assert isinstance(pane.image.loaded, ThumbFailure)
        await pilot.press("v")
        await pilot.pause()
        assert not pane.display


async def test_the_pane_loads_only_where_the_cursor_rests(
    make_app: AppFactory, sim: SimServer, tmp_path: Path
) -> None:
    """A held arrow key crosses rows without fetching each one's image."""
    app = sim_app(make_app, sim, tmp_path, "large", "lying", "truncated", "bomb", "not-image")
    async with app.run_test(size=(140, 40)) as pilot:
        await ready(pilot)
        await pilot.press("home", "v")
        await previews_loaded(pilot)
        sim.clear_log()
        await pilot.press("down", "down", "down", "down")
        await pilot.pause(0.4)
        await previews_loaded(pilot)
        fetched = [r.path for r in sim.request_log if r.path.startswith("/files-hostile/")]
        assert len(fetched) == 1


def test_details_with_a_drawn_preview(
    snap_compare: Any, make_app: AppFactory, tmp_path: Path
) -> None:
    """The picture as half-blocks under its output row (fixed PNG, no network)."""
    task = make_task(
        "image_a8813a4b4c9",
        "SUCCESS",
        label="hero shot",
        progress="100%",
        outputs=["https://cdn.example.com/out/a0.png"],
    )
    app = make_app([task], thumbs_factory=partial(picture_thumbs, tmp_path / "pic"))

    async def run_before(pilot: Pilot[Any]) -> None:
        await open_details(pilot, task.task_id)
        await previews_loaded(pilot)

    assert snap_compare(app, terminal_size=(100, 40), run_before=run_before)


def test_preview_pane(snap_compare: Any, make_app: AppFactory, tmp_path: Path) -> None:
    """The ``v`` pane beside the table, showing the selected task's image."""
    tasks = [
        make_task(
            f"image_{n:010x}",
            "SUCCESS",
            label=f"shot {n}",
            progress="100%",
            outputs=[f"https://cdn.example.com/out/{n}.png"],
        )
        for n in range(3)
    ]
    app = make_app(tasks, thumbs_factory=partial(picture_thumbs, tmp_path / "pic"))

    async def run_before(pilot: Pilot[Any]) -> None:
        await select(pilot, tasks[1].task_id)
        await pilot.press("v")
        await previews_loaded(pilot)
        still(pilot)

    assert snap_compare(app, terminal_size=(140, 30), run_before=run_before)


def test_half_blocks_put_two_pixels_in_each_cell() -> None:
    """Upper pixel as the foreground of ``▀``, lower as its background; an odd last row
    leaves the background to the terminal."""
    red, green, blue = (255, 0, 0), (0, 255, 0), (0, 0, 255)
    pixels = [red, green, blue, red, green, blue]  # 2 wide, 3 high
    thumb = Thumbnail(2, 3, bytes(c for p in pixels for c in p), (2, 3))
    lines = Console(width=10, color_system="truecolor").render_lines(HalfBlocks(thumb))
    cells = [[(s.text, s.style) for s in line if s.text == "▀"] for line in lines]
    assert [[text for text, _ in line] for line in cells[:2]] == [["▀", "▀"], ["▀", "▀"]]
    first, second = cells[0], cells[1]
    assert [(st.color.triplet, st.bgcolor.triplet) for _, st in first] == [  # type: ignore[union-attr]
        ((255, 0, 0), (0, 0, 255)),
        ((0, 255, 0), (255, 0, 0)),
    ]
    assert [(st.color.triplet, st.bgcolor) for _, st in second] == [  # type: ignore[union-attr]
        ((0, 255, 0), None),
        ((0, 0, 255), None),
    ]
