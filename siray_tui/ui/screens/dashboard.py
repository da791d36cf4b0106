"""DashboardScreen: the watchlist table, the summary bar, and every key of README.md.

The App posts the session's events here, each in one
:class:`~siray_tui.ui.messages.PollerMessage`; this screen dispatches on the event's class
(an unknown class is an error), stages updates in the table, which repaints at most four
times a second, and turns the ones a person should hear about (a task finishing, a bad
token, a 429) into notifications and a banner. Changes to the watchlist (add, remove,
undo, and those of other processes) live in its base class :class:`WatchlistEdits`, and
submissions (``n``, ``N``) in :class:`SubmitTasks`.

| Key | Action |
| --- | --- |
| ``a`` | add task IDs (paste many) |
| ``n`` / ``N`` | submit a new task / resubmit the selected one (a form) |
| ``delete`` / ``x`` | remove the selected task; ``u`` undoes |
| ``enter`` | details of the selected task |
| ``v`` | preview pane beside the table: the selected task's first image |
| ``o`` | open the selected task's first output in a browser |
| ``d`` | download the selected task's outputs |
| ``c`` | copy the selected task's ID |
| ``e`` | export the rows shown to a CSV file in the download folder |
| ``t`` | stats and failure triage (a group's tasks can be shown here: ``escape`` clears) |
| ``r`` / ``R`` | poll the selected task / every task now |
| ``p`` | pause or resume polling |
| ``m`` | mute or unmute the finished-task toasts |
| ``/`` | filter by text (``escape`` clears) |
| ``s`` / ``S`` | sort by the next column / reverse the order |
| ``f`` | status filter: pick statuses (several at once) in a list |
| ``?`` | help |
| ``q`` | quit |
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import ClassVar

from textual import on, work
from textual.app import ComposeResult
from textual.binding import BindingType
from textual.containers import Horizontal
from textual.content import Content
from textual.timer import Timer
from textual.widgets import DataTable, Header, Input

from siray_tui.config import Settings
from siray_tui.core import gcpolicy
from siray_tui.core.errors import SirayError
from siray_tui.core.eta_summary import EtaSummary, EtaSweep
from siray_tui.core.events import (
    AuthFailed,
    PollFailed,
    PollingStateChanged,
    RateLimited,
    SessionEvent,
    StoreFailed,
    TaskNotFound,
    TaskUpdated,
    WatchlistChanged,
)
from siray_tui.core.export import export_file
from siray_tui.core.models import TaskStatus, WatchedTask
from siray_tui.core.report import format_duration, plural
from siray_tui.core.retries import retried_as
from siray_tui.core.session import WatchSession
from siray_tui.core.text import clean_text, first_line
from siray_tui.core.thumbs import ThumbResult
from siray_tui.ui.announce import ANNOUNCE_EVERY, Announcer
from siray_tui.ui.columns import SORT_CYCLE
from siray_tui.ui.desktop import DesktopNotices
from siray_tui.ui.keys import bindings
from siray_tui.ui.messages import PollerMessage
from siray_tui.ui.outputs import OutputActions
from siray_tui.ui.reachability import Reachability
from siray_tui.ui.screens.details import DetailsScreen
from siray_tui.ui.screens.help import HelpScreen
from siray_tui.ui.screens.stats import StatsScreen
from siray_tui.ui.screens.status_picker import StatusPicker
from siray_tui.ui.screens.submit_tasks import SubmitTasks
from siray_tui.ui.summary import SummaryTracker
from siray_tui.ui.widgets.banner import Banner
from siray_tui.ui.widgets.downloads_panel import DownloadsPanel
from siray_tui.ui.widgets.key_footer import KeyFooter
from siray_tui.ui.widgets.preview import PreviewPane
from siray_tui.ui.widgets.summary_bar import SummaryBar, SummaryView
from siray_tui.ui.widgets.task_table import FLUSH_INTERVAL, TICK_INTERVAL, TaskTable

PREVIEW_DEBOUNCE = 0.2
"""Seconds the cursor must rest on a row before the preview pane loads its image."""

LARGE_FILE = 1_000_000
"""Bytes of watchlist.json (~1,700 tasks) from which the read's objects are frozen."""

