"""DetailsScreen: everything known about one task, updated live while open.

Server text is shown literally: each section is a :class:`~textual.content.Content` built
from cleaned strings (never markup), and the raw JSON is ``json.dumps`` with
``ensure_ascii=True``, which writes any control character left in the payload as a
``\\u001b``-style escape instead of sending it to the terminal.

Whatever the server sent, opening is quick: texts arrive capped (core/limits.py), and
output rows (three buttons each; 5,000 of them took 50 s and 828 MB) are built a page at
a time, with a "Show more" button for the next page. The first few image outputs are
drawn under their rows (:mod:`~siray_tui.ui.widgets.preview`), loaded off the event loop.

| Key | Action |
| --- | --- |
| ``o`` | open the selected output (the one whose button has focus; else the first) |
| ``d`` | download the selected output (the first when none has the focus) |
| ``c`` | copy the selected output's URL (the task ID when there is no output) |
| ``r`` | poll this task now |
| ``escape`` / ``q`` | back to the table |
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import datetime
from typing import TYPE_CHECKING, ClassVar

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.content import Content
from textual.screen import Screen
from textual.widget import Widget
from textual.widgets import Button, Footer, Static

from siray_tui.core.columns import display_status, format_eta
from siray_tui.core.errors import UnsafeUrlError
from siray_tui.core.eta import NO_ETA, SLOW_QUEUE, STALLED, Estimator, EtaInfo
from siray_tui.core.limits import DETAILS_OUTPUT_PAGE, DETAILS_RAW_LINE_CHARS, DETAILS_RAW_LINES
from siray_tui.core.models import WatchedTask, cap_text
from siray_tui.core.report import format_ago, format_duration
from siray_tui.core.text import check_url, clean_text, first_line
from siray_tui.core.thumbs import image_outputs
from siray_tui.ui.columns import status_style
from siray_tui.ui.request_view import request_content
from siray_tui.ui.widgets.media_facts import MediaFacts
from siray_tui.ui.widgets.preview import ImagePreview

if TYPE_CHECKING:
    from siray_tui.ui.outputs import OutputActions

Part = tuple[str, str] | str

DETAILS_PREVIEWS = 3
"""Image outputs drawn in details (the first ones); the others keep their buttons only."""


def local_time(timestamp: float | None) -> str:
    """``2025-11-16 06:31:12 UTC`` in the local zone; ``-`` when unknown."""
    if timestamp is None:
        return "-"
    try:
        moment = datetime.fromtimestamp(timestamp).astimezone()
    except (OverflowError, OSError, ValueError):
        return f"{timestamp!r} (not a valid time)"
    return moment.strftime("%Y-%m-%d %H:%M:%S %Z")


def raw_json(task: WatchedTask) -> str:
    """The last response's ``data`` object, pretty-printed with every control escaped."""
    if task.state is None:
        return "(no answer yet)"
    try:
        text = json.dumps(dict(task.state.raw), indent=2, ensure_ascii=True, default=repr)
    except (TypeError, ValueError) as exc:
        return f"(cannot show the raw answer: {exc})"
    lines = text.split("\n")
    shown = [cap_text(line, DETAILS_RAW_LINE_CHARS) for line in lines[:DETAILS_RAW_LINES]]
    if len(lines) > DETAILS_RAW_LINES:
        shown.append(f"… ({len(lines) - DETAILS_RAW_LINES:,} more lines)")
    return "\n".join(shown)


FLAG_TEXT = {
    STALLED: "stalled: its progress has not moved for longer than usual",
    SLOW_QUEUE: "slow queue: queued longer than 95% of similar tasks were",
}


def eta_text(eta: EtaInfo, now: float) -> Part:
    """The ETA line: ``~35s (12:03:15)``, ``+12s overdue (...)`` or ``-``."""
    if eta.seconds is None:
        return "-"
    at = local_time(now + eta.seconds)
    if eta.seconds < 0:
        return (f"{format_eta(eta.seconds)} overdue (expected {at})", "$warning")
    return f"{format_eta(eta.seconds)} ({at})"


def _fields(task: WatchedTask, now: float, eta: EtaInfo = NO_ETA) -> Content:
    state = task.state
    timings = state.timings(now) if state else None
    status = display_status(task)
    rows: list[tuple[str, Part]] = [
        ("task ID", task.task_id),
        ("label", clean_text(task.label) or "-"),
        ("kind", task.kind.value),
        ("status", (status, status_style(status))),
        ("progress", "-" if not state or state.progress is None else f"{state.progress}%"),
        ("outputs", str(state.output_count) if state else "0"),
        ("added", local_time(task.added_at or None)),
        ("submitted", local_time(state.submit_time if state else None)),
        ("started", local_time(state.start_time if state else None)),
        ("finished", local_time(state.finish_time if state else None)),
        ("queue", format_duration(timings.queue if timings else None)),
        ("run", format_duration(timings.run if timings else None)),
        ("total", format_duration(timings.total if timings else None)),
        ("eta", eta_text(eta, now)),
        ("flag", (FLAG_TEXT[eta.flag], "bold $warning") if eta.flag else "-"),
        (
            "last polled",
            f"{local_time(task.last_polled_at)} ({format_ago(task.last_polled_at, now)})",
        ),
        ("poll error", (first_line(task.last_error, 400), "$warning") if task.last_error else "-"),
        ("message", clean_text(state.message) if state and state.message else "-"),
        ("action", clean_text(state.action) if state and state.action else "-"),
    ]
    parts: list[Part] = []
    for name, value in rows:
        parts += ["\n" if parts else "", (f"{name:>12}  ", "dim"), value]
    return Content.assemble(*parts)


