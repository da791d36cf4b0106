"""``e``: the rows shown, filter then sort applied, to a CSV file in the download folder."""

from __future__ import annotations

import csv
import io
from typing import Any

from siray_tui.ui.widgets.task_table import TaskTable
from tests.ui.conftest import AppFactory, finish_workers, ready, table

SIZE = (120, 36)


def notes(app: Any) -> list[str]:
    return [n.message for n in app._notifications]


async def test_e_exports_the_visible_rows_in_their_order(make_app: AppFactory) -> None:
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot)
        grid: TaskTable = table(app)
        grid.set_filter(text="image")
        grid.set_sort("total", reverse=True)
        await pilot.pause()
        shown = grid.shown_ids
        assert 2 < len(shown) < len(grid.tasks)  # the filter leaves some out
        assert shown != sorted(shown, key=list(grid.tasks).index)  # and the sort moved some
        await pilot.press("e")
        await finish_workers(app)
        await pilot.pause()
        files = list(app.settings.download_dir.glob("siray-tui-export-*.csv"))
        assert len(files) == 1
        assert files[0].name == "siray-tui-export-20251116-063112.csv"  # the FakeClock's time
        rows = list(csv.DictReader(io.StringIO(files[0].read_text("utf-8"), newline="")))
        assert [row["task_id"] for row in rows] == shown
        assert f"Exported {len(shown)} tasks to {files[0]}" in notes(app)[-1]
        # a second export in the same second gets a name of its own
        await pilot.press("e")
        await finish_workers(app)
        assert len(list(app.settings.download_dir.glob("siray-tui-export-*.csv"))) == 2


async def test_e_says_why_when_the_folder_cannot_be_made(make_app: AppFactory) -> None:
    app = make_app()
    app.settings.download_dir.parent.mkdir(parents=True, exist_ok=True)
    app.settings.download_dir.write_text("a file where the folder should be", "utf-8")
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot)
        await pilot.press("e")
        await finish_workers(app)
        await pilot.pause()
        assert notes(app)[-1].startswith(f"cannot create {app.settings.download_dir}")
