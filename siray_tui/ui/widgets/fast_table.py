"""FastDataTable: Textual 8's DataTable without its per-update O(rows) bookkeeping.

DataTable keys nearly every cache on one counter (``_update_count``) that every
``update_cell``, ``add_row`` and ``sort`` bumps. Two of those caches are O(rows) to rebuild:
the row order (``ordered_rows``) and the line-to-row map (``_y_offsets``), so at 10,000
rows each repaint after a one-cell update spent ~25 ms rebuilding lists that had not
changed. This subclass keys those two on a version that moves only when rows are added,
removed, cleared or sorted, and it removes two more costs that a table whose columns all
have fixed widths and whose rows are all one line high never needs:

* measuring every cell of every new row (``_update_dimensions``, ~40 us a row);
* a full refresh per ``update_cell`` call: inside :meth:`folded_refresh`, refreshes are folded
  into one.

Everything here overrides DataTable internals of Textual 8.x (the project pins <9); the
UI tests check the row order and offsets against DataTable's own computation. Those
internals can change in any release, so at import :func:`missing_members` checks that
the installed DataTable still has every private member this class overrides or uses (with
the parameters it passes), and :data:`TableBase`, what the task table builds on, is
:class:`PlainDataTable` (stock DataTable behaviour: slower, correct) when one is gone; the
debug log says so once.
"""

from __future__ import annotations

import inspect
import logging
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from itertools import islice
from typing import TYPE_CHECKING, Any, Self

from rich.segment import Segment
from rich.style import Style
from rich.text import Text
from textual.geometry import Region
from textual.strip import Strip
from textual.widgets import DataTable
from textual.widgets.data_table import Column, ColumnKey, Row, RowKey

logger = logging.getLogger(__name__)

CELL_CACHE_LIMIT = 20_000  # far above the cells on screen (~700 at 200x60), for LRU eviction
_NULL_STYLE = Style.parse("none")  # what Padding() pads with


@dataclass
class HideableColumn(Column):
    """A column that a narrow terminal can hide: zero cells wide, its cells kept."""

    hidden: bool = False

    def get_render_width(self, data_table: DataTable[Any]) -> int:
        return 0 if self.hidden else super().get_render_width(data_table)


class PlainDataTable(DataTable[Text]):
    """DataTable with the few extras the task table asks for, on public members only.

    The fallback when the installed Textual lacks what :class:`FastDataTable` overrides:
    rows added and cells updated the stock way (every update repaints, so slower at
    10,000 rows), and columns that a narrow terminal can hide.
    """

    @contextmanager
    def appending(self) -> Iterator[None]:
        """Rows added inside this block are added at the bottom (here: as usual)."""
        yield

    @contextmanager
    def folded_refresh(self) -> Iterator[None]:
        """Many ``update_cell`` calls inside this block (here: each refreshes)."""
        yield

    def add_column(
        self,
        label: Any,
        *,
        width: int | None = None,
        key: str | None = None,
        default: Any = None,
    ) -> ColumnKey:
        column_key = super().add_column(label, width=width, key=key, default=default)
        column = self.columns[column_key]
        self.columns[column_key] = HideableColumn(
            column.key, column.label, column.width, column.content_width, column.auto_width
        )
        return column_key

    def set_column_width(self, key: str, width: int, *, hidden: bool = False) -> None:
        """Change one column's fixed width, or hide it (for a narrow terminal).

        Hiding keeps the column and its cells: removing a column touches every row, and
        the cells stay up to date for when the terminal widens again.
        """
        column = self.columns.get(ColumnKey(key))
        if column is None:
            return
        was_hidden = isinstance(column, HideableColumn) and column.hidden
        if was_hidden == hidden and (hidden or column.width == width):
            return
        if isinstance(column, HideableColumn):
            column.hidden = hidden
        if not hidden:
            column.width = width
        self._columns_resized()

    def _columns_resized(self) -> None:
        # Rendered lines are cached under their width: a style update is the public way
        # to drop them (it repaints too).
        self.notify_style_update()
        self.refresh(layout=True)


