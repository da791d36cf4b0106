"""``--demo``: a lively watchlist in its own temporary directory, cleaned up even after a kill."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

from siray_tui.config import Settings
from siray_tui.core.models import TaskKind, TaskStatus
from siray_tui.core.store import WatchlistStore
from siray_tui.demo import ALIVE_NAME, DIR_PREFIX, NOT_FOUND_ID, start_demo


@pytest.fixture
def temp_root(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Where ``tempfile`` puts the demo directories, for this process and its children."""
    root = tmp_path / "tmp"
    root.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(root))
    monkeypatch.setenv("TMPDIR", str(root))
    return root


def user_settings(tmp_path: Path) -> Settings:
    return Settings(base_url="https://api.siray.ai", token=None, data_dir=tmp_path / "real")


def test_demo_seeds_every_state_adds_arrivals_and_removes_its_directory(
    tmp_path: Path, temp_root: Path
) -> None:
    demo = start_demo(user_settings(tmp_path), tasks=40, arrival_every=0.05)
    try:
        data_dir = demo.settings.data_dir
        assert data_dir.parent == temp_root and data_dir.name.startswith(DIR_PREFIX)
        assert demo.settings.base_url.startswith("http://127.0.0.1:")
        store = WatchlistStore(data_dir)
        seeded = store.load()
        assert len(seeded) >= 40 and NOT_FOUND_ID in seeded
        statuses = {task.status for task in seeded.values()}
        assert {TaskStatus.SUCCESS, TaskStatus.FAILURE, TaskStatus.IN_PROGRESS} <= statuses
        assert {task.kind for task in seeded.values()} >= set(TaskKind.concrete())
        assert demo.settings.poll_policy().interval_for(TaskKind.MODEL_3D) == 4.0
        deadline = time.monotonic() + 10
        while len(store.load()) == len(seeded):  # new tasks arrive as from a script
            assert time.monotonic() < deadline, "no task arrived"
            time.sleep(0.05)
    finally:
        demo.stop()
    assert not data_dir.exists()
    assert not (tmp_path / "real").exists()  # the user's watchlist is never touched


def test_demo_through_the_cli_needs_no_token(tmp_path: Path, temp_root: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "siray_tui", "--demo", "list", "--json"],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "SIRAY_API_TOKEN": ""},
    )
    assert result.returncode == 0, result.stderr
    records = [json.loads(line) for line in result.stdout.splitlines()]
    assert len(records) >= 40
    assert list(temp_root.iterdir()) == []  # removed on the way out


def test_next_demo_removes_a_killed_demos_directory_and_nothing_else(
    tmp_path: Path, temp_root: Path
) -> None:
    code = (
        "import sys, time\n"
        "from pathlib import Path\n"
        "from siray_tui.config import Settings\n"
        "from siray_tui.demo import start_demo\n"
        "settings = Settings(token=None, data_dir=Path(sys.argv[1]))\n"
        "demo = start_demo(settings, arrival_every=None)\n"
        "print(demo.settings.data_dir, flush=True)\n"
        "time.sleep(120)\n"
    )
    victim = subprocess.Popen(
        [sys.executable, "-c", code, str(tmp_path / "real")], stdout=subprocess.PIPE, text=True
    )
    try:
        assert victim.stdout is not None
        killed_dir = Path(victim.stdout.readline().strip())
    finally:
        victim.send_signal(signal.SIGKILL)
        victim.wait(timeout=10)
    assert (killed_dir / ALIVE_NAME).exists()
    unrelated = temp_root / f"{DIR_PREFIX}not-a-demo"  # no alive file: left alone
    unrelated.mkdir()

    running = start_demo(user_settings(tmp_path), tasks=8, arrival_every=None)
    try:
        assert not killed_dir.exists()
        assert unrelated.exists()
        following = start_demo(user_settings(tmp_path), tasks=8, arrival_every=None)
        following.stop()
        assert running.settings.data_dir.exists()  # a running demo's directory stays
    finally:
        running.stop()
    assert sorted(p.name for p in temp_root.iterdir()) == [unrelated.name]
