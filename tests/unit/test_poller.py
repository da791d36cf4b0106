"""The poll scheduler against a scripted source and a fake clock: no network, no sleeping.

Time moves only when :class:`Harness` advances the FakeClock, and it jumps straight to
the next pending sleep, so an hour of polling takes milliseconds and every timing
assertion is exact.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import itertools
import random
import time
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

import pytest

from siray_tui.core.clock import FakeClock
from siray_tui.core.errors import (
    AuthError,
    HttpStatusError,
    NotFoundError,
    PayloadError,
    RateLimitedError,
    RequestTimeoutError,
    ServerError,
)
from siray_tui.core.models import TaskKind, TaskState, TaskStatus, WatchedTask
from siray_tui.core.poller import (
    AuthFailed,
    Poller,
    PollerEvent,
    PollFailed,
    PollingStateChanged,
    PollPolicy,
    RateLimited,
    TaskNotFound,
    TaskUpdated,
)

Outcome = TaskState | BaseException
Script = Callable[[str, TaskKind, int], Outcome]


def state(task_id: str, status: str = "IN_PROGRESS", progress: int | None = None) -> TaskState:
    data: dict[str, object] = {"status": status}
    if progress is not None:
        data["progress"] = f"{progress}%"
    return TaskState.from_payload({"code": "success", "data": data}, task_id=task_id)


def running(task_id: str, kind: TaskKind, n: int) -> Outcome:
    return state(task_id, "IN_PROGRESS", min(99, n))


def answered_only_by(kind: TaskKind) -> Script:
    """A server on which only ``kind``'s endpoint knows the task (the other says 404)."""

    def script(task_id: str, asked: TaskKind, n: int) -> Outcome:
        if asked is not kind:
            return NotFoundError("HTTP 404 task not found", status_code=404)
        return state(task_id)

    return script


@dataclass
class Call:
    at: float
    task_id: str
    kind: TaskKind


@dataclass
class FakeSource:
    """Answers by a script per task ID (default: forever IN_PROGRESS), after ``latency``
    seconds of fake time; records every call and how many overlap."""

    clock: FakeClock
    latency: float = 0.0
    scripts: dict[str, Script] = field(default_factory=dict)
    default: Script = running
    calls: list[Call] = field(default_factory=list)
    in_flight: int = 0
    max_in_flight: int = 0
    per_task: Counter[str] = field(default_factory=Counter)
    overlaps: int = 0

    async def get_task(self, task_id: str, kind: TaskKind) -> TaskState:
        number = sum(1 for c in self.calls if c.task_id == task_id)
        self.calls.append(Call(self.clock.monotonic(), task_id, kind))
        self.in_flight += 1
        self.per_task[task_id] += 1
        self.max_in_flight = max(self.max_in_flight, self.in_flight)
        if self.per_task[task_id] > 1:
            self.overlaps += 1
        try:
            if self.latency:
                await self.clock.sleep(self.latency)
            outcome = self.scripts.get(task_id, self.default)(task_id, kind, number)
            if isinstance(outcome, BaseException):
                raise outcome
            return outcome
        finally:
            self.in_flight -= 1
            self.per_task[task_id] -= 1

    def times(self, task_id: str) -> list[float]:
        return [c.at for c in self.calls if c.task_id == task_id]


@dataclass
class FakeStore:
    """Records each ``update`` batch (task IDs and statuses) and can fail on demand."""

    batches: list[dict[str, str | None]] = field(default_factory=list)
    fail_next: int = 0

    def update(self, tasks: Iterable[WatchedTask]) -> None:
        if self.fail_next:
            self.fail_next -= 1
            raise OSError("disk full")
        self.batches.append({t.task_id: (t.status.value if t.status else None) for t in tasks})


async def settle() -> None:
    """Let every ready coroutine run until the loop has nothing left to do right now."""
    for _ in range(40):
        await asyncio.sleep(0)


async def until(condition: Callable[[], bool], limit: float = 3.0) -> None:
    """Wait in real time (for the store's worker thread) until ``condition`` holds."""
    deadline = time.monotonic() + limit
    while not condition():
        assert time.monotonic() < deadline, "condition not reached in time"
        await asyncio.sleep(0.002)


