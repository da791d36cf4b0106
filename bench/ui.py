"""How the dashboard copes with 10,000 tasks. Run: ``.venv/bin/python bench/ui.py``.

Each case runs in its own process (so RSS is that case's alone), headless through
``App.run_test()``, and a "frame" is the moment the App hands a compositor update to its
driver, after which we also encode it to terminal bytes as a real terminal write would.

Figures, each next to a baseline measured in the same run:

* **first frame with rows**: from entering ``run_test`` (the App starts mounting) to the
  first frame in which the table has rows, with the watchlist (10,000 tasks, about 6 MB)
  read from disk. Baseline: the same App over an empty watchlist. Goal <= 300 ms.
* **longest event-loop stall** while those 10,000 rows are added in chunks (a 5 ms
  heartbeat measures how late it runs). Goal <= 200 ms.
* **1,000 status changes**: 1,000 poller events staged, then from the flush to the next
  frame. Baseline: the naive way, clearing the table and adding the 10,000 rows again.
  Goal <= 50 ms.
* **RSS** with 10,000 tasks loaded and shown. Baseline: the empty App. Goal <= 120 MB.
* **longest event-loop stall while polling**: the App polls the 10,000 tasks for 60 s
  (``--poll-seconds``) from a source that answers at once, a tenth of them with a new
  progress on every answer, at the default request rate (``--rate``, 10 a second; at
  1,000 the event loop is simply saturated by the answers); a 10 ms heartbeat measures
  how late it runs. The poller
  saves its observations about once a second and the dashboard re-reads the file when
  it moved, so this is where the garbage collector's policy shows. Goal < 50 ms.
* **longest event-loop stall while a preview loads**: the ``v`` pane is open on a video
  task; the cursor moves down to a finished image task whose output is a 4,096 x 4,096
  PNG (1.1 MB, 16.7 million pixels) served by the simulator over loopback, with an empty
  preview cache; until the picture is drawn, a 5 ms heartbeat measures how late it runs
  (worst of 5 rounds). Baseline: the same move onto a second video task. Also the same
  for ``enter`` on the image task (details, the screen's own building included), next
  to ``enter`` on a video task, and in details from the moment the preview widget is
  mounted (the screen built) to the picture. Goal < 50 ms while the preview loads.
  (``--only-preview`` runs this figure alone.)
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from siray_tui.config import Settings
from siray_tui.core.clock import FakeClock
from siray_tui.core.models import TaskKind, TaskState, TaskStatus
from siray_tui.core.poller import TaskUpdated
from siray_tui.core.store import WatchlistStore
from siray_tui.ui import app as app_module
from siray_tui.ui.app import SirayApp
from siray_tui.ui.columns import cell_text, row_spec
from siray_tui.ui.widgets.task_table import TaskTable
from tests.ui.fixtures import NOW, fill_store, many_tasks, settings_for
from tests.ui.test_table_updates import progressed

TASKS = 10_000
CHANGES = 1_000
ROUNDS = 7
SIZE = (160, 50)


def rss_mb() -> float:
    """Resident set size now, in MB (Linux /proc; falls back to the peak)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


class FrameWatch:
    """Records when the App starts mounting and when frames are produced (encoding each
    to terminal bytes, as a real terminal write would)."""

    def __init__(self, app: SirayApp) -> None:
        self.frames: list[tuple[float, int]] = []
        original = app._display

        def display(screen: Any, renderable: Any) -> None:
            if renderable is not None:
                if hasattr(renderable, "render_segments"):
                    renderable.render_segments(app.console)
                rows = 0
                for grid in app.screen.query(TaskTable):
                    rows = grid.row_count
                self.frames.append((time.perf_counter(), rows))
            original(screen, renderable)

        app._display = display  # type: ignore[method-assign]

    @property
    def mount_started(self) -> float | None:
        return MOUNT_STARTED[-1] if MOUNT_STARTED else None

    def first_with_rows(self, since: float) -> float | None:
        return next((t for t, rows in self.frames if t >= since and rows > 0), None)

    async def next_frame(self, pilot: Any, since: float) -> float:
        end = time.perf_counter() + 5.0
        while time.perf_counter() < end:
            frame = next((t for t, _ in self.frames if t > since), None)
            if frame is not None:
                return frame
            await asyncio.sleep(0.001)
        raise TimeoutError("no frame")


async def heartbeat(lateness: list[float], stop: asyncio.Event) -> None:
    while not stop.is_set():
        before = time.perf_counter()
        await asyncio.sleep(0.005)
        lateness.append(time.perf_counter() - before - 0.005)


