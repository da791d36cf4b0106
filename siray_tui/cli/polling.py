"""The headless commands that talk to the API: ``status`` and ``wait``.

Both drive the same :class:`~siray_tui.core.session.WatchSession` (and so the same
:class:`~siray_tui.core.poller.Poller`) the dashboard uses, so the
command line gets the same rate cap, backoff, 429 handling, auto-kind fallback and
coalesced watchlist writes, and a script that runs ``wait`` over a batch of 200 never
polls harder than the dashboard would. ``status`` is one refresh round of the given IDs
(a 5xx or non-JSON answer is retried twice with backoff, and 429s are waited out for at
most a minute, saying so on stderr); ``wait`` polls until each task is final (or not
found, or the token is rejected).

Exit statuses are README.md's. When several apply, the most actionable wins:
``status``: error 2 > any FAILURE 1 > 0. ``wait``: error 2 (token rejected, not found) >
timeout 3 > any FAILURE or failed download 1 > all SUCCESS 0.
"""

from __future__ import annotations

import asyncio
import dataclasses
import math
import os
import shutil
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Final, TextIO

from siray_tui.cli.output import print_json_lines, print_tasks, report_warnings
from siray_tui.config import Settings
from siray_tui.core import events
from siray_tui.core.downloads import DownloadResult
from siray_tui.core.errors import InvalidTaskIdError, SirayError
from siray_tui.core.eta_summary import eta_summary
from siray_tui.core.models import TaskStatus, WatchedTask, validate_task_id
from siray_tui.core.notify import Notifier, all_done_notice, ended_notice
from siray_tui.core.policy import PollPolicy, TaskSource
from siray_tui.core.poller import Poller
from siray_tui.core.report import format_duration, plural, status_text
from siray_tui.core.session import WatchSession
from siray_tui.core.store import WatchlistStore
from siray_tui.core.text import first_line

EXIT_OK: Final = 0
EXIT_FAILURE: Final = 1
EXIT_ERROR: Final = 2
EXIT_TIMEOUT: Final = 3

STATUS_ATTEMPTS: Final = 3  # tries per task before status reports a transient error
STATUS_RETRY_BACKOFF: Final = 0.5  # seconds before the second try; doubles after
STATUS_GIVE_UP: Final = 60.0  # seconds status waits out 429s (or anything) before exit 2
PROGRESS_EVERY_TTY: Final = 1.0
PROGRESS_EVERY_PLAIN: Final = 5.0

# The order a person reads a batch in: waiting, running, done, broken.
_STATUS_ORDER: Final = (
    "PENDING",
    TaskStatus.NOT_START.value,
    TaskStatus.SUBMITTED.value,
    TaskStatus.QUEUED.value,
    TaskStatus.IN_PROGRESS.value,
    TaskStatus.SUCCESS.value,
    TaskStatus.FAILURE.value,
    "NOT_FOUND",
)


def _fail(err: TextIO, message: str) -> int:
    err.write(f"siray-tui: error: {message}\n")
    err.flush()
    return EXIT_ERROR


def _validate(task_ids: Sequence[str], err: TextIO) -> list[str] | None:
    """The IDs in order without repeats, or None after reporting every invalid one."""
    valid: list[str] = []
    bad = False
    for raw in task_ids:
        try:
            valid.append(validate_task_id(raw))
        except InvalidTaskIdError as exc:
            err.write(f"siray-tui: error: {exc}\n")
            bad = True
    return None if bad else list(dict.fromkeys(valid))


async def _start(
    settings: Settings,
    ids: Sequence[str],
    source: TaskSource | None,
    store: WatchlistStore | None,
    err: TextIO,
    policy: PollPolicy | None = None,
) -> tuple[WatchSession, dict[str, WatchedTask]] | None:
    """The session for one command and the watchlist (``ids`` added when missing), or
    None after saying why not: no token for a real API (how to set one), an unusable
    token, an unusable watchlist."""
    if source is None and settings.token_problem is not None:
        _fail(err, settings.token_problem)
        return None
    try:
        session = WatchSession(settings, store=store, source=source, policy=policy)
    except SirayError as exc:
        _fail(err, str(exc))
        return None
    tasks = _load(session.store, ids, err)
    if tasks is None:
        await session.aclose()
        return None
    return session, tasks