class Harness:
    """A poller on a fake clock, run in the background, and the means to move time."""

    def __init__(
        self,
        *,
        policy: PollPolicy | None = None,
        latency: float = 0.0,
        store: FakeStore | None = None,
        seed: int = 7,
    ) -> None:
        self.clock = FakeClock()
        self.source = FakeSource(self.clock, latency=latency)
        self.events: list[PollerEvent] = []
        self.store = store
        self.poller = Poller(
            self.source,
            policy=policy or PollPolicy(),
            store=store,
            clock=self.clock,
            rng=random.Random(seed),
            on_event=self.events.append,
        )
        self.start = self.clock.monotonic()
        self._run: asyncio.Task[None] | None = None

    async def __aenter__(self) -> Harness:
        self._run = asyncio.create_task(self.poller.run())
        await settle()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    async def stop(self) -> None:
        if self._run is None:
            return
        self.poller.stop()
        await asyncio.wait_for(self._run, 5)
        self._run = None

    @property
    def elapsed(self) -> float:
        return self.clock.monotonic() - self.start

    def add(self, *task_ids: str, kind: TaskKind = TaskKind.AUTO) -> list[WatchedTask]:
        tasks = [WatchedTask(task_id, kind=kind) for task_id in task_ids]
        self.poller.add(tasks)
        return tasks

    async def advance(self, seconds: float) -> None:
        """Move time forward ``seconds``, stopping at every pending sleep on the way."""
        target = self.clock.monotonic() + seconds
        await settle()
        while True:
            deadline = self.clock.next_deadline()
            if deadline is None or deadline > target:
                break
            self.clock.advance(max(0.0, deadline - self.clock.monotonic()))
            await settle()
        self.clock.advance(max(0.0, target - self.clock.monotonic()))
        await settle()

    def of(self, kind: type[PollerEvent]) -> list[PollerEvent]:
        return [e for e in self.events if isinstance(e, kind)]


def fast(**changes: float) -> PollPolicy:
    """A policy that never hits the rate or concurrency caps unless a test says so."""
    values: dict[str, float] = {"interval": 4.0, "concurrency": 64, "rate": 1000.0}
    values.update(changes)
    return PollPolicy(
        interval=values["interval"],
        concurrency=int(values["concurrency"]),
        rate=values["rate"],
        jitter=values.get("jitter", 0.1),
        backoff_base=values.get("backoff_base", 2.0),
        backoff_cap=values.get("backoff_cap", 60.0),
        persist_every=values.get("persist_every", 1.0),
    )


# -- schedule ------------------------------------------------------------------------------


async def test_first_poll_is_immediate_then_every_interval_within_jitter() -> None:
    async with Harness(policy=fast(interval=4.0)) as h:
        ids = [f"image_{i:03d}" for i in range(20)]
        h.add(*ids)
        await h.advance(0)
        assert {c.task_id for c in h.source.calls} == set(ids)
        assert all(c.at == h.start for c in h.source.calls)
        await h.advance(400)
    gaps = [b - a for i in ids for a, b in itertools.pairwise(h.source.times(i))]
    assert len(gaps) > 1500
    assert min(gaps) >= 4.0 * 0.9 - 1e-9
    assert max(gaps) <= 4.0 * 1.1 + 1e-9
    assert max(gaps) - min(gaps) > 0.5  # the jitter really spreads the batch
    assert sum(gaps) / len(gaps) == pytest.approx(4.0, abs=0.05)


async def test_final_tasks_are_not_polled_again() -> None:
    async with Harness(policy=fast(interval=1.0)) as h:
        statuses = ["QUEUED", "IN_PROGRESS", "SUCCESS"]
        h.source.scripts["image_a"] = lambda t, k, n: state(t, statuses[min(n, 2)])
        h.source.scripts["image_b"] = lambda t, k, n: state(t, "FAILURE")
        h.add("image_a", "image_b")
        done = WatchedTask("image_c", state=state("image_c", "SUCCESS"))
        h.poller.add([done])
        await h.advance(100)
    assert len(h.source.times("image_a")) == 3
    assert len(h.source.times("image_b")) == 1
    assert h.source.times("image_c") == []
    assert h.poller.tasks["image_a"].status is TaskStatus.SUCCESS
    assert h.poller.stats.polling == 0


async def test_unknown_status_keeps_being_polled() -> None:
    async with Harness(policy=fast(interval=1.0)) as h:
        h.source.scripts["image_a"] = lambda t, k, n: state(t, "WARMING_UP")
        h.add("image_a")
        await h.advance(10.5)
    assert len(h.source.times("image_a")) >= 9
    assert h.poller.tasks["image_a"].status is TaskStatus.UNKNOWN


