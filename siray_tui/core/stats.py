"""Stats and failure triage over the watchlist (the dashboard's ``t``), headless.

Per kind and per model: how many tasks, how many succeeded of those that ended, and the
median and p95 of queue wait and run time over the finished ones (an unfinished task's
times are still growing). Completions are counted in buckets over the watchlist's time
range, for a chart. Failures are grouped by their reason with the parts that differ from
task to task (numbers, sizes, IDs, hex, quoted values) replaced by placeholders, so a
thousand "timeout after 301s on worker-17" become one group with a count.

Pure functions over :class:`~siray_tui.core.models.WatchedTask`: 10,000 tasks take tens
of milliseconds (``bench/stats.py``), reasons are normalised once per distinct text.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Final

from siray_tui.core.models import TaskKind, TaskState, TaskStatus, WatchedTask
from siray_tui.core.text import clean_text

UNKNOWN_MODEL: Final = "(unknown)"
NO_REASON: Final = "(no reason given)"
BUCKETS: Final = 60
REASON_LIMIT: Final = 500
"""Characters of a reason that are normalised and shown: the group, not the whole trace."""


def percentile(values: Sequence[float], fraction: float) -> float | None:
    """Nearest-rank percentile of sorted ``values`` (None when empty).

    Nearest rank always returns an observed value, which reads better than an
    interpolated "p95 = 41.37s" between two real tasks.
    """
    if not values:
        return None
    rank = max(1, math.ceil(fraction * len(values)))
    return values[min(rank, len(values)) - 1]


@dataclass(frozen=True, slots=True)
class Latency:
    """Median and p95 of one phase over finished tasks."""

    median: float | None = None
    p95: float | None = None
    count: int = 0

    @classmethod
    def of(cls, values: Iterable[float]) -> Latency:
        """From unsorted samples."""
        ordered = sorted(values)
        return cls(percentile(ordered, 0.5), percentile(ordered, 0.95), len(ordered))


def _final_state(task: WatchedTask) -> TaskState | None:
    """The task's state when it is SUCCESS or FAILURE, else None. By identity, not
    ``is_final``: at 10,000 tasks the enum property alone costs milliseconds."""
    state = task.state
    if state is None:
        return None
    status = state.status
    if status is not TaskStatus.SUCCESS and status is not TaskStatus.FAILURE:
        return None
    return state


def finished_at(task: WatchedTask) -> float | None:
    """When a final task ended: the server's finish time, else when we first saw it final
    (the last status change), else its last poll. None for an unfinished task."""
    state = _final_state(task)
    if state is None:
        return None
    if state.finish_time is not None:
        return state.finish_time
    if task.history:
        return task.history[-1].seen_at or task.last_polled_at
    return task.last_polled_at


# -- failure reasons -----------------------------------------------------------------

_VARIABLE = re.compile(
    r"""
    (?P<quoted> "[^"\n]*" | “[^”\n]*” | `[^`\n]*` )
    | (?<!\w)  # the rest starts a word: checked once, so most positions fail fast
    (?:
        (?P<single> '[^'\n]*'(?!\w) )
      | (?P<uuid> (?<!-)[0-9a-fA-F]{8}(?:-[0-9a-fA-F]{4}){3}-[0-9a-fA-F]{12}(?![\w-]) )
      | (?P<id> (?<!-)[A-Za-z][A-Za-z0-9]*[_-](?=[A-Za-z]*[0-9])[A-Za-z0-9]{6,}(?![\w-]) )
      | (?P<hex> (?<!\.)(?:0[xX][0-9a-fA-F]+
                   | (?=[a-fA-F]*[0-9])(?=[0-9]*[a-fA-F])[0-9a-fA-F]{8,})(?![\w.]) )
      | (?P<size> (?<!\.)\d+(?:\.\d+)?\s?[x\u00d7*]\s?\d+(?:\.\d+)?(?![\w.]) )
      | (?P<n> (?<!\.)\d+(?:[.,]\d+)* )
    )
    """,
    re.VERBOSE,
)
"""What varies between two tasks failing for the same reason. The alternatives are tried
in order at each position, so a quoted value is one placeholder whatever it holds, and
``4096x4096`` is a size rather than two numbers. Numbers glued to letters before them
(``gpt4``, ``h264``) are part of a name and stay; units after them (``300s``) stay too."""

PLACEHOLDERS: Final[dict[str, str]] = {
    "quoted": '"<…>"',
    "single": '"<…>"',
    "uuid": "<id>",
    "id": "<id>",
    "hex": "<hex>",
    "size": "<size>",
    "n": "<n>",
}


def _placeholder(match: re.Match[str]) -> str:
    return PLACEHOLDERS[match.lastgroup or "n"]


def normalise_reason(reason: str) -> str:
    """The group a fail reason belongs to: one line, cleaned, with placeholders.

    ``invalid size 4096x4096 for image_ab12cd34`` → ``invalid size <size> for <id>``.
    """
    text = " ".join(clean_text(reason).split())[:REASON_LIMIT]
    if not text:
        return NO_REASON
    return _VARIABLE.sub(_placeholder, text)


# -- the report ----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class GroupStats:
    """The tasks of one kind or one model.

    Attributes:
        name: the kind, or the model (:data:`UNKNOWN_MODEL` when not known).
        tasks: how many tasks.
        succeeded: how many ended in SUCCESS.
        failed: how many ended in FAILURE.
        queue: queue wait over the finished tasks.
        run: run time over the finished tasks.
    """

    name: str
    tasks: int
    succeeded: int
    failed: int
    queue: Latency
    run: Latency

    @property
    def success_rate(self) -> float | None:
        """Succeeded of those that ended (0 to 1); None before any ended."""
        ended = self.succeeded + self.failed
        return self.succeeded / ended if ended else None


@dataclass(frozen=True, slots=True)
class Timeline:
    """Completions (SUCCESS or FAILURE) per bucket of time.

    Attributes:
        start: the first bucket's start (Unix seconds); None without any task time.
        bucket: each bucket's length in seconds.
        completed: tasks that ended in each bucket.
        failed: of those, how many failed.
    """

    start: float | None = None
    bucket: float = 0.0
    completed: tuple[int, ...] = ()
    failed: tuple[int, ...] = ()

    @property
    def end(self) -> float | None:
        """The last bucket's end."""
        return None if self.start is None else self.start + self.bucket * len(self.completed)


