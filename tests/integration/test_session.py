"""WatchSession used headless: add, remove and undo, poll the simulator, and notice a
second writer of the watchlist file."""

from __future__ import annotations

import asyncio
from pathlib import Path

from siray_tui.config import Settings
from siray_tui.core.events import SessionEvent, StoreFailed, TaskUpdated, WatchlistChanged
from siray_tui.core.models import TaskKind, TaskState, TaskStatus, WatchedTask
from siray_tui.core.secret import Secret
from siray_tui.core.session import WatchSession
from siray_tui.core.store import WatchlistStore
from siray_tui.sim import SimServer

TOKEN = "sk-session-5b2e"


def make_session(
    tmp_path: Path, base_url: str = "https://api.siray.ai"
) -> tuple[WatchSession, list[SessionEvent]]:
    """A session on ``tmp_path`` and the list its events go to."""
    events: list[SessionEvent] = []
    settings = Settings(
        base_url=base_url, token=Secret(TOKEN), data_dir=tmp_path, interval=1.0, rate=50.0
    )
    return WatchSession(settings, on_event=events.append), events


def stored(tmp_path: Path) -> list[str]:
    return list(WatchlistStore(tmp_path).load().tasks)


async def test_add_remove_and_undo(tmp_path: Path) -> None:
    session, events = make_session(tmp_path)
    result, added = await session.add_ids(["image_aaa111", "video_bbb222"], label="mine")
    assert result.added == ["image_aaa111", "video_bbb222"]
    assert [t.label for t in added] == ["mine", "mine"]
    assert list(session.tasks) == ["image_aaa111", "video_bbb222"]
    assert stored(tmp_path) == ["image_aaa111", "video_bbb222"]

    removed = session.remove(["video_bbb222", "image_unknown1"])
    assert [t.task_id for t in removed] == ["video_bbb222"]
    assert "video_bbb222" not in session.tasks
    await session.settle()
    assert stored(tmp_path) == ["image_aaa111"]

    restored = session.undo()
    assert restored is not None and [t.task_id for t in restored] == ["video_bbb222"]
    assert restored[0].label == "mine"
    assert "video_bbb222" in session.tasks
    await session.settle()
    assert sorted(stored(tmp_path)) == ["image_aaa111", "video_bbb222"]
    assert session.undo() is None  # nothing left to undo
    assert not any(isinstance(e, StoreFailed) for e in events)
    await session.aclose()


async def test_polls_the_simulator(sim: SimServer, tmp_path: Path) -> None:
    task = sim.scenario.add_task("image", queue_s=0, run_s=0, created_at=1.0)
    session, events = make_session(tmp_path, sim.base_url)
    await session.add_ids([task.task_id])
    runner = asyncio.create_task(session.poller.run())
    for _ in range(2000):  # a bound on a busy machine, not a timing check
        if any(isinstance(e, TaskUpdated) and e.task.is_final for e in events):
            break
        await asyncio.sleep(0.01)
    session.poller.stop()
    await runner
    await session.poller.flush()
    assert session.tasks[task.task_id].status is TaskStatus.SUCCESS
    # the estimator heard the answer: the finished task's times are its samples now
    assert session.estimator.known(session.tasks[task.task_id])[1] is not None
    assert sim.request_log[-1].headers["authorization"] == f"Bearer {TOKEN}"
    assert WatchlistStore(tmp_path).load().tasks[task.task_id].status is TaskStatus.SUCCESS
    await session.aclose()


async def test_sync_applies_a_second_writer(tmp_path: Path) -> None:
    session, events = make_session(tmp_path)
    await session.add_ids(["image_keep0001", "image_gone0001", "image_mine0001"])
    session.start_sync()
    session.check_sync()
    await session.settle()
    assert events == []  # our own writes are no change

    session.remove(["image_mine0001"])  # removed here, file write in the background
    other = WatchlistStore(tmp_path)
    other.add(["video_script001"], label="script")
    other.remove(["image_gone0001"])
    await session.settle()
    session.check_sync()
    await session.settle()
    changes = [e for e in events if isinstance(e, WatchlistChanged)]
    assert len(changes) == 1
    assert [t.task_id for t in changes[0].added] == ["video_script001"]
    assert changes[0].added[0].label == "script"
    assert changes[0].removed == ["image_gone0001"]
    assert sorted(session.tasks) == ["image_keep0001", "video_script001"]
    await session.aclose()


async def test_a_failed_background_write_is_reported(tmp_path: Path) -> None:
    session, events = make_session(tmp_path)
    await session.add_ids(["image_aaa111"])
    # A newer program's file is refused untouched: the removal cannot be written.
    (tmp_path / "watchlist.json").write_text('{"version": 999, "tasks": []}')
    session.remove(["image_aaa111"])
    await session.settle()
    failures = [e for e in events if isinstance(e, StoreFailed)]
    assert len(failures) == 1 and "\n" not in failures[0].message
    await session.aclose()


async def test_estimator_learns_from_watched_tasks_and_forgets_removed_ones(
    tmp_path: Path,
) -> None:
    session, _ = make_session(tmp_path)
    now = session.clock.now()
    done = WatchedTask("image_done0001", kind=TaskKind.IMAGE)
    done.state = TaskState(
        "image_done0001",
        TaskStatus.SUCCESS,
        "SUCCESS",
        submit_time=now - 100,
        start_time=now - 90,
        finish_time=now - 30,
    )
    running = WatchedTask("image_runs0001", kind=TaskKind.IMAGE)
    running.state = TaskState(
        "image_runs0001", TaskStatus.IN_PROGRESS, "IN_PROGRESS", progress=10, start_time=now
    )
    session.watch([done, running])
    assert session.estimator.known(running)[:2] == (10.0, 60.0)
    assert session.estimator.stall(running, now + 61) == "stalled"
    session.remove(["image_runs0001"])
    assert session.estimator.stall(running, now + 61) is None
    await session.settle()
    await session.aclose()