async def test_every_answer_emits_task_updated_with_status_change_flag() -> None:
    async with Harness(policy=fast(interval=1.0, jitter=0.0)) as h:
        statuses = ["QUEUED", "QUEUED", "IN_PROGRESS", "SUCCESS"]
        h.source.scripts["image_a"] = lambda t, k, n: state(t, statuses[n], 10 * n)
        (task,) = h.add("image_a")
        await h.advance(5)
    updates = [e for e in h.events if isinstance(e, TaskUpdated)]
    assert [e.status_changed for e in updates] == [True, False, True, True]
    assert [e.previous_status for e in updates] == [
        None,
        TaskStatus.QUEUED,
        TaskStatus.QUEUED,
        TaskStatus.IN_PROGRESS,
    ]
    assert [h.status for h in task.history] == ["QUEUED", "IN_PROGRESS", "SUCCESS"]
    # Events carry copies: later polls never change what a consumer already holds.
    assert updates[0].task is not task
    assert updates[0].task.status is TaskStatus.QUEUED
    assert len(updates[0].task.history) == 1
    assert updates[0].task.last_polled_at == h.clock.now() - 5


# -- limits --------------------------------------------------------------------------------


async def test_200_new_tasks_respect_rate_and_concurrency() -> None:
    policy = PollPolicy(interval=60.0, concurrency=8, rate=10.0)
    async with Harness(policy=policy, latency=0.3) as h:
        h.add(*(f"image_{i:03d}" for i in range(200)))
        await h.advance(25)
    first: dict[str, float] = {}
    for call in h.source.calls:
        first.setdefault(call.task_id, call.at)
    assert len(first) == 200
    starts = sorted(c.at - h.start for c in h.source.calls)
    # Every one-second window, fixed or sliding, holds at most `rate` starts.
    per_second = Counter(int(t) for t in starts)
    assert max(per_second.values()) <= 10
    for i, t in enumerate(starts):
        assert sum(1 for u in starts[i:] if u < t + 1.0 - 1e-9) <= 10
    assert h.source.max_in_flight <= 8
    # ... and the cap is used, not just respected: 200 polls take about 20 s.
    assert max(first.values()) - h.start <= 20.5


async def test_concurrency_cap_with_slow_answers() -> None:
    async with Harness(policy=fast(concurrency=5, interval=1.0), latency=3.0) as h:
        h.add(*(f"image_{i:02d}" for i in range(50)))
        await h.advance(0.1)
        assert h.poller.stats.in_flight == 5
        await h.advance(60)
    assert h.source.max_in_flight == 5
    assert len(h.source.calls) >= 5 * 60 // 3 - 5


async def test_one_task_never_has_two_polls_in_flight() -> None:
    async with Harness(policy=fast(interval=1.0), latency=10.0) as h:
        h.add("image_a", "image_b")
        await h.advance(2)
        h.poller.refresh(["image_a"])  # in flight: deferred, not doubled
        h.poller.refresh()
        await h.advance(0.5)
        assert len(h.source.times("image_a")) == 1
        await h.advance(10)  # first answer at t=10, the deferred refresh goes at once
        assert h.source.times("image_a")[1] - h.start == pytest.approx(10.0)
        await h.advance(60)
    assert h.source.overlaps == 0


# -- failures ------------------------------------------------------------------------------


async def test_429_pauses_every_task_for_retry_after() -> None:
    async with Harness(policy=fast(rate=1.0, interval=1.0, jitter=0.0)) as h:

        def limited(t: str, k: TaskKind, n: int) -> Outcome:
            if n == 0 and t == "image_2":
                return RateLimitedError("HTTP 429 rate limited", retry_after=7.0)
            return state(t)

        h.source.default = limited
        h.add(*(f"image_{i}" for i in range(5)))
        await h.advance(2.5)
        assert [c.task_id for c in h.source.calls] == ["image_0", "image_1", "image_2"]
        stats = h.poller.stats
        assert stats.rate_limited_until == pytest.approx(h.clock.now() - 0.5 + 7.0)
        await h.advance(30)
    starts = [c.at - h.start for c in h.source.calls]
    assert not [t for t in starts if 2.0 < t < 9.0]
    assert 9.0 in starts
    (event,) = h.of(RateLimited)
    assert isinstance(event, RateLimited)
    assert event.retry_after == 7.0
    assert h.poller.stats.rate_limited_until is None


