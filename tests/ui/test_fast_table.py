"""FastDataTable must render and order rows exactly as DataTable does."""

from __future__ import annotations

from typing import Any

from rich.text import Text
from textual.app import App, ComposeResult
from textual.widgets import DataTable

from siray_tui.ui.widgets.fast_table import FastDataTable


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
