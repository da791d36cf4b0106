"""The poller against the simulator over loopback, with every fault switched on.

200 tasks with short lifecycles, 20% 5xx, 5% HTML bodies, 5% dropped connections and a
429 every 40 requests: every task must still reach its true final state, no exception
may escape, and the watchlist file must keep every task (including one another process
adds meanwhile) with the state the poller saw.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from pathlib import Path

import pytest

from siray_tui.core.client import SirayClient
from siray_tui.core.models import TaskKind, TaskStatus
from siray_tui.core.poller import (
    Poller,
    PollerEvent,
    PollFailed,
    PollPolicy,
    RateLimited,
    TaskNotFound,
    TaskUpdated,
)
from siray_tui.core.secret import Secret
from siray_tui.core.store import WatchlistStore
from siray_tui.sim import Faults, Kind
from tests.conftest import SimFactory

TASKS = 200
DEADLINE = 40.0


async def test_200_tasks_through_faults_reach_their_true_final_state(
    sim_factory: SimFactory, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="siray_tui")
    faults = Faults(
        error_rate=0.2, nonjson_rate=0.05, drop_rate=0.05, rate_limit_every=40, retry_after=0.5
    )
    sim = sim_factory(faults=faults)
    rng = random.Random(99)
    ids: list[str] = []
    for index in range(TASKS):
        kind: Kind = "image" if index % 3 else "video"
        task_id = f"batch-{index:03d}" if index % 10 == 0 else None  # auto: no prefix
        task = sim.scenario.add_task(
            kind,
            task_id,
            queue_s=rng.uniform(0.2, 1.5),
            run_s=rng.uniform(0.5, 3.0),
            outcome="failure" if index % 7 == 0 else "success",
        )
        ids.append(task.task_id)

    store = WatchlistStore(tmp_path)
    store.add(ids)
    events: list[PollerEvent] = []
    finished: set[str] = set()
    all_final = asyncio.Event()

    def on_event(event: PollerEvent) -> None:
        events.append(event)
        if isinstance(event, TaskUpdated) and event.task.is_final:
            finished.add(event.task.task_id)
            if len(finished) == TASKS:
                all_final.set()

    policy = PollPolicy(interval=1.0, concurrency=8, rate=400.0, backoff_base=0.25, backoff_cap=2.0)
    async with SirayClient(sim.base_url, Secret("t"), timeout=5.0) as client:
        poller = Poller(client, policy=policy, store=store, rng=random.Random(1), on_event=on_event)
        poller.add(store.load().tasks.values())
        runner = asyncio.create_task(poller.run())
        started = time.monotonic()
        # Meanwhile another siray-tui adds a task: the poller's writes must not drop it.
        await asyncio.sleep(0.5)
        await asyncio.to_thread(WatchlistStore(tmp_path).add, ["image_added_elsewhere"])
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(all_final.wait(), DEADLINE)
        elapsed = time.monotonic() - started
        poller.stop()
        await asyncio.wait_for(runner, 10)  # returns normally: nothing escaped

    assert poller.stats.polling == 0, f"unfinished after {elapsed:.1f}s"
    # The faults really happened and were absorbed.
    assert any(isinstance(e, PollFailed) for e in events)
    assert any(isinstance(e, RateLimited) for e in events)
    assert not any(isinstance(e, TaskNotFound) for e in events)

    now = sim.scenario.now()
    for task_id in ids:
        truth = sim.scenario.get(task_id)
        assert truth is not None
        expected = truth.state_at(now)
        seen = poller.tasks[task_id]
        assert seen.state is not None
        assert seen.state.raw_status == expected.status
        assert seen.kind.value == truth.kind
        assert len(seen.state.outputs) == expected.output_count
        assert seen.state.fail_reason == expected.fail_reason
        assert seen.last_error is None
        assert seen.history[-1].status == expected.status

    stored = WatchlistStore(tmp_path).load()
    assert set(stored.tasks) == {*ids, "image_added_elsewhere"}
    for task_id in ids:
        kept = stored.tasks[task_id]
        assert kept.status is poller.tasks[task_id].status
        assert kept.kind is poller.tasks[task_id].kind
        assert kept.status in (TaskStatus.SUCCESS, TaskStatus.FAILURE)
    assert stored.tasks["image_added_elsewhere"].state is None
    assert stored.tasks["batch-000"].kind is TaskKind.VIDEO

    # Every answer reached the UI as an event; no bug was logged on the way.
    updated = {e.task.task_id for e in events if isinstance(e, TaskUpdated)}
    assert updated == set(ids)
    bugs = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert not bugs, [r.getMessage() for r in bugs]
    assert elapsed < DEADLINE