def _history(task: WatchedTask) -> Content:
    if not task.history:
        return Content.assemble(("no status seen yet", "dim"))
    parts: list[Part] = []
    for change in task.history:
        status = clean_text(change.status)
        parts += [
            "\n" if parts else "",
            (f"{local_time(change.seen_at or None)}  ", "dim"),
            (status, status_style(status)),
        ]
    return Content.assemble(*parts)


def _reason(task: WatchedTask) -> Content:
    reason = task.state.fail_reason if task.state else ""
    if not reason:
        return Content.assemble(("no fail reason", "dim"))
    return Content.assemble((clean_text(reason, multiline=True), "$error"))


class OutputRow(Horizontal):
    """One output: its URL and its own open / download / copy buttons."""

    DEFAULT_CSS = """
    OutputRow { height: auto; }
    OutputRow .output-url { width: 1fr; }
    OutputRow Button { min-width: 10; margin-left: 1; }
    """

    def __init__(self, index: int, url: str, refused: str | None) -> None:
        super().__init__(classes="output-row")
        self.index = index
        self.url = url
        self.refused = refused

    def compose(self) -> ComposeResult:
        parts: list[Part] = [(f"{self.index}. ", "bold"), clean_text(self.url)]
        if self.refused:
            parts += ["\n   ", (self.refused, "$error")]
        yield Static(Content.assemble(*parts), classes="output-url")
        disabled = self.refused is not None
        yield Button("Open", id=f"open-{self.index}", compact=True, disabled=disabled)
        yield Button("Download", id=f"download-{self.index}", compact=True, disabled=disabled)
        yield Button("Copy", id=f"copy-{self.index}", compact=True, disabled=disabled)


