"""Render the README screenshots from the snapshot tests' fixtures.

Run: ``.venv/bin/python screenshots/generate.py``. Writes ``dashboard``, ``details``,
``help``, ``add``, ``new-task`` and ``no-token`` (the snapshot fixtures) and ``demo``
(the live demo a few seconds in) as SVG into this folder, and as PNG too when the
system's librsvg and cairo can be loaded (see ``svg2png.py``; no Python dependency).
The fixture shots are deterministic (fixed clock, UTC): a rerun changes them only if the
UI changed. The demo shot differs on every run.
"""

from __future__ import annotations

import asyncio
import os
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
sys.path.insert(0, str(HERE))

os.environ["TZ"] = "UTC"
time.tzset()

import svg2png  # noqa: E402
from textual.widgets import Input, TextArea  # noqa: E402

from siray_tui.core.clock import FakeClock  # noqa: E402
from siray_tui.ui.app import SirayApp  # noqa: E402
from siray_tui.ui.screens.add_tasks import AddTasksScreen  # noqa: E402
from tests.ui.fixtures import (  # noqa: E402
    NOW,
    every_status,
    fill_store,
    open_sample_form,
    settings_for,
)

Step = Callable[[Any], Awaitable[None]]


async def _ready(app: SirayApp, pilot: Any) -> None:
    for _ in range(400):
        if app.dashboard.loaded and not app.dashboard.table.filling:
            break
        await pilot.pause(0.01)
    await pilot.pause()


async def shoot(name: str, size: tuple[int, int], step: Step | None, token: bool = True) -> Path:
    """Render one screenshot to ``<name>.svg``."""
    with tempfile.TemporaryDirectory() as tmp:
        settings = settings_for(Path(tmp), token="screenshot" if token else None)
        store = fill_store(settings.data_dir, every_status())
        app = SirayApp(settings, store=store, clock=FakeClock(NOW), start_polling=False)
        app.animation_level = "none"
        async with app.run_test(size=size) as pilot:
            await _ready(app, pilot)
            if step is not None:
                await step(pilot)
            for widget in app.screen.query("Input, TextArea"):
                if isinstance(widget, Input | TextArea):
                    widget.cursor_blink = False
            await pilot.pause(0.2)
            svg = app.export_screenshot(title="siray-tui")
    path = HERE / f"{name}.svg"
    path.write_text(svg, encoding="utf-8")
    return path


async def open_details(pilot: Any) -> None:
    table = pilot.app.dashboard.table
    table.move_cursor(row=table.get_row_index("video_77aa1290bc"), animate=False)
    await pilot.press("enter")


async def open_help(pilot: Any) -> None:
    await pilot.press("question_mark")


async def open_add(pilot: Any) -> None:
    await pilot.app.push_screen(
        AddTasksScreen("image_1a2b3c, video_4d5e6f\nnot valid! image_7a8b9c")
    )


async def shoot_demo(
    name: str = "demo",
    size: tuple[int, int] = (150, 44),
    seconds: float = 3.0,
    step: Step | None = None,
) -> Path:
    """The live demo (simulator, polling) after a few seconds: not deterministic."""
    from siray_tui.config import Settings
    from siray_tui.demo import start_demo

    with start_demo(Settings(), arrival_every=1.0) as demo:
        app = SirayApp(demo.settings)
        app.animation_level = "none"
        async with app.run_test(size=size) as pilot:
            await _ready(app, pilot)
            await pilot.pause(seconds)
            if step is not None:
                await step(pilot)
            svg = app.export_screenshot(title="siray-tui --demo")
            await app.action_quit()
    path = HERE / f"{name}.svg"
    path.write_text(svg, encoding="utf-8")
    return path


def _finished_image(app: SirayApp) -> str:
    """A finished image task of the demo (one with outputs to draw)."""
    for task in app.dashboard.table.tasks.values():
        if task.kind.value == "image" and task.state is not None and task.state.outputs:
            return task.task_id
    raise RuntimeError("the demo has no finished image task yet")


async def open_preview(pilot: Any) -> None:
    """Details of a finished image task, its outputs drawn as half-blocks."""
    table = pilot.app.dashboard.table
    table.move_cursor(row=table.get_row_index(_finished_image(pilot.app)), animate=False)
    await pilot.press("enter")
    await pilot.pause(3.0)


async def open_preview_pane(pilot: Any) -> None:
    """The ``v`` pane beside the table, on a finished image task."""
    table = pilot.app.dashboard.table
    table.move_cursor(row=table.get_row_index(_finished_image(pilot.app)), animate=False)
    await pilot.press("v")
    await pilot.pause(3.0)


async def open_stats(pilot: Any) -> None:
    await pilot.press("t")
    await pilot.pause(0.5)


async def main() -> None:
    shots = [
        await shoot_demo(),
        await shoot("dashboard", (140, 30), None),
        await shoot("details", (120, 50), open_details),
        await shoot("help", (120, 40), open_help),
        await shoot("add", (120, 34), open_add),
        await shoot("new-task", (110, 50), open_sample_form),
        await shoot("no-token", (140, 24), None, token=False),
        await shoot("stats", (130, 40), open_stats),
        await shoot_demo("preview", (130, 48), 4.0, open_preview),
        await shoot_demo("preview-pane", (160, 40), 4.0, open_preview_pane),
    ]
    for svg in shots:
        line = f"wrote {svg.relative_to(HERE.parent)}"
        if svg2png.available():
            png = svg.with_suffix(".png")
            svg2png.convert(svg, png)
            line += f" and {png.name}"
        print(line)
    if not svg2png.available():
        print("no PNGs: librsvg-2 and cairo were not found (apt-get install librsvg2-2)")


if __name__ == "__main__":
    asyncio.run(main())
