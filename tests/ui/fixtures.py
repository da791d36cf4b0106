"""Deterministic watchlists for the UI tests, the screenshots and the benchmark.

Built from payloads through ``TaskState.from_payload`` (as the poller would), at the
FakeClock's fixed time, so every snapshot renders the same bytes on every machine.
"""

from __future__ import annotations

import random
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from siray_tui.config import Settings
from siray_tui.core.catalog import Catalog, CatalogResult, parse_models
from siray_tui.core.clock import FakeClock
from siray_tui.core.models import StatusChange, TaskKind, TaskRequest, TaskState, WatchedTask
from siray_tui.core.secret import Secret
from siray_tui.core.store import WatchlistStore

NOW = 1_763_274_672.0
BASE = "https://api.siray.ai"


def make_task(
    task_id: str,
    status: str | None,
    *,
    kind: TaskKind | None = None,
    label: str = "",
    progress: Any = None,
    ago: float = 60.0,
    queue: float | None = 10.0,
    run: float | None = 30.0,
    outputs: Iterable[str] = (),
    fail_reason: str = "",
    message: str = "",
    last_error: str | None = None,
    not_found: bool = False,
    polled_ago: float | None = 2.0,
    history: Iterable[tuple[str, float]] = (),
) -> WatchedTask:
    """A task as the poller would leave it after a poll ``polled_ago`` seconds ago.

    ``ago`` is when it was submitted; ``queue``/``run`` are the phase lengths (None: the
    phase has not begun).
    """
    submit = NOW - ago
    start = submit + queue if queue is not None else None
    finish = start + run if start is not None and run is not None else None
    if status == "FAILURE" and run is None and start is not None:
        start, finish = None, start  # rejected before it ever ran
    state = None
    if status is not None:
        data: dict[str, Any] = {
            "task_id": task_id,
            "status": status,
            "progress": progress if progress is not None else "0%",
            "outputs": list(outputs),
            "submit_time": int(submit),
            "start_time": int(start) if start and start <= NOW else 0,
            "finish_time": int(finish)
            if finish and finish <= NOW and status in ("SUCCESS", "FAILURE")
            else 0,
            "fail_reason": fail_reason,
            "action": "videoGenerate" if task_id.startswith("video") else "imageGenerate",
        }
        state = TaskState.from_payload(
            {"code": "success", "message": message, "data": data}, task_id=task_id
        )
    changes = [StatusChange(s, NOW - a) for s, a in history]
    if not changes and status is not None:
        changes = [StatusChange(status, NOW - (polled_ago or 0))]
    return WatchedTask(
        task_id=task_id,
        kind=kind or TaskKind.guess(task_id),
        label=label,
        added_at=submit - 1,
        state=state,
        last_polled_at=None if polled_ago is None else NOW - polled_ago,
        last_error=last_error,
        not_found=not_found,
        history=changes,
    )


def every_status() -> list[WatchedTask]:
    """One or two tasks in every status the dashboard distinguishes."""
    out = f"{BASE}/redirect/"
    return [
        make_task(
            "image_a8813a4b4c9",
            "SUCCESS",
            label="hero shot",
            progress="100%",
            ago=900,
            queue=12,
            run=95,
            outputs=[out + f"a{i}" for i in range(4)],
            history=[("QUEUED", 890), ("IN_PROGRESS", 880), ("SUCCESS", 790)],
        ),
        make_task(
            "video_5f2e0c1d7a",
            "SUCCESS",
            progress="100%",
            ago=1900,
            queue=40,
            run=610,
            outputs=[out + "v1"],
        ),
        make_task(
            "image_0b91c2f3aa",
            "FAILURE",
            label="banner 4k",
            ago=600,
            queue=5,
            run=None,
            fail_reason="invalid image size 4096x4096: maximum is 2048x2048",
        ),
        make_task(
            "video_77aa1290bc",
            "FAILURE",
            progress="37%",
            ago=400,
            queue=20,
            run=140,
            fail_reason="GPU worker out of memory (CUDA error: out of memory)\n"
            "trace: worker-17 killed",
        ),
        make_task(
            "image_4c5d6e7f80",
            "IN_PROGRESS",
            label="product 12",
            progress="45%",
            ago=70,
            queue=8,
            run=None,
        ),
        make_task("video_1234abcd99", "IN_PROGRESS", progress="82%", ago=300, queue=30, run=None),
        make_task("image_9988776655", "QUEUED", ago=25, queue=None, run=None),
        make_task("video_c0ffee0001", "SUBMITTED", ago=6, queue=None, run=None),
        make_task("image_beef000042", "NOT_START", ago=2, queue=None, run=None),
        make_task(
            "task-5e6f7a8b9c0d",
            "PAUSED_BY_PROVIDER",
            kind=TaskKind.IMAGE,
            ago=120,
            queue=15,
            run=None,
        ),
        make_task("image_deadbeef00", None, not_found=True, last_error="not found", polled_ago=40),
        make_task("image_0000000001", None, label="just added", polled_ago=None),
        make_task(
            "video_5a5a5a5a5a",
            "IN_PROGRESS",
            progress="12%",
            ago=200,
            queue=60,
            run=None,
            last_error="HTTP 503 server error: upstream overloaded",
            polled_ago=9,
        ),
        make_task(
            "task-aa00bb11cc22",
            "QUEUED",
            kind=TaskKind.AUTO,
            label="auto kind",
            ago=44,
            queue=None,
            run=None,
        ),
    ]


