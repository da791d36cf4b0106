"""How long the stats and triage screen takes at 10,000 tasks: ``python bench/stats.py``.

Two figures: computing the stats in the core (:func:`compute_stats`, every failure reason
different in its numbers, IDs and sizes, so each is normalised), and opening the screen:
from ``t`` to the first frame of the stats screen, with the App headless. Goal: the
screen open in under 300 ms. On a shared machine the wall time wanders, so the CPU time
of the same span is printed too, and each figure is the best of a few runs. The ratio
compares 10,000 tasks with 1,000.
"""

from __future__ import annotations

import asyncio
import random
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from siray_tui.core.clock import FakeClock
from siray_tui.core.models import TaskState, WatchedTask
from siray_tui.core.stats import compute_stats
from siray_tui.ui.app import SirayApp
from siray_tui.ui.screens.stats import StatsScreen
from siray_tui.ui.widgets.task_table import TaskTable
from tests.ui.fixtures import NOW, fill_store, many_tasks, settings_for

SIZE = (160, 50)
ROUNDS = 5
REASONS = (
    "upstream model timeout after {n}s on worker-{k}",
    "invalid image size {n}x{n}: maximum is 2048x2048",
    "task image_{h} was cancelled by the provider",
    "content policy: prompt '{word}' was rejected (score 0.{k})",
    "GPU out of memory: tried to allocate {n} MiB (request {uuid})",
    "rate limit for key {h}: {k} requests in {n} ms",
)


def varied(tasks: list[WatchedTask], seed: int = 11) -> list[WatchedTask]:
    """The failed tasks of ``tasks`` with reasons that differ in their variable parts."""
    rng = random.Random(seed)
    for task in tasks:
        state = task.state
        if state is None or not state.fail_reason:
            continue
        reason = rng.choice(REASONS).format(
            n=rng.randint(1, 9999),
            k=rng.randint(0, 99),
            h=f"{rng.getrandbits(48):012x}",
            word=rng.choice(["cat", "dog", "fox", "owl"]) * rng.randint(1, 3),
            uuid=f"{rng.getrandbits(32):08x}-1234-4abc-9def-{rng.getrandbits(48):012x}",
        )
        data = {**state.raw, "fail_reason": reason}
        task.state = TaskState.from_payload({"data": data}, task_id=task.task_id)
    return tasks


def best_ms(fn: Any, rounds: int = ROUNDS) -> tuple[float, float]:
    """The fastest wall and CPU milliseconds of ``rounds`` calls."""
    wall, cpu = [], []
    for _ in range(rounds):
        started, cpu_started = time.perf_counter(), time.process_time()
        fn()
        wall.append((time.perf_counter() - started) * 1000)
        cpu.append((time.process_time() - cpu_started) * 1000)
    return min(wall), min(cpu)


async def open_screen(tasks: list[WatchedTask]) -> tuple[float, float]:
    """The best wall and CPU milliseconds from ``t`` to the stats screen's first frame."""
    with tempfile.TemporaryDirectory() as tmp:
        settings = settings_for(Path(tmp))
        store = fill_store(settings.data_dir, tasks)
        app = SirayApp(settings, store=store, clock=FakeClock(NOW), start_polling=False)
        app.animation_level = "none"
        frames: list[tuple[float, float]] = []
        original = app._display

        def display(screen: Any, renderable: Any) -> None:
            if renderable is not None and isinstance(app.screen, StatsScreen):
                frames.append((time.perf_counter(), time.process_time()))
            original(screen, renderable)

        app._display = display  # type: ignore[method-assign]
        wall, cpu = [], []
        async with app.run_test(size=SIZE) as pilot:
            grid = app.dashboard.query_one(TaskTable)
            while not app.dashboard.loaded or grid.filling:
                await pilot.pause(0.01)
            await pilot.pause(0.2)
            for _ in range(ROUNDS):
                frames.clear()
                started, cpu_started = time.perf_counter(), time.process_time()
                await pilot.press("t")
                while not frames and time.perf_counter() - started < 60:  # noqa: ASYNC110
                    await asyncio.sleep(0.001)
                opened, cpu_done = frames[0]
                wall.append((opened - started) * 1000)
                cpu.append((cpu_done - cpu_started) * 1000)
                await pilot.press("escape")
                await pilot.pause(0.1)
        return min(wall), min(cpu)


def main() -> None:
    python = sys.version.split()[0]
    print(f"siray-tui stats benchmark: terminal {SIZE[0]}x{SIZE[1]}, Python {python}")
    print()
    print(f"{'case':<34}{'wall (ms)':>10}{'CPU (ms)':>10}   goal")
    figures: dict[int, tuple[float, float]] = {}
    for count in (1_000, 10_000):
        tasks = varied(many_tasks(count))
        groups = len(compute_stats(tasks, NOW).failures)
        wall, cpu = best_ms(lambda tasks=tasks: compute_stats(tasks, NOW))
        figures[count] = (wall, cpu)
        print(f"{f'compute_stats, {count:,} tasks':<34}{wall:>10.1f}{cpu:>10.1f}")
        opened, opened_cpu = asyncio.run(open_screen(tasks))
        label = f"open the screen, {count:,} tasks"
        print(f"{label:<34}{opened:>10.1f}{opened_cpu:>10.1f}   < 300 ms ({groups} groups)")
    ratio = figures[10_000][1] / figures[1_000][1]
    print()
    print(f"compute_stats CPU, 10,000 against 1,000 tasks: {ratio:.1f}x (linear would be 10x)")


if __name__ == "__main__":
    main()