class DetailsScreen(Screen[None]):
    """One task in full. The dashboard calls :meth:`show_task` as new states arrive."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape,q", "back", "Back"),
        Binding("o", "open", "Open"),
        Binding("d", "download", "Download"),
        Binding("c", "copy", "Copy URL"),
        Binding("r", "refresh", "Refresh"),
    ]

    def __init__(
        self,
        task: WatchedTask,
        actions: OutputActions,
        now: float,
        *,
        allow_loopback_http: bool = False,
        on_refresh: Callable[[list[str]], None] | None = None,
        estimator: Estimator | None = None,
        retried_as: Callable[[str], list[str]] | None = None,
    ) -> None:
        super().__init__()
        self.estimator = estimator
        self.on_refresh = on_refresh
        self.retried_as = retried_as
        """The IDs of the tasks that resubmit a task (worked out from the watchlist)."""
        self.shown_task = task
        self.actions = actions
        self.now = now
        self.allow_loopback_http = allow_loopback_http
        self._outputs_shown: tuple[str, ...] | None = None
        self._rows_built = 0
        self._widgets_ready = False  # Widget.is_mounted turns True only after on_mount

    def compose(self) -> ComposeResult:
        with VerticalScroll(id="details-body"):
            yield Static(id="details-title")
            yield Static(Content.assemble(("Fields", "bold underline")), classes="section")
            yield Static(id="details-fields")
            yield Static(Content.assemble(("Fail reason", "bold underline")), classes="section")
            yield Static(id="details-reason")
            yield Static(Content.assemble(("Outputs", "bold underline")), classes="section")
            yield Vertical(id="details-outputs")
            yield MediaFacts(self.actions.describe, id="details-media")
            yield Static(Content.assemble(("Request", "bold underline")), classes="section")
            yield Static(id="details-request")
            yield Static(Content.assemble(("Status history", "bold underline")), classes="section")
            yield Static(id="details-history")
            yield Static(
                Content.assemble(("Last response (raw JSON)", "bold underline")), classes="section"
            )
            yield Static(id="details-json", classes="raw-json")
        yield Footer()

    def on_mount(self) -> None:
        self._widgets_ready = True
        self.show_task(self.shown_task, self.now)

    def show_task(self, task: WatchedTask, now: float) -> None:
        """Render ``task`` (a newer copy of the same task, or the first one).

        A state can arrive between the push of this screen and its mount; it is kept,
        and :meth:`on_mount` renders it.
        """
        self.shown_task, self.now = task, now
        if not self._widgets_ready:
            return
        title = Content.assemble(
            (task_title := clean_text(task.label) or task.task_id, "bold"),
            ("   " + task.task_id if task_title != task.task_id else "", "dim"),
        )
        self.query_one("#details-title", Static).update(title)
        eta = NO_ETA if self.estimator is None else self.estimator.info(task, now)
        self.query_one("#details-fields", Static).update(_fields(task, now, eta))
        self.query_one("#details-reason", Static).update(_reason(task))
        self.query_one("#details-history", Static).update(_history(task))
        retries = self.retried_as(task.task_id) if self.retried_as else []
        self.query_one("#details-request", Static).update(request_content(task, retries))
        self.query_one("#details-json", Static).update(Content(raw_json(task)))
        outputs = task.state.outputs if task.state else ()
        if outputs != self._outputs_shown:
            self._outputs_shown = outputs
            self._show_outputs(outputs, task.state.outputs_more if task.state else 0)
        self.query_one(MediaFacts).show(task)

    def _show_outputs(self, outputs: tuple[str, ...], dropped: int) -> None:
        box = self.query_one("#details-outputs", Vertical)
        box.remove_children()
        self._rows_built = 0
        if not outputs:
            box.mount(Static(Content.assemble(("no outputs", "dim"))))
            return
        self._mount_page(box, outputs)
        if dropped:
            note = f"… {dropped:,} more outputs were listed by the server and not kept"
            box.mount(Static(Content.assemble((note, "dim")), id="outputs-dropped"))

    def _mount_page(self, box: Vertical, outputs: tuple[str, ...]) -> None:
        """Build the next page of output rows, and a button for the one after, if any."""
        start = self._rows_built
        end = min(len(outputs), start + DETAILS_OUTPUT_PAGE)
        rows: list[Widget] = []
        previews = dict(image_outputs(self.shown_task, limit=DETAILS_PREVIEWS))
        for index in range(start + 1, end + 1):
            url = outputs[index - 1]
            try:
                check_url(url, allow_loopback_http=self.allow_loopback_http)
                refused = None
            except UnsafeUrlError as exc:
                refused = first_line(str(exc), 160)
            rows.append(OutputRow(index, url, refused))
            if refused is None and previews.get(index) == url:
                rows.append(self._preview(index, url))
        self._rows_built = end
        more = next(iter(box.query("#more-outputs").results(Button)), None)
        box.mount_all(rows, before=more)
        left = len(outputs) - end
        label = f"Show {min(left, DETAILS_OUTPUT_PAGE)} more ({left:,} not shown)"
        if more is None and left:
            box.mount(Button(label, id="more-outputs", compact=True))
        elif more is not None and left:
            more.label = label
        elif more is not None:
            more.remove()

    def _preview(self, index: int, url: str) -> ImagePreview:
        """The picture of output ``index``; it starts loading once mounted."""
        return ImagePreview(
            self.actions.session.thumbs.thumbnail,
            initial=(self.shown_task.task_id, index, url),
            id=f"preview-{index}",
        )

    def _selected_index(self) -> int | None:
        """The number (from 1) of the output whose row holds the focus, else 1; None
        without outputs."""
        outputs = self.shown_task.state.outputs if self.shown_task.state else ()
        if not outputs:
            return None
        if self.focused is not None:
            for node in self.focused.ancestors_with_self:
                if isinstance(node, OutputRow) and 1 <= node.index <= len(outputs):
                    return node.index
        return 1

    def _selected_output(self) -> str | None:
        """The URL of the selected output (see :meth:`_selected_index`)."""
        index = self._selected_index()
        if index is None or self.shown_task.state is None:
            return None
        return self.shown_task.state.outputs[index - 1]

    @on(Button.Pressed)
    async def _pressed(self, event: Button.Pressed) -> None:
        if event.button.id == "more-outputs":
            self._mount_page(
                self.query_one("#details-outputs", Vertical), self._outputs_shown or ()
            )
            return
        action, _, number = (event.button.id or "").partition("-")
        outputs = self.shown_task.state.outputs if self.shown_task.state else ()
        if not number.isdigit() or not 1 <= int(number) <= len(outputs):
            return
        url = outputs[int(number) - 1]
        if action == "open":
            self.run_worker(self.actions.open(url), group="open")
        elif action == "download":
            self.run_worker(
                self.actions.download(self.shown_task, only=int(number)), group="downloads"
            )
        elif action == "copy":
            self.actions.copy_url(url)

    def action_back(self) -> None:
        self.dismiss(None)

    def action_open(self) -> None:
        url = self._selected_output()
        if url is None:
            self.notify("This task has no outputs yet", severity="warning")
            return
        self.run_worker(self.actions.open(url), group="open")

    def action_download(self) -> None:
        """``d`` saves the selected output only (the dashboard's ``d`` saves them all)."""
        index = self._selected_index()
        if index is None:
            self.notify("This task has no outputs yet", severity="warning")
            return
        self.run_worker(self.actions.download(self.shown_task, only=index), group="downloads")

    def action_copy(self) -> None:
        url = self._selected_output()
        if url is None:
            self.actions.copy(self.shown_task.task_id, "task ID")
        else:
            self.actions.copy_url(url)

    def action_refresh(self) -> None:
        if self.on_refresh is not None:
            self.on_refresh([self.shown_task.task_id])
