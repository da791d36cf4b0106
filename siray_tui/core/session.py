"""WatchSession: one headless object that watches tasks, for the dashboard and the CLI.

It owns what a front end must not build itself: the API client (from
:meth:`Settings.make_client`, so there is one token rule), the :class:`Poller` and its
policy, the watchlist store, the watch on the file for other processes' changes, the
undo stack of removals, and the downloader. The dashboard and the ``status``, ``wait``
and ``download`` commands drive it; it reports through one callback of
:data:`~siray_tui.core.events.SessionEvent`.

Every method runs on the event loop's thread. File writes that nobody waits for (a
removal, an undo) run in a worker thread in the background; a failure becomes a
:class:`StoreFailed` event. Reading the file for other processes' changes also runs in a
thread, and its result is applied to the poller before :class:`WatchlistChanged` is
reported.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable, Mapping
from typing import TYPE_CHECKING, Final

from siray_tui.core.clock import Clock, SystemClock
from siray_tui.core.downloads import Downloader
from siray_tui.core.errors import AuthError, ConfigError, SirayError, StoreError
from siray_tui.core.eta import Estimator
from siray_tui.core.events import SessionEvent, StoreFailed, WatchlistChanged
from siray_tui.core.models import TaskKind, TaskState, WatchedTask
from siray_tui.core.policy import PollPolicy, TaskSource
from siray_tui.core.poller import Poller
from siray_tui.core.store import WatchlistStore
from siray_tui.core.submission import Outcome, Sender, Sent, Submission
from siray_tui.core.sync import WatchlistSync
from siray_tui.core.text import first_line
from siray_tui.core.thumbs import ThumbCache
from siray_tui.core.watchlist import AddResult

if TYPE_CHECKING:
    from siray_tui.config import Settings


SYNC_INTERVAL: Final = 3.0
"""Seconds between two looks at the file's stamp (five times that for a large watchlist)."""
LARGE_WATCHLIST: Final = 2_000

DownloaderFactory = Callable[[], Downloader]
ThumbsFactory = Callable[[], ThumbCache]


class _NoToken:
    """The source of a session without a token: every poll is refused, as the API would,
    so a poller that runs anyway stops at once with the reason."""

    def __init__(self, problem: str) -> None:
        self.problem = problem

    async def get_task(self, task_id: str, kind: TaskKind) -> TaskState:
        raise AuthError(self.problem)