SETUP_HINT = (
    "No API token, so polling is off. Set one with  export SIRAY_API_TOKEN=...  and restart,"
    " or try  siray-tui --demo"
)


class DashboardScreen(SubmitTasks):
    """The main screen. See the module docstring for its keys.

    Args:
        settings: resolved settings (download folder, URL policy).
        session: the tasks, poller, store and downloader (the App runs its poller, or
            not, without a token).
        polling: whether the App runs the poller.
        token_problem: why polling is off, shown in the banner; None when it is on.
    """

    BINDINGS: ClassVar[list[BindingType]] = [*bindings()]

    def __init__(
        self,
        settings: Settings,
        session: WatchSession,
        *,
        polling: bool,
        token_problem: str | None = None,
    ) -> None:
        super().__init__()
        self.settings = settings
        self.session = session
        self.store = session.store
        self.poller = session.poller
        self.clock = session.clock
        self.polling = polling
        self.token_problem = token_problem
        self._finished: list[WatchedTask] = []
        self._announcer = Announcer()
        self._reach = Reachability()
        self.toasts = settings.notify_toasts
        """Whether finished tasks get a toast (``m`` and ``notify_toasts`` turn it off)."""
        self._rate_limited_until: float | None = None
        self._last_error: str | None = None
        self._last_error_at: float | None = None
        self._eta = EtaSummary()
        self._eta_sweep = EtaSweep(session.estimator)
        self.notices: DesktopNotices | None = None
        """Desktop notifications and the terminal title (the App sets them)."""
        self.actions: OutputActions
        self.loaded = False
        self.group = ""
        """The failure group the table is narrowed to (its reason), or empty."""
        """Whether the watchlist has been read (it is read in a thread at mount)."""
        self._preview_timer: Timer | None = None

    # -- building --------------------------------------------------------------------

    def compose(self) -> ComposeResult:
        yield Header(icon="◆")
        yield Banner(id="banner")
        yield SummaryBar(id="summary")
        yield Input(placeholder="filter: ID, label, status or reason", id="filter")
        with Horizontal(id="table-row"):
            yield TaskTable(self.clock, estimator=self.session.estimator, id="tasks")
            yield PreviewPane(self._thumbnail, id="preview-pane")
        yield DownloadsPanel(id="downloads")
        yield KeyFooter()

    @property
    def banner(self) -> Banner:
        """The docked banner."""
        return self.query_one(Banner)

    def on_mount(self) -> None:
        self.actions = OutputActions(
            self.app, self.settings, self.session, self.query_one(DownloadsPanel)
        )
        self.query_one("#filter", Input).display = False
        self.table.focus()
        if self.token_problem:
            self.banner.show("token", self.token_problem, "warning")
        self.flush_timer = self.set_interval(FLUSH_INTERVAL, self.flush, name="dashboard-flush")
        self.set_interval(TICK_INTERVAL, self.tick, name="dashboard-tick")
        self.refresh_summary()
        self.load_watchlist()

    async def _painted(self) -> None:
        """Wait until the screen has been refreshed once."""
        painted = asyncio.Event()
        self.call_after_refresh(painted.set)
        await painted.wait()

    @work(group="load", exit_on_error=False)
    async def load_watchlist(self) -> None:
        """Read the watchlist in a thread (10,000 tasks take ~200 ms to parse, which
        would freeze the screen), show it, then hand copies to the poller.

        The first screenful is decoded first, directly, so that rows show at once.
        """
        preview = self.store.peek(max(60, self.app.size.height + 5))
        if preview:
            self.table.load(preview)
            await self._painted()  # the parse holds the GIL in long stretches: paint first
        large = self.store.path.exists() and self.store.path.stat().st_size > LARGE_FILE
        now = self.clock.now()

        def read() -> tuple[list[WatchedTask], SummaryTracker]:
            tasks = list(self.store.load().tasks.values())
            summary = SummaryTracker()
            summary.reset(tasks, now)
            return tasks, summary

        with gcpolicy.paused(freeze=large):
            try:
                tasks, summary = await asyncio.to_thread(read)
            except SirayError as exc:
                tasks, summary = [], SummaryTracker()
                self.notify(first_line(str(exc), 300), severity="error", timeout=30, markup=False)
        for warning in self.store.warnings:
            self.notify(first_line(warning, 400), severity="warning", timeout=30, markup=False)
        self.store.warnings.clear()
        self.table.load(tasks, summary)
        # Let the rows reach the screen before copying 10,000 tasks for the poller.
        await self._painted()
        with gcpolicy.paused(freeze=large):
            copies = await asyncio.to_thread(lambda: [task.copy() for task in tasks])
        self.session.watch(copies, copied=True)
        self.loaded = True
        # the estimator has learnt from the finished tasks: ETAs now, not at the next tick
        self._eta = self._eta_sweep.step(self.table.tasks, self.clock.now(), budget=None)
        self.table.set_stalled(self._eta.stalled)
        self.table.refresh_visible()
        self.refresh_summary()
        every = self.session.start_sync()
        self.set_interval(every, self.session.check_sync, name="watchlist-sync")

    # -- core events (posted by the App) ---------------------------------------------

    def on_poller_message(self, message: PollerMessage) -> None:
        self.handle(message.event)

    def handle(self, event: SessionEvent) -> None:
        """Dispatch one core event on its class.

        Raises:
            TypeError: an event class this screen does not know (a new event must get
                a handler here, not vanish).
        """
        match event:
            case TaskUpdated():
                self.task_updated(event)
            case PollFailed():
                self.poll_failed(event)
            case TaskNotFound():
                self.task_not_found(event)
            case AuthFailed():
                self.auth_failed(event)
            case RateLimited():
                self.rate_limited(event)
            case PollingStateChanged():
                self.polling_state_changed(event)
            case WatchlistChanged():
                self.watchlist_changed(event)
            case StoreFailed():
                self.store_failed(event)
            case _:
                raise TypeError(f"no handler for the event {type(event).__name__}")

    def task_updated(self, message: TaskUpdated) -> None:
        task = message.task
        self._answered()
        self.table.stage(task)
        if (
            message.status_changed
            and message.previous_status is not None
            and task.status in (TaskStatus.SUCCESS, TaskStatus.FAILURE)
        ):
            self._finished.append(task)
            if self.notices is not None:
                self.notices.task_ended(task)
        if (
            self.settings.auto_download
            and message.status_changed
            and task.status is TaskStatus.SUCCESS
            and task.state is not None
            and task.state.outputs
        ):
            # auto_download = true / --auto-download: the outputs as soon as a task succeeds
            self.run_worker(self.actions.download(task), group="downloads")
        if self.banner.kind == "auth":
            self.banner.clear("auth")

    def poll_failed(self, message: PollFailed) -> None:
        self.table.stage(message.task, retry_at=message.retry_at)
        self._note_error(f"{message.task.task_id}: {message.error}")
        was_offline = self._reach.offline
        self._reach.failed(message.task.task_id, message.retry_at, unreachable=message.unreachable)
        if self._reach.offline != was_offline:
            self.refresh_summary()  # now, not at the next tick

    def _answered(self) -> None:
        if self._reach.offline:
            self._reach.answered()
            self.refresh_summary()
        else:
            self._reach.answered()

    def task_not_found(self, message: TaskNotFound) -> None:
        self._answered()
        self.table.stage(message.task)
        self._note_error(f"{message.task.task_id}: not found")

    def auth_failed(self, message: AuthFailed) -> None:
        self._note_error(message.message)
        text = Content.assemble(
            "The API rejected the token (",
            first_line(message.message, 160),
            "). Polling stopped. Set a valid one with  export SIRAY_API_TOKEN=...  and "
            "restart, or press p to retry.",
        )
        self.banner.show("auth", text, "error")
        self.refresh_summary()

    def rate_limited(self, message: RateLimited) -> None:
        self._rate_limited_until = message.until
        self._note_error("rate limited by the API (HTTP 429)")
        self._show_rate_limit()
        self.refresh_summary()  # now, not at the next tick: the banner and summary agree

    def polling_state_changed(self, message: PollingStateChanged) -> None:
        if not message.paused and self.banner.kind == "auth":
            self.banner.clear("auth")
        self.refresh_summary()

    def _note_error(self, error: str) -> None:
        self._last_error = clean_text(error)
        self._last_error_at = self.clock.now()

    def _show_rate_limit(self) -> None:
        until = self._rate_limited_until
        if until is None:
            return
        left = until - self.clock.now()
        if left <= 0:
            self._rate_limited_until = None
            self.banner.clear("rate")
            return
        self.banner.show(
            "rate",
            f"The API is rate limiting us (HTTP 429): polling resumes in {format_duration(left)}",
            "warning",
        )

    # -- timers ----------------------------------------------------------------------

    def flush(self) -> None:
        """Apply staged updates (the table repaints only changed cells), then announce
        tasks that finished while we watched and refresh an open details screen."""
        applied = self.table.flush()
        if applied:
            self._update_details(applied)
        if self._finished:
            self._announcer.add(self._finished)
            self._finished = []
        if self._announcer.held:
            self.call_after_refresh(self._announce)  # the rows first, then the toast

    def tick(self) -> None:
        """Once a second: live durations (visible rows), the summary, the 429 countdown."""
        self.update_eta()
        self.table.tick()
        self._show_rate_limit()
        self.refresh_summary()
        details = self._details_screen()
        if details is not None:
            task = self.table.tasks.get(details.shown_task.task_id)
            if task is not None and not task.is_final:
                details.show_task(task, self.clock.now())

    def update_eta(self) -> None:
        """Go on working out the batch's ETA and the stalled tasks (they change with the
        clock): a large watchlist over a few ticks (see :class:`EtaSweep`)."""
        self._eta = self._eta_sweep.step(self.table.tasks, self.clock.now())
        self.table.set_stalled(self._eta.stalled)

    def restyle(self) -> None:
        """Repaint what carries status colours (after a switch between light and dark)."""
        if self.is_mounted:
            self.table.refresh_visible()
            self.refresh_summary()

    def refresh_summary(self) -> None:
        """Show the summary bar."""
        table = self.table
        stats = self.poller.stats
        if stats.last_error and stats.last_error != self._last_error:
            self._note_error(stats.last_error)
        now = self.clock.now()
        view = SummaryView(
            tasks=table.summary.summary(),
            loading=not self.loaded,
            polling=stats.polling,
            in_flight=stats.in_flight,
            request_rate=stats.request_rate,
            last_error=self._last_error,
            last_error_at=self._last_error_at,
            paused=stats.paused,
            running=self.polling,
            shown=len(table.shown_ids),
            query=table.text_filter,
            status_filter=table.status_filter,
            group=self.group if table.id_filter is not None else "",
            sort=(table.sort_column, table.sort_reverse),
            now=now,
            offline=self.settings.base_url if self._reach.offline else None,
            retry_in=self._reach.retry_in(now),
            eta=self._eta,
        )
        self.query_one(SummaryBar).show(view)
        if self.notices is not None:
            self.notices.counts(view.tasks, loaded=self.loaded)

    def _announce(self) -> None:
        """Show the finished-task toast when one is due (at most one per few seconds)."""
        if not self.toasts:
            self._announcer.drop()
            return
        toast = self._announcer.due(self.clock.monotonic())
        if toast is not None:
            self.notify(
                toast.message,
                title=toast.title,
                severity="error" if toast.error else "information",
                # one toast on screen at a time (two for failures, which stay longer)
                timeout=2 * ANNOUNCE_EVERY if toast.error else ANNOUNCE_EVERY,
                markup=False,
            )

    def action_toggle_toasts(self) -> None:
        self.toasts = not self.toasts
        if self.toasts:
            self.notify("Task toasts on: press m to mute")
        else:
            self._announcer.drop()
            self.notify("Task toasts muted: press m to turn them on again")

    def _details_screen(self) -> DetailsScreen | None:
        for screen in self.app.screen_stack:
            if isinstance(screen, DetailsScreen):
                return screen
        return None

    def _update_details(self, applied: Iterable[WatchedTask]) -> None:
        pane = self.query_one(PreviewPane)
        if pane.display and any(task.task_id == pane.task_id for task in applied):
            self._show_preview()
        details = self._details_screen()
        if details is None:
            return
        for task in applied:
            if task.task_id == details.shown_task.task_id:
                details.show_task(task, self.clock.now())

    # -- actions ---------------------------------------------------------------------

    def action_toggle_preview(self) -> None:
        """``v``: the preview pane beside the table, following the cursor."""
        pane = self.query_one(PreviewPane)
        pane.display = not pane.display
        if pane.display:
            self._show_preview()
        else:
            pane.show_task(None)  # stop a load under way; nothing is fetched while hidden

    @on(DataTable.RowHighlighted)
    def _row_highlighted(self) -> None:
        """The cursor moved: follow it once it rests (a held arrow key fetches nothing)."""
        if not self.query_one(PreviewPane).display:
            return
        if self._preview_timer is not None:
            self._preview_timer.stop()
        self._preview_timer = self.set_timer(PREVIEW_DEBOUNCE, self._show_preview)

    async def _thumbnail(
        self, task_id: str, index: int, url: str, width: int, height: int
    ) -> ThumbResult:
        # Through the session at call time: its cache (and connections) exist only once
        # a preview is first asked for.
        return await self.session.thumbs.thumbnail(task_id, index, url, width, height)

    def _show_preview(self) -> None:
        self._preview_timer = None
        self.query_one(PreviewPane).show_task(self._selected())

    @on(DataTable.RowSelected)
    def _row_selected(self, event: DataTable.RowSelected) -> None:
        event.stop()
        self.action_details()

    def action_details(self) -> None:
        task = self._selected()
        if task is None:
            return
        self.app.push_screen(
            DetailsScreen(
                task,
                self.actions,
                self.clock.now(),
                allow_loopback_http=self.settings.allow_loopback_http,
                on_refresh=self.refresh_ids,
                estimator=self.session.estimator,
                retried_as=lambda task_id: retried_as(task_id, self.table.tasks.values()),
            )
        )

    def action_open(self) -> None:
        task = self._selected()
        if task is None:
            return
        if not task.state or not task.state.outputs:
            self.notify(f"{task.task_id} has no outputs yet", severity="warning", markup=False)
            return
        self.run_worker(self.actions.open(task.state.outputs[0]), group="open")

    def action_download(self) -> None:
        task = self._selected()
        if task is not None:
            self.run_worker(self.actions.download(task), group="downloads")

    def action_copy(self) -> None:
        task = self._selected()
        if task is not None:
            self.actions.copy(task.task_id, "task ID")

    def action_export(self) -> None:
        if self._ready():
            self.export_rows()

    @work(group="export", exit_on_error=False)
    async def export_rows(self) -> Path | None:
        """Write the rows shown, in their order, to a new CSV file in the download folder.

        In a thread: 10,000 records and a file write would stall the screen. The tasks
        are taken now, so the file is what the user saw when pressing ``e``.
        """
        table = self.table
        tasks = [table.tasks[task_id] for task_id in table.shown_ids if task_id in table.tasks]
        folder, now = self.settings.download_dir, self.clock.now()
        try:
            path = await asyncio.to_thread(export_file, folder, tasks, now)
        except SirayError as exc:
            self.notify(first_line(str(exc), 300), severity="error", markup=False)
            return None
        self.notify(
            f"Exported {plural(len(tasks), 'task')} to {path}", title="Export", markup=False
        )
        return path

    def refresh_ids(self, ids: list[str] | None) -> None:
        """Ask the poller to poll now (None: every task)."""
        if not self.polling:
            self.notify(self.token_problem or "Polling is off", severity="warning")
            return
        self.poller.refresh(ids)
        count = len(self.table.tasks) if ids is None else len(ids)
        self.notify(f"Refreshing {plural(count, 'task')}")

    def action_refresh(self) -> None:
        task = self._selected()
        if task is not None:
            self.refresh_ids([task.task_id])

    def action_refresh_all(self) -> None:
        self.refresh_ids(None)

    def action_toggle_pause(self) -> None:
        if self.poller.paused:
            self.poller.resume()
            self.notify("Polling resumed")
        else:
            self.poller.pause()
            self.notify("Polling paused: press p to resume")
        self.refresh_summary()

    def action_filter(self) -> None:
        if self.table.id_filter is not None:
            self._clear_group()
        box = self.query_one("#filter", Input)
        box.display = True
        box.focus()

    @on(Input.Changed, "#filter")
    def _filter_changed(self, event: Input.Changed) -> None:
        self.table.set_filter(text=event.value.strip())
        self.refresh_summary()

    @on(Input.Submitted, "#filter")
    def _filter_submitted(self) -> None:
        box = self.query_one("#filter", Input)
        if not box.value:
            box.display = False
        self.table.focus()

    def key_escape(self) -> None:
        """Escape clears the text filter (and hides its box) and a failure group's."""
        if self.table.id_filter is not None:
            self._clear_group()
        box = self.query_one("#filter", Input)
        if box.display or self.table.text_filter:
            box.value = ""
            box.display = False
            self.table.set_filter(text="")
            self.table.focus()
            self.refresh_summary()

    def action_cycle_sort(self) -> None:
        table = self.table
        following = SORT_CYCLE[(SORT_CYCLE.index(table.sort_column) + 1) % len(SORT_CYCLE)]
        table.set_sort(following, table.sort_reverse)
        self.refresh_summary()

    def action_reverse_sort(self) -> None:
        table = self.table
        table.set_sort(table.sort_column, not table.sort_reverse)
        self.refresh_summary()

    def action_pick_status(self) -> None:
        table = self.table
        present = {status for status, _ in table.summary.summary().counts}
        self.app.push_screen(StatusPicker(table.status_filter, present), self._status_picked)

    def _status_picked(self, status_filter: str | None) -> None:
        if status_filter is not None and status_filter != self.table.status_filter:
            self.table.set_filter(status_filter=status_filter)
            self.refresh_summary()

    @on(DataTable.HeaderSelected)
    def _header_clicked(self, event: DataTable.HeaderSelected) -> None:
        """A click on a column header sorts by it; a second click reverses."""
        event.stop()
        table = self.table
        column = str(event.column_key.value)
        reverse = not table.sort_reverse if column == table.sort_column else False
        table.set_sort(column, reverse)
        self.refresh_summary()

    # -- stats and triage ------------------------------------------------------------

    def action_stats(self) -> None:
        if self._ready():
            self.app.push_screen(StatsScreen(self))

    def triage_tasks(self) -> Iterable[WatchedTask]:
        """Every task the table knows (filters do not apply: triage is about them all)."""
        return self.table.tasks.values()

    def show_group(self, ids: frozenset[str], reason: str) -> None:
        """Show only ``ids`` (a failure group): the text and status filters are lifted,
        so that every task of the group shows; ``escape`` or ``/`` brings all back."""
        box = self.query_one("#filter", Input)
        box.value = ""
        box.display = False
        self.table.text_filter, self.table.status_filter = "", "all"
        self.group = reason
        self.table.set_id_filter(ids)
        self.table.focus()
        self.refresh_summary()
        self.notify(
            f"Showing the {plural(len(ids), 'task')} of the group: escape shows every task",
            markup=False,
        )

    def _clear_group(self) -> None:
        self.group = ""
        self.table.set_id_filter(None)
        self.refresh_summary()

    def copy_ids(self, ids: Sequence[str]) -> None:
        """Copy task IDs, separated by spaces (they paste into a shell, or into ``a``)."""
        self.app.copy_to_clipboard(" ".join(ids))
        self.notify(f"Copied {plural(len(ids), 'task ID')}", markup=False)

    def action_help(self) -> None:
        self.app.push_screen(HelpScreen())

    async def action_quit(self) -> None:
        await self.app.action_quit()
