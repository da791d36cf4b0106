"""The poller: which task to query when, and what its answer (or failure) means.

One :class:`Poller` watches many tasks with a single asyncio loop (:meth:`Poller.run`)
and a queue of due times on the monotonic clock (``core/schedule.py``), not a coroutine
per task: thousands of tasks cost one timer, and an idle poller sleeps (CPU nil). The
policy, rule by rule, is in docs/architecture.md ("Where each policy lives").

Errors become task state and events; the poller never raises them. Consumers get events
through ``on_event`` or :meth:`Poller.events`, each task in an event a copy. Observations
are saved to an optional store at most once per ``persist_every`` seconds, in a worker
thread, so the event loop never waits on ``fsync``. Methods but ``run``, ``flush`` and
``events`` are plain calls for the loop's thread, and never block.
"""

from __future__ import annotations

import asyncio
import logging
import math
import random
from collections.abc import AsyncIterator, Callable, Iterable, Mapping
from types import MappingProxyType
from typing import Final

from siray_tui.core.clock import Clock, SystemClock
from siray_tui.core.errors import (
    ApiError,
    AuthError,
    NotFoundError,
    RateLimitedError,
    TransportError,
)
from siray_tui.core.events import (
    AuthFailed,
    PollerEvent,
    PollerStats,
    PollFailed,
    PollingStateChanged,
    RateLimited,
    TaskNotFound,
    TaskUpdated,
)
from siray_tui.core.models import TaskKind, TaskState, WatchedTask
from siray_tui.core.policy import (
    FinishForecast,
    ObservationSink,
    PollPolicy,
    RateWindow,
    RequestCounter,
    TaskSource,
)
from siray_tui.core.schedule import DueQueue, Pick, Urgency, plan
from siray_tui.core.text import first_line

logger = logging.getLogger(__name__)

RATE_LIMIT_BACKOFF_BASE: Final = 2.0
RATE_LIMIT_BACKOFF_CAP: Final = 120.0
# A Retry-After shorter than this (0, or a date already past) is no usable hint: obeyed
# literally against a server that answers 429 to everything, it is a hot loop.
RATE_LIMIT_MIN_PAUSE: Final = 0.25
NOT_FOUND_MESSAGE: Final = "not found"
_ERROR_LIMIT: Final = 200
_Claim = tuple[WatchedTask, TaskKind, bool]  # a task to poll, its endpoint, forced or not


def _one_line(error: BaseException) -> str:
    text = first_line(str(error), _ERROR_LIMIT)
    return text or type(error).__name__