def _load(store: WatchlistStore, ids: Sequence[str], err: TextIO) -> dict[str, WatchedTask] | None:
    """The watchlist, with ``ids`` added first when missing (so their state is kept).

    Returns None after a one-line error when the watchlist cannot be used.
    """
    try:
        watchlist = store.load()
        missing = [task_id for task_id in ids if task_id not in watchlist.tasks]
        if missing:
            store.add(missing)
            watchlist = store.load()
    except SirayError as exc:
        _fail(err, str(exc))
        return None
    finally:
        report_warnings(store, err)
    return dict(watchlist.tasks)


@dataclass
class _Outcome:
    """What the poller reported to one command, filled in by its event callback."""

    done: asyncio.Event = field(default_factory=asyncio.Event)
    auth_error: str | None = None
    errors: dict[str, str] = field(default_factory=dict)  # task ID -> one-line error
    answered: set[str] = field(default_factory=set)  # task IDs with an answer this time
    rate_limited: bool = False  # a 429 was seen
    gave_up: str | None = None  # why status stopped before every task answered


async def _run_until(poller: Poller, done: asyncio.Event, limit: float | None = None) -> bool:
    """Run ``poller`` until ``done`` is set (True) or ``limit`` seconds pass (False).

    The poller is stopped, and its last observations written, either way.
    """
    runner = asyncio.create_task(poller.run(), name="cli-poller")
    try:
        await asyncio.wait_for(done.wait(), limit)
    except TimeoutError:
        return False
    finally:
        poller.stop()
        await runner
    return True


async def run_status(
    settings: Settings,
    task_ids: Sequence[str],
    *,
    json_output: bool,
    out: TextIO,
    err: TextIO,
    store: WatchlistStore | None = None,
    source: TaskSource | None = None,
    give_up_after: float = STATUS_GIVE_UP,
    retry_backoff: float = STATUS_RETRY_BACKOFF,
) -> int:
    """``siray-tui status ID... [--json]``: query each task now, store and print it.

    Every given ID is polled once, final ones included (the user asked for now); IDs
    not on the watchlist are added. With no IDs, every task on the watchlist is queried.
    A transient failure (5xx, non-JSON, dropped connection) is retried until
    :data:`STATUS_ATTEMPTS` tries, with backoff; a 429 pauses every task and is said on
    ``err``. After ``give_up_after`` seconds, or as soon as the server asks for a pause
    that ends later, status stops with 2 rather than wait for ever.

    Args:
        settings: resolved settings (base URL, token, data directory, limits).
        task_ids: the IDs to query.
        json_output: one JSON object per task on ``out`` instead of a table.
        out: where results go.
        err: where errors and warnings go, one line each.
        store: the watchlist (default: the one in ``settings.data_dir``).
        source: where states come from (default: a SirayClient for ``settings``).
        give_up_after: the most seconds to spend; tests pass a fraction of a second.
        retry_backoff: seconds before retrying a transient failure; doubles per try.

    Returns:
        0 all queried; 1 any FAILURE; 2 any error (invalid ID, not found, token, network,
        rate-limited past ``give_up_after``).
    """
    ids = _validate(task_ids, err)
    if ids is None:
        return EXIT_ERROR
    policy = settings.poll_policy(backoff_base=retry_backoff)
    started = await _start(settings, ids, source, store, err, policy)
    if started is None:
        return EXIT_ERROR
    session, tasks = started
    try:
        wanted = ids or list(tasks)
        if not wanted:
            err.write("siray-tui: nothing to query: the watchlist is empty\n")
            return EXIT_OK
        queried = [tasks[i] for i in wanted]
        outcome = await _status_round(session, queried, give_up_after, err)
        report_warnings(session.store, err)
    finally:
        await session.aclose()

    now = session.clock.now()
    shown = [_with_error(session.tasks[i], outcome) for i in wanted]
    if json_output:
        print_json_lines(shown, now, out, session.estimator)
    else:
        print_tasks(shown, now, out, session.estimator)
    out.flush()
    if outcome.auth_error:
        return _fail(err, _auth_hint(outcome.auth_error))
    if outcome.errors:
        for task_id, message in outcome.errors.items():
            err.write(f"siray-tui: error: {task_id}: {message}\n")
        err.flush()
        return EXIT_ERROR
    if outcome.gave_up:
        return _fail(err, outcome.gave_up)
    if any(task.status is TaskStatus.FAILURE for task in shown):
        return EXIT_FAILURE
    return EXIT_OK