async def test_429_without_retry_after_backs_off_and_resets_after_success() -> None:
    async with Harness(policy=fast(interval=1.0, jitter=0.0)) as h:
        answers: list[Outcome] = [RateLimitedError("429", retry_after=None)] * 4
        answers += [state("image_a")] * 2 + [RateLimitedError("429", retry_after=None)]

        h.source.scripts["image_a"] = lambda t, k, n: answers[n] if n < len(answers) else state(t)
        h.add("image_a")
        await h.advance(60)
    starts = [c.at - h.start for c in h.source.calls]
    gaps = [b - a for a, b in itertools.pairwise(starts)]
    # 2, 4, 8, 16 after each 429; 1 (the interval) after each success; back to 2.
    assert gaps[:7] == pytest.approx([2, 4, 8, 16, 1, 1, 2])
    assert len(h.of(RateLimited)) == 5


async def test_rate_limit_backoff_caps_at_120_seconds() -> None:
    async with Harness(policy=fast(interval=1.0)) as h:
        h.source.default = lambda t, k, n: RateLimitedError("429", retry_after=None)
        h.add("image_a")
        await h.advance(1000)
    starts = [c.at - h.start for c in h.source.calls]
    gaps = [b - a for a, b in itertools.pairwise(starts)]
    assert gaps[:8] == pytest.approx([2, 4, 8, 16, 32, 64, 120, 120])


async def test_401_stops_all_polling_after_one_round_and_reports_once() -> None:
    async with Harness(policy=fast(concurrency=8, interval=1.0), latency=0.5) as h:
        h.source.default = lambda t, k, n: AuthError("HTTP 401 unauthorized", status_code=401)
        h.add(*(f"image_{i:02d}" for i in range(30)))
        await h.advance(300)
        assert len(h.source.calls) == 8  # the first round in flight, then nothing
        assert len(h.of(AuthFailed)) == 1
        stats = h.poller.stats
        assert stats.auth_failed and stats.paused and stats.last_error
        assert h.poller.paused
        stopped = h.of(PollingStateChanged)
        assert len(stopped) == 1 and isinstance(stopped[0], PollingStateChanged)
        assert stopped[0].paused
        # The user fixes the token and resumes: everything is polled again.
        h.source.default = running
        h.poller.resume()
        await h.advance(5)
        assert not h.poller.stats.auth_failed
        assert {c.task_id for c in h.source.calls[8:]} == set(h.poller.tasks)
        assert all(t.status is TaskStatus.IN_PROGRESS for t in h.poller.tasks.values())


async def test_transient_failures_back_off_doubling_to_the_cap() -> None:
    async with Harness(policy=fast(interval=1.0)) as h:
        answers: list[Outcome] = [state("image_a", "IN_PROGRESS", 40)]
        answers += [
            ServerError("HTTP 502 server error", status_code=502),
            RequestTimeoutError("request timed out (ReadTimeout)"),
            PayloadError("answer is not JSON (text/html)"),
            # Unexpected statuses too: a gateway can answer them for a while.
            HttpStatusError("HTTP 400 unexpected answer", status_code=400),
        ] * 3
        h.source.scripts["image_a"] = lambda t, k, n: (
            answers[n] if n < len(answers) else ServerError("HTTP 500", status_code=500)
        )
        (task,) = h.add("image_a")
        await h.advance(600)
        starts = [c.at for c in h.source.calls]
        gaps = [b - a for a, b in itertools.pairwise(starts[1:])]
        for attempt, gap in enumerate(gaps, start=1):
            nominal = min(60.0, 2.0 * 2 ** (attempt - 1))
            assert nominal * 0.8 - 1e-9 <= gap <= min(60.0, nominal * 1.2) + 1e-9
        assert max(gaps) == pytest.approx(60.0, abs=12)
        assert max(gaps) <= 60.0
        # The last good state stays; the error is shown beside it.
        assert task.status is TaskStatus.IN_PROGRESS and task.state
        assert task.state.progress == 40
        assert task.last_error == "HTTP 500"
        failures = [e for e in h.events if isinstance(e, PollFailed)]
        assert [e.attempt for e in failures] == list(range(1, len(failures) + 1))
        assert failures[0].error == "HTTP 502 server error"
        assert failures[0].task.last_error == "HTTP 502 server error"
        last = failures[-1]
        assert last.retry_at > h.clock.now() - 60 and last.retry_at - last.task.added_at > 0
        # Success resets the count: the next failure waits about 2 s again.
        h.source.scripts["image_a"] = lambda t, k, n: state(t)
        h.poller.refresh(["image_a"])
        await h.advance(0)
        assert task.last_error is None
        h.source.scripts["image_a"] = lambda t, k, n: ServerError("HTTP 503", status_code=503)
        before = len(h.of(PollFailed))
        await h.advance(1.2)  # the interval, then the poll fails
    after = [e.attempt for e in h.events if isinstance(e, PollFailed)][before:]
    assert after == [1]