class FastDataTable(PlainDataTable):
    """A DataTable for many fixed-width, one-line rows that change often."""

    # Class-level defaults: DataTable.__init__ refreshes before our __init__ could run.
    _holding_refresh = False
    _refresh_held = False
    _cell_refresh = False
    _rows_held: set[RowKey] | None = None
    _rows_version = 0
    _order_cache: tuple[int, list[Row]] | None = None
    _offsets_cache: tuple[int, list[tuple[RowKey, int]]] | None = None
    _cells: dict[tuple[object, ...], tuple[object, list[list[Segment]]]] | None = None

    # -- cell renders, cached on the cell's value ------------------------------------

    def _render_cell(
        self,
        row_index: int,
        column_index: int,
        base_style: Style,
        width: int,
        cursor: bool = False,
        hover: bool = False,
    ) -> list[list[Segment]]:
        # DataTable caches a cell's render under the table-wide update counter, so after
        # any update every visible cell is rendered again (~180 us each: 80 ms for a
        # 160x50 screen). Keyed on the cell's own value (by identity: update_cell always
        # stores a new object) and position instead, a repaint renders only what changed,
        # and a table cleared and filled again with the same cell objects (a filter
        # change) repaints from this cache. The key holds everything the render depends
        # on; only a style change (theme, CSS) empties it.
        if width <= 0:
            return [[]]  # a hidden column
        if row_index < 0 or column_index < 0:
            return super()._render_cell(row_index, column_index, base_style, width, cursor, hover)
        row_key = self._row_locations.get_key(row_index)
        column_key = self._column_locations.get_key(column_index)
        if row_key is None or column_key is None:
            return super()._render_cell(row_index, column_index, base_style, width, cursor, hover)
        value = self._data[row_key].get(column_key)
        cache_key = (
            row_key,
            column_key,
            row_index,
            id(value),
            width,
            base_style,
            cursor,
            hover,
            self._show_hover_cursor,
            self.show_cursor,
            self._pseudo_class_state,
        )
        cells = self._cells
        if cells is None:
            cells = self._cells = {}
        hit = cells.pop(cache_key, None)
        if hit is not None and hit[0] is value:
            cells[cache_key] = hit  # to the young end: least recently used go first
            return hit[1]
        if isinstance(value, Text) and self.rows[row_key].height == 1:
            lines = self._render_text_cell(
                value, row_index, column_index, base_style, width, cursor, hover
            )
        else:
            lines = super()._render_cell(row_index, column_index, base_style, width, cursor, hover)
        if len(cells) >= CELL_CACHE_LIMIT:
            # The live columns add a few hundred entries a second. Emptying the cache
            # made the next repaint render every cell on screen again (~60 ms at 160x50)
            # about once a minute; the least recently used quarter is what goes now.
            for stale in list(islice(cells, CELL_CACHE_LIMIT // 4)):
                del cells[stale]
        cells[cache_key] = (value, lines)  # holding the value keeps its id from reuse
        return lines

    # -- styles, computed once per repaint ------------------------------------------

    _pass_styles: dict[object, Style] | None = None

    def render_lines(self, crop: Region) -> list[Strip]:
        # Each line asks for the widget's style and its row's zebra style, and each
        # costs ~100 us (it walks the DOM for backgrounds); they cannot change within
        # one repaint, so they are computed once per pass.
        self._pass_styles = {}
        try:
            return super().render_lines(crop)
        finally:
            self._pass_styles = None

    @property
    def rich_style(self) -> Style:
        memo = self._pass_styles
        if memo is None:
            return super().rich_style
        style = memo.get("widget")
        if style is None:
            style = memo["widget"] = super().rich_style
        return style

    def _get_row_style(self, row_index: int, base_style: Style) -> Style:
        memo = self._pass_styles
        if memo is None or row_index < self.fixed_rows:
            return super()._get_row_style(row_index, base_style)
        key = ("row", row_index % 2, base_style)
        style = memo.get(key)
        if style is None:
            style = memo[key] = super()._get_row_style(row_index, base_style)
        return style

    def _render_text_cell(
        self,
        cell: Text,
        row_index: int,
        column_index: int,
        base_style: Style,
        width: int,
        cursor: bool,
        hover: bool,
    ) -> list[list[Segment]]:
        """What DataTable's ``_render_cell`` gives for a one-line Text cell, in half the
        time: the same styles and render, without the Padding and Styled layers (a test
        holds the two to byte-equality)."""
        fixed = row_index < self.fixed_rows or column_index < self.fixed_columns
        component_style, post_style = self._get_styles_to_render_cell(
            False,
            False,
            fixed,
            hover,
            cursor,
            self.show_cursor,
            self._show_hover_cursor,
            self.cursor_foreground_priority == "css",
            self.cursor_background_priority == "css",
        )
        pre_style = (
            base_style + Style.from_meta({"row": row_index, "column": column_index})
        ) + component_style
        padding = self.cell_padding
        console = self.app.console
        options = self.app.console_options.update_dimensions(width - 2 * padding, 1).update(
            no_wrap=True
        )
        null = _NULL_STYLE
        rendered = console.render_lines(cell, options, style=null, pad=True)
        line = rendered[0] if rendered else [Segment(" " * (width - 2 * padding), null)]
        side = Segment(" " * padding, null)
        return [list(Segment.apply_style([side, *line, side], pre_style, post_style))]

    def notify_style_update(self) -> None:
        self._cells = None
        super().notify_style_update()

    # -- row order, cached on the row structure -----------------------------------

    @property
    def ordered_rows(self) -> list[Row]:
        """The rows in display order (rebuilt only when rows move, not on cell updates)."""
        cached = self._order_cache
        if cached is not None and cached[0] == self._rows_version:
            return cached[1]
        key_at = self._row_locations.get_key
        rows = self.rows
        ordered = []
        for index in range(len(rows)):
            key = key_at(index)
            if key is not None:
                ordered.append(rows[key])
        self._order_cache = (self._rows_version, ordered)
        return ordered

    @property
    def _y_offsets(self) -> list[tuple[RowKey, int]]:
        cached = self._offsets_cache
        if cached is not None and cached[0] == self._rows_version:
            return cached[1]
        offsets: list[tuple[RowKey, int]] = []
        for row in self.ordered_rows:
            offsets += [(row.key, y) for y in range(row.height)]
        self._offsets_cache = (self._rows_version, offsets)
        return offsets

    # With every row one line high, line y is row y: no list of offsets is needed.

    _multi_line_rows = False

    @property
    def _total_row_height(self) -> int:
        if self._multi_line_rows:
            return len(self._y_offsets)
        return len(self.rows)

    def _get_offsets(self, y: int) -> tuple[RowKey, int]:
        if self._multi_line_rows:
            return super()._get_offsets(y)
        if self.show_header:
            if y < self.header_height:
                return self._header_row_key, y
            y -= self.header_height
        key = self._row_locations.get_key(y)
        if key is None:
            raise LookupError(f"y coordinate {y!r} is past the last row")
        return key, 0

    def _rows_moved(self) -> None:
        self._rows_version += 1
        self._order_cache = None
        self._offsets_cache = None

    def add_row(
        self,
        *cells: Any,
        height: int | None = 1,
        key: str | None = None,
        label: Any = None,
    ) -> RowKey:
        if height != 1:
            self._multi_line_rows = True
        try:
            return super().add_row(*cells, height=height, key=key, label=label)
        finally:
            self._rows_moved()

    @contextmanager
    def appending(self) -> Iterator[None]:
        """Rows added (with ``add_row``, at the bottom) inside this block do not
        invalidate the rendered rows.

        DataTable bumps its update counter per added row, which throws away every cached
        line and cell render: each chunk of a 10,000-row load then repainted the whole
        screen from scratch (~70 ms). Rows added at the end change neither the position
        nor the content of existing rows, so the counter is put back afterwards (the row
        order and offsets, which do change, are keyed on :attr:`_rows_version`).
        """
        count = self._update_count
        try:
            yield
        finally:
            self._update_count = count

    def remove_row(self, row_key: RowKey | str) -> None:
        super().remove_row(row_key)
        self._rows_moved()

    def clear(self, columns: bool = False) -> Self:
        self._rows_moved()
        super().clear(columns)
        self._rows_moved()
        return self

    def sort(self, *columns: ColumnKey | str, key: Any = None, reverse: bool = False) -> Self:
        super().sort(*columns, key=key, reverse=reverse)
        self._rows_moved()
        return self

    # -- no measuring: every column has a fixed width ------------------------------

    def _update_dimensions(self, new_rows: Iterable[RowKey]) -> None:
        # Measuring the cells of new rows only feeds auto-width columns and auto-height
        # rows, and there are none; the virtual size is all that needs computing.
        super()._update_dimensions(())

    def _columns_resized(self) -> None:
        self._clear_caches()
        self._update_dimensions(())
        self.refresh()

    # -- one refresh per batch, of the rows that changed ----------------------------

    def update_cell(
        self,
        row_key: RowKey | str,
        column_key: ColumnKey | str,
        value: Text,
        *,
        update_width: bool = False,
    ) -> None:
        # Inside folded_refresh() the row is noted instead of the whole table being
        # refreshed: the live columns change a cell in most rows on screen every second,
        # and repainting only those rows leaves the others' lines in the widget's cache.
        if not self._holding_refresh or update_width:
            super().update_cell(row_key, column_key, value, update_width=update_width)
            return
        if self._rows_held is None:
            self._rows_held = set()
        self._rows_held.add(RowKey(row_key) if isinstance(row_key, str) else row_key)
        self._cell_refresh = True
        try:
            super().update_cell(row_key, column_key, value)
        finally:
            self._cell_refresh = False

    def refresh(
        self,
        *regions: Region,
        repaint: bool = True,
        layout: bool = False,
        recompose: bool = False,
    ) -> Self:
        # update_cell() refreshes the whole widget on every call (~25 us each); inside
        # folded_refresh() plain refreshes are folded into one at the end, and those of
        # update_cell() into a refresh of the rows they changed.
        if self._holding_refresh and not (regions or layout or recompose):
            if not self._cell_refresh:
                self._refresh_held = True
            return self
        return super().refresh(*regions, repaint=repaint, layout=layout, recompose=recompose)

    @contextmanager
    def folded_refresh(self) -> Iterator[None]:
        """Fold the refreshes of many ``update_cell`` calls into one: of the rows they
        changed, or of the whole table when anything else asked for a refresh."""
        if self._holding_refresh:
            yield
            return
        self._holding_refresh = True
        try:
            yield
        finally:
            self._holding_refresh = False
            rows, self._rows_held = self._rows_held, None
            if self._refresh_held:
                self._refresh_held = False
                super().refresh()
            elif rows:
                self._refresh_rows(rows)

    def _refresh_rows(self, rows: Iterable[RowKey]) -> None:
        """Repaint these rows where they are on screen (DataTable's ``refresh_row`` sums
        the heights of every row above, O(rows); here every row is one line high)."""
        window = self.window_region
        top = self.header_height if self.show_header else 0
        width = max(self.size.width, self.virtual_size.width)
        scroll = -self.scroll_offset
        locations = self._row_locations
        for row_key in rows:
            row_index = locations.get(row_key)
            if row_index is None:
                continue
            region = Region(0, top + row_index, width, 1)
            if window.overlaps(region):
                super().refresh(region.translate(scroll))


# -- the guard: fall back to PlainDataTable when Textual changed ----------------------

_RELIED_ON: dict[str, tuple[str, ...] | None] = {
    # member -> the parameter names it must take (None: only that it exists)
    "_render_cell": ("row_index", "column_index", "base_style", "width", "cursor", "hover"),
    "_get_row_style": ("row_index", "base_style"),
    "_get_offsets": ("y",),
    "_update_dimensions": ("new_rows",),
    "_get_styles_to_render_cell": (
        "is_header_cell",
        "is_row_label_cell",
        "is_fixed_style_cell",
        "hover",
        "cursor",
        "show_cursor",
        "show_hover_cursor",
        "has_css_foreground_priority",
        "has_css_background_priority",
    ),
    "_clear_caches": (),
    "_y_offsets": None,
    "_total_row_height": None,
    "_row_locations": None,
    "_column_locations": None,
    "_data": None,
    "_show_hover_cursor": None,
    "_pseudo_class_state": None,
    "_header_row_key": None,
    "_update_count": None,
    "ordered_rows": None,
    "render_lines": ("crop",),
    "notify_style_update": (),
}


def missing_members(table: type[DataTable[Any]] = DataTable) -> list[str]:
    """What :class:`FastDataTable` relies on that ``table`` lacks or takes differently.

    Empty means the overrides fit. Instance attributes are looked up on a fresh,
    unmounted instance (DataTable sets them in ``__init__``).
    """
    try:
        instance: object = table()
    except Exception as exc:  # any failure means: do not rely on it
        return [f"{table.__name__}(): {type(exc).__name__}"]
    missing: list[str] = []
    for name, parameters in _RELIED_ON.items():
        member = getattr(table, name, None)
        if member is None and not hasattr(instance, name):
            missing.append(name)
            continue
        if parameters is None:
            continue
        try:
            names = tuple(inspect.signature(member).parameters)[1:]  # type: ignore[arg-type]
        except (TypeError, ValueError):
            missing.append(f"{name}()")
            continue
        if names != parameters:
            missing.append(f"{name}({', '.join(names)})")
    if not hasattr(Column, "get_render_width"):
        missing.append("Column.get_render_width")
    return missing


def choose_table(table: type[DataTable[Any]] = DataTable) -> type[PlainDataTable]:
    """FastDataTable when ``table`` has all it relies on, else PlainDataTable (logged)."""
    missing = missing_members(table)
    if not missing:
        return FastDataTable
    logger.debug(
        "the installed Textual's DataTable lacks %s: using the plain DataTable "
        "(slower with many rows)",
        ", ".join(missing),
    )
    return PlainDataTable


if TYPE_CHECKING:
    TableBase = PlainDataTable
else:
    TableBase = choose_table()
    """What the task table builds on: FastDataTable, or PlainDataTable as a fallback."""
