"""The watchlist store across real processes: SIGKILL mid-save, and concurrent writers.

A helper process (``_store_writer.py``) adds one ID per save and prints ``ACK <n>`` once
each save has returned. Killing it at random instants, repeatedly, must never leave a
file that fails to parse or that lacks an acknowledged ID; two writers adding at once
must never lose each other's IDs.
"""

from __future__ import annotations

import itertools
import json
import os
import queue
import random
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

from siray_tui.core.models import StatusChange, TaskKind, TaskState, WatchedTask
from siray_tui.core.store import WatchlistStore
from siray_tui.core.watchlist import Watchlist

ROOT = Path(__file__).resolve().parents[2]
WRITER = Path(__file__).with_name("_store_writer.py")
LINE_TIMEOUT = 30.0


class Writer:
    """A running ``_store_writer.py``, its output lines collected by a thread."""

    def __init__(self, data_dir: Path, prefix: str, start: int, count: int) -> None:
        env = {**os.environ, "PYTHONPATH": str(ROOT)}
        self.process = subprocess.Popen(
            [sys.executable, str(WRITER), str(data_dir), prefix, str(start), str(count)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            cwd=ROOT,
            env=env,
        )
        self.lines: queue.Queue[str | None] = queue.Queue()
        self.acked: list[int] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.lines.put(line.strip())
        self.lines.put(None)

    def next_line(self) -> str:
        line = self.lines.get(timeout=LINE_TIMEOUT)
        if line is None:
            raise AssertionError(f"writer exited early with {self.process.wait()}")
        if line.startswith("ACK "):
            self.acked.append(int(line.split()[1]))
        return line

    def wait_for(self, wanted: str) -> None:
        while self.next_line() != wanted:
            pass

    def go(self) -> None:
        assert self.process.stdin is not None
        self.process.stdin.write("go\n")
        self.process.stdin.flush()

    def kill_and_drain(self) -> None:
        """SIGKILL, then collect the ACKs printed before death that were not read yet."""
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(timeout=LINE_TIMEOUT)
        self._reader.join(LINE_TIMEOUT)
        while (line := self.lines.get_nowait()) is not None:
            if line.startswith("ACK "):
                self.acked.append(int(line.split()[1]))

    def close(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait()
        for stream in (self.process.stdin, self.process.stdout):
            if stream is not None:
                stream.close()


def seed(data_dir: Path, count: int) -> list[str]:
    """Give the file some body (tasks with states and histories) so saves take a while."""
    tasks = []
    for n in range(count):
        task_id = f"image_seed{n:05d}"
        data = {
            "task_id": task_id,
            "status": "SUCCESS",
            "progress": "100%",
            "outputs": [f"https://api.siray.ai/redirect/{task_id}-{i}.png" for i in range(3)],
            "submit_time": 1_763_274_672 + n,
            "start_time": 1_763_274_700 + n,
            "finish_time": 1_763_274_800 + n,
            "fail_reason": "",
        }
        tasks.append(
            WatchedTask(
                task_id=task_id,
                kind=TaskKind.IMAGE,
                added_at=1_763_274_670.0 + n,
                state=TaskState.from_payload({"data": data}, task_id=task_id),
                last_polled_at=1_763_274_801.5 + n,
                history=[StatusChange(s, 1_763_274_672.0 + i) for i, s in enumerate("ABCD")],
            )
        )
    WatchlistStore(data_dir).mutate(lambda watchlist: watchlist.tasks.update(Watchlist(tasks)))
    return [task.task_id for task in tasks]


def ids_on_disk(data_dir: Path) -> list[str]:
    document = json.loads((data_dir / "watchlist.json").read_bytes())
    assert document["version"] == 1
    return [entry["task_id"] for entry in document["tasks"]]


def test_sigkill_at_random_points_never_loses_an_acknowledged_save(tmp_path: Path) -> None:
    rng = random.Random(1_763_274_672)
    data_dir = tmp_path / "data"
    seeded = seed(data_dir, 400)
    acknowledged: list[str] = []
    next_n = 0
    rounds = 0
    while len(acknowledged) < 300 or rounds < 5:
        writer = Writer(data_dir, "k", next_n, 1_000_000)
        try:
            writer.wait_for("READY")
            writer.go()
            for _ in range(rng.randint(15, 80)):
                writer.next_line()
            time.sleep(rng.uniform(0, 0.012))  # land anywhere inside the next save
            writer.kill_and_drain()
        finally:
            writer.close()
        rounds += 1
        assert writer.acked, "the writer acknowledged nothing before the kill"
        acknowledged += [f"k{n:06d}" for n in writer.acked]

        on_disk = ids_on_disk(data_dir)  # parses: never half a file
        missing = set(acknowledged) - set(on_disk)
        assert not missing, f"round {rounds}: acknowledged but lost: {sorted(missing)[:5]}"
        # at most the one save in flight at the kill landed without its ACK
        last = writer.acked[-1]
        assert set(on_disk) - set(acknowledged) <= set(seeded) | {f"k{last + 1:06d}"}
        assert on_disk[: len(seeded)] == seeded
        assert on_disk[len(seeded) :] == sorted(on_disk[len(seeded) :])
        next_n = last + 1

    store = WatchlistStore(data_dir)
    assert list(store.load()) == ids_on_disk(data_dir)
    assert store.warnings == []  # nothing was ever corrupt
    assert sorted(p.name for p in data_dir.iterdir()) == ["watchlist.json", "watchlist.lock"]
    assert len(acknowledged) >= 300


def test_two_processes_adding_at_once_lose_nothing(tmp_path: Path) -> None:
    per_writer = 500
    data_dir = tmp_path / "data"
    writers = [Writer(data_dir, prefix, 0, per_writer) for prefix in ("a", "b")]
    try:
        for writer in writers:
            writer.wait_for("READY")
        for writer in writers:
            writer.go()
        for writer in writers:
            writer.wait_for("DONE")
            assert writer.process.wait(timeout=LINE_TIMEOUT) == 0
    finally:
        for writer in writers:
            writer.close()
    on_disk = ids_on_disk(data_dir)
    expected = {f"{prefix}{n:06d}" for prefix in "ab" for n in range(per_writer)}
    assert len(on_disk) == len(expected)
    assert set(on_disk) == expected
    for prefix in "ab":  # each writer's adds kept their order
        mine = [task_id for task_id in on_disk if task_id.startswith(prefix)]
        assert mine == sorted(mine)
    # and they really ran at the same time, contending for the lock
    switches = sum(1 for x, y in itertools.pairwise(on_disk) if x[0] != y[0])
    assert switches >= 10