@dataclass(frozen=True, slots=True)
class FailureGroup:
    """Failed tasks whose reasons differ only in their variable parts.

    Attributes:
        reason: the normalised reason (see :func:`normalise_reason`).
        task_ids: the tasks, the newest failure first.
        newest: when the newest of them failed (None when no time is known).
        example: the newest task's own reason (one line, cleaned, cut).
    """

    reason: str
    task_ids: tuple[str, ...]
    newest: float | None
    example: str

    @property
    def count(self) -> int:
        """How many tasks failed this way."""
        return len(self.task_ids)


@dataclass(frozen=True, slots=True)
class Stats:
    """Everything the stats and triage screen shows."""

    total: int = 0
    by_kind: tuple[GroupStats, ...] = ()
    by_model: tuple[GroupStats, ...] = ()
    timeline: Timeline = field(default_factory=Timeline)
    failures: tuple[FailureGroup, ...] = ()


_Ended = tuple[bool, float | None, float | None]
"""A finished task's sample: whether it succeeded, its queue wait and its run time."""


def _ended(task: WatchedTask, now: float) -> _Ended | None:
    state = _final_state(task)
    if state is None:
        return None
    timings = state.timings(now)
    return state.status is TaskStatus.SUCCESS, timings.queue, timings.run


class _Tally:
    """Counts and samples of one kind or model while the tasks are walked."""

    __slots__ = ("failed", "queue", "run", "succeeded", "tasks")

    def __init__(self) -> None:
        self.tasks = self.succeeded = self.failed = 0
        self.queue: list[float] = []
        self.run: list[float] = []

    def add(self, sample: _Ended | None) -> None:
        self.tasks += 1
        if sample is None:
            return
        succeeded, queue, run = sample
        if succeeded:
            self.succeeded += 1
        else:
            self.failed += 1
        if queue is not None:
            self.queue.append(queue)
        if run is not None:
            self.run.append(run)

    def stats(self, name: str) -> GroupStats:
        queue, run = Latency.of(self.queue), Latency.of(self.run)
        return GroupStats(name, self.tasks, self.succeeded, self.failed, queue, run)


def _tally(tallies: dict[str, _Tally], name: str) -> _Tally:
    tally = tallies.get(name)
    if tally is None:
        tally = tallies[name] = _Tally()
    return tally


