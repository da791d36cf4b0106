"""Injected time, so latency columns, backoff and snapshots are deterministic in tests."""

from __future__ import annotations

import time
from typing import Protocol


class Clock(Protocol):
    """Where the core reads the time.

    ``now`` is wall-clock Unix seconds (the API's timestamps are in that scale);
    ``monotonic`` is for intervals and deadlines, which must not jump with the wall clock.
    """

    def now(self) -> float: ...

    def monotonic(self) -> float: ...


class SystemClock:
    """The real clock."""

    def now(self) -> float:
        return time.time()

    def monotonic(self) -> float:
        return time.monotonic()


class FakeClock:
    """A clock that moves only when told to."""

    def __init__(self, now: float = 1_763_274_672.0, monotonic: float = 1_000.0) -> None:
        self._now = now
        self._monotonic = monotonic

    def now(self) -> float:
        return self._now

    def monotonic(self) -> float:
        return self._monotonic

    def advance(self, seconds: float) -> None:
        """Move both clocks forward by ``seconds``."""
        self._now += seconds
        self._monotonic += seconds
