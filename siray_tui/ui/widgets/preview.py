"""Image previews drawn with coloured half-blocks: in details, and in the ``v`` pane.

Each terminal cell shows two pixels: ``▀`` with the upper pixel as its foreground colour
and the lower one as its background. That works in every terminal with colours (tmux
included) and renders the same bytes every time, so snapshots stay deterministic.

Nothing here blocks the event loop: fetching and decoding run in the core's
:class:`~siray_tui.core.thumbs.ThumbCache` (a worker thread for Pillow), and the Rich
segments are built in a thread too. A failure is one dim line saying why.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import ClassVar

from rich.color import Color
from rich.console import Console, ConsoleOptions, RenderResult
from rich.measure import Measurement
from rich.segment import Segment
from rich.style import Style
from textual.app import ComposeResult
from textual.app import RenderResult as VisualResult
from textual.containers import Vertical
from textual.content import Content
from textual.widget import Widget
from textual.widgets import Static

from siray_tui.core.models import WatchedTask
from siray_tui.core.text import clean_text
from siray_tui.core.thumbs import Thumbnail, ThumbResult, image_outputs

ThumbLoader = Callable[[str, int, str, int, int], Awaitable[ThumbResult]]
"""``(task_id, index, url, width_px, height_px) -> thumbnail or failure`` (never raises)."""

UPPER_HALF = "▀"


class HalfBlocks:
    """A Rich renderable of a :class:`Thumbnail`, two pixels per cell (built once)."""

    def __init__(self, thumb: Thumbnail) -> None:
        self.width = thumb.width
        self.lines: list[list[Segment]] = []
        for y in range(0, thumb.height, 2):
            line = []
            for x in range(thumb.width):
                top = Color.from_rgb(*thumb.pixel(x, y))
                bottom = Color.from_rgb(*thumb.pixel(x, y + 1)) if y + 1 < thumb.height else None
                line.append(Segment(UPPER_HALF, Style(color=top, bgcolor=bottom)))
            self.lines.append(line)

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        for line in self.lines:
            yield from line
            yield Segment.line()

    def __rich_measure__(self, console: Console, options: ConsoleOptions) -> Measurement:
        return Measurement(self.width, self.width)


def _reason_line(reason: str) -> Content:
    return Content.assemble(("preview: ", "dim"), (clean_text(reason), "$warning"))


class ImagePreview(Widget):
    """One image output, loaded when mounted (or when :meth:`show` changes it).

    While loading and once drawn it keeps a fixed box (``columns`` x ``rows``): the
    picture then arrives with a repaint of this widget alone. Letting it grow would
    re-lay-out the whole details screen, a 250 to 500 ms stall measured on a busy machine.
    A note or a reason is one line.

    Args:
        loader: fetches and decodes (the session's thumbnail cache).
        columns: the most cells across the picture may take.
        rows: the most lines it may take (two pixels each).
        initial: (task ID, output index, URL) to load once mounted.
    """

    DEFAULT_CSS = """
    ImagePreview { width: auto; height: auto; margin: 0 0 1 3; }
    """

    def __init__(
        self,
        loader: ThumbLoader,
        *,
        columns: int = 48,
        rows: int = 16,
        initial: tuple[str, int, str] | None = None,
        id: str | None = None,
        classes: str | None = None,
    ) -> None:
        super().__init__(id=id, classes=classes)
        self.loader = loader
        self.columns = columns
        self.rows = rows
        self.target: tuple[str, int, str] | None = None
        self.initial = initial
        self.content: Content | HalfBlocks = Content.assemble(("no image", "dim"))
        """What is shown: the picture, or a line of text."""
        self.loaded: ThumbResult | None = None
        """What the last finished load gave (tests and the benchmark wait on it)."""

    def render(self) -> VisualResult:
        return self.content

    def _put(self, content: Content | HalfBlocks, *, boxed: bool) -> None:
        self.content = content
        width, height = (self.columns, self.rows) if boxed else (None, None)
        if (self.styles.width, self.styles.height) != (width, height):
            self.styles.width = width  # a layout, only when the box changes
            self.styles.height = height
        self.refresh()

    def on_mount(self) -> None:
        if self.initial is not None:
            # After the first paint: the screen's building and the load's threads would
            # otherwise compete for the interpreter, and the screen would come up later.
            self.call_after_refresh(self.show, *self.initial)

    def show(self, task_id: str, index: int, url: str) -> None:
        """Load output ``index`` of ``task_id`` (nothing happens when it is already shown)."""
        target = (task_id, index, url)
        if target == self.target:
            return
        self.target = target
        self.loaded = None
        self._put(Content.assemble(("loading preview…", "dim")), boxed=True)
        self.run_worker(self._load(target), group="preview", exclusive=True, exit_on_error=False)

    def clear(self, note: str) -> None:
        """No image: show ``note`` (dim) instead."""
        self.target = None
        self.loaded = None
        self.workers.cancel_group(self, "preview")
        self._put(Content.assemble((note, "dim")), boxed=False)

    async def _load(self, target: tuple[str, int, str]) -> None:
        task_id, index, url = target
        result = await self.loader(task_id, index, url, self.columns, self.rows * 2)
        if self.target != target:
            return  # the selection moved on while this one loaded
        if isinstance(result, Thumbnail):
            picture = await asyncio.to_thread(HalfBlocks, result)
            if self.target != target:
                return
            self._put(picture, boxed=True)
        else:
            self._put(_reason_line(result.reason), boxed=False)
        self.loaded = result


class PreviewPane(Vertical):
    """The ``v`` pane beside the table: the selected task's first image output."""

    DEFAULT_CSS = """
    PreviewPane { width: 46; height: 1fr; border-left: tall $primary-background; padding: 0 1; }
    PreviewPane #preview-title { height: auto; margin-bottom: 1; }
    PreviewPane ImagePreview { margin: 0; }
    """
    COLUMNS: ClassVar[int] = 42
    ROWS: ClassVar[int] = 21

    def __init__(self, loader: ThumbLoader, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.loader = loader
        self.task_id: str | None = None

    def compose(self) -> ComposeResult:
        yield Static(id="preview-title")
        yield ImagePreview(self.loader, columns=self.COLUMNS, rows=self.ROWS)

    @property
    def image(self) -> ImagePreview:
        """The picture (or its one-line reason)."""
        return self.query_one(ImagePreview)

    def show_task(self, task: WatchedTask | None) -> None:
        """Show ``task``'s first image output; a note when there is none."""
        title = self.query_one("#preview-title", Static)
        if task is None:
            title.update(Content.assemble(("Preview", "bold")))
            self.image.clear("no task selected")
            return
        self.task_id = task.task_id
        name = clean_text(task.label) or task.task_id
        title.update(Content.assemble(("Preview  ", "bold"), (name, "dim")))
        found = image_outputs(task, limit=1)
        if found:
            index, url = found[0]
            self.image.show(task.task_id, index, url)
        elif task.state and task.state.outputs:
            self.image.clear(f"no image output ({task.kind.value} task)")
        else:
            self.image.clear("no outputs yet")
