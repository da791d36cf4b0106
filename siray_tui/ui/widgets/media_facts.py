"""MediaFacts: what the outputs of a video or 3D task are, read from their headers.

One line per output: format, size and what the header tells (``MP4, 8.4 KiB: 1280x720,
3.1 s``; ``GLB, 4.3 KiB: 2 meshes, 2 primitives, 152 vertices, 254 triangles``), or why it
could not be read, in one line. Reading is the ``describe`` callable's job (the downloaded
file, else the first bytes of the URL: :mod:`siray_tui.core.outputinfo`); it runs in a
worker, so the screen stays responsive and a slow or hostile server only delays a line.
Image outputs are left to the preview; tasks of other kinds hide this widget.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Final

from textual.content import Content
from textual.widgets import Static

from siray_tui.core.mediainfo import MediaInfo
from siray_tui.core.models import TaskKind, WatchedTask
from siray_tui.core.text import first_line

Describe = Callable[[str, int, str], Awaitable[MediaInfo]]
"""(task ID, output number from 1, URL) -> what the output is."""

DESCRIBED_KINDS: Final = frozenset({TaskKind.VIDEO, TaskKind.MODEL_3D})
MAX_DESCRIBED: Final = 8
"""Outputs described at most (each may cost a request): the first ones."""
PENDING: Final = "reading the header…"


class MediaFacts(Static):
    """Lines about the outputs of the task last given to :meth:`show`."""

    DEFAULT_CSS = """
    MediaFacts { height: auto; margin-top: 1; }
    """

    def __init__(self, describe: Describe, *, id: str | None = None) -> None:
        super().__init__("", id=id, markup=False)
        self._describe = describe
        self._shown: tuple[str, tuple[str, ...]] | None = None
        self.lines: dict[int, str] = {}
        """Output number -> its line, as shown (``PENDING`` until read)."""
        self._unreadable: set[int] = set()

    def show(self, task: WatchedTask) -> None:
        """Describe ``task``'s outputs, unless they are the ones already described."""
        outputs = task.state.outputs[:MAX_DESCRIBED] if task.state else ()
        if task.kind not in DESCRIBED_KINDS or not outputs:
            self._shown, self.lines = None, {}
            self.display = False
            return
        if self._shown == (task.task_id, outputs):
            return
        self._shown = (task.task_id, outputs)
        self.lines = dict.fromkeys(range(1, len(outputs) + 1), PENDING)
        self._unreadable = set()
        self.display = True
        self._redraw()
        self.run_worker(self._read_all(task.task_id, outputs), group="media-facts", exclusive=True)

    async def _read_all(self, task_id: str, outputs: tuple[str, ...]) -> None:
        for index, url in enumerate(outputs, start=1):
            try:
                info = await self._describe(task_id, index, url)
                line, unreadable = info.summary(), info.problem is not None
            except Exception as exc:  # a bug must cost a line, never the app
                line, unreadable = f"could not read the header: {type(exc).__name__}", True
            if self._shown != (task_id, outputs):
                return  # another task (or new outputs) while this one was read
            self.lines[index] = first_line(line, limit=300)
            if unreadable:
                self._unreadable.add(index)
            self._redraw()

    def _redraw(self) -> None:
        parts: list[tuple[str, str] | str] = [("Media", "bold underline")]
        for index, line in self.lines.items():
            style = "$warning" if index in self._unreadable else "dim" if line == PENDING else ""
            parts += ["\n", (f"{index}. ", "bold"), (line, style)]
        self.update(Content.assemble(*parts))