async def test_retry_at_is_the_wall_time_of_the_next_try() -> None:
    async with Harness(policy=fast()) as h:
        h.source.default = lambda t, k, n: ServerError("HTTP 500", status_code=500)
        h.add("image_a")
        await h.advance(0)
        (failed,) = h.of(PollFailed)
        assert isinstance(failed, PollFailed)
        wall_at_failure = h.clock.now()
        await h.advance(100)
    second = h.source.calls[1].at - h.start
    assert failed.retry_at == pytest.approx(wall_at_failure + second)


async def test_unexpected_exception_is_logged_and_treated_as_transient(
    caplog: pytest.LogCaptureFixture,
) -> None:
    async with Harness(policy=fast(interval=1.0)) as h:
        answers: list[Outcome] = [ZeroDivisionError("boom"), state("image_a", "SUCCESS")]
        h.source.scripts["image_a"] = lambda t, k, n: answers[n]
        (task,) = h.add("image_a")
        await h.advance(10)
    (failed,) = h.of(PollFailed)
    assert isinstance(failed, PollFailed)
    assert failed.error == "internal error: ZeroDivisionError: boom"
    assert task.status is TaskStatus.SUCCESS
    assert "unexpected error polling image_a" in caplog.text


# -- kinds and not found -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("task_id", "answering", "tried_first"),
    [
        ("task-123", TaskKind.VIDEO, TaskKind.IMAGE),  # no prefix: image first
        # docs/api.md: the docs' own image task has a ``video_`` ID; the prefix is a hint.
        ("video_abc", TaskKind.IMAGE, TaskKind.VIDEO),
    ],
)
async def test_auto_id_falls_back_to_the_other_endpoint_and_remembers_it(
    task_id: str, answering: TaskKind, tried_first: TaskKind
) -> None:
    async with Harness(policy=fast(interval=1.0)) as h:
        h.source.default = answered_only_by(answering)
        (task,) = h.add(task_id)
        await h.advance(5.5)
    kinds = [c.kind for c in h.source.calls]
    assert kinds[:2] == [tried_first, answering]
    assert set(kinds[2:]) == {answering}  # remembered: never the other endpoint again
    assert task.kind is answering
    assert not task.not_found and not h.of(TaskNotFound)


async def test_video_prefix_tries_video_first() -> None:
    async with Harness(policy=fast()) as h:
        h.add("video_abc")
        await h.advance(0)
    assert [c.kind for c in h.source.calls] == [TaskKind.VIDEO]
    assert h.poller.tasks["video_abc"].kind is TaskKind.VIDEO


async def test_every_endpoint_404_marks_not_found_and_stops_polling() -> None:
    async with Harness(policy=fast(interval=1.0)) as h:
        h.source.default = lambda t, k, n: NotFoundError("HTTP 404", status_code=404)
        (auto,) = h.add("task-404")
        (image,) = h.add("image_404", kind=TaskKind.IMAGE)
        await h.advance(100)
    assert [c.kind for c in h.source.calls if c.task_id == "task-404"] == [
        TaskKind.IMAGE,
        TaskKind.VIDEO,
        TaskKind.MODEL_3D,
    ]
    assert [c.kind for c in h.source.calls if c.task_id == "image_404"] == [TaskKind.IMAGE]
    for task in (auto, image):
        assert task.not_found
        assert task.last_error == "not found"
        assert task.last_polled_at is not None
    assert auto.kind is TaskKind.AUTO
    assert len(h.of(TaskNotFound)) == 2
    assert h.poller.stats.polling == 0


async def test_refresh_repolls_final_and_not_found_tasks() -> None:
    async with Harness(policy=fast(interval=1.0)) as h:
        done = WatchedTask("image_done", kind=TaskKind.IMAGE, state=state("image_done", "SUCCESS"))
        lost = WatchedTask("task-lost", not_found=True, last_error="not found")
        h.poller.add([done, lost])
        await h.advance(30)
        assert h.source.calls == []
        h.source.scripts["image_done"] = lambda t, k, n: state(t, "SUCCESS")
        h.source.scripts["task-lost"] = lambda t, k, n: (
            NotFoundError("404") if k is TaskKind.IMAGE else state(t, "QUEUED")
        )
        h.poller.refresh()
        await h.advance(0)
        assert [c.task_id for c in h.source.calls].count("image_done") == 1
        assert [c.kind for c in h.source.calls if c.task_id == "task-lost"] == [
            TaskKind.IMAGE,
            TaskKind.VIDEO,
        ]
        assert not lost.not_found and lost.kind is TaskKind.VIDEO
        await h.advance(30)
    assert [c.task_id for c in h.source.calls].count("image_done") == 1


