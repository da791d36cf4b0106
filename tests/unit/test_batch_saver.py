"""A batch's saves of accepted tasks: grouped, spaced, and every waiter told of a failure."""

from __future__ import annotations

import asyncio
import time

import pytest

from siray_tui.core.batch import SAVE_SHARE, _Saver
from siray_tui.core.errors import StoreError
from siray_tui.core.models import TaskKind, WatchedTask


def task(task_id: str) -> WatchedTask:
    return WatchedTask(task_id, kind=TaskKind.IMAGE, added_at=0.0)


async def test_tasks_accepted_together_share_a_save_spaced_by_the_gap() -> None:
    loop = asyncio.get_running_loop()
    saves: list[tuple[float, list[str]]] = []
    saver = _Saver(lambda tasks: saves.append((loop.time(), [t.task_id for t in tasks])), 0.2)
    await saver.add(task("image_a"))  # nothing saved before: at once
    await asyncio.gather(saver.add(task("image_b")), saver.add(task("image_c")))
    assert [ids for _, ids in saves] == [["image_a"], ["image_b", "image_c"]]
    assert saves[1][0] - saves[0][0] >= 0.2


async def test_a_failed_save_is_raised_to_every_task_of_its_group() -> None:
    def save(tasks: list[WatchedTask]) -> None:
        raise StoreError("cannot write watchlist.json: disk full")

    saver = _Saver(save, 0.0)
    results = await asyncio.gather(
        saver.add(task("image_a")), saver.add(task("image_b")), return_exceptions=True
    )
    assert all(isinstance(r, StoreError) for r in results)
    with pytest.raises(StoreError):  # and the next group is tried again
        await saver.add(task("image_c"))


async def test_a_slow_save_spaces_the_next_by_its_cost() -> None:
    """A large watchlist takes long to save, and the loop reads no answer meanwhile: the
    next save waits until saving has had at most SAVE_SHARE of the time."""
    loop = asyncio.get_running_loop()
    starts: list[float] = []

    def save(tasks: list[WatchedTask]) -> None:
        starts.append(loop.time())
        time.sleep(0.05)

    saver = _Saver(save, 0.01)
    await saver.add(task("image_a"))
    await saver.add(task("image_b"))
    assert starts[1] - starts[0] >= 0.05 + 0.05 / SAVE_SHARE


async def test_once_hurried_what_waits_is_saved_without_waiting_out_the_gap() -> None:
    """At the end of a batch no task will join a later group: the gap would only delay
    the report of the last lines."""
    loop = asyncio.get_running_loop()
    saves: list[tuple[float, list[str]]] = []
    saver = _Saver(lambda tasks: saves.append((loop.time(), [t.task_id for t in tasks])), 30.0)
    await saver.add(task("image_a"))
    later = asyncio.gather(saver.add(task("image_b")), saver.add(task("image_c")))
    await asyncio.sleep(0.05)
    assert len(saves) == 1  # the gap holds them while more may come
    saver.hurry()
    await asyncio.wait_for(later, 5)
    assert [ids for _, ids in saves] == [["image_a"], ["image_b", "image_c"]]
    assert saves[1][0] - saves[0][0] < 5
