"""Injected time, so latency columns, backoff and snapshots are deterministic in tests."""

from __future__ import annotations

import asyncio
import heapq
import itertools
import time
from typing import Protocol


class Clock(Protocol):
    """Where the core reads the time.

    ``now`` is wall-clock Unix seconds (the API's timestamps are in that scale);
    ``monotonic`` is for intervals and deadlines, which must not jump with the wall clock;
    ``sleep`` waits on the monotonic scale, so a fake clock can drive a scheduler.
    """

    def now(self) -> float: ...

    def monotonic(self) -> float: ...

    async def sleep(self, seconds: float) -> None: ...


class SystemClock:
    """The real clock."""

    def now(self) -> float:
        return time.time()

    def monotonic(self) -> float:
        return time.monotonic()

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(max(0.0, seconds))


class FakeClock:
    """A clock that moves only when told to."""

    def __init__(self, now: float = 1_763_274_672.0, monotonic: float = 1_000.0) -> None:
        self._now = now
        self._monotonic = monotonic
        # (deadline, sequence, future) of every pending sleep; cancelled ones stay until due.
        self._sleepers: list[tuple[float, int, asyncio.Future[None]]] = []
        self._sequence = itertools.count()

    def now(self) -> float:
        return self._now

    def monotonic(self) -> float:
        return self._monotonic

    def advance(self, seconds: float) -> None:
        """Move both clocks forward by ``seconds`` and wake the sleeps that are now due.

        The woken coroutines run when the caller next yields to the event loop.
        """
        self._now += seconds
        self._monotonic += seconds
        while self._sleepers and self._sleepers[0][0] <= self._monotonic:
            _, _, future = heapq.heappop(self._sleepers)
            if not future.done():
                future.set_result(None)

    async def sleep(self, seconds: float) -> None:
        """Wait until :meth:`advance` has moved the monotonic clock ``seconds`` forward.

        A zero or negative wait still yields once, as ``asyncio.sleep(0)`` does.
        """
        if seconds <= 0:
            await asyncio.sleep(0)
            return
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        heapq.heappush(self._sleepers, (self._monotonic + seconds, next(self._sequence), future))
        await future

    def next_deadline(self) -> float | None:
        """The monotonic time the earliest pending sleep ends, or None when none waits.

        Tests use it to jump straight to the next thing that can happen.
        """
        while self._sleepers and self._sleepers[0][2].done():
            heapq.heappop(self._sleepers)
        return self._sleepers[0][0] if self._sleepers else None