async def _status_round(
    session: WatchSession, tasks: list[WatchedTask], give_up_after: float, err: TextIO
) -> _Outcome:
    """Poll each task once (an auto ID may take two requests), within ``give_up_after``
    seconds (the session's policy holds the retry backoff).

    A transient failure is retried by the poller's own backoff until the last try,
    whose error is the answer. A 429 is waited out, and said on ``err``, unless the
    pause would end after the budget: then status gives up at once.
    """
    outcome = _Outcome()
    pending = {task.task_id for task in tasks}
    clock = session.clock
    deadline = clock.monotonic() + give_up_after

    def on_rate_limited(event: events.RateLimited) -> None:
        outcome.rate_limited = True
        pause = max(0.0, event.until - clock.now())
        if clock.monotonic() + pause > deadline:
            outcome.gave_up = (
                f"rate-limited by the API: next try in {format_duration(math.ceil(pause))}, "
                f"after the {format_duration(give_up_after)} limit; "
                f"gave up with {_count(pending)} unanswered"
            )
            outcome.done.set()
            return
        err.write(f"siray-tui: rate-limited, retrying in {format_duration(math.ceil(pause))}\n")
        err.flush()

    def on_event(event: events.SessionEvent) -> None:
        if isinstance(event, events.AuthFailed):
            outcome.auth_error = event.message
            pending.clear()
        elif isinstance(event, events.RateLimited):
            on_rate_limited(event)
            return
        elif isinstance(event, events.PollFailed) and event.attempt < STATUS_ATTEMPTS:
            return  # the poller tries again after its backoff
        elif isinstance(event, events.TaskUpdated | events.PollFailed | events.TaskNotFound):
            task_id = event.task.task_id
            outcome.answered.add(task_id)
            if isinstance(event, events.PollFailed):
                outcome.errors[task_id] = event.error
            elif isinstance(event, events.TaskNotFound):
                outcome.errors[task_id] = "not found"
            pending.discard(task_id)
        if not pending:
            outcome.done.set()

    session.on_event = on_event
    session.watch(tasks, copied=True)
    session.poller.refresh(pending)
    finished = await _run_until(session.poller, outcome.done, give_up_after)
    if not finished and pending and outcome.gave_up is None:
        why = "rate-limited by the API" if outcome.rate_limited else "no answer in time"
        outcome.gave_up = (
            f"{why}: gave up after {format_duration(give_up_after)} "
            f"with {_count(pending)} unanswered"
        )
    return outcome


def _count(task_ids: set[str]) -> str:
    return f"{len(task_ids)} task{'' if len(task_ids) == 1 else 's'}"


def _with_error(task: WatchedTask, outcome: _Outcome) -> WatchedTask:
    """The task to print: a rejected token, or giving up, is shown on each task it left
    unanswered."""
    if task.task_id in outcome.answered:
        return task
    if outcome.auth_error:
        return dataclasses.replace(task, last_error=outcome.auth_error)
    if outcome.gave_up:
        return dataclasses.replace(task, last_error=outcome.gave_up)
    return task


def _auth_hint(message: str) -> str:
    return f"the API rejected the token ({message}): check SIRAY_API_TOKEN"


async def run_wait(
    settings: Settings,
    task_ids: Sequence[str],
    *,
    timeout: float | None,  # noqa: ASYNC109 - the --timeout option, applied inside
    json_output: bool,
    out: TextIO,
    err: TextIO,
    store: WatchlistStore | None = None,
    source: TaskSource | None = None,
) -> int:
    """``siray-tui wait [ID...] [--timeout S] [--json]``: poll until every task is final.

    With IDs, those tasks (added to the watchlist when missing; one stored as not found
    is tried once more); without, every unfinished task on the watchlist. Progress goes
    to ``err``: one line rewritten in place on a terminal, a plain line every few seconds
    otherwise. With ``json_output`` each task's JSON line is printed as it ends (tasks
    already final at once), and any still unfinished at a timeout or a rejected token
    at the end, so every task appears exactly once; otherwise a table at the end.

    Returns:
        0 all SUCCESS; 1 any FAILURE or failed download; 2 error (invalid ID, token, not
        found); 3 timeout.
    """
    ids = _validate(task_ids, err)
    if ids is None:
        return EXIT_ERROR
    if timeout is not None and timeout < 0:
        return _fail(err, f"--timeout must not be negative, got {timeout:g}")
    started = await _start(settings, ids, source, store, err)
    if started is None:
        return EXIT_ERROR
    session, tasks = started
    try:
        if ids:
            waited = [tasks[i] for i in ids]
        else:
            waited = [t for t in tasks.values() if not t.is_final and not t.not_found]
            if not waited:
                err.write("siray-tui: nothing to wait for: no unfinished task on the watchlist\n")
                return EXIT_OK
        waiter = _Waiter(session, waited, json_output, out, err)
        code = await waiter.wait(timeout)
        report_warnings(session.store, err)
        return code
    finally:
        await session.aclose()


