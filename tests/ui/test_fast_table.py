"""FastDataTable must render and order rows exactly as DataTable does."""

from __future__ import annotations

import logging
from typing import Any

from rich.text import Text
from textual.app import App, ComposeResult
from textual.widgets import DataTable

from siray_tui.ui.widgets import fast_table
from siray_tui.ui.widgets.fast_table import FastDataTable, PlainDataTable


def _cells(row: int) -> list[Text]:
    name = Text(f"task-{row:04d} with a long name", no_wrap=True, overflow="ellipsis", end="")
    status = Text("IN_PROGRESS" if row % 2 else "SUCCESS", style="bold yellow", end="")
    bar = Text(no_wrap=True, overflow="ellipsis", end="")
    bar.append("█" * (row % 8), "green")
    bar.append("░" * (8 - row % 8), "dim")
    bar.append(f" {row % 100:>3}%")
    return [name, status, bar, Text("[/x] [@click=app.quit]x[/]", end="")]


class Pair(App[None]):
    def compose(self) -> ComposeResult:
        yield FastDataTable(id="fast", cursor_type="row", zebra_stripes=True)
        yield DataTable(id="plain", cursor_type="row", zebra_stripes=True)

    def on_mount(self) -> None:
        for table in self.query(DataTable):
            for key, width in (("task", 14), ("status", 11), ("bar", 13), ("reason", 9)):
                table.add_column(key, width=width, key=key)
            for row in range(60):
                table.add_row(*_cells(row), key=f"r{row}")


async def test_renders_like_datatable() -> None:
    app = Pair()
    async with app.run_test(size=(80, 40)) as pilot:
        fast = app.query_one("#fast", FastDataTable)
        plain = app.query_one("#plain", DataTable)
        for table in (fast, plain):
            table.move_cursor(row=3)
            table.update_cell("r5", "status", Text("FAILURE", style="red"))
            table.sort("status", key=lambda cell: cell.plain)
        app.set_focus(None)
        await pilot.pause()
        assert [r.key for r in fast.ordered_rows] == [r.key for r in plain.ordered_rows]
        width = fast.size.width

        def lines(table: Any) -> list[Any]:
            table._pseudo_class_state = table.get_pseudo_class_state()
            rendered = [table._render_line(y, 0, width, table.rich_style) for y in range(25)]
            return [[(s.text, s.style) for s in strip] for strip in rendered]

        assert lines(fast) == lines(plain)
        for row in range(20):
            for column in range(4):
                for cursor in (False, True):
                    column_width = fast.ordered_columns[column].get_render_width(fast)
                    args = (row, column, fast.rich_style, column_width, cursor, False)
                    assert fast._render_cell(*args) == plain._render_cell(*args)
        fast.remove_row("r7")
        plain.remove_row("r7")
        fast.clear()
        assert fast.ordered_rows == [] and fast._total_row_height == 0


def test_a_changed_textual_falls_back_to_the_plain_table(monkeypatch: Any, caplog: Any) -> None:
    assert fast_table.missing_members() == []  # the installed Textual fits
    assert fast_table.TableBase is FastDataTable
    monkeypatch.delattr(DataTable, "_clear_caches")

    class Reworked(DataTable[Text]):
        def _get_offsets(self, row: int) -> tuple[Any, int]:  # a parameter renamed
            raise NotImplementedError

    assert fast_table.missing_members(Reworked) == ["_get_offsets(row)", "_clear_caches"]
    with caplog.at_level(logging.DEBUG, logger=fast_table.__name__):
        assert fast_table.choose_table() is PlainDataTable
    assert len(caplog.records) == 1
    assert "_clear_caches" in caplog.records[0].getMessage()
    assert "plain DataTable" in caplog.records[0].getMessage()


class Fallback(App[None]):
    def compose(self) -> ComposeResult:
        yield PlainDataTable(id="fallback", cursor_type="row", zebra_stripes=True)
        yield DataTable(id="plain", cursor_type="row", zebra_stripes=True)

    def on_mount(self) -> None:
        for table in self.query(DataTable):
            for key, width in (("task", 14), ("status", 11), ("bar", 13), ("reason", 9)):
                table.add_column(key, width=width, key=key)


