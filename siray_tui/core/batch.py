"""A JSONL batch of submissions: each line checked, journaled, sent at most once.

Each line is a JSON object ``{"model", "prompt"?, "kind"?, "params"?, "label"?}``; other
fields are request parameters too. Only that much is checked here; everything else (an
empty prompt, an unknown model) is the API's to judge. The journal
(:mod:`siray_tui.core.journal`) decides what a rerun does: accepted lines are
``skipped``, rejected ones sent again, uncertain ones left alone unless the user asks.
The watchlist is written in groups (one save for every task accepted meanwhile), and a
line is reported only once its task is saved there.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Final

from siray_tui.core import limits
from siray_tui.core.errors import SirayError
from siray_tui.core.journal import Journal, LineRecord, LineState, line_keys
from siray_tui.core.models import TaskKind, WatchedTask
from siray_tui.core.store import WatchlistStore
from siray_tui.core.submission import Outcome, Sender, Sent, Submission, build_submission
from siray_tui.core.text import clean_text

JOB_FIELDS: Final = frozenset({"model", "prompt", "kind", "params", "label"})
ACCEPTED: Final = "accepted"
SKIPPED: Final = "skipped"
REJECTED: Final = "rejected"
UNCERTAIN: Final = "uncertain"
SAVE_GAP: Final = 0.25
"""Seconds between two saves of the accepted tasks to the watchlist (each rewrites the
whole file): a line is reported at most this much later, and the journal already holds
its task ID (a rerun puts back on the watchlist an accepted task it lacks)."""
SAVE_SHARE: Final = 0.1
"""At most this share of the time goes to saving: the gap after a save is at least its
duration divided by this (a 10,000-task watchlist takes tens of milliseconds to save,
time during which no answer is read)."""


@dataclass(frozen=True)
class Job:
    """One line's request, as the user wrote it."""

    model: str
    prompt: str | None
    kind: TaskKind | None
    params: Mapping[str, Any]
    label: str


def parse_job(text: str) -> Job | str:
    """The job on a line, or why it cannot be one (a one-line problem)."""
    try:
        entry = json.loads(text)
    except (ValueError, RecursionError):
        return 'not a JSON object (each line must be one, e.g. {"model": ..., "prompt": ...})'
    if not isinstance(entry, dict):
        return "not a JSON object"
    model = entry.get("model")
    if not isinstance(model, str) or not model.strip():
        return 'names no model (a "model" string is required)'
    prompt = entry.get("prompt")
    if prompt is not None and not isinstance(prompt, str):
        return '"prompt" must be a string'
    kind: TaskKind | None = None
    if entry.get("kind") is not None:
        try:
            kind = TaskKind(str(entry["kind"]))
        except ValueError:
            kind = TaskKind.AUTO
        if kind is TaskKind.AUTO:
            shown = clean_text(entry["kind"])[:20]
            return f'"kind" must be image, video or 3d, not {shown!r}'
    params = entry.get("params", {})
    if not isinstance(params, dict):
        return '"params" must be a JSON object'
    extra = {key: value for key, value in entry.items() if key not in JOB_FIELDS}
    label = entry.get("label")
    return Job(
        model=model,
        prompt=prompt,
        kind=kind,
        params={**extra, **params},
        label=label if isinstance(label, str) else "",
    )


@dataclass(frozen=True)
class BatchLine:
    """One non-blank line of the file: its number (from 1), identity, text and job."""

    number: int
    key: str
    text: str
    job: Job | str

    @property
    def problem(self) -> str | None:
        return self.job if isinstance(self.job, str) else None


def parse_lines(text: str) -> list[BatchLine]:
    """Every non-blank line, numbered as an editor numbers them."""
    numbered = [(n, line) for n, line in enumerate(text.splitlines(), 1) if line.strip()]
    keys = line_keys(line for _, line in numbered)
    return [
        BatchLine(number, key, line, parse_job(line))
        for (number, line), key in zip(numbered, keys, strict=True)
    ]


@dataclass(frozen=True)
class LineResult:
    """What became of one line this run (``--json`` prints :meth:`to_json`)."""

    line: int
    status: str
    task_id: str | None = None
    error: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "line": self.line,
            "status": self.status,
            "task_id": self.task_id,
            "error": self.error,
        }


KindOf = Callable[[str], TaskKind | None]


def plan(
    lines: list[BatchLine], states: Mapping[str, LineRecord], *, resend_uncertain: bool
) -> tuple[list[BatchLine], list[LineResult]]:
    """The lines to send now, and the results of those that will not be sent."""
    to_send: list[BatchLine] = []
    settled: list[LineResult] = []
    for line in lines:
        known = states.get(line.key)
        if line.problem is not None:
            settled.append(LineResult(line.number, REJECTED, error=line.problem))
        elif known is not None and known.state is LineState.ACCEPTED:
            settled.append(LineResult(line.number, SKIPPED, task_id=known.task_id))
        elif known is not None and known.state is LineState.UNCERTAIN and not resend_uncertain:
            why = known.error or "sent, but the run stopped before the answer"
            settled.append(
                LineResult(
                    line.number,
                    UNCERTAIN,
                    error=f"{why}; the task may exist: not resent (--resend-uncertain to send it)",
                )
            )
        else:
            to_send.append(line)
    return to_send, settled


