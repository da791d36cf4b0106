"""How fast is the watchlist file at 10,000 tasks? Run: ``.venv/bin/python bench/store.py``.

The target: a 10,000-task watchlist loads in under 150 ms and saves in
under 150 ms. Each figure is the best and the median of several runs, next to a baseline
measured in the same run on the same data, so the ratio says how much the store adds on
top of the json module itself:

* load: ``WatchlistStore.load()`` vs ``json.loads`` of the same bytes (no task objects).
* save: the store's full write (encode every task, serialise, temp file, fsync, replace,
  directory fsync) vs ``json.dumps`` of the already-encoded document plus a plain write.
* one change: a ``mutate`` that changes one task, i.e. what every add/remove/update
  costs on a 10,000-task file (lock, re-read, apply, write, unlock).
* the models' own ``WatchedTask.from_json`` / ``to_json`` path, for reference.
* adding 10,000 IDs: ``siray-tui add -`` with the IDs on stdin when the CLI has that
  command, else ``WatchlistStore.add`` of the 10,000 IDs (the table says which).
"""

from __future__ import annotations

import gc
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from siray_tui.core.clock import FakeClock
from siray_tui.core.codec import ENCODER, encode_task
from siray_tui.core.models import StatusChange, TaskKind, TaskState, WatchedTask
from siray_tui.core.store import WatchlistStore
from siray_tui.core.watchlist import Watchlist

TASKS = 10_000
RUNS = 7
TARGET_MS = 150.0

STEPS = ("NOT_START", "SUBMITTED", "QUEUED", "IN_PROGRESS")


def realistic_tasks(count: int, seed: int = 7) -> list[WatchedTask]:
    """Tasks shaped like the API's answers: mostly finished, with outputs and histories."""
    rng = random.Random(seed)
    tasks: list[WatchedTask] = []
    base = 1_763_274_672.0
    for index in range(count):
        video = rng.random() < 0.4
        task_id = f"{'video' if video else 'image'}_{rng.getrandbits(64):016x}"
        submit = base + index * 3.0
        start = submit + rng.uniform(1, 60)
        finish = start + rng.uniform(5, 300)
        roll = rng.random()
        status = "SUCCESS" if roll < 0.7 else "FAILURE" if roll < 0.8 else "IN_PROGRESS"
        outputs: list[str] = []
        if status == "SUCCESS":
            outputs = [
                f"https://api.siray.ai/redirect/{task_id}-{n}.{'mp4' if video else 'png'}"
                for n in range(1 if video else rng.randint(1, 4))
            ]
        data: dict[str, object] = {
            "task_id": task_id,
            "action": "videoGenerate" if video else "imageGenerate",
            "status": status,
            "progress": "100%" if status != "IN_PROGRESS" else f"{rng.randint(1, 99)}%",
            "outputs": outputs,
            "submit_time": int(submit),
            "start_time": int(start),
            "finish_time": int(finish) if status != "IN_PROGRESS" else 0,
            "fail_reason": "content policy violation: the prompt was rejected"
            if status == "FAILURE"
            else "",
        }
        state = TaskState.from_payload(
            {"code": "success", "message": "", "data": data}, task_id=task_id
        )
        steps = [*STEPS, status] if status != "IN_PROGRESS" else list(STEPS)
        history = [StatusChange(step, submit + n * 2.5) for n, step in enumerate(steps)]
        tasks.append(
            WatchedTask(
                task_id=task_id,
                kind=TaskKind.VIDEO if video else TaskKind.IMAGE,
                label=f"batch {index // 100} #{index % 100}" if rng.random() < 0.5 else "",
                added_at=submit - 1.0,
                state=state,
                last_polled_at=finish + 2.0,
                history=history,
            )
        )
    return tasks