class _Waiter:
    """The state of one ``wait``: which tasks ended, what to print, the progress line."""

    def __init__(
        self,
        session: WatchSession,
        tasks: list[WatchedTask],
        json_output: bool,
        out: TextIO,
        err: TextIO,
    ) -> None:
        self.session = session
        self.clock = session.clock
        self.order = [task.task_id for task in tasks]
        self.json_output = json_output
        self.out = out
        self.err = err
        self.tty = _is_tty(err)
        self.printed: set[str] = set()
        self.poller = session.poller
        session.on_event = self._on
        self.outcome = _Outcome()
        self.pending = {t.task_id for t in tasks if not t.is_final}
        self.outcome.answered = {t.task_id for t in tasks if t.is_final}
        self.retry_not_found = [t.task_id for t in tasks if t.not_found]
        self.started = self.clock.monotonic()
        self.progress_width = 0
        self.settings = session.settings
        self.downloads: list[asyncio.Task[list[DownloadResult]]] = []
        self.download_failed = False
        # --notify: the terminal cannot tell us about its focus here, so always
        self.notifier = Notifier(
            self.settings.notify, env=os.environ, tty=_is_tty(out), write=self._write_out
        )
        session.watch(tasks, copied=True)

    def _write_out(self, text: str) -> None:
        self.out.write(text)
        self.out.flush()

    def _on(self, event: events.SessionEvent) -> None:
        if isinstance(event, events.AuthFailed):
            self.outcome.auth_error = event.message
            self.outcome.done.set()
            return
        if isinstance(event, events.TaskNotFound):
            self.outcome.errors[event.task.task_id] = "not found"
            self._ended(event.task)
        elif isinstance(event, events.TaskUpdated) and event.task.is_final:
            self._ended(event.task)

    def _ended(self, task: WatchedTask) -> None:
        if task.task_id not in self.pending:
            return
        self.pending.discard(task.task_id)
        self.outcome.answered.add(task.task_id)
        self._print_json([task])
        notice = ended_notice(task)
        if notice is not None:
            self.notifier.send(*notice)
        if self.settings.auto_download and task.state and task.status is TaskStatus.SUCCESS:
            self._download(task.task_id, task.state.outputs)
        if not self.pending:
            ended = [self.poller.tasks.get(task_id) for task_id in self.order]
            failed = sum(1 for t in ended if t is not None and t.status is TaskStatus.FAILURE)
            self.notifier.send(*all_done_notice(len(self.order), failed))
            self.outcome.done.set()

    def _print_json(self, tasks: Iterable[WatchedTask]) -> None:
        if not self.json_output:
            return
        fresh = [task for task in tasks if task.task_id not in self.printed]
        self.printed.update(task.task_id for task in fresh)
        if fresh:
            print_json_lines(fresh, self.clock.now(), self.out, self.session.estimator)

    async def wait(self, limit: float | None) -> int:
        self._print_json(t for t in self.poller.tasks.values() if t.is_final)
        self.pending.update(self.retry_not_found)
        self.poller.refresh(self.retry_not_found)
        if not self.pending:
            self.outcome.done.set()
        ticker = asyncio.create_task(self._tick(), name="cli-progress")
        try:
            finished = await _run_until(self.poller, self.outcome.done, limit)
        finally:
            ticker.cancel()
        await self._finish_downloads()
        return self._conclude(timed_out=not finished)

    def _download(self, task_id: str, urls: Sequence[str]) -> None:
        """``--auto-download``: fetch a task's outputs as soon as it succeeds."""
        if not urls:
            return
        job = self.session.downloader.download_task(task_id, urls)
        self.downloads.append(asyncio.create_task(job, name=f"download-{task_id}"))

    async def _finish_downloads(self) -> None:
        for results in await asyncio.gather(*self.downloads):
            for result in results:
                if result.status == "failed":
                    self.download_failed = True
                    self.err.write(
                        f"siray-tui: download failed: {result.task_id} "
                        f"#{result.index}: {result.error}\n"
                    )
                else:
                    self.err.write(f"downloaded {result.path}\n")

    async def _tick(self) -> None:
        step = PROGRESS_EVERY_TTY if self.tty else PROGRESS_EVERY_PLAIN
        while True:
            await asyncio.sleep(step)
            self._progress()

    def _conclude(self, timed_out: bool) -> int:
        self._progress(final=True)
        now = self.clock.now()
        tasks = [_with_error(self.poller.tasks[i], self.outcome) for i in self.order]
        if self.json_output:
            self._print_json(tasks)
        else:
            print_tasks(tasks, now, self.out, self.session.estimator)
        self.out.flush()
        if self.outcome.auth_error:
            return _fail(self.err, _auth_hint(self.outcome.auth_error))
        if self.outcome.errors:
            for task_id, message in self.outcome.errors.items():
                self.err.write(f"siray-tui: error: {task_id}: {message}\n")
            self.err.flush()
            return EXIT_ERROR
        if timed_out and self.pending:
            elapsed = format_duration(self.clock.monotonic() - self.started)
            count = len(self.pending)
            self.err.write(
                f"siray-tui: timed out after {elapsed}: {count} of "
                f"{plural(len(self.order), 'task')} unfinished\n"
            )
            self.err.flush()
            return EXIT_TIMEOUT
        if self.download_failed:
            # A script doing ``wait --auto-download && use-the-files`` must not go on.
            return EXIT_FAILURE
        if any(task.status is TaskStatus.FAILURE for task in tasks):
            return EXIT_FAILURE
        return EXIT_OK

    def progress_line(self) -> str:
        """``waited 1m 05s: 3 of 10 done (SUCCESS 2, ...); all done ~40s; slowest image_x
        2m 10s``."""
        now = self.clock.now()
        tasks = [self.poller.tasks[i] for i in self.order if i in self.poller.tasks]
        counts: dict[str, int] = {}
        for task in tasks:
            key = status_text(task)
            counts[key] = counts.get(key, 0) + 1
        known = [s for s in _STATUS_ORDER if s in counts]
        ordered = known + sorted(set(counts) - set(known))
        done = len(self.order) - len(self.pending)
        elapsed = format_duration(self.clock.monotonic() - self.started)
        parts = ", ".join(f"{status} {counts[status]}" for status in ordered)
        line = f"waited {elapsed}: {done} of {len(self.order)} done ({parts})"
        waited = (task for task in tasks if task.task_id in self.pending)
        last = eta_summary(waited, self.session.estimator, now).last_at
        if last is not None:  # the dashboard summary's "all done ~": an overdue task as now
            line += f"; all done ~{format_duration(last - now)}"
        slowest: tuple[float, str] | None = None
        for task in tasks:
            if task.task_id not in self.pending or task.state is None:
                continue
            total = task.state.timings(now).total
            if total is not None and (slowest is None or total > slowest[0]):
                slowest = (total, task.task_id)
        if slowest is not None:
            line += f"; slowest {slowest[1]} {format_duration(slowest[0])}"
        retrying = sum(1 for t in tasks if t.task_id in self.pending and t.last_error)
        if retrying:
            line += f"; {retrying} retrying"
        stats = self.poller.stats
        if stats.rate_limited_until is not None:
            line += f"; rate limited for {format_duration(stats.rate_limited_until - now)}"
        return line

    def _progress(self, *, final: bool = False) -> None:
        line = self.progress_line()
        if self.tty:
            width = max(20, shutil.get_terminal_size((100, 24)).columns - 1)
            line = first_line(line, width)
            # Pad over the previous, longer line; a wrapped line could not be rewritten.
            padded = line.ljust(self.progress_width)
            self.progress_width = len(line)
            self.err.write("\r" + padded + ("\n" if final else ""))
        else:
            self.err.write(line + "\n")
        self.err.flush()


def _is_tty(stream: TextIO) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):  # a closed or unusual stream
        return False


__all__ = ["EXIT_ERROR", "EXIT_FAILURE", "EXIT_OK", "EXIT_TIMEOUT", "run_status", "run_wait"]