def build_line(line: BatchLine, kind_of: KindOf) -> Submission | str:
    """The request of a line, or why it cannot be built (no kind known, a bad value)."""
    job = line.job
    if isinstance(job, str):
        return job
    kind = job.kind or kind_of(job.model)
    if kind is None:
        model = clean_text(job.model)[:80]
        return f'cannot tell the kind of model {model!r} (not in the models list): add "kind"'
    try:
        return build_submission(kind, job.model, job.prompt, job.params, label=job.label)
    except SirayError as exc:
        return str(exc)


class _Saver:
    """Saves accepted tasks to the watchlist in groups, at most one save per ``gap``
    seconds (longer after a slow save: :data:`SAVE_SHARE`): each save rewrites the whole
    file, so one per task would make a batch O(tasks squared). :meth:`add` returns once
    its task is saved.

    The save runs on the event loop, not in a worker thread: a thread encoding the
    watchlist holds the GIL, and the loop, busy with the POSTs, then waits for it after
    every socket call (up to the interpreter's switch interval, 5 ms, each time).
    """

    def __init__(self, save: Callable[[list[WatchedTask]], object], gap: float) -> None:
        self._save = save
        self._gap = gap
        self._waiting: list[tuple[WatchedTask, asyncio.Future[None]]] = []
        self._saving: asyncio.Task[None] | None = None
        self._next = -math.inf  # loop time before which no save starts
        self._last_call = asyncio.Event()

    def hurry(self) -> None:
        """No task will be added any more: save what waits now, not after the gap (the
        gap keeps saves few while answers come in; at the end it only delays the
        report, by up to a quarter of a second)."""
        self._last_call.set()

    async def add(self, task: WatchedTask) -> None:
        """Return once ``task`` is saved (raise what the save raised)."""
        loop = asyncio.get_running_loop()
        done: asyncio.Future[None] = loop.create_future()
        self._waiting.append((task, done))
        if self._saving is None:
            self._saving = loop.create_task(self._drain())
        await done

    async def _drain(self) -> None:
        loop = asyncio.get_running_loop()
        try:
            while self._waiting:
                # one turn of the loop at least: the tasks accepted in this turn join
                await asyncio.sleep(0)
                delay = self._next - loop.time()
                if delay > 0 and not self._last_call.is_set():
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(self._last_call.wait(), delay)
                group, self._waiting = self._waiting, []
                started = loop.time()
                try:
                    self._save([task for task, _ in group])
                except Exception as exc:  # each waiter raises it: none waits forever
                    for _, future in group:
                        future.set_exception(exc)
                else:
                    for _, future in group:
                        future.set_result(None)
                ended = loop.time()
                self._next = ended + max(self._gap, (ended - started) / SAVE_SHARE)
        finally:
            self._saving = None