def _time_range(
    tasks: Sequence[WatchedTask], ends: Sequence[float | None], now: float
) -> tuple[float, float] | None:
    """From the earliest submission (or addition) to the last completion, or to ``now``
    while a task is still going."""
    start = math.inf
    end = -math.inf
    for task, ended in zip(tasks, ends, strict=True):
        state = task.state
        began = state.submit_time if state is not None and state.submit_time else task.added_at
        if began and began < start:
            start = began
        if ended is None:
            if not task.not_found:
                end = max(end, now)
        elif ended > end:
            end = ended
    if start == math.inf:
        return None
    return start, max(end, start)


def timeline(
    tasks: Sequence[WatchedTask],
    now: float,
    buckets: int = BUCKETS,
    ends: Sequence[float | None] | None = None,
) -> Timeline:
    """Completions per bucket, ``buckets`` of them over the watchlist's time range.

    Args:
        tasks: the tasks.
        now: wall-clock Unix seconds.
        buckets: how many buckets.
        ends: :func:`finished_at` of each task, when known already.
    """
    if ends is None:
        ends = [finished_at(task) for task in tasks]
    span = _time_range(tasks, ends, now)
    if span is None or buckets < 1:
        return Timeline()
    start, end = span
    width = max((end - start) / buckets, 1.0)
    completed = [0] * buckets
    failed = [0] * buckets
    last = buckets - 1
    for task, ended in zip(tasks, ends, strict=True):
        if ended is None:
            continue
        index = min(last, max(0, int((ended - start) / width)))
        completed[index] += 1
        if task.state is not None and task.state.status is TaskStatus.FAILURE:
            failed[index] += 1
    return Timeline(start, width, tuple(completed), tuple(failed))


def failure_groups(
    tasks: Sequence[WatchedTask], ends: Sequence[float | None] | None = None
) -> tuple[FailureGroup, ...]:
    """FAILURE tasks grouped by normalised reason: the largest group first, then the one
    that failed most recently.

    Args:
        tasks: the tasks (any status: only FAILURE ones are grouped).
        ends: :func:`finished_at` of each task, when known already.
    """
    if ends is None:
        ends = [finished_at(task) for task in tasks]
    normalised: dict[str, str] = {}  # many tasks share a reason: normalise each text once
    members: dict[str, list[tuple[float, str, str]]] = {}
    for task, ended in zip(tasks, ends, strict=True):
        state = task.state
        if state is None or state.status is not TaskStatus.FAILURE:
            continue
        raw = state.fail_reason
        group = normalised.get(raw)
        if group is None:
            group = normalised[raw] = normalise_reason(raw)
        members.setdefault(group, []).append((ended or 0.0, task.task_id, raw))
    groups = []
    for reason, entries in members.items():
        entries.sort(key=lambda entry: entry[0], reverse=True)
        newest, _, example = entries[0]
        groups.append(
            FailureGroup(
                reason,
                tuple(task_id for _, task_id, _ in entries),
                newest or None,
                " ".join(clean_text(example).split())[:REASON_LIMIT] or NO_REASON,
            )
        )
    groups.sort(key=lambda g: (-g.count, -(g.newest or 0.0), g.reason))
    return tuple(groups)


def compute_stats(tasks: Iterable[WatchedTask], now: float, buckets: int = BUCKETS) -> Stats:
    """The whole report over ``tasks`` at ``now``.

    Args:
        tasks: every watched task (filters do not apply: triage is about the whole list).
        now: wall-clock Unix seconds (for the time range while tasks are still going).
        buckets: how many buckets the completions chart has.
    """
    items = list(tasks)
    kinds: dict[str, _Tally] = {}
    models: dict[str, _Tally] = {}
    for task in items:
        sample = _ended(task, now)
        _tally(kinds, task.kind.value).add(sample)
        _tally(models, task.model or UNKNOWN_MODEL).add(sample)
    ends = [finished_at(task) for task in items]
    kind_order = [kind.value for kind in TaskKind]
    by_kind = tuple(
        kinds[name].stats(name)
        for name in sorted(kinds, key=lambda k: kind_order.index(k) if k in kind_order else 99)
    )
    # the busiest model first; the unknown ones last, whatever their number
    ordered = sorted(models, key=lambda m: (m == UNKNOWN_MODEL, -models[m].tasks, m))
    by_model = tuple(models[name].stats(name) for name in ordered)
    return Stats(
        total=len(items),
        by_kind=by_kind,
        by_model=by_model,
        timeline=timeline(items, now, buckets, ends),
        failures=failure_groups(items, ends),
    )