# -- pause, stop, events ---------------------------------------------------------------------


async def test_pause_and_resume() -> None:
    async with Harness(policy=fast(interval=1.0)) as h:
        h.add("image_a", "image_b")
        await h.advance(3.5)
        polled = len(h.source.calls)
        h.poller.pause()
        assert h.poller.paused and h.poller.stats.paused
        await h.advance(50)
        assert len(h.source.calls) == polled
        # An explicit refresh still goes out while paused, and only that one.
        h.poller.refresh(["image_b"])
        await h.advance(10)
        assert [c.task_id for c in h.source.calls[polled:]] == ["image_b"]
        h.poller.resume()
        await h.advance(0)
        assert len(h.source.calls) >= polled + 2
        await h.advance(5)
    changes = [e for e in h.events if isinstance(e, PollingStateChanged)]
    assert [(e.paused, e.reason) for e in changes] == [(True, "paused"), (False, "resumed")]


async def test_remove_stops_polling_and_drops_an_answer_in_flight() -> None:
    async with Harness(policy=fast(interval=1.0), latency=0.5) as h:
        h.add("image_a", "image_b")
        await h.advance(0.1)
        h.poller.remove(["image_a", "unknown"])
        await h.advance(10)
        assert "image_a" not in h.poller.tasks
        assert h.source.times("image_a") == [h.start]
        assert not [e for e in h.of(TaskUpdated) if e.task.task_id == "image_a"]  # type: ignore[union-attr]
        # Added back: polled afresh.
        h.add("image_a")
        await h.advance(0.6)
    assert len(h.source.times("image_a")) == 2


async def test_events_iterator_yields_and_ends_when_run_ends() -> None:
    clock = FakeClock()
    source = FakeSource(clock)
    source.default = lambda t, k, n: state(t, "SUCCESS")
    poller = Poller(source, policy=fast(), clock=clock)
    stream = poller.events()
    poller.add([WatchedTask("image_a"), WatchedTask("image_b")])
    run = asyncio.create_task(poller.run())
    received: list[PollerEvent] = []

    async def consume() -> None:
        async for event in stream:
            received.append(event)
            if len(received) == 2:
                poller.stop()

    await asyncio.wait_for(asyncio.gather(consume(), run), 5)
    assert {e.task.task_id for e in received if isinstance(e, TaskUpdated)} == {
        "image_a",
        "image_b",
    }


async def test_a_failing_event_callback_does_not_stop_polling(
    caplog: pytest.LogCaptureFixture,
) -> None:
    clock = FakeClock()
    source = FakeSource(clock)

    def explode(event: PollerEvent) -> None:
        raise RuntimeError("UI bug")

    poller = Poller(source, policy=fast(interval=1.0), clock=clock, on_event=explode)
    poller.add([WatchedTask("image_a")])
    run = asyncio.create_task(poller.run())
    for _ in range(5):
        await settle()
        clock.advance(1.2)
    poller.stop()
    await asyncio.wait_for(run, 5)
    assert len(source.calls) >= 4
    assert "on_event callback failed" in caplog.text


async def test_idle_poller_waits_without_a_timer() -> None:
    async with Harness(policy=fast(interval=1.0)) as h:
        h.source.default = lambda t, k, n: state(t, "SUCCESS")
        h.add(*(f"image_{i}" for i in range(10)))
        await h.advance(0)
        await settle()
        # Every task final: the scheduler waits only for a wake-up, no sleep is pending.
        assert h.clock.next_deadline() is None
        assert h.poller.stats.polling == 0 and h.poller.stats.in_flight == 0
        h.poller.refresh(["image_3"])
        await h.advance(0)
    assert len(h.source.calls) == 11


async def test_stop_before_run_returns_at_once() -> None:
    poller = Poller(FakeSource(FakeClock()), clock=FakeClock())
    poller.stop()
    await asyncio.wait_for(poller.run(), 1)


async def test_stats_count_requests_and_rate() -> None:
    async with Harness(policy=fast(interval=1.0, jitter=0.0)) as h:
        h.add(*(f"image_{i}" for i in range(5)))
        await h.advance(19.5)
        stats = h.poller.stats
    assert stats.requests_total == 100
    assert stats.request_rate == pytest.approx(5.0, abs=0.6)
    assert stats.polling == 5


def test_policy_rejects_values_that_would_spin() -> None:
    for bad in ({"interval": 0.0}, {"rate": 0.0}, {"concurrency": 0}, {"jitter": 1.0}):
        with pytest.raises(ValueError):
            PollPolicy(**bad)