@dataclass
class Batch:
    """Sends the lines of one file, ``concurrency`` at a time, journaled.

    Args:
        journal: the file's journal.
        sender: POSTs within the rate cap, waiting out 429s.
        store: the watchlist accepted tasks are added to.
        kind_of: the kind of a model a line gives no kind for (from the catalog).
        concurrency: lines in flight at most.
        now: wall-clock time for the tasks' ``added_at``.
        on_result: called with each line's result as it is known (accepted ones once
            saved to the watchlist).
    """

    journal: Journal
    sender: Sender
    store: WatchlistStore
    kind_of: KindOf
    concurrency: int
    now: Callable[[], float]
    on_result: Callable[[LineResult], None]
    stopped: str | None = None
    """Why the batch stopped sending (the token refused, the API unreachable)."""
    store_errors: list[str] = field(default_factory=list)
    _saver: _Saver = field(init=False)

    def __post_init__(self) -> None:
        self._saver = _Saver(self.store.add_tasks, SAVE_GAP)

    def submission(self, line: BatchLine) -> Submission | str:
        """The request of a line, or why it cannot be built."""
        return build_line(line, self.kind_of)

    def _task(self, task_id: str, submission: Submission) -> WatchedTask:
        return WatchedTask(
            task_id=task_id,
            kind=submission.kind,
            label=submission.label,
            added_at=self.now(),
            request=submission.request,
        )

    async def reconcile(self, lines: list[BatchLine], states: Mapping[str, LineRecord]) -> None:
        """Put on the watchlist any task the journal has accepted but the watchlist lacks
        (a run killed between the two records, or a watchlist that could not be saved)."""
        accepted = {
            line.key: line
            for line in lines
            if line.problem is None
            and (known := states.get(line.key)) is not None
            and known.state is LineState.ACCEPTED
            and known.task_id
        }
        if not accepted:
            return
        watched = await asyncio.to_thread(lambda: set(self.store.load().tasks))
        missing: list[WatchedTask] = []
        for key, line in accepted.items():
            task_id = states[key].task_id
            built = self.submission(line)
            if task_id and task_id not in watched and not isinstance(built, str):
                missing.append(self._task(task_id, built))
        if missing:
            await asyncio.to_thread(self.store.add_tasks, missing)

    async def run(self, lines: list[BatchLine]) -> None:
        """Send every line (results go to ``on_result``)."""
        queue: asyncio.Queue[BatchLine] = asyncio.Queue()
        for line in lines:
            queue.put_nowait(line)
        finishing: set[asyncio.Task[None]] = set()
        workers = [
            asyncio.create_task(self._work(queue, finishing))
            for _ in range(max(1, self.concurrency))
        ]
        try:
            await asyncio.gather(*workers)
            self._saver.hurry()
            while finishing:
                await asyncio.gather(*finishing)
        finally:
            for job in (*workers, *finishing):
                job.cancel()

    async def _work(
        self, queue: asyncio.Queue[BatchLine], finishing: set[asyncio.Task[None]]
    ) -> None:
        # A worker goes on to its next line as soon as the answer is in and recorded:
        # saving an accepted task (grouped, see _Saver) runs meanwhile, so the
        # concurrency is spent on POSTs.
        while not queue.empty():
            line = queue.get_nowait()
            answer = await self._send(line)
            if isinstance(answer, LineResult):
                self.on_result(answer)
                continue
            result, task = self._outcome(line, *answer)
            if task is None:
                self.on_result(result)
                continue
            job = asyncio.create_task(self._save(result, task))
            finishing.add(job)
            job.add_done_callback(finishing.discard)

    def _record(
        self,
        line: BatchLine,
        event: str,
        *,
        task_id: str | None = None,
        error: str = "",
        sync: bool = False,
    ) -> None:
        # On the event loop, not in a thread: see _Saver (a thread per fsync, or one
        # syncing thread, measured slower still). One fsync per line, the ``sent``
        # record's, made at once rather than at the end of the loop's turn for every line
        # there: lines rarely meet in one turn (a group averaged one record), so grouping
        # only delayed each POST by a turn and released them together.
        self.journal.record(line.key, line.number, event, task_id=task_id, error=error, sync=sync)

    async def _send(self, line: BatchLine) -> LineResult | tuple[Submission, Sent]:
        """POST one line (its ``sent`` record durable first); the result when nothing
        was sent, else the submission and what its answer proved."""
        built = self.submission(line)
        if isinstance(built, str):
            return LineResult(line.number, REJECTED, error=built)
        if self.stopped is not None:
            return LineResult(line.number, REJECTED, error=f"not sent: {self.stopped}")

        async def before() -> None:
            if self.stopped is not None:
                raise _Stop
            self._record(line, "sent", sync=True)

        async def not_sent() -> None:
            self._record(line, "unsent", error="rate limited")

        try:
            sent = await self.sender.send(built, before=before, not_sent=not_sent)
        except _Stop:
            return LineResult(line.number, REJECTED, error=f"not sent: {self.stopped}")
        if sent.outcome in (Outcome.AUTH, Outcome.NOT_SENT) and self.stopped is None:
            self.stopped = sent.error[: limits.MAX_ERROR]
        return built, sent

    def _outcome(
        self, line: BatchLine, built: Submission, sent: Sent
    ) -> tuple[LineResult, WatchedTask | None]:
        """Record what the answer proved; the line's result, and the task to save first
        when it was accepted."""
        if sent.outcome is Outcome.ACCEPTED and sent.task_id is not None:
            self._record(line, "accepted", task_id=sent.task_id)
            result = LineResult(line.number, ACCEPTED, task_id=sent.task_id)
            return result, self._task(sent.task_id, built)
        error = sent.error[: limits.MAX_ERROR]
        if sent.outcome is Outcome.UNCERTAIN:
            self._record(line, "uncertain", error=error)
            return LineResult(line.number, UNCERTAIN, error=f"{error}; the task may exist"), None
        event = "rejected" if sent.outcome is Outcome.REJECTED else "unsent"
        self._record(line, event, error=error)
        return LineResult(line.number, REJECTED, error=error), None

    async def _save(self, result: LineResult, task: WatchedTask) -> None:
        """Save an accepted task to the watchlist, then report its line."""
        try:
            await self._saver.add(task)
        except SirayError as exc:
            self.store_errors.append(f"line {result.line}: {task.task_id}: {exc}")
        self.on_result(result)


class _Stop(Exception):
    """Raised inside a send when the batch stopped before this line's POST."""


__all__ = [
    "ACCEPTED",
    "REJECTED",
    "SKIPPED",
    "UNCERTAIN",
    "Batch",
    "BatchLine",
    "Job",
    "KindOf",
    "LineResult",
    "build_line",
    "parse_job",
    "parse_lines",
    "plan",
]
