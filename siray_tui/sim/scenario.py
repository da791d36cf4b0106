"""Task lifecycles for the simulator: what every task's state is at any instant.

A task's status is a pure function of the task and the clock, never of how often or in
which order it was polled: the server can answer concurrent polls without locking the
lifecycle, tests can jump a fake clock forward, and two simulators built from the same
seed answer identically. Per-task randomness comes from ``Random(seed, task index)`` for
the same reason (a poll never consumes random numbers that a later task would need).

Timeline of one task (``queue_s`` is the whole wait from submission to the start of the
run, as a client measures it from ``submit_time`` to ``start_time``)::

    created_at  +15% queue_s   +30% queue_s       +queue_s            +run_s
    | NOT_START | SUBMITTED    | QUEUED           | IN_PROGRESS 0->99% | SUCCESS / FAILURE

A failure with ``run_s == 0`` is rejected before it ever runs (``start_time`` stays 0).
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final, Literal

Kind = Literal["image", "video", "3d"]
Outcome = Literal["success", "failure"]

NOT_START: Final = "NOT_START"
SUBMITTED: Final = "SUBMITTED"
QUEUED: Final = "QUEUED"
IN_PROGRESS: Final = "IN_PROGRESS"
SUCCESS: Final = "SUCCESS"
FAILURE: Final = "FAILURE"
STATUS_ORDER: Final = (NOT_START, SUBMITTED, QUEUED, IN_PROGRESS, SUCCESS, FAILURE)
FINAL_STATUSES: Final = frozenset({SUCCESS, FAILURE})
UNDOCUMENTED_STATUS: Final = "MODERATION"  # a state the docs' table does not have

ACTIONS: Final[Mapping[str, str]] = {
    "image": "imageGenerate",
    "video": "videoGenerate",
    "3d": "modelGenerate",
}
KINDS: Final[tuple[Kind, ...]] = ("image", "video", "3d")
# 3D generation "typically takes longer" (the docs): its queue and run times are the
# scenario's ranges stretched by these factors.
QUEUE_SCALE: Final[Mapping[str, float]] = {"3d": 2.0}
RUN_SCALE: Final[Mapping[str, float]] = {"3d": 4.0}

MODELS: Final[tuple[tuple[str, str, str], ...]] = (
    ("bytedance/seedream-4.5-t2i", "Seedream 4.5", "text-to-image"),
    ("black-forest-labs/flux-1.1-pro-t2i", "FLUX 1.1 [pro]", "text-to-image"),
    ("black-forest-labs/flux-kontext-i2i-max", "FLUX.1 Kontext [max]", "image-to-image"),
    ("google/veo-3.1-t2v", "Veo 3.1", "text-to-video"),
    ("alibaba/wan-2.6-i2v", "Wan 2.6 image-to-video", "image-to-video"),
    ("runway/aleph-v2v", "Runway Aleph", "video-to-video"),
    ("tencent/hunyuan3d-v2.5-rapid-text-to-3d", "Hunyuan3D 2.5 Rapid", "text-to-3d"),
    ("tripo/tripo3d-v2.5-image-to-3d", "Tripo3D 2.5", "image-to-3d"),
    ("deepseek/deepseek-v3.1", "DeepSeek V3.1", "chat"),
    ("openai/text-embedding-3-small", "text-embedding-3-small", "embeddings"),
)
"""What ``GET /v1/models`` lists: (id, model_name, tag), as the API names them; the
chat and embeddings models are listed too but cannot make a generation task."""


def tag_kind(tag: str) -> str | None:
    """The task kind a model tag stands for (``image-to-video`` -> ``video``), or None
    for a tag that makes no generation task (``chat``, ``embeddings``)."""
    tag = tag.lower()
    if "3d" in tag:
        return "3d"
    for kind in ("image", "video"):
        if tag.endswith(f"-to-{kind}"):
            return kind
    return None


def model_kind(model: str) -> str | None:
    """The kind of task a listed model makes, or None (unknown, or chat/embeddings)."""
    return next((tag_kind(tag) for name, _, tag in MODELS if name == model), None)


def default_model(kind: str) -> str:
    """The first listed model of a kind: what a test submits when any model will do."""
    return next(name for name, _, tag in MODELS if tag_kind(tag) == kind)


def submission_problem(kind: str, payload: Mapping[str, Any]) -> str | None:
    """Why the API would refuse ``payload`` at the ``kind`` submit endpoint, or None.

    As the real API: the model must be one it lists and make tasks of this kind, and
    the prompt must be a non-empty string.
    """
    model = payload.get("model")
    if not isinstance(model, str) or not model.strip():
        return "model is required"
    made = model_kind(model)
    if made is None:
        # quoted as sent, like the real API: a hostile name comes back as it went
        return f"model '{model}' does not exist or is not a generation model"
    if made != kind:
        return f"model '{model}' makes {made} tasks, not {kind} tasks"
    prompt = payload.get("prompt")
    if not isinstance(prompt, str) or not prompt.strip():
        return "prompt must be a non-empty string"
    return None


# Shares of queue_s spent in the two pre-queue phases; the rest is QUEUED.
_NOT_START_SHARE: Final = 0.15
_SUBMITTED_SHARE: Final = 0.15


@dataclass(frozen=True)
class FailReason:
    """A realistic failure and whether it happens before the task gets a worker.

    Validation and moderation reject a task before it runs (no ``start_time``); worker
    crashes happen mid-run and leave the progress the task had reached.
    """

    text: str
    before_start: bool


FAIL_REASONS: Final[tuple[FailReason, ...]] = (
    FailReason("content policy violation: the prompt was flagged", before_start=True),
    FailReason("GPU worker out of memory (CUDA error: out of memory)", before_start=False),
    FailReason("upstream model timeout after 300s", before_start=False),
    FailReason("invalid image size 4096x4096: maximum is 2048x2048", before_start=True),
    FailReason("input image could not be decoded", before_start=True),
)


class ManualClock:
    """A wall clock (Unix seconds) that moves only when told to, for lifecycle tests.

    Pass it as ``Scenario(clock=ManualClock())``; any zero-argument callable returning
    Unix seconds works too (e.g. the core's ``FakeClock().now``).
    """

    def __init__(self, start: float = 1_763_274_672.0) -> None:
        self._now = start
        self._lock = threading.Lock()

    def __call__(self) -> float:
        with self._lock:
            return self._now

    def advance(self, seconds: float) -> float:
        """Move forward by ``seconds`` and return the new time."""
        with self._lock:
            self._now += seconds
            return self._now

    def set(self, now: float) -> None:
        """Jump to an absolute time (backwards too, to simulate clock skew)."""
        with self._lock:
            self._now = now


@dataclass(frozen=True)
class SimState:
    """What the API reports for a task at one instant (canonical form, before rendering).

    Timestamps are whole Unix seconds, ``0`` for a phase that has not happened.
    """

    status: str
    progress: int
    submit_time: int
    start_time: int
    finish_time: int
    fail_reason: str
    output_count: int

    @property
    def final(self) -> bool:
        """Whether the task has ended (SUCCESS or FAILURE)."""
        return self.status in FINAL_STATUSES


@dataclass(frozen=True)
class SimTask:
    """One task's whole, predetermined life.

    ``output_tokens`` name the files the simulator serves (``/redirect/{token}``);
    ``literal_outputs``, when set, replace them verbatim in the payload (``{base}`` is
    replaced with the server's base URL), for tests that need odd or hostile URLs.
    ``failure_progress`` is the progress a failing task reaches before it dies, and
    ``keeps_progress`` whether FAILURE still reports it (else ``0%``). ``queued_status``
    is what the QUEUED phase reports: a status not in the documented table stands for
    the new states docs/api.md warns about.
    """

    kind: Kind
    task_id: str
    index: int
    created_at: float
    queue_s: float
    run_s: float
    outcome: Outcome
    fail_reason: str = ""
    failure_progress: int = 0
    keeps_progress: bool = True
    output_tokens: tuple[str, ...] = ()
    literal_outputs: tuple[str, ...] | None = None
    model: str = ""
    prompt: str = ""
    queued_status: str = QUEUED

    @property
    def action(self) -> str:
        """The ``data.action`` value the SDK shows for this kind."""
        return ACTIONS[self.kind]

    @property
    def submitted_at(self) -> float:
        """When NOT_START ends."""
        return self.created_at + self.queue_s * _NOT_START_SHARE

    @property
    def queued_at(self) -> float:
        """When SUBMITTED ends."""
        return self.created_at + self.queue_s * (_NOT_START_SHARE + _SUBMITTED_SHARE)

    @property
    def started_at(self) -> float:
        """When QUEUED ends (IN_PROGRESS begins, if the task runs at all)."""
        return self.created_at + self.queue_s

    @property
    def finished_at(self) -> float:
        """When the task becomes final."""
        return self.started_at + self.run_s

    @property
    def runs(self) -> bool:
        """Whether the task ever reaches IN_PROGRESS (an early rejection does not)."""
        return self.outcome == "success" or self.run_s > 0

    @property
    def output_count(self) -> int:
        """How many outputs a SUCCESS reports."""
        if self.literal_outputs is not None:
            return len(self.literal_outputs)
        return len(self.output_tokens)

    def state_at(self, now: float) -> SimState:
        """The task's state at Unix time ``now``; pure, so polls never change a task."""
        submit = int(self.created_at)
        start = int(self.started_at) if self.runs else 0
        if now >= self.finished_at:
            finish = int(self.finished_at)
            if self.outcome == "success":
                return SimState(SUCCESS, 100, submit, start, finish, "", self.output_count)
            progress = self.failure_progress if self.keeps_progress else 0
            return SimState(FAILURE, progress, submit, start, finish, self.fail_reason, 0)
        if now >= self.started_at:  # only reachable when run_s > 0
            peak = 99 if self.outcome == "success" else self.failure_progress
            progress = min(peak, int(peak * (now - self.started_at) / self.run_s))
            return SimState(IN_PROGRESS, max(progress, 0), submit, start, 0, "", 0)
        if now >= self.queued_at:
            status = self.queued_status
        elif now >= self.submitted_at:
            status = SUBMITTED
        else:
            status = NOT_START
        return SimState(status, 0, submit, 0, 0, "", 0)


def _check_range(name: str, bounds: tuple[float, float]) -> tuple[float, float]:
    low, high = float(bounds[0]), float(bounds[1])
    if low < 0 or high < low:
        raise ValueError(f"{name} must be 0 <= min <= max, got {bounds!r}")
    return low, high


class Scenario:
    """The set of tasks a simulator knows, and how new ones behave.

    Args:
        seed: makes every task's ID, durations, outcome and outputs reproducible.
        clock: zero-argument callable returning Unix seconds (default ``time.time``).
        queue_seconds: range of the wait from submission to the start of the run.
        run_seconds: range of the run time (IN_PROGRESS) of a successful task.
        failure_rate: fraction of submitted tasks that end in FAILURE.
    """

    def __init__(
        self,
        seed: int = 0,
        *,
        clock: Callable[[], float] | None = None,
        queue_seconds: tuple[float, float] = (2.0, 10.0),
        run_seconds: tuple[float, float] = (5.0, 30.0),
        failure_rate: float = 0.2,
    ) -> None:
        if not 0.0 <= failure_rate <= 1.0:
            raise ValueError(f"failure_rate must be within [0, 1], got {failure_rate!r}")
        self.seed = seed
        self.clock: Callable[[], float] = clock if clock is not None else time.time
        self.queue_seconds = _check_range("queue_seconds", queue_seconds)
        self.run_seconds = _check_range("run_seconds", run_seconds)
        self.failure_rate = failure_rate
        self._tasks: dict[str, SimTask] = {}
        self._outputs: dict[str, tuple[SimTask, int]] = {}
        self._next_index = 0
        self._lock = threading.Lock()

    def now(self) -> float:
        """The scenario's current time (Unix seconds)."""
        return self.clock()

    def _rng(self, index: int) -> random.Random:
        return random.Random(f"siray-sim:{self.seed}:{index}")

    def _reserve_index(self) -> int:
        # Concurrent submits must never share an index (it seeds the task's ID).
        with self._lock:
            index = self._next_index
            self._next_index += 1
            return index

    def submit(self, kind: Kind, payload: Mapping[str, Any] | None = None) -> SimTask:
        """Create a task the way the submit endpoint does: every trait drawn at random."""
        index = self._reserve_index()
        rng = self._rng(index)
        outcome: Outcome = "failure" if rng.random() < self.failure_rate else "success"
        keeps = rng.random() < 0.7
        payload = payload or {}
        return self.add_task(
            kind,
            outcome=outcome,
            keeps_progress=keeps,
            model=str(payload.get("model", "")),
            prompt=str(payload.get("prompt", "")),
            _index=index,
        )

    def add_task(
        self,
        kind: Kind,
        task_id: str | None = None,
        *,
        queue_s: float | None = None,
        run_s: float | None = None,
        outcome: Outcome = "success",
        fail_reason: str | None = None,
        created_at: float | None = None,
        outputs: int | Sequence[str] | None = None,
        failure_progress: int | None = None,
        keeps_progress: bool = True,
        model: str = "",
        prompt: str = "",
        queued_status: str = QUEUED,
        _index: int | None = None,
    ) -> SimTask:
        """Add a task with explicit traits; anything left ``None`` is drawn from the seed.

        Args:
            kind: ``"image"``, ``"video"`` or ``"3d"``: which endpoint answers for it.
            task_id: any string (e.g. ``"task-abc123"``); default ``<kind>_<24 hex>``.
            queue_s: seconds from submission to the start of the run.
            run_s: seconds of IN_PROGRESS; for a failure, ``0`` means rejected before
                running. Default: drawn, and 0 for a drawn reason that fails early.
            outcome: ``"success"`` or ``"failure"``.
            fail_reason: text for a failure; default one of :data:`FAIL_REASONS`.
            created_at: Unix submit time; default now. Far in the past gives a task
                that is already final.
            outputs: a count of files to serve (images 1-4, videos 1, 3D models 1-2 by
                default; 3D queue and run times are drawn longer), or a
                list of literal URLs to report instead (``{base}`` is substituted).
            failure_progress: progress (0-99) a failure reaches before it dies.
            keeps_progress: whether FAILURE still reports that progress.
            model: echoed nowhere yet; kept for inspection.
            prompt: likewise.
            queued_status: the status reported while queued (e.g. an undocumented
                ``"MODERATION"``).

        Raises:
            ValueError: the task ID is already taken, or a value is out of range.
        """
        if kind not in KINDS:
            raise ValueError(f"kind must be one of {', '.join(KINDS)}, got {kind!r}")
        index = self._reserve_index() if _index is None else _index
        rng = self._rng(index)
        # Draw every value in a fixed order, used or not, so an override of one trait
        # never shifts the others.
        drawn_id = f"{kind}_{rng.getrandbits(96):024x}"
        drawn_queue = rng.uniform(*self.queue_seconds) * QUEUE_SCALE.get(kind, 1.0)
        drawn_run = rng.uniform(*self.run_seconds) * RUN_SCALE.get(kind, 1.0)
        drawn_reason = rng.choice(FAIL_REASONS)
        drawn_progress = rng.randint(5, 95)
        drawn_count = rng.randint(1, 4) if kind == "image" else 1
        if kind == "3d":  # its own draw, after the others, so theirs never shift
            drawn_count = rng.randint(1, 2)
        tokens = [f"{rng.getrandbits(64):016x}{index:x}" for _ in range(4)]

        reason = fail_reason if fail_reason is not None else drawn_reason.text
        if queue_s is None:
            queue_s = drawn_queue
        if run_s is None:
            run_s = drawn_run
            if outcome == "failure":
                if fail_reason is None and drawn_reason.before_start:
                    run_s = 0.0
                else:  # dies part-way, at the pace a successful run would climb
                    run_s = drawn_run * drawn_progress / 99
        if queue_s < 0 or run_s < 0:
            raise ValueError("queue_s and run_s must not be negative")
        if failure_progress is None:
            failure_progress = drawn_progress if run_s > 0 else 0
        if not 0 <= failure_progress <= 99:
            raise ValueError(f"failure_progress must be within 0-99, got {failure_progress}")

        literal: tuple[str, ...] | None = None
        count = drawn_count
        if isinstance(outputs, int):
            count = outputs
        elif outputs is not None:
            literal = tuple(outputs)
            count = 0
        if outcome == "failure":
            count = 0
        if count > len(tokens):
            tokens.extend(f"{rng.getrandbits(64):016x}{index:x}" for _ in range(count - 4))

        task = SimTask(
            kind=kind,
            task_id=task_id if task_id is not None else drawn_id,
            index=index,
            created_at=self.clock() if created_at is None else created_at,
            queue_s=queue_s,
            run_s=run_s,
            outcome=outcome,
            fail_reason=reason if outcome == "failure" else "",
            failure_progress=failure_progress if outcome == "failure" else 0,
            keeps_progress=keeps_progress,
            output_tokens=tuple(tokens[:count]),
            literal_outputs=literal if outcome == "success" else None,
            model=model,
            prompt=prompt,
            queued_status=queued_status,
        )
        with self._lock:
            if task.task_id in self._tasks:
                raise ValueError(f"task {task.task_id!r} already exists")
            self._tasks[task.task_id] = task
            for position, token in enumerate(task.output_tokens):
                self._outputs[token] = (task, position)
        return task

    def add_demo_tasks(self, count: int) -> list[SimTask]:
        """Add ``count`` tasks spread over every state at the current time.

        Finished ones lie in the past, running ones are part-way, some have not started;
        every kind (3D ones slower), both outcomes, every eighth ID has no kind prefix,
        and every sixteenth task waits in an undocumented ``MODERATION`` status instead
        of QUEUED. Deterministic for a given seed and clock.
        """
        now = self.clock()
        made: list[SimTask] = []
        for _ in range(count):
            index = self._reserve_index()
            rng = random.Random(f"siray-sim-demo:{self.seed}:{index}")
            draw = rng.random()
            kind: Kind = "image" if draw < 0.5 else "video" if draw < 0.8 else "3d"
            queue = rng.uniform(*self.queue_seconds) * QUEUE_SCALE.get(kind, 1.0)
            run = rng.uniform(*self.run_seconds) * RUN_SCALE.get(kind, 1.0)
            task_id = f"task-{rng.getrandbits(48):012x}" if index % 8 == 7 else None
            undocumented = index % 16 == 2
            if undocumented:
                queue *= 8  # long enough that a demo's viewer sees it
            shape = index % 8
            outcome: Outcome = "failure" if shape in (3, 5) else "success"
            if shape in (0, 3, 6):  # already final, some while ago
                ago = queue + run + rng.uniform(30, 3600)
            elif shape in (1, 5, 7):  # running
                ago = queue + run * rng.uniform(0.1, 0.7)
            elif shape == 2:  # queued
                ago = queue * rng.uniform(0.35, 0.9)
            else:  # just submitted
                ago = 0.0
            made.append(
                self.add_task(
                    kind,
                    task_id,
                    queue_s=queue,
                    run_s=run,
                    outcome=outcome,
                    created_at=now - ago,
                    failure_progress=rng.randint(10, 90) if outcome == "failure" else None,
                    queued_status=UNDOCUMENTED_STATUS if undocumented else QUEUED,
                    _index=index,
                )
            )
        return made

    def get(self, task_id: str) -> SimTask | None:
        """The task with this ID, or None."""
        with self._lock:
            return self._tasks.get(task_id)

    def tasks(self) -> list[SimTask]:
        """Every task, in creation order."""
        with self._lock:
            return list(self._tasks.values())

    def state(self, task_id: str, now: float | None = None) -> SimState | None:
        """A task's state now (or at ``now``), or None for an unknown ID."""
        task = self.get(task_id)
        if task is None:
            return None
        return task.state_at(self.clock() if now is None else now)

    def resolve_output(self, token: str) -> tuple[SimTask, int] | None:
        """Which task and output index a ``/redirect/{token}`` URL stands for."""
        with self._lock:
            return self._outputs.get(token)

    def __len__(self) -> int:
        with self._lock:
            return len(self._tasks)