class Poller:
    """Polls watched tasks on a schedule and reports what it sees.

    Args:
        source: answers ``get_task`` (a SirayClient, or a fake in tests).
        policy: intervals, limits and backoff.
        store: where observations are persisted (coalesced, in a thread); None for none.
        clock: wall and monotonic time and sleeping; injectable so tests need no waiting.
        rng: the source of jitter; seed it for reproducible schedules.
        on_event: called on the loop's thread with every event; exceptions it raises are
            logged and ignored, so a UI bug cannot stop polling.
        forecast: when each task should finish (fed every answer); None polls every
            unfinished task every ``interval``, sharing the rate cap evenly.
    """

    def __init__(
        self,
        source: TaskSource,
        *,
        policy: PollPolicy | None = None,
        store: ObservationSink | None = None,
        clock: Clock | None = None,
        rng: random.Random | None = None,
        on_event: Callable[[PollerEvent], None] | None = None,
        forecast: FinishForecast | None = None,
    ) -> None:
        self._source = source
        self.forecast = forecast
        self.policy = policy if policy is not None else PollPolicy()
        self._store = store
        self._clock: Clock = clock if clock is not None else SystemClock()
        self._rng = rng if rng is not None else random.Random()
        self._on_event = on_event
        self._queue: asyncio.Queue[PollerEvent | None] | None = None

        self._tasks: dict[str, WatchedTask] = {}
        self._view: Mapping[str, WatchedTask] = MappingProxyType(self._tasks)
        self._due = DueQueue(self.policy.max_staleness)  # when each task is asked next
        self._forced: set[str] = set()  # refreshed by the user: polled even while paused
        self._in_flight: set[str] = set()  # tasks with a request under way
        self._workers: set[asyncio.Task[None]] = set()
        self._refresh_after: set[str] = set()  # refreshed while in flight: poll again after
        self._attempts: dict[str, int] = {}  # consecutive transient failures per task
        self._endpoint: dict[str, int] = {}  # index into endpoints_to_try for auto tasks
        self._window = RateWindow(self.policy.rate)

        self._paused = False
        self._auth_failed = False
        self._rate_limited_until: float | None = None  # monotonic
        self._rate_limited_wall: float | None = None
        self._rate_limit_attempt = 0
        self._last_error: str | None = None

        self._requests = RequestCounter(self._clock.monotonic())

        self._idle: set[str] = set()  # final or not found: watched, not polled
        self._dirty: dict[str, None] = {}  # insertion-ordered set of tasks to persist
        self._persist_due = 0.0
        self._persist_task: asyncio.Task[None] | None = None

        self._wake = asyncio.Event()
        self._wake_at = -math.inf  # when the sleeping scheduler next looks (see _need)
        self._running = False
        self._stopping = False

    # -- what the UI reads ---------------------------------------------------------------

    @property
    def tasks(self) -> Mapping[str, WatchedTask]:
        """A read-only view of the watched tasks, live (not a copy): read, never mutate."""
        return self._view

    @property
    def paused(self) -> bool:
        """True while no new polls start: paused by the user, or the token was rejected.

        :meth:`resume` undoes both, so a pause key can simply toggle on this.
        """
        return self._paused or self._auth_failed

    @property
    def stats(self) -> PollerStats:
        """What the poller is doing now (the dashboard asks every second: O(1))."""
        now = self._clock.monotonic()
        polling = len(self._tasks) - len(self._idle)
        limited = self._rate_limited_until is not None and now < self._rate_limited_until
        return PollerStats(
            in_flight=len(self._in_flight),
            polling=polling,
            requests_total=self._requests.total,
            request_rate=self._requests.rate(now),
            last_error=self._last_error,
            paused=self.paused,
            auth_failed=self._auth_failed,
            rate_limited_until=self._rate_limited_wall if limited else None,
        )

    # -- what the UI asks ----------------------------------------------------------------

    def add(self, tasks: Iterable[WatchedTask]) -> None:
        """Watch these tasks; the poller takes them over and updates them in place.

        New unfinished tasks are due at once (the rate cap spreads a large batch); final
        and not-found ones are kept for display but not polled. An ID already watched
        is left as it is, since the poller's copy is the freshest.
        """
        now = self._clock.monotonic()
        for task in tasks:
            if task.task_id in self._tasks:
                continue
            self._tasks[task.task_id] = task
            if task.is_final or task.not_found:
                self._idle.add(task.task_id)
                continue
            if task.task_id in self._in_flight:
                # Removed and added back while an answer for the old entry is on its way:
                # that answer is dropped, and this one is polled as soon as it lands.
                self._refresh_after.add(task.task_id)
            else:
                self._schedule(task.task_id, now)
        self._wake.set()

    def remove(self, task_ids: Iterable[str]) -> None:
        """Stop watching these tasks; an answer still in flight for one is dropped."""
        for task_id in task_ids:
            if self._tasks.pop(task_id, None) is None:
                continue
            self._idle.discard(task_id)
            self._due.discard(task_id)
            self._forced.discard(task_id)
            self._refresh_after.discard(task_id)
            self._attempts.pop(task_id, None)
            self._endpoint.pop(task_id, None)
            self._dirty.pop(task_id, None)

    def pause(self) -> None:
        """Start no new polls (answers in flight are still recorded) until :meth:`resume`."""
        if self._paused:
            return
        self._paused = True
        self._emit(PollingStateChanged(paused=True, reason="paused"))

    def resume(self) -> None:
        """Poll again; after a rejected token this retries, as the user may have fixed it."""
        if not self._paused and not self._auth_failed:
            return
        self._paused = False
        self._auth_failed = False
        self._emit(PollingStateChanged(paused=False, reason="resumed"))
        self._wake.set()

    def refresh(self, task_ids: Iterable[str] | None = None) -> None:
        """Poll now, final and not-found tasks included; None means every task.

        A task being polled right now is polled again once that answer is in, rather
        than twice at once. A refresh goes out even while paused (the user asked for it
        explicitly), but not while the token is rejected or a 429 pause runs.
        """
        now = self._clock.monotonic()
        ids = list(self._tasks) if task_ids is None else list(task_ids)
        for task_id in ids:
            if task_id not in self._tasks:
                continue
            if task_id in self._in_flight:
                self._refresh_after.add(task_id)
                continue
            self._endpoint.pop(task_id, None)  # an auto ID tries every endpoint again
            self._schedule(task_id, now, forced=True)
        self._wake.set()

    def stop(self) -> None:
        """Ask :meth:`run` to return; polls in flight are cancelled and pending
        observations written first."""
        self._stopping = True
        self._wake.set()

    def events(self) -> AsyncIterator[PollerEvent]:
        """Every event from now on, as an async iterator that ends when :meth:`run` does.

        The queue behind it is unbounded and exists only once this was called, so a
        poller whose events nobody reads this way does not accumulate them.
        """
        if self._queue is None:
            self._queue = asyncio.Queue()
        return self._iterate(self._queue)

    @staticmethod
    async def _iterate(queue: asyncio.Queue[PollerEvent | None]) -> AsyncIterator[PollerEvent]:
        while True:
            event = await queue.get()
            if event is None:
                return
            yield event

    # -- the loop ------------------------------------------------------------------------
    #
    # Two kinds of coroutine share the work. The scheduler (run) sleeps until the earliest
    # thing it knows of (a due task, the end of a rate-limit window or 429 pause, the next
    # write to the store) and starts a worker for each task it may poll. A worker polls
    # its task, records the answer, then takes the next task that is due and allowed
    # right now, if any, and exits when there is none. A busy poller so goes from one
    # request to the next without waking the scheduler or creating a task per request,
    # and an idle one has no worker and a scheduler waiting on nothing but an Event.

    async def run(self) -> None:
        """Poll until :meth:`stop`; then cancel what is in flight and persist.

        Nothing but CancelledError escapes: a bug in one step is logged and the loop
        carries on a second later instead of spinning.

        Raises:
            RuntimeError: when the poller is already running.
        """
        if self._running:
            raise RuntimeError("Poller.run() is already running")
        self._running = True
        try:
            while not self._stopping:
                self._wake.clear()
                self._wake_at = -math.inf  # stepping: no need to be woken for anything
                try:
                    delay = self._step()
                except Exception:
                    logger.exception("poller step failed; retrying in a second")
                    delay = 1.0
                if self._stopping:
                    break
                await self._wait(delay)
        finally:
            await self._shutdown()

    async def flush(self) -> None:
        """Write every pending observation now (waits for a write already under way)."""
        if self._store is None:
            return
        if self._persist_task is not None:
            await asyncio.wait({self._persist_task})
        if self._dirty:
            task = self._start_persist()
            await asyncio.wait({task})

    async def _shutdown(self) -> None:
        workers = list(self._workers)
        for worker in workers:
            worker.cancel()
        if workers:
            await asyncio.gather(*workers, return_exceptions=True)
        self._workers.clear()
        self._in_flight.clear()
        try:
            await self.flush()
        except Exception:  # flush logs store errors itself; this is a last guard
            logger.exception("final write of the watchlist failed")
        finally:
            self._running = False
            self._stopping = False  # a stopped poller may be run again
            if self._queue is not None:
                self._queue.put_nowait(None)

    async def _wait(self, delay: float | None) -> None:
        """Sleep ``delay`` seconds on the injected clock, or until woken; None = until woken.

        The timed sleep runs as a task that sets the wake-up Event, so there is one thing
        to await and nothing to race.
        """
        if self._wake.is_set():
            return
        if delay is None:
            self._wake_at = math.inf
            await self._wake.wait()
            return
        self._wake_at = self._clock.monotonic() + delay
        alarm = asyncio.create_task(self._alarm(delay), name="poller:alarm")
        try:
            await self._wake.wait()
        finally:
            alarm.cancel()

    async def _alarm(self, delay: float) -> None:
        await self._clock.sleep(delay)
        self._wake.set()

    def _need(self, at: float) -> None:
        """Something must happen at monotonic ``at``: wake the scheduler if it sleeps longer."""
        if at < self._wake_at:
            self._wake.set()

    def _step(self) -> float | None:
        """Start whatever is due and allowed; return seconds until the next thing to do."""
        now = self._clock.monotonic()
        delays: list[float] = []

        if self._store is not None and self._dirty and self._persist_task is None:
            if now >= self._persist_due:
                self._start_persist()
            else:
                delays.append(self._persist_due - now)

        concurrency = self.policy.concurrency
        while len(self._workers) < concurrency:
            claim, delay = self._claim_due(now)
            if claim is None:
                if delay is not None:
                    delays.append(delay)
                break
            worker = asyncio.create_task(self._work(*claim), name=f"poll:{claim[0].task_id}")
            self._workers.add(worker)
        return min(delays, default=None)

    def _claim_due(self, now: float) -> tuple[_Claim | None, float | None]:
        """Claim the next task to poll if one is due and every limit allows it now.

        Returns:
            ``(task, kind, forced)`` and None, or None and the seconds until one may be
            due (None when nothing will be without a wake-up).
        """
        if self._auth_failed or self._stopping:
            return None, None
        if self._rate_limited_until is not None:
            if now < self._rate_limited_until:
                return None, self._rate_limited_until - now
            self._rate_limited_until = None
            self._rate_limited_wall = None
        pick = self._next_due(now)
        if pick is None:
            return None, None
        if pick.due > now:
            return None, pick.due - now
        wait = self._window.wait(now)
        if wait > 0:
            return None, wait
        self._due.take(pick)
        task_id = pick.task_id
        forced = task_id in self._forced
        self._forced.discard(task_id)
        task = self._tasks[task_id]
        endpoints = task.kind.endpoints_to_try(task_id)
        kind = endpoints[min(self._endpoint.get(task_id, 0), len(endpoints) - 1)]
        self._window.record(now)
        self._requests.count(now)
        self._in_flight.add(task_id)
        return (task, kind, forced), None

    def _next_due(self, now: float) -> Pick | None:
        """The poll to start next (the schedule's order; core/schedule.py), or None."""
        if self._paused:
            # Only explicit refreshes go out while paused; their due time is "now".
            for task_id in self._forced:
                if task_id in self._due and task_id not in self._in_flight:
                    return Pick(task_id, -math.inf, Urgency.NOW, far_waiting=False)
            return None
        while (pick := self._due.peek(now)) is not None:
            if pick.task_id not in self._in_flight:
                return pick
            # Never two polls of one task: fold this into a poll after the answer.
            self._due.discard(pick.task_id)
            self._refresh_after.add(pick.task_id)
        return None

    @property
    def _retry_urgency(self) -> Urgency:
        # Without a forecast every planned poll is FAR: the order is simply by due time.
        return Urgency.NEAR if self.forecast is not None else Urgency.FAR

    def _schedule(
        self,
        task_id: str,
        due: float,
        *,
        forced: bool = False,
        urgency: Urgency = Urgency.NOW,
        promote_at: float | None = None,
    ) -> None:
        """Ask ``task_id`` at monotonic ``due``; NOW (the default) goes before any poll
        the forecast planned, as new tasks, refreshes and the retry rules want."""
        if task_id not in self._tasks:  # e.g. removed by an event callback just now
            return
        self._due.push(task_id, due, urgency, promote_at=promote_at)
        if forced:
            self._forced.add(task_id)
        self._need(due)

    async def _work(self, task: WatchedTask, kind: TaskKind, forced: bool) -> None:
        """Poll ``task``, then whatever else is due now, until nothing is."""
        try:
            while True:
                await self._poll(task, kind, forced)
                claim, _ = self._claim_due(self._clock.monotonic())
                if claim is None:
                    return
                task, kind, forced = claim
        finally:
            current = asyncio.current_task()
            if current is not None:
                self._workers.discard(current)
            self._wake.set()  # a slot is free, and a limit may need the scheduler's timer

    async def _poll(self, task: WatchedTask, kind: TaskKind, forced: bool) -> None:
        task_id = task.task_id
        outcome: TaskState | BaseException
        try:
            outcome = await self._source.get_task(task_id, kind)
        except asyncio.CancelledError:
            self._in_flight.discard(task_id)
            raise
        except ApiError as exc:
            outcome = exc
        except Exception as exc:
            logger.exception("unexpected error polling %s", task_id)
            outcome = exc
        self._in_flight.discard(task_id)
        try:
            current = self._tasks.get(task_id)
            if current is task:
                self._record(task, kind, outcome, forced)
            elif current is not None and task_id in self._refresh_after:
                # Removed and added back while this answer was on its way: drop it and
                # poll the new entry instead.
                self._refresh_after.discard(task_id)
                self._schedule(task_id, self._clock.monotonic())
        except Exception:
            logger.exception("recording the poll of %s failed", task_id)
            if self._tasks.get(task_id) is task:
                due = self._clock.monotonic() + self.policy.interval_for(task.kind)
                self._schedule(task_id, due, urgency=self._retry_urgency)

    # -- turning answers into state --------------------------------------------------------

    def _record(
        self, task: WatchedTask, kind: TaskKind, outcome: TaskState | BaseException, forced: bool
    ) -> None:
        task_id = task.task_id
        again = task_id in self._refresh_after
        self._refresh_after.discard(task_id)
        now = self._clock.monotonic()

        if isinstance(outcome, TaskState):
            self._on_answer(task, kind, outcome, now)
        elif isinstance(outcome, RateLimitedError):
            self._on_rate_limited(outcome, now)
            self._schedule(task_id, self._rate_limited_until or now, forced=forced)
        elif isinstance(outcome, AuthError):
            self._on_auth_failed(outcome)
            self._schedule(task_id, now, forced=forced)
        elif isinstance(outcome, NotFoundError):
            self._on_not_found(task, now, forced)
        else:
            self._on_failure(task, outcome, now)

        if again and task_id not in self._in_flight:
            self._endpoint.pop(task_id, None)
            self._schedule(task_id, now, forced=True)

    def _on_answer(self, task: WatchedTask, kind: TaskKind, state: TaskState, now: float) -> None:
        previous = task.status
        if task.kind is TaskKind.AUTO:
            task.kind = kind  # remember which endpoint answers, so the store keeps it
        wall = self._clock.now()
        changed = task.observe(state, at=wall)
        (self._idle.add if task.is_final else self._idle.discard)(task.task_id)
        self._attempts.pop(task.task_id, None)
        self._endpoint.pop(task.task_id, None)
        self._rate_limit_attempt = 0
        self._mark_dirty(task.task_id, now)
        forecast = self.forecast
        if forecast is not None:
            forecast.observe(task, wall)  # first, so the plan below counts this answer
        if not state.status.is_final:
            interval = self.policy.interval_for(task.kind)
            planned = plan(self.policy, forecast, task, wall, self._rng, interval=interval)
            promote = planned.promote_in
            self._schedule(
                task.task_id,
                now + planned.delay,
                urgency=planned.urgency,
                promote_at=None if promote is None else now + promote,
            )
        if self._wants_events:
            self._emit(TaskUpdated(task.copy(), previous, changed))

    def _on_rate_limited(self, error: RateLimitedError, now: float) -> None:
        if self._rate_limited_until is not None and now < self._rate_limited_until:
            # Another answer of the same episode (sent before the pause began): extend
            # the pause if the server asks for longer, but neither announce it again
            # nor double the backoff.
            if error.retry_after is not None:
                self._extend_rate_limit(now + error.retry_after)
            return
        asked = error.retry_after
        if asked is not None and asked < RATE_LIMIT_MIN_PAUSE:
            asked = None
        if asked is not None:
            delay = asked
        else:
            self._rate_limit_attempt += 1
            delay = min(
                RATE_LIMIT_BACKOFF_CAP,
                RATE_LIMIT_BACKOFF_BASE * 2 ** (self._rate_limit_attempt - 1),
            )
        self._rate_limited_until = now + delay
        self._rate_limited_wall = self._clock.now() + delay
        self._last_error = _one_line(error)
        logger.info("rate limited (Retry-After %s): pausing %.1f s", error.retry_after, delay)
        self._emit(RateLimited(until=self._rate_limited_wall, retry_after=asked))

    def _extend_rate_limit(self, until: float) -> None:
        assert self._rate_limited_until is not None and self._rate_limited_wall is not None
        extra = until - self._rate_limited_until
        if extra > 0:
            self._rate_limited_until = until
            self._rate_limited_wall += extra

    def _on_auth_failed(self, error: AuthError) -> None:
        message = _one_line(error)
        self._last_error = message
        if self._auth_failed:
            return  # one announcement, however many polls were in flight
        self._auth_failed = True
        self._emit(AuthFailed(message))
        self._emit(PollingStateChanged(paused=True, reason=f"token rejected: {message}"))

    def _on_not_found(self, task: WatchedTask, now: float, forced: bool) -> None:
        task_id = task.task_id
        self._attempts.pop(task_id, None)
        endpoints = task.kind.endpoints_to_try(task_id)
        following = self._endpoint.get(task_id, 0) + 1
        if following < len(endpoints):
            self._endpoint[task_id] = following  # an auto ID: ask the other endpoint once
            self._schedule(task_id, now, forced=forced)
            return
        self._endpoint.pop(task_id, None)
        task.not_found = True
        self._idle.add(task_id)
        task.last_error = NOT_FOUND_MESSAGE
        task.last_polled_at = self._clock.now()
        self._last_error = f"{task_id}: {NOT_FOUND_MESSAGE}"
        self._mark_dirty(task_id, now)
        if self._wants_events:
            self._emit(TaskNotFound(task.copy()))

    def _on_failure(self, task: WatchedTask, error: BaseException, now: float) -> None:
        task_id = task.task_id
        attempt = self._attempts.get(task_id, 0) + 1
        self._attempts[task_id] = attempt
        policy = self.policy
        delay = min(policy.backoff_cap, policy.backoff_base * 2 ** min(attempt - 1, 60))
        delay = min(policy.backoff_cap, delay * self._rng.uniform(0.8, 1.2))
        if isinstance(error, ApiError):
            message = _one_line(error)
        else:
            message = f"internal error: {type(error).__name__}: {_one_line(error)}"
        task.last_error = message
        self._last_error = f"{task_id}: {message}"
        logger.debug(
            "%s: attempt %d failed (%s); retrying in %.1f s", task_id, attempt, message, delay
        )
        self._mark_dirty(task_id, now)
        self._schedule(task_id, now + delay, urgency=self._retry_urgency)
        if self._wants_events:
            retry_at = self._clock.now() + delay
            unreachable = isinstance(error, TransportError)  # timeouts included
            self._emit(PollFailed(task.copy(), message, retry_at, attempt, unreachable))

    # -- events, counters, persistence -----------------------------------------------------

    @property
    def _wants_events(self) -> bool:
        return self._on_event is not None or self._queue is not None

    def _emit(self, event: PollerEvent) -> None:
        if self._on_event is not None:
            try:
                self._on_event(event)
            except Exception:
                logger.exception("on_event callback failed for %s", type(event).__name__)
        if self._queue is not None:
            self._queue.put_nowait(event)

    def _mark_dirty(self, task_id: str, now: float) -> None:
        if self._store is None:
            return
        if not self._dirty:
            self._persist_due = now + self.policy.persist_every
            self._need(self._persist_due)
        self._dirty[task_id] = None

    def _start_persist(self) -> asyncio.Task[None]:
        # Copies are taken here, on the loop's thread, so the writer thread reads
        # objects nobody mutates.
        batch = [self._tasks[i].copy() for i in self._dirty if i in self._tasks]
        self._dirty.clear()
        task = asyncio.create_task(self._write(batch), name="poller:persist")
        self._persist_task = task
        return task

    async def _write(self, batch: list[WatchedTask]) -> None:
        store = self._store
        assert store is not None
        try:
            if batch:
                await asyncio.to_thread(store.update, batch)
        except Exception as exc:
            logger.warning("could not save the watchlist: %s", exc, exc_info=True)
            self._last_error = f"could not save the watchlist: {first_line(str(exc), 160)}"
            now = self._clock.monotonic()
            for task in batch:  # try again later, unless removed meanwhile
                if task.task_id in self._tasks:
                    self._mark_dirty(task.task_id, now)
        finally:
            self._persist_task = None
            self._wake.set()


__all__ = [
    "AuthFailed",
    "ObservationSink",
    "PollFailed",
    "PollPolicy",
    "Poller",
    "PollerEvent",
    "PollerStats",
    "PollingStateChanged",
    "RateLimited",
    "TaskNotFound",
    "TaskSource",
    "TaskUpdated",
]