async def timed_heartbeat(beats: list[tuple[float, float]], stop: asyncio.Event) -> None:
    """:func:`heartbeat`, noting when each beat began."""
    while not stop.is_set():
        before = time.perf_counter()
        await asyncio.sleep(0.005)
        beats.append((before, time.perf_counter() - before - 0.005))


MOUNT_STARTED: list[float] = []


class TimedApp(SirayApp):
    """SirayApp noting when it starts mounting (Textual calls each class's handler, this
    one first)."""

    CSS_PATH = Path(app_module.__file__).with_name("app.tcss")

    def on_mount(self) -> None:
        MOUNT_STARTED.append(time.perf_counter())


def prepare(tmp: Path, count: int) -> None:
    """Write a watchlist of ``count`` tasks under ``tmp`` (in the parent process, so that
    building it costs the measured process no memory)."""
    fill_store(settings_for(tmp).data_dir, many_tasks(count))


def make_app(tmp: Path, count: int) -> SirayApp:
    """The App over the watchlist under ``tmp`` (made by :func:`prepare` if missing)."""
    settings = settings_for(tmp)
    if not (settings.data_dir / "watchlist.json").exists():
        prepare(tmp, count)
    store = WatchlistStore(settings.data_dir, clock=FakeClock(NOW))
    app = TimedApp(settings, store=store, clock=FakeClock(NOW), start_polling=False)
    app.animation_level = "none"
    return app


async def case_first_frame(tmp: Path, count: int) -> dict[str, float]:
    """First frame with rows, stall while filling, RSS after everything is shown."""
    app = make_app(tmp, count)
    watch = FrameWatch(app)
    lateness: list[float] = []
    stop = asyncio.Event()
    beat = asyncio.create_task(heartbeat(lateness, stop))
    start = time.perf_counter()
    async with app.run_test(size=SIZE) as pilot:
        grid = app.dashboard.query_one(TaskTable)
        while grid.filling or grid.row_count < count:
            await pilot.pause(0.01)
            if time.perf_counter() - start > 60:
                break
        filled = time.perf_counter()
        await pilot.pause(0.2)
        stop.set()
        await beat
        mounted = watch.mount_started or start
        first = watch.first_with_rows(mounted)
        if count == 0:
            first = next((t for t, _ in watch.frames if t >= mounted), None)
        return {
            "startup_ms": (mounted - start) * 1000,
            "first_frame_ms": ((first or filled) - mounted) * 1000,
            "all_rows_ms": (filled - start) * 1000,
            "max_stall_ms": max(lateness, default=0.0) * 1000,
            "rss_mb": rss_mb(),
        }


async def case_changes(tmp: Path, naive: bool) -> dict[str, float]:
    """1,000 status changes on 10,000 rows: our flush, or a naive rebuild."""
    app = make_app(tmp, TASKS)
    watch = FrameWatch(app)
    async with app.run_test(size=SIZE) as pilot:
        grid = app.dashboard.query_one(TaskTable)
        while grid.filling:
            await pilot.pause(0.02)
        await pilot.pause(0.3)
        running = [i for i, t in grid.tasks.items() if t.status is TaskStatus.IN_PROGRESS]
        changed = running[:CHANGES]
        timings: list[float] = []
        flush_ms: list[float] = []
        for round_ in range(ROUNDS):
            status = "SUCCESS" if round_ % 2 == 0 else "IN_PROGRESS"
            updates = [progressed(grid.tasks[i], 100 - round_, status) for i in changed]
            if naive:
                for task in updates:
                    grid.tasks[task.task_id] = task
                await pilot.pause(0.3)
                t0 = time.perf_counter()
                grid.clear()
                now = app.clock.now()
                for task_id, task in grid.tasks.items():
                    grid.add_row(*(cell_text(c) for c in row_spec(task, now)), key=task_id)
                t1 = time.perf_counter()
            else:
                app.dashboard.flush_timer.pause()
                for task in updates:
                    app._forward(TaskUpdated(task, TaskStatus.IN_PROGRESS, True))
                while grid.pending < len(updates):  # noqa: ASYNC110 (polling a counter)
                    await asyncio.sleep(0.001)
                t0 = time.perf_counter()
                app.dashboard.flush()
                t1 = time.perf_counter()
            frame = await watch.next_frame(pilot, t1)
            timings.append((frame - t0) * 1000)
            flush_ms.append((t1 - t0) * 1000)
            await pilot.pause(0.3)
        return {
            "batch_to_frame_ms": min(timings),
            "batch_to_frame_median_ms": statistics.median(timings),
            "apply_ms": min(flush_ms),
            "cells_written": float(grid.update_cells),
        }