# -- persistence -----------------------------------------------------------------------------


class InlineExecutor(concurrent.futures.ThreadPoolExecutor):
    """Runs each job at once on the submitting thread.

    The poller hands store writes to a thread; with this as the loop's default executor a
    write that was started has finished by the time the loop settles, so "nothing written
    yet" means nothing was started, not that a thread had not got round to it yet.
    """

    def submit(  # type: ignore[override]
        self, fn: Callable[..., object], /, *args: object, **kwargs: object
    ) -> concurrent.futures.Future[object]:
        future: concurrent.futures.Future[object] = concurrent.futures.Future()
        try:
            future.set_result(fn(*args, **kwargs))
        except BaseException as exc:
            future.set_exception(exc)
        return future


async def test_observations_are_written_coalesced_and_flushed_at_stop() -> None:
    asyncio.get_running_loop().set_default_executor(InlineExecutor())
    store = FakeStore()
    async with Harness(policy=fast(interval=0.05, persist_every=1.0), store=store) as h:
        h.add(*(f"image_{i}" for i in range(10)))
        await h.advance(0.9)
        assert len(h.source.calls) > 100  # many observations ...
        assert store.batches == []  # ... none written yet
        await h.advance(0.2)
        assert len(store.batches) == 1
        assert set(store.batches[0]) == {f"image_{i}" for i in range(10)}
        await h.advance(0.5)
        assert len(store.batches) == 1  # at most one write per second
        await h.advance(1.0)
        assert len(store.batches) == 2
        h.source.default = lambda t, k, n: state(t, "SUCCESS")
        await h.advance(0.2)
    # run() ending wrote what was pending: the final states.
    assert len(store.batches) == 3
    assert set(store.batches[-1].values()) == {"SUCCESS"}


async def test_flush_writes_now() -> None:
    store = FakeStore()
    async with Harness(policy=fast(persist_every=60.0), store=store) as h:
        h.add("image_a")
        await h.advance(1)
        assert store.batches == []
        await h.poller.flush()
        assert store.batches == [{"image_a": "IN_PROGRESS"}]
        await h.poller.flush()  # nothing pending: no empty write
        assert len(store.batches) == 1


async def test_a_failed_write_is_retried_and_reported() -> None:
    store = FakeStore(fail_next=1)
    async with Harness(policy=fast(interval=100.0), store=store) as h:
        h.add("image_a")
        await h.advance(1.1)
        await until(lambda: store.fail_next == 0)
        await until(lambda: (h.poller.stats.last_error or "").startswith("could not save"))
        assert store.batches == []
        await h.advance(1.1)
        await until(lambda: len(store.batches) == 1)
    assert store.batches == [{"image_a": "IN_PROGRESS"}]


async def test_removed_tasks_are_not_written() -> None:
    store = FakeStore()
    async with Harness(policy=fast(persist_every=5.0), store=store) as h:
        h.add("image_a", "image_b")
        await h.advance(1)
        h.poller.remove(["image_a"])
    assert store.batches == [{"image_b": "IN_PROGRESS"}]


async def test_cancelled_run_still_persists() -> None:
    store = FakeStore()
    clock = FakeClock()
    poller = Poller(FakeSource(clock), policy=fast(persist_every=60.0), store=store, clock=clock)
    poller.add([WatchedTask("image_a")])
    run = asyncio.create_task(poller.run())
    await settle()
    run.cancel()
    with pytest.raises(asyncio.CancelledError):
        await run
    assert store.batches == [{"image_a": "IN_PROGRESS"}]


async def test_429s_already_in_flight_belong_to_one_episode() -> None:
    async with Harness(policy=fast(concurrency=4, interval=1.0), latency=0.5) as h:
        h.source.default = lambda t, k, n: (
            RateLimitedError("429", retry_after=None) if n == 0 else state(t)
        )
        h.add(*(f"image_{i}" for i in range(4)))
        await h.advance(0.6)
        assert len(h.of(RateLimited)) == 1  # four 429s answered together: one pause
        await h.advance(1.0)
        assert len(h.source.calls) == 4  # the pause (2 s backoff) still holds
        await h.advance(1.0)
    assert len(h.source.calls) >= 8
    assert len(h.of(RateLimited)) == 1