class WatchSession:
    """The watched tasks and everything that keeps them current.

    Args:
        settings: resolved settings; the client, downloader and policy come from them.
        store: the watchlist (default: the one in ``settings.data_dir``).
        source: what the poller asks (default: ``settings.make_client(clock)``, or none
            when there is no token: then :attr:`token_problem` says why).
        clock: time for the poller (tests pass a FakeClock).
        on_event: called with every event, on the loop's thread.
        downloader_factory: makes the downloader (default ``settings.make_downloader``).
        policy: the poll policy (default ``settings.poll_policy()``).
        thumbs_factory: makes the preview cache (default ``settings.make_thumbs``).
    """

    def __init__(
        self,
        settings: Settings,
        *,
        store: WatchlistStore | None = None,
        source: TaskSource | None = None,
        clock: Clock | None = None,
        on_event: Callable[[SessionEvent], None] | None = None,
        downloader_factory: DownloaderFactory | None = None,
        policy: PollPolicy | None = None,
        thumbs_factory: ThumbsFactory | None = None,
    ) -> None:
        self.settings = settings
        self.clock: Clock = clock if clock is not None else SystemClock()
        self.store = store if store is not None else WatchlistStore(settings.data_dir)
        self.token_problem = settings.token_problem
        """Why no client could be made (no token for a real API), or None."""
        self.client = None
        if source is None:
            if self.token_problem is None:
                self.client = settings.make_client(self.clock)
                source = self.client
            else:
                source = _NoToken(self.token_problem)
        self.source: TaskSource = source
        self.on_event = on_event
        """Called with every event, on the loop's thread (a command may set it later)."""
        self.estimator = Estimator()
        """Expected finish and stall flags, learnt from every answer the poller reports."""
        self.poller = Poller(
            source,
            policy=policy if policy is not None else settings.poll_policy(),
            store=self.store,
            clock=self.clock,
            on_event=self._emit,
            forecast=self.estimator,  # the rate budget goes to tasks about to finish
        )
        self._downloader_factory = downloader_factory or settings.make_downloader
        self._downloader: Downloader | None = None
        self._thumbs_factory = thumbs_factory or settings.make_thumbs
        self._thumbs: ThumbCache | None = None
        self.undo_stack: list[list[WatchedTask]] = []
        """Removed batches, newest last, with their states (:meth:`undo` restores)."""
        self._removed_here: set[str] = set()
        self._sync: WatchlistSync | None = None
        self._syncing = False
        self._background: set[asyncio.Task[None]] = set()

    # -- tasks -----------------------------------------------------------------------

    @property
    def tasks(self) -> Mapping[str, WatchedTask]:
        """The watched tasks, as the poller last saw them (read-only)."""
        return self.poller.tasks

    def watch(self, tasks: Iterable[WatchedTask], *, copied: bool = False) -> None:
        """Start watching tasks already on the watchlist.

        The poller gets copies, so the caller may keep ``tasks``; ``copied`` says they
        are copies already (the dashboard makes 10,000 in a thread, off the loop).
        """
        tasks = list(tasks)
        self._removed_here.difference_update(task.task_id for task in tasks)
        now = self.clock.now()
        for task in tasks:  # the finished ones teach the estimator their queue and run times
            self.estimator.observe(task, now)
        self.poller.add(tasks if copied else [task.copy() for task in tasks])

    async def add_ids(
        self, task_ids: Iterable[str], *, kind: TaskKind = TaskKind.AUTO, label: str = ""
    ) -> tuple[AddResult, list[WatchedTask]]:
        """Add IDs to the file (in a thread), then watch the new ones.

        Returns the store's result and the new tasks (for the caller to show).

        Raises:
            SirayError: the watchlist could not be written; nothing changed.
        """
        result = await asyncio.to_thread(self.store.add, list(task_ids), kind=kind, label=label)
        now = self.clock.now()
        tasks = [
            WatchedTask(task_id=task_id, kind=kind, label=label, added_at=now)
            for task_id in result.added
        ]
        self.watch(tasks)
        return result, tasks

    async def submit(
        self, submission: Submission, *, sender: Sender | None = None
    ) -> tuple[Sent, WatchedTask | None]:
        """Send one submission; when accepted, save the new task (with its request) to
        the watchlist and watch it before returning, so no caller can show an ID that
        is not saved.

        Returns what the API's answer proved, and the new task when accepted.

        Raises:
            ConfigError: no client (no token for a real API).
            StoreError: accepted, but the watchlist could not be written (the message
                names the new task's ID, so it is not lost).
        """
        if self.client is None:
            raise ConfigError(self.token_problem or "no API client")
        sender = sender or Sender(self.client, self.clock, rate=self.settings.rate)
        sent = await sender.send(submission)
        if sent.outcome is not Outcome.ACCEPTED or sent.task_id is None:
            return sent, None
        task = WatchedTask(
            task_id=sent.task_id,
            kind=submission.kind,
            label=submission.label,
            added_at=self.clock.now(),
            request=submission.request,
        )
        try:
            await asyncio.to_thread(self.store.add_tasks, [task])  # saves a copy
        except SirayError as exc:
            raise StoreError(
                f"task {sent.task_id} was created but not saved to the watchlist: {exc}"
            ) from exc
        self.watch([task])
        return sent, task

    def remove(self, task_ids: Iterable[str]) -> list[WatchedTask]:
        """Stop watching tasks and remove them from the file (in the background), keeping
        them for :meth:`undo`. Returns the removed tasks (none for unknown IDs)."""
        removed = [self.poller.tasks[i].copy() for i in task_ids if i in self.poller.tasks]
        if not removed:
            return []
        gone = [task.task_id for task in removed]
        self.poller.remove(gone)
        self._forget(gone)
        self._removed_here.update(gone)
        self.undo_stack.append(removed)
        self._in_background(self.store.remove, gone)
        return removed

    def undo(self) -> list[WatchedTask] | None:
        """Restore the last removed batch (poller now, file in the background); None when
        there is nothing to undo. Returns the restored tasks."""
        if not self.undo_stack:
            return None
        tasks = self.undo_stack.pop()
        self.watch(tasks)
        saved = [task.copy() for task in tasks]
        self._in_background(self.store.mutate, lambda wl: [wl.add_task(t) for t in saved])
        return tasks

    def _in_background(self, fn: Callable[..., object], *args: object) -> None:
        async def write() -> None:
            try:
                await asyncio.to_thread(fn, *args)
            except SirayError as exc:
                self._emit(StoreFailed(first_line(str(exc), 300)))

        job = asyncio.get_running_loop().create_task(write(), name="session:store")
        self._background.add(job)
        job.add_done_callback(self._background.discard)

    # -- other processes' changes ------------------------------------------------------

    def start_sync(self) -> float:
        """Start watching the file for other processes' changes (after the first load).

        Returns how often, in seconds, :meth:`check_sync` should be called.
        """
        self._sync = WatchlistSync(self.store, list(self.poller.tasks))
        return SYNC_INTERVAL if len(self.poller.tasks) < LARGE_WATCHLIST else 5 * SYNC_INTERVAL

    def check_sync(self) -> None:
        """Cheap (one stat): when the file moved, read it in the background, apply what
        another process added or removed, and report :class:`WatchlistChanged`."""
        if self._sync is None or self._syncing or not self._sync.changed():
            return
        self._syncing = True
        job = asyncio.get_running_loop().create_task(self._read_sync(), name="session:sync")
        self._background.add(job)
        job.add_done_callback(self._background.discard)

    async def _read_sync(self) -> None:
        assert self._sync is not None
        try:
            result = await asyncio.to_thread(self._sync.read, frozenset(self.poller.tasks))
        except SirayError:
            return  # the next stamp change tries again; the file is the store's to fix
        finally:
            self._syncing = False
        added = [t for t in result.added if t.task_id not in self._removed_here]
        if added:
            self.poller.add(task.copy() for task in added)
        if result.removed:
            self.poller.remove(result.removed)
            self._forget(result.removed)
        if added or result.removed:
            self._emit(WatchlistChanged(added, result.removed))

    # -- downloads, events, lifetime ---------------------------------------------------

    @property
    def downloader(self) -> Downloader:
        """The one downloader, made on first use."""
        if self._downloader is None:
            self._downloader = self._downloader_factory()
        return self._downloader

    def _forget(self, task_ids: Iterable[str]) -> None:
        for task_id in task_ids:
            self.estimator.forget(task_id)

    @property
    def thumbs(self) -> ThumbCache:
        """The preview cache (its own token-free fetcher), made on first use."""
        if self._thumbs is None:
            self._thumbs = self._thumbs_factory()
        return self._thumbs

    def _emit(self, event: SessionEvent) -> None:
        # A TaskUpdated needs no observe here: the poller's forecast is the estimator,
        # and it observed the answer before planning the next poll and emitting.
        if self.on_event is not None:
            self.on_event(event)

    async def settle(self) -> None:
        """Wait for the background writes and reads under way."""
        while self._background:
            await asyncio.gather(*self._background, return_exceptions=True)

    async def aclose(self) -> None:
        """Finish background writes, close the downloader's and the client's connections."""
        await self.settle()
        if self._downloader is not None:
            await self._downloader.aclose()
            self._downloader = None
        if self._thumbs is not None:
            await self._thumbs.aclose()
            self._thumbs = None
        if self.client is not None:
            await self.client.aclose()


__all__ = ["DownloaderFactory", "ThumbsFactory", "WatchSession"]
