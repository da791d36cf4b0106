"""How hard the poller may poll (:class:`PollPolicy`, :class:`RateWindow`), how hard it
did (:class:`RequestCounter`), and what it talks to (:class:`TaskSource`,
:class:`ObservationSink`, and the :class:`FinishForecast` that tells it where the rate
budget is best spent)."""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Final, Protocol

from siray_tui.core.models import TaskKind, TaskState, WatchedTask

REQUEST_RATE_WINDOW: Final = 10  # seconds over which PollerStats.request_rate is measured
# The 3D docs advise polling every 5 to 10 s: "3D generation typically takes longer".
DEFAULT_KIND_INTERVALS: Final[Mapping[TaskKind, float]] = {TaskKind.MODEL_3D: 8.0}


@dataclass(frozen=True)
class PollPolicy:
    """How often and how hard to poll.

    Attributes:
        interval: seconds between two polls of one unfinished task, for every kind that
            ``kind_intervals`` does not name, and for a task whose kind is not known yet
            (``auto`` until an endpoint answers).
        kind_intervals: the interval of a kind that polls at its own pace (3D by default).
        concurrency: requests in flight at most.
        rate: requests started per second at most, across all tasks.
        jitter: the interval varies by this fraction either way (0.1 is +/-10%).
        backoff_base: first delay after a task's poll fails; it doubles per failure.
        backoff_cap: the longest a failing task waits between tries.
        persist_every: the most often observations are written to the store.
        max_staleness: with a forecast, the longest a task whose finish is far off goes
            unpolled while the rate budget allows (below ``interval`` counts as ``interval``).
    """

    interval: float = 4.0
    concurrency: int = 8
    rate: float = 10.0
    jitter: float = 0.1
    backoff_base: float = 2.0
    backoff_cap: float = 60.0
    persist_every: float = 1.0
    kind_intervals: Mapping[TaskKind, float] = field(
        default_factory=lambda: dict(DEFAULT_KIND_INTERVALS)
    )
    max_staleness: float = 30.0

    def __post_init__(self) -> None:
        # A zero interval or rate would make the scheduler spin; refuse it at the source.
        for interval in (self.interval, *self.kind_intervals.values()):
            if not (math.isfinite(interval) and interval > 0):
                raise ValueError(f"interval must be a positive number, got {interval!r}")
        if self.concurrency < 1:
            raise ValueError(f"concurrency must be at least 1, got {self.concurrency!r}")
        if not (math.isfinite(self.rate) and self.rate > 0):
            raise ValueError(f"rate must be a positive number, got {self.rate!r}")
        if not 0 <= self.jitter < 1:
            raise ValueError(f"jitter must be within [0, 1), got {self.jitter!r}")
        if not (self.backoff_base > 0 and self.backoff_cap >= self.backoff_base):
            raise ValueError("backoff_base must be positive and backoff_cap at least as large")
        if not (math.isfinite(self.persist_every) and self.persist_every >= 0):
            raise ValueError(f"persist_every must be >= 0, got {self.persist_every!r}")
        if not (math.isfinite(self.max_staleness) and self.max_staleness > 0):
            raise ValueError(f"max_staleness must be a positive number, got {self.max_staleness!r}")

    def interval_for(self, kind: TaskKind) -> float:
        """Seconds between two polls of an unfinished task of this kind."""
        return self.kind_intervals.get(kind, self.interval)


class TaskSource(Protocol):
    """Where task states come from; :class:`~siray_tui.core.client.SirayClient` is one."""

    async def get_task(self, task_id: str, kind: TaskKind) -> TaskState: ...


class ObservationSink(Protocol):
    """Where observations are persisted; ``WatchlistStore`` is one.

    ``update`` merges the given tasks' observed state into the stored watchlist (never
    adding back a task that was removed there) and may block on file I/O: the poller
    calls it in a worker thread.
    """

    def update(self, tasks: Iterable[WatchedTask]) -> None: ...


class FinishForecast(Protocol):
    """When a task should finish; ``core.eta.Estimator`` is one.

    The poller feeds it every observation (``observe`` must be idempotent for an
    unchanged state, as the session may feed it the same answer again) and asks it right
    after, so the answer already counts what was just seen. Times are Unix seconds.
    """

    def observe(self, task: WatchedTask, now: float) -> None: ...

    def expected_finish(self, task: WatchedTask, now: float) -> float | None: ...


class RateWindow:
    """At most ``limit`` request starts within any sliding ``window`` seconds.

    Stricter than a token bucket: a full bucket plus its refill would let nearly twice
    ``rate`` through in the first second, and a server counting per second would see
    that. For a rate below 1/s the window widens so the limit stays a whole request.
    """

    def __init__(self, rate: float) -> None:
        self.window = max(1.0, 1.0 / rate)
        self.limit = max(1, math.floor(rate * self.window + 1e-9))
        self._starts: deque[float] = deque(maxlen=self.limit)

    def wait(self, now: float) -> float:
        """Seconds until another request may start (0 when it may start now)."""
        if len(self._starts) < self.limit:
            return 0.0
        return max(0.0, self._starts[0] + self.window - now)

    def record(self, now: float) -> None:
        self._starts.append(now)


class RequestCounter:
    """Requests started: in total, and per second over the last ``REQUEST_RATE_WINDOW``
    seconds (kept as one counter per whole second, so a busy poller costs no memory)."""

    def __init__(self, started_at: float) -> None:
        self.total = 0
        self._recent: deque[list[int]] = deque()  # [whole second, requests started in it]
        self._started_at = started_at

    def count(self, now: float) -> None:
        """One request started at ``now`` (monotonic seconds)."""
        self.total += 1
        second = int(now)
        if self._recent and self._recent[-1][0] == second:
            self._recent[-1][1] += 1
        else:
            self._recent.append([second, 1])
            while self._recent and self._recent[0][0] <= second - REQUEST_RATE_WINDOW:
                self._recent.popleft()

    def rate(self, now: float) -> float:
        """Requests per second over the window (or since the start, when that is shorter)."""
        horizon = int(now) - REQUEST_RATE_WINDOW
        count = sum(n for second, n in self._recent if second > horizon)
        span = min(float(REQUEST_RATE_WINDOW), max(1.0, now - self._started_at))
        return count / span