class InstantSource:
    """Answers every poll at once: a tenth of the tasks report a new progress each time,
    the others the state they already have."""

    def __init__(self, tasks: dict[str, Any]) -> None:
        self.states: dict[str, TaskState] = {}
        self.changing: set[str] = set()
        self.answers = 0
        for index, (task_id, task) in enumerate(tasks.items()):
            if task.state is not None:
                self.states[task_id] = task.state
                if index % 10 == 0:
                    self.changing.add(task_id)

    async def get_task(self, task_id: str, kind: TaskKind) -> TaskState:
        self.answers += 1
        state = self.states[task_id]
        if task_id in self.changing:
            data = dict(state.raw)
            data["progress"] = f"{self.answers % 100}%"
            data["status"] = "IN_PROGRESS"
            state = TaskState.from_payload({"code": "success", "data": data}, task_id=task_id)
        return state


async def case_polling(tmp: Path, seconds: float, rate: float) -> dict[str, float]:
    """The longest event-loop stall while the App polls 10,000 tasks for ``seconds``
    (at most ``rate`` requests a second: the poller's own limit)."""
    settings = settings_for(tmp, interval=1.0, rate=rate, concurrency=64)
    if not (settings.data_dir / "watchlist.json").exists():
        prepare(tmp, TASKS)
    store = WatchlistStore(settings.data_dir)
    source = InstantSource(dict(store.load().tasks))
    app = TimedApp(settings, store=store, source=source)
    app.animation_level = "none"
    lateness: list[float] = []
    stop = asyncio.Event()
    async with app.run_test(size=SIZE) as pilot:
        grid = app.dashboard.query_one(TaskTable)
        while grid.filling or grid.row_count < TASKS:
            await pilot.pause(0.02)
        await pilot.pause(0.5)
        answers = source.answers
        gc_full = gc.get_stats()[2]["collections"]
        pauses: list[tuple[int, float]] = []
        started: list[float] = [0.0]

        def timed(phase: str, info: dict[str, int]) -> None:
            if phase == "start":
                started[0] = time.perf_counter()
            else:
                pauses.append((info["generation"], time.perf_counter() - started[0]))

        gc.callbacks.append(timed)

        async def beat() -> None:
            while not stop.is_set():
                before = time.perf_counter()
                await asyncio.sleep(0.010)
                lateness.append(time.perf_counter() - before - 0.010)

        beater = asyncio.create_task(beat())
        await asyncio.sleep(seconds)
        stop.set()
        await beater
        gc.callbacks.remove(timed)
        result = {
            "poll_max_stall_ms": max(lateness, default=0.0) * 1000,
            "poll_p99_stall_ms": statistics.quantiles(lateness, n=100)[98] * 1000,
            "answers": float(source.answers - answers),
            "full_collections": float(gc.get_stats()[2]["collections"] - gc_full),
            "frozen": float(gc.get_freeze_count()),
            "longest_gc_ms": max((p for _, p in pauses), default=0.0) * 1000,
            "longest_full_gc_ms": max((p for g, p in pauses if g == 2), default=0.0) * 1000,
        }
        app.poller.stop()
    return result