async def test_the_fallback_table_does_what_the_task_table_asks() -> None:
    app = Fallback()
    async with app.run_test(size=(80, 40)) as pilot:
        fallback = app.query_one("#fallback", PlainDataTable)
        plain = app.query_one("#plain", DataTable)
        with fallback.appending():
            for row in range(60):
                fallback.add_row(*_cells(row), key=f"r{row}")
        for row in range(60):
            plain.add_row(*_cells(row), key=f"r{row}")
        for table in (fallback, plain):
            with fallback.folded_refresh():
                table.update_cell("r5", "status", Text("FAILURE", style="red"))
            table.sort("status", key=lambda cell: cell.plain)
        app.set_focus(None)
        await pilot.pause()
        width = fallback.size.width

        def text(table: Any) -> list[str]:
            table._pseudo_class_state = table.get_pseudo_class_state()
            rendered = [table._render_line(y, 0, width, table.rich_style) for y in range(25)]
            return ["".join(s.text for s in strip) for strip in rendered]

        assert text(fallback) == text(plain)
        fallback.set_column_width("status", 11, hidden=True)
        await pilot.pause()
        assert not any("SUCCESS" in line for line in text(fallback))
        fallback.set_column_width("status", 11)
        await pilot.pause()
        assert text(fallback) == text(plain)


DataTable_refresh = DataTable.refresh


async def test_folded_cell_updates_repaint_only_their_rows_and_show_on_screen() -> None:
    """Inside folded_refresh, update_cell repaints the rows it changed (scrolled or not),
    and only those: a wrong region would leave the old text on screen."""
    app = Pair()
    async with app.run_test(size=(80, 40)) as pilot:
        fast = app.query_one("#fast", FastDataTable)
        app.query_one("#plain", DataTable).display = False
        app.set_focus(None)
        for scroll in (0, 15):
            fast.scroll_to(y=scroll, animate=False)
            await pilot.pause()
            assert fast.scroll_offset.y == scroll
            regions: list[Any] = []

            def spy(self: Any, *args: Any, _seen: list[Any] = regions, **kwargs: Any) -> Any:
                _seen.append(args)
                return DataTable_refresh(self, *args, **kwargs)

            DataTable.refresh = spy  # type: ignore[method-assign]
            try:
                with fast.folded_refresh():
                    for row in (scroll + 2, scroll + 7):
                        fast.update_cell(f"r{row}", "reason", Text(f"NEW{row}"))
            finally:
                DataTable.refresh = DataTable_refresh  # type: ignore[method-assign]
            assert len(regions) == 2 and all(len(args) == 1 for args in regions)
            assert sorted(args[0].y for args in regions) == [3, 8]  # header, then rows
            await pilot.pause()
            screen = app.export_screenshot()
            assert f"NEW{scroll + 2}" in screen and f"NEW{scroll + 7}" in screen


async def test_a_full_cell_cache_keeps_the_cells_on_screen(monkeypatch: Any) -> None:
    """When the render cache is full, the least recently used entries go, not all of
    them: the cells on screen, used at every repaint, are not rendered again."""
    monkeypatch.setattr(fast_table, "CELL_CACHE_LIMIT", 300)  # twice the cells on screen
    app = Pair()
    async with app.run_test(size=(80, 40)) as pilot:
        fast = app.query_one("#fast", FastDataTable)
        app.query_one("#plain", DataTable).display = False
        await pilot.pause()
        renders: list[int] = []
        original = FastDataTable._render_text_cell

        def counting(self: Any, cell: Text, row: int, *args: Any) -> Any:
            renders.append(row)
            return original(self, cell, row, *args)

        monkeypatch.setattr(FastDataTable, "_render_text_cell", counting)
        for round_ in range(200):  # one live cell changing: stale entries pile up
            fast.update_cell("r0", "reason", Text(f"tick {round_}"))
            fast.refresh()  # the whole table repaints: every cell on screen is used
            await pilot.pause()
        assert fast._cells is not None and len(fast._cells) <= 300  # 156 + 200 went in
        # only the changed cell was rendered each time; the rest came from the cache
        assert renders == [0] * 200