async def test_a_task_removed_and_added_back_in_flight_is_polled_once_at_a_time() -> None:
    async with Harness(policy=fast(interval=10.0), latency=1.0) as h:
        (old,) = h.add("image_a")
        await h.advance(0.5)
        h.poller.remove(["image_a"])
        (new,) = h.add("image_a")
        await h.advance(0.4)
        assert len(h.source.calls) == 1  # the old poll is still in flight
        await h.advance(0.2)  # it answers (dropped); the new entry is polled at once
        assert len(h.source.calls) == 2 and old.state is None
        await h.advance(1.0)
    assert new.status is TaskStatus.IN_PROGRESS
    assert h.source.overlaps == 0


# -- per-kind intervals ------------------------------------------------------------------------


def paced(**kind_intervals: float) -> PollPolicy:
    """No jitter and no caps, image/video every 4 s, and the given kinds at their pace."""
    return PollPolicy(
        interval=4.0,
        concurrency=64,
        rate=1000.0,
        jitter=0.0,
        kind_intervals={TaskKind(kind): seconds for kind, seconds in kind_intervals.items()},
    )


def gaps_of(h: Harness, task_id: str) -> set[float]:
    return {round(b - a, 6) for a, b in itertools.pairwise(h.source.times(task_id))}


async def test_each_kind_polls_at_its_own_interval() -> None:
    async with Harness(policy=paced(**{"3d": 8.0})) as h:
        h.add("image_a", kind=TaskKind.IMAGE)
        h.add("video_a", kind=TaskKind.VIDEO)
        h.add("3d_a", kind=TaskKind.MODEL_3D)
        await h.advance(80)
    assert gaps_of(h, "image_a") == gaps_of(h, "video_a") == {4.0}
    assert gaps_of(h, "3d_a") == {8.0}
    assert len(h.source.times("3d_a")) == 11


async def test_the_default_policy_polls_3d_every_8_seconds() -> None:
    policy = PollPolicy()
    assert policy.interval_for(TaskKind.MODEL_3D) == 8.0
    assert policy.interval_for(TaskKind.IMAGE) == policy.interval_for(TaskKind.VIDEO) == 4.0
    assert policy.interval_for(TaskKind.AUTO) == 4.0  # kind not known yet


@pytest.mark.parametrize("task_id", ["3d_abc", "task-xyz", "image_quirk"])
async def test_an_auto_task_takes_its_kinds_pace_once_an_endpoint_answers(task_id: str) -> None:
    async with Harness(policy=paced(**{"3d": 10.0})) as h:
        h.source.default = answered_only_by(TaskKind.MODEL_3D)
        (task,) = h.add(task_id)
        await h.advance(100)
    assert task.kind is TaskKind.MODEL_3D
    answered = [c.at for c in h.source.calls if c.kind is TaskKind.MODEL_3D]
    assert {round(b - a, 6) for a, b in itertools.pairwise(answered)} == {10.0}


def test_policy_rejects_a_kind_interval_that_would_spin() -> None:
    with pytest.raises(ValueError):
        PollPolicy(kind_intervals={TaskKind.MODEL_3D: 0.0})


async def test_polling_count_follows_every_way_a_task_stops_or_starts_being_polled() -> None:
    """stats.polling is kept as tasks come, finish, go missing, come back and leave (the
    dashboard asks every second; counting 10,000 tasks each time cost milliseconds)."""

    def brute(h: Harness) -> int:
        return sum(1 for t in h.poller.tasks.values() if not t.is_final and not t.not_found)

    async with Harness(policy=fast(interval=1.0)) as h:
        done = WatchedTask("image_known_done", kind=TaskKind.IMAGE)
        done.observe(state("image_known_done", "SUCCESS"), at=0.0)
        h.poller.add([done])
        h.source.scripts["image_ends"] = lambda t, k, n: state(t, "SUCCESS" if n else "QUEUED")
        h.source.scripts["image_gone"] = lambda t, k, n: NotFoundError("404", status_code=404)
        h.source.scripts["image_runs"] = lambda t, k, n: state(t, "IN_PROGRESS", 10)
        h.add("image_ends", "image_gone", "image_runs", kind=TaskKind.IMAGE)
        seen = [h.poller.stats.polling]
        for _ in range(3):
            await h.advance(1.5)
            assert h.poller.stats.polling == brute(h)
            seen.append(h.poller.stats.polling)
        h.source.scripts["image_gone"] = lambda t, k, n: state(t, "IN_PROGRESS", 5)
        h.poller.refresh(["image_gone"])  # found after all: polled again
        await h.advance(0.5)
        assert h.poller.stats.polling == brute(h) == 2
        h.poller.remove(["image_runs", "image_known_done"])
        assert h.poller.stats.polling == brute(h) == 1
    assert seen[0] == 3 and seen[-1] == 1  # three unfinished, then only image_runs