def measure(fn: Callable[[], object], runs: int = RUNS) -> tuple[float, float]:
    """Best and median wall time of ``fn`` in ms (after a warm-up run).

    The result is freed after the clock stops: a caller keeps what load() returns, so
    tearing it down is not part of loading.
    """
    fn()
    times: list[float] = []
    for _ in range(runs):
        start = time.perf_counter()
        result = fn()
        times.append((time.perf_counter() - start) * 1000)
        del result
    return min(times), statistics.median(times)


def cli_add_stdin(data_dir: Path, ids: list[str]) -> float:
    """``siray-tui --data-dir DIR add -`` with ``ids`` on stdin; wall time in ms.

    Includes the interpreter's start-up and imports. Raises CalledProcessError when the
    CLI has no such command yet.
    """
    start = time.perf_counter()
    subprocess.run(
        [sys.executable, "-m", "siray_tui", "--data-dir", str(data_dir), "add", "-"],
        input="\n".join(ids) + "\n",
        text=True,
        check=True,
        capture_output=True,
        timeout=120,
    )
    return (time.perf_counter() - start) * 1000


FRESH_LOAD = """
import gc, json, sys, time
from pathlib import Path
from siray_tui.core.store import WatchlistStore
store = WatchlistStore(Path(sys.argv[1]))
if sys.argv[2] == "plain":
    gc.disable()
    start = time.perf_counter()
    count = len(json.loads(store.path.read_bytes())["tasks"])
else:
    start = time.perf_counter()
    count = len(store.load())
print((time.perf_counter() - start) * 1000, count)
"""