async def case_preview(tmp: Path, where: str, with_image: bool) -> dict[str, float]:
    """Stalls while a 4096x4096 PNG output is fetched, decoded and drawn, each round with
    an empty preview cache. ``where``: ``pane`` (the ``v`` pane is open on a video task,
    the cursor moves down to the image task) or ``details`` (``enter`` on the image task,
    the screen's own building included). Without ``with_image`` the second task is a
    video (its output listed, not drawn): the baseline."""
    from functools import partial

    from siray_tui.core.thumbs import ThumbCache
    from siray_tui.sim import Scenario, SimServer
    from siray_tui.sim.hostile_images import hostile_image
    from siray_tui.ui.widgets.preview import ImagePreview, PreviewPane
    from tests.ui.fixtures import make_task

    hostile_image("large")  # built before the clock starts: the server is not measured
    stalls: list[float] = []
    load_stalls: list[float] = []  # from the preview widget's mounting to its picture
    loads: list[float] = []
    with SimServer(Scenario(1), host="127.0.0.1", port=0) as sim:
        url = sim.url("/files-hostile/large.png")
        for round_ in range(5):
            run_dir = tmp / f"preview-{where}-{with_image}-{round_}"
            settings = settings_for(run_dir, base_url=sim.base_url)
            target = "image_00preview01" if with_image else "video_00preview01"
            tasks = [
                make_task("video_00preview00", "SUCCESS", progress="100%", ago=90, outputs=[url]),
                make_task(target, "SUCCESS", progress="100%", ago=60, outputs=[url]),
            ]
            store = fill_store(settings.data_dir, tasks)
            thumbs = partial(ThumbCache.for_cache, run_dir / "thumbs", allow_loopback_http=True)
            app = TimedApp(
                settings,
                store=store,
                clock=FakeClock(NOW),
                start_polling=False,
                thumbs_factory=thumbs,
            )
            app.animation_level = "none"
            async with app.run_test(size=SIZE) as pilot:
                grid = app.dashboard.query_one(TaskTable)
                while grid.filling or grid.row_count < 2:
                    await pilot.pause(0.01)
                grid.move_cursor(row=grid.get_row_index(tasks[0].task_id), animate=False)
                if where == "pane":
                    await pilot.press("v")
                else:
                    grid.move_cursor(row=grid.get_row_index(target), animate=False)
                await pilot.pause(0.5)
                # The earlier rounds' Apps are garbage in this process; a full collection
                # scanning them is the benchmark's doing, not the preview's.
                gc.collect()
                lateness: list[float] = []
                stop = asyncio.Event()
                beat = asyncio.create_task(heartbeat(lateness, stop))
                start = time.perf_counter()
                await pilot.press("down" if where == "pane" else "enter")
                mounted: int | None = None
                while with_image:
                    screen = app.screen
                    if where == "pane":
                        found = [screen.query_one(PreviewPane).image]
                    else:
                        found = list(screen.query(ImagePreview))
                    if found and mounted is None:
                        mounted = len(lateness)
                    if found and found[0].loaded is not None:
                        break
                    await asyncio.sleep(0.002)
                loads.append(time.perf_counter() - start)
                await pilot.pause(0.5)  # the picture's frame (and the pane's debounce)
                stop.set()
                await beat
                stalls.append(max(lateness, default=0.0))
                load_stalls.append(max(lateness[mounted or 0 :], default=0.0))
    return {
        "max_stall_ms": max(stalls) * 1000,
        "max_load_stall_ms": max(load_stalls) * 1000,
        "median_stall_ms": statistics.median(stalls) * 1000,
        "load_ms": statistics.median(loads) * 1000,
    }


def preview_lines() -> list[str]:
    figures = {}
    with tempfile.TemporaryDirectory() as tmp:
        for where in ("pane", "details"):
            for image in ("image", "video"):
                figures[where, image] = run_case(f"preview-{where}-{image}", Path(tmp))
    pane, pane_base = figures["pane", "image"], figures["pane", "video"]
    det, det_base = figures["details", "image"], figures["details", "video"]
    return [
        f"{'longest stall while a preview loads (ms)':<44}{pane['max_stall_ms']:>10.1f}"
        f"{pane_base['max_stall_ms']:>10.1f}{'':>8}   < 50 (v pane; baseline: no image)",
        f"{'  median of the 5 rounds (ms)':<44}{pane['median_stall_ms']:>10.1f}"
        f"{pane_base['median_stall_ms']:>10.1f}",
        f"{'  down to picture, 4096x4096 PNG (ms)':<44}{pane['load_ms']:>10.0f}"
        f"{'':>10}{'':>8}   (0.2 s of it the debounce)",
        f"{'  details: enter to picture, worst stall (ms)':<44}{det['max_stall_ms']:>10.1f}"
        f"{det_base['max_stall_ms']:>10.1f}{'':>8}   (the screen's building included)",
        f"{'  details: median of the 5 rounds (ms)':<44}{det['median_stall_ms']:>10.1f}"
        f"{det_base['median_stall_ms']:>10.1f}",
        f"{'  details: while the preview loads (ms)':<44}{det['max_load_stall_ms']:>10.1f}"
        f"{'':>10}{'':>8}   < 50 (from its widget's mounting to the picture)",
        f"{'  details: enter to picture (ms)':<44}{det['load_ms']:>10.0f}",
    ]


def run_case(name: str, data: Path, *extra: str) -> dict[str, float]:
    """Run one case in a fresh interpreter and return its figures."""
    out = subprocess.run(
        [sys.executable, __file__, "--case", name, str(data), *extra],
        check=True,
        capture_output=True,
        text=True,
        env={**os.environ, "TEXTUAL_ANIMATIONS": "none"},
    )
    return json.loads(out.stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]