def many_tasks(count: int, seed: int = 7) -> list[WatchedTask]:
    """``count`` varied tasks for load and benchmark tests (deterministic)."""
    rng = random.Random(seed)
    statuses = ["SUCCESS", "FAILURE", "IN_PROGRESS", "QUEUED", "SUBMITTED", "NOT_START"]
    tasks = []
    for index in range(count):
        status = statuses[index % len(statuses)]
        kind = "image" if rng.random() < 0.6 else "video"
        final = status in ("SUCCESS", "FAILURE")
        running = status == "IN_PROGRESS"
        tasks.append(
            make_task(
                f"{kind}_{index:012x}",
                status,
                progress="100%" if status == "SUCCESS" else f"{rng.randint(0, 99)}%",
                ago=rng.uniform(30, 4000),
                queue=rng.uniform(1, 25) if final or running else None,
                run=rng.uniform(5, 600) if final else None,
                outputs=[f"{BASE}/redirect/{index}"] if status == "SUCCESS" else [],
                fail_reason="upstream model timeout after 300s" if status == "FAILURE" else "",
            )
        )
    return tasks


def fill_store(data_dir: Path, tasks: Iterable[WatchedTask]) -> WatchlistStore:
    """A store in ``data_dir`` holding exactly ``tasks`` (states included)."""
    store = WatchlistStore(data_dir, clock=FakeClock(NOW))
    items = list(tasks)

    def put(watchlist: Any) -> None:
        for task in items:
            watchlist.add_task(task)

    store.mutate(put)
    return store


def settings_for(tmp: Path, *, token: str | None = "test-token", **changes: Any) -> Settings:
    """Settings isolated in ``tmp`` (data, downloads, config)."""
    return Settings(
        token=Secret(token) if token else None,
        data_dir=tmp / "data",
        config_path=tmp / "config.toml",
        download_dir=tmp / "downloads",
        **changes,
    )


def sample_catalog() -> CatalogResult:
    """The simulator's models as a fetched list, without any network (snapshots)."""
    from siray_tui.sim.scenario import MODELS

    items = [{"id": name, "model_name": title, "tag": tag} for name, title, tag in MODELS]
    return CatalogResult(Catalog(tuple(parse_models(items)), NOW - 3600, BASE), fetched=False)


def sample_request() -> TaskRequest:
    """A stored request to pre-fill the new-task form with (``N``)."""
    return TaskRequest(
        TaskKind.IMAGE,
        "bytedance/seedream-4.5-t2i",
        "a red fox in fresh snow, golden hour, 35 mm",
        {"size": "2048x2048", "seed": 7},
    )


async def open_sample_form(pilot: Any) -> None:
    """The new-task form as ``N`` opens it on the "banner 4k" failure, with the sample
    models (no network) and "flux" typed in the model box: the snapshot and the README's
    screenshot."""
    from textual.widgets import Input

    from siray_tui.ui.screens.new_task import NewTaskScreen

    async def catalog() -> CatalogResult:
        return sample_catalog()

    form = NewTaskScreen(
        lambda screen, submission: None,
        catalog=catalog,
        initial=sample_request(),
        retry_of="image_0b91c2f3aa",
        label="banner 4k",
        now=NOW,
    )
    await pilot.app.push_screen(form)
    await pilot.app.workers.wait_for_complete(list(form.workers))
    form.query_one("#new-model", Input).value = "flux"