def fresh_process_load_ms(data_dir: Path, mode: str, runs: int = RUNS) -> tuple[float, float]:
    """load() as ``siray-tui list`` does it, the first read of a new process.

    ``mode`` "plain" times ``json.loads`` of the file instead, in the same conditions: a
    new process pays for every page of memory it touches for the first time, which
    makes both slower than in a process that has freed memory to reuse.
    """
    times = []
    for _ in range(runs):
        out = subprocess.run(
            [sys.executable, "-c", FRESH_LOAD, str(data_dir), mode],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.split()
        assert int(out[1]) == TASKS
        times.append(float(out[0]))
    return min(times), statistics.median(times)


def python_startup_ms() -> float:
    """Wall time of a bare ``python -c pass``, to read the CLI figure against."""
    start = time.perf_counter()
    subprocess.run([sys.executable, "-c", "pass"], check=True)
    return (time.perf_counter() - start) * 1000


def main() -> None:
    tasks = realistic_tasks(TASKS)
    rows: list[tuple[str, float, float, str, float]] = []

    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        data_dir = root / "data"
        store = WatchlistStore(data_dir, clock=FakeClock())
        store.mutate(lambda fresh: fresh.tasks.update(Watchlist(tasks).tasks))
        raw = store.path.read_bytes()
        size_mb = len(raw) / 1e6
        document = {"version": 1, "tasks": [encode_task(task) for task in tasks]}
        plain = root / "plain.json"

        # The baselines run with the garbage collector paused, as the store does: with a
        # large heap alive, a collection in the middle would dwarf the parsing itself.
        def plain_load() -> object:
            gc.disable()
            try:
                return json.loads(plain.read_bytes())
            finally:
                gc.enable()

        def plain_save() -> None:
            gc.disable()
            try:
                plain.write_text(json.dumps(document))
            finally:
                gc.enable()

        plain_save()
        loads_best, _ = measure(plain_load)
        dumps_best, _ = measure(plain_save)

        # a new process's first load, as `siray-tui list` does it
        best, median = fresh_process_load_ms(data_dir, "store")
        fresh_best, _ = fresh_process_load_ms(data_dir, "plain")
        rows.append(("load(), new process", best, median, "json.loads, new process", fresh_best))
        # a new store in this process (whose heap is large: 10k tasks and more alive)
        best, median = measure(lambda: WatchlistStore(data_dir).load())
        rows.append(("load(), new store", best, median, "json.loads of the file", loads_best))
        # the same store again: the file is unchanged, so only copies are made
        best, median = measure(store.load)
        rows.append(("load(), unchanged since", best, median, "json.loads of the file", loads_best))

        # a full save: every task encoded, written, fsynced, renamed
        def full_save() -> None:
            store._write([ENCODER.encode(encode_task(task)) for task in tasks])

        best, median = measure(full_save)
        rows.append(("save, all 10k encoded", best, median, "json.dumps + write", dumps_best))

        # what add/remove/update cost on a 10,000-task file
        counter = iter(range(1_000_000))

        def touch(fresh: Watchlist) -> None:
            first = next(iter(fresh.tasks.values()))
            first.last_polled_at = 1_800_000_000.0 + next(counter)

        store.mutate(touch)
        best, median = measure(lambda: store.mutate(touch))
        both = loads_best + dumps_best
        rows.append(("mutate 1 task, warm", best, median, "loads + dumps + write", both))
        best, median = measure(lambda: WatchlistStore(data_dir).mutate(touch))
        rows.append(("mutate 1 task, cold", best, median, "loads + dumps + write", both))
        in_memory = store.load()
        observed = list(in_memory.tasks.values())[:100]
        for task in observed:
            task.last_polled_at = (task.last_polled_at or 0.0) + 4.0
        best, median = measure(lambda: store.update(observed))
        rows.append(("update(100 observations)", best, median, "loads + dumps + write", both))

        # the models' own path, for reference
        entries = [task.to_json() for task in tasks]
        best, median = measure(lambda: [WatchedTask.from_json(entry) for entry in entries], 3)
        rows.append(("models from_json x10k", best, median, "json.loads of the file", loads_best))
        best, median = measure(lambda: json.dumps([t.to_json() for t in tasks]), 3)
        rows.append(("models to_json+dumps x10k", best, median, "json.dumps + write", dumps_best))

        # adding 10,000 IDs
        ids = [f"image_{n:016x}" for n in range(TASKS)]
        how = "WatchlistStore.add"
        add_ms: float
        try:
            add_ms = cli_add_stdin(root / "cli", ids)
            added = len(WatchlistStore(root / "cli").load())
            if added != TASKS:
                raise RuntimeError(f"CLI added {added} of {TASKS}")
            how = "`siray-tui add -`, a subprocess"
        except (subprocess.CalledProcessError, RuntimeError) as exc:
            print(
                f"note: `siray-tui add -` not usable yet ({type(exc).__name__}); "
                "measuring WatchlistStore.add instead",
                file=sys.stderr,
            )
            add_store = WatchlistStore(root / "add", clock=FakeClock())
            start = time.perf_counter()
            add_store.add(ids)
            add_ms = (time.perf_counter() - start) * 1000
        store_add = WatchlistStore(root / "add2", clock=FakeClock())
        start = time.perf_counter()
        store_add.add(ids)
        store_add_ms = (time.perf_counter() - start) * 1000
        startup = python_startup_ms()

    print(f"watchlist.json with {TASKS:,} tasks: {size_mb:.1f} MB; best and median of {RUNS} runs")
    head = f"{'operation':<27} {'best ms':>8} {'median':>7}   {'baseline, same run':<23}"
    print(f"{head} {'ms':>6} {'ratio':>6}")
    for name, best, median, base_name, base in rows:
        print(
            f"{name:<27} {best:8.1f} {median:7.1f}   {base_name:<23} {base:6.1f} {best / base:6.2f}"
        )
    print(f"{'add 10,000 IDs':<27} {add_ms:8.1f} {'':>7}   via {how}")
    note = f"of which WatchlistStore.add; python -c pass: {startup:.0f} ms"
    print(f"{'':<27} {store_add_ms:8.1f} {'':>7}   {note}")
    load_best, save_best = rows[0][1], rows[3][1]
    verdict = "met" if max(load_best, save_best) < TARGET_MS else "NOT met"
    print(f"target, new-process load and full save under {TARGET_MS:.0f} ms (best): {verdict}")
    python = sys.version.split()[0]
    print(f"machine: {os.cpu_count()} CPUs, Python {python}, load {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