def main(poll_seconds: float, rate: float, only_polling: bool) -> None:
    with tempfile.TemporaryDirectory() as empty_dir, tempfile.TemporaryDirectory() as full_dir:
        prepare(Path(empty_dir), 0)
        prepare(Path(full_dir), TASKS)
        if not only_polling:
            empty = run_case("first-frame-0", Path(empty_dir))
            full = run_case("first-frame-10000", Path(full_dir))
            ours = run_case("changes", Path(full_dir))
            naive = run_case("changes-naive", Path(full_dir))
        polling = run_case("polling", Path(full_dir), str(poll_seconds), str(rate))
    stall = [
        f"{f'longest stall, {poll_seconds:g} s polling at {rate:g}/s (ms)':<44}"
        f"{polling['poll_max_stall_ms']:>10.1f}{'':>10}{'':>8}   < 50 (10 ms heartbeat)",
        f"{'  99th percentile of the heartbeat lateness':<44}{polling['poll_p99_stall_ms']:>10.1f}",
        f"{'  answers / full collections / frozen objects':<44}"
        f"{polling['answers']:>10.0f}{polling['full_collections']:>10.0f}{polling['frozen']:>10.0f}",
        f"{'  longest collection, longest full one (ms)':<44}"
        f"{polling['longest_gc_ms']:>10.1f}{polling['longest_full_gc_ms']:>10.1f}",
    ]
    if only_polling:
        print("\n".join(stall))
        return
    lines = [
        f"siray-tui dashboard benchmark: {TASKS:,} tasks, terminal {SIZE[0]}x{SIZE[1]}, "
        f"Python {sys.version.split()[0]}",
        "",
        f"{'measure':<44}{'ours':>10}{'baseline':>10}{'ratio':>8}   goal",
        f"{'first frame with rows (ms)':<44}{full['first_frame_ms']:>10.0f}"
        f"{empty['first_frame_ms']:>10.0f}{full['first_frame_ms'] / empty['first_frame_ms']:>8.2f}"
        "   <= 300 (baseline: empty watchlist)",
        f"{'all 10,000 rows added (ms)':<44}{full['all_rows_ms']:>10.0f}{'':>10}{'':>8}   -",
        f"{'longest event-loop stall while filling (ms)':<44}{full['max_stall_ms']:>10.0f}"
        f"{empty['max_stall_ms']:>10.0f}{'':>8}   <= 200",
        f"{'1,000 status changes: batch to frame (ms)':<44}{ours['batch_to_frame_ms']:>10.1f}"
        f"{naive['batch_to_frame_ms']:>10.1f}"
        f"{naive['batch_to_frame_ms'] / ours['batch_to_frame_ms']:>8.1f}x"
        "  <= 50 (baseline: naive full rebuild)",
        f"{f'  (median of {ROUNDS} rounds)':<44}{ours['batch_to_frame_median_ms']:>10.1f}"
        f"{naive['batch_to_frame_median_ms']:>10.1f}",
        f"{'  applying the batch alone (ms)':<44}{ours['apply_ms']:>10.1f}"
        f"{naive['apply_ms']:>10.1f}",
        f"{'RSS with the tasks shown (MB)':<44}{full['rss_mb']:>10.0f}{empty['rss_mb']:>10.0f}"
        f"{full['rss_mb'] / empty['rss_mb']:>8.2f}   <= 120 (baseline: empty watchlist)",
        *stall,
        *preview_lines(),
    ]
    print("\n".join(lines))


if __name__ == "__main__":
    if len(sys.argv) >= 4 and sys.argv[1] == "--case":
        case, data = sys.argv[2], Path(sys.argv[3])
        if case == "polling":
            result = asyncio.run(case_polling(data, float(sys.argv[4]), float(sys.argv[5])))
        elif case.startswith("first-frame-"):
            result = asyncio.run(case_first_frame(data, int(case.rsplit("-", 1)[1])))
        elif case.startswith("preview-"):
            _, where, shown = case.split("-")
            result = asyncio.run(case_preview(data, where, with_image=shown == "image"))
        elif case == "changes":
            result = asyncio.run(case_changes(data, naive=False))
        else:
            result = asyncio.run(case_changes(data, naive=True))
        print(json.dumps(result))
    else:
        parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
        parser.add_argument("--poll-seconds", type=float, default=60.0, help="default 60")
        parser.add_argument(
            "--rate", type=float, default=Settings.rate, help="poll requests a second (default 10)"
        )
        parser.add_argument("--only-polling", action="store_true", help="only the polling stall")
        parser.add_argument("--only-preview", action="store_true", help="only the preview stall")
        args = parser.parse_args()
        if args.only_preview:
            print("\n".join(preview_lines()))
        else:
            main(args.poll_seconds, args.rate, args.only_polling)
