"""A broken or hostile server (and files it poisoned) against the real CLI over loopback.

Each test sets a :class:`~siray_tui.sim.HostileAnswer` on the simulator, or plants a file,
and checks the outcome a user would see. Commands that print run in a subprocess with a
strict UTF-8 stdout, as on a normal desktop, so an unencodable character shows up as the
crash it would be.
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import subprocess
import sys
from pathlib import Path

import pytest

from siray_tui.core.client import SirayClient
from siray_tui.core.errors import RequestTimeoutError
from siray_tui.core.models import TaskKind
from siray_tui.core.poller import Poller, PollerEvent, PollFailed, PollPolicy, TaskUpdated
from siray_tui.core.secret import Secret
from siray_tui.core.store import WatchlistStore
from siray_tui.sim import HostileAnswer, SimServer

TOKEN = "sk-test-token-77e1d0"
LONE_SURROGATE = "lone \ud800 surrogate"


def cli(
    argv: list[str | bytes], home: Path, sim: SimServer | None = None, **env_extra: str
) -> subprocess.CompletedProcess[str]:
    """Run ``siray-tui`` as a user would, with stdout/stderr strictly UTF-8."""
    env = {
        key: value for key, value in os.environ.items() if not key.startswith(("SIRAY_", "XDG_"))
    }
    env.update(
        PYTHONIOENCODING="utf-8:strict",
        XDG_CONFIG_HOME=str(home / "config"),
        XDG_DATA_HOME=str(home / "data"),
        XDG_STATE_HOME=str(home / "state"),
        XDG_CACHE_HOME=str(home / "cache"),
        SIRAY_TUI_DATA_DIR=str(home / "watch"),
        SIRAY_API_TOKEN=TOKEN,
    )
    if sim is not None:
        env["SIRAY_BASE_URL"] = sim.base_url
    env.update(env_extra)
    return subprocess.run(
        [sys.executable, "-m", "siray_tui", *argv],
        env=env,
        capture_output=True,
        encoding="utf-8",
        errors="backslashreplace",
        timeout=60,
    )


def _assert_clean_exit(proc: subprocess.CompletedProcess[str]) -> None:
    assert "Traceback" not in proc.stderr, proc.stderr
    assert "UnicodeEncodeError" not in proc.stderr + proc.stdout


def test_lone_surrogate_answer_is_replaced_and_every_command_still_prints(
    sim: SimServer, tmp_path: Path
) -> None:
    task = sim.scenario.add_task("image", outcome="failure", queue_s=0, run_s=0, created_at=1.0)
    sim.faults.hostile_tasks[task.task_id] = HostileAnswer(
        fail_reason=LONE_SURROGATE, message=LONE_SURROGATE
    )
    # status exits 1 for a FAILURE task; list always 0; a crash would be 1 with a traceback
    for argv, code in (
        (["status", task.task_id], 1),
        (["list"], 0),
        (["status", task.task_id, "--json"], 1),
    ):
        proc = cli(list(argv), tmp_path, sim)
        _assert_clean_exit(proc)
        assert proc.returncode == code, (argv, proc.stderr)
    assert "lone \ufffd surrogate" in proc.stdout
    stored = (tmp_path / "watch" / "watchlist.json").read_text("ascii")
    assert "\\ud800" not in stored.lower()


def test_label_with_invalid_bytes_is_cleaned_when_added(tmp_path: Path) -> None:
    proc = cli([b"add", b"image_aaa", b"--label", b"bad \xff byte"], tmp_path)
    _assert_clean_exit(proc)
    assert proc.returncode == 0, proc.stderr
    proc = cli(["list", "--json"], tmp_path)
    _assert_clean_exit(proc)
    assert proc.returncode == 0
    assert json.loads(proc.stdout)["label"] == "bad \ufffd byte"


def test_watchlist_already_holding_surrogates_loads_and_prints(tmp_path: Path) -> None:
    """A file written by an older version, before text was cleaned at the boundary."""
    entry = {
        "task_id": "image_old",
        "kind": "image",
        "label": "label \udcff",
        "added_at": 1.0,
        "last_polled_at": 2.0,
        "last_error": "error \ud800",
        "not_found": False,
        "state": {
            "data": {"status": "FAILURE", "fail_reason": LONE_SURROGATE, "outputs": []},
            "message": "message \udfff",
        },
        "history": [["FAILURE", 2.0]],
    }
    (tmp_path / "watch").mkdir()
    document = {"version": 1, "tasks": [entry]}
    (tmp_path / "watch" / "watchlist.json").write_text(json.dumps(document), "ascii")
    for argv in (["list"], ["list", "--json"]):
        proc = cli(list(argv), tmp_path)
        _assert_clean_exit(proc)
        assert proc.returncode == 0, proc.stderr
    record = json.loads(proc.stdout)
    assert record["fail_reason"] == "lone \ufffd surrogate"
    assert record["label"] == "label \ufffd"
    assert record["error"] == "error \ufffd"


@pytest.mark.parametrize("char", ["\u061c", "\u200b", "\u202e", "\u2066", "\ufeff", "\u00ad"])
def test_format_characters_in_an_answer_never_reach_the_output(
    sim: SimServer, tmp_path: Path, char: str
) -> None:
    task = sim.scenario.add_task("image", outcome="failure", queue_s=0, run_s=0, created_at=1.0)
    sim.faults.hostile_tasks[task.task_id] = HostileAnswer(fail_reason=f"a{char}b")
    proc = cli(["status", task.task_id, "--json"], tmp_path, sim)
    _assert_clean_exit(proc)
    assert json.loads(proc.stdout)["fail_reason"] == "ab"


@pytest.mark.parametrize("bad", ["\r", "\n", "\rX"])
def test_token_with_a_line_break_is_refused_unechoed_before_any_request(
    sim: SimServer, tmp_path: Path, bad: str
) -> None:
    task = sim.scenario.add_task("image", queue_s=0, run_s=0, created_at=1.0)
    secret = "sk-secret-3b7f21"
    proc = cli(["status", task.task_id], tmp_path, sim, SIRAY_API_TOKEN=f"{secret}{bad}tail")
    _assert_clean_exit(proc)
    assert proc.returncode == 2
    assert "control character" in proc.stderr
    assert secret not in proc.stdout + proc.stderr
    assert sim.api_request_count == 0
    for path in tmp_path.rglob("*"):
        if path.is_file():
            assert secret not in path.read_text("utf-8", "replace")


def test_token_with_a_nul_in_config_toml_is_refused_unechoed(tmp_path: Path) -> None:
    config = tmp_path / "config.toml"
    config.write_text('token = "sk-secret-9d0c\\u0000x"\n', "utf-8")
    proc = cli(["list"], tmp_path, SIRAY_API_TOKEN="", SIRAY_TUI_CONFIG=str(config))
    _assert_clean_exit(proc)
    assert proc.returncode == 2
    assert "control character" in proc.stderr
    assert "sk-secret-9d0c" not in proc.stdout + proc.stderr


def test_unreachable_server_is_named_in_the_error(tmp_path: Path) -> None:
    import socket

    with socket.socket() as probe:  # a free loopback port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    base = f"http://127.0.0.1:{port}"
    proc = cli(["status", "image_aaa"], tmp_path, SIRAY_BASE_URL=base)
    _assert_clean_exit(proc)
    assert proc.returncode == 2
    assert f"cannot reach {base}: connection refused" in proc.stderr


# -- a slow drip: one byte of a promised 1,000,000 every 0.2 s ------------------------

DRIP = HostileAnswer(drip=0.2)
# Far longer than the deadlines below; it only turns a hang on old code into a failure.
HANG_GUARD = 30.0


async def test_dripping_answer_fails_as_a_timeout_at_the_deadline(sim: SimServer) -> None:
    task = sim.scenario.add_task("image", queue_s=0, run_s=0, created_at=1.0)
    sim.faults.hostile_tasks[task.task_id] = DRIP
    async with SirayClient(sim.base_url, Secret(TOKEN), deadline=0.5) as client:
        with pytest.raises(RequestTimeoutError) as caught:
            await asyncio.wait_for(client.get_task(task.task_id, TaskKind.IMAGE), HANG_GUARD)
    assert "within 0.5 s" in str(caught.value)


def test_status_gives_up_on_a_drip_at_the_configured_deadline(
    sim: SimServer, tmp_path: Path
) -> None:
    task = sim.scenario.add_task("image", queue_s=0, run_s=0, created_at=1.0)
    sim.faults.hostile_tasks[task.task_id] = DRIP
    proc = cli(["--request-deadline", "0.5", "status", task.task_id], tmp_path, sim)
    _assert_clean_exit(proc)
    assert proc.returncode == 2
    assert "timed out" in proc.stderr


async def test_eight_dripping_tasks_do_not_starve_a_healthy_ninth(
    sim: SimServer, tmp_path: Path
) -> None:
    drips = [
        sim.scenario.add_task("image", f"image_drip{i}", queue_s=0, run_s=0, created_at=1.0)
        for i in range(8)
    ]
    for task in drips:
        sim.faults.hostile_tasks[task.task_id] = DRIP
    healthy = sim.scenario.add_task("image", "image_healthy", queue_s=0, run_s=0, created_at=1.0)
    store = WatchlistStore(tmp_path)
    store.add([task.task_id for task in drips], kind=TaskKind.IMAGE)  # drips first in line
    store.add([healthy.task_id], kind=TaskKind.IMAGE)
    drip_ids = {task.task_id for task in drips}
    answered = asyncio.Event()
    all_failed = asyncio.Event()
    failures: set[str] = set()

    def on_event(event: PollerEvent) -> None:
        if isinstance(event, TaskUpdated) and event.task.task_id == healthy.task_id:
            answered.set()
        if isinstance(event, PollFailed):
            failures.add(event.task.task_id)
            if failures >= drip_ids:
                all_failed.set()

    async def both() -> None:
        # The healthy answer can come before the last drips reach their deadline (they
        # start a little apart), so stopping at the answer would cut those drips short.
        await answered.wait()
        await all_failed.wait()

    policy = PollPolicy(interval=1.0, concurrency=8, rate=100.0, backoff_base=5.0)
    async with SirayClient(sim.base_url, Secret(TOKEN), deadline=0.5) as client:
        poller = Poller(client, policy=policy, store=store, rng=random.Random(1), on_event=on_event)
        poller.add(store.load().tasks.values())
        runner = asyncio.create_task(poller.run())
        try:
            await asyncio.wait_for(both(), HANG_GUARD)
        finally:
            poller.stop()
            await asyncio.wait_for(runner, 10)
    assert sim.requests_for(healthy.task_id) >= 1
    assert failures >= drip_ids  # every drip failed and backed off
    assert all("timed out" in (poller.tasks[t.task_id].last_error or "") for t in drips)


# -- unbounded answers ------------------------------------------------------------------


def test_answer_beyond_the_byte_cap_is_a_bad_answer_and_is_not_kept(
    sim: SimServer, tmp_path: Path
) -> None:
    task = sim.scenario.add_task("image", queue_s=0, run_s=0, created_at=1.0)
    sim.faults.hostile_tasks[task.task_id] = HostileAnswer(padding=3_000_000)
    proc = cli(["status", task.task_id], tmp_path, sim)
    _assert_clean_exit(proc)
    assert proc.returncode == 2
    assert "answer larger than 1,048,576 bytes" in proc.stderr
    assert (tmp_path / "watch" / "watchlist.json").stat().st_size < 4096


def test_big_fail_reason_and_many_outputs_are_capped_with_markers(
    sim: SimServer, tmp_path: Path
) -> None:
    task = sim.scenario.add_task("image", queue_s=0, run_s=0, created_at=1.0)
    sim.faults.hostile_tasks[task.task_id] = HostileAnswer(
        fail_reason="r" * 500_000, extra_outputs=5000, padding=200_000
    )
    proc = cli(["status", task.task_id, "--json"], tmp_path, sim)
    _assert_clean_exit(proc)
    record = json.loads(proc.stdout)
    assert len(record["fail_reason"]) == 10_000
    assert record["fail_reason"].endswith(" more characters)")
    assert len(record["outputs"]) == 1000
    watchlist = tmp_path / "watch" / "watchlist.json"
    assert watchlist.stat().st_size < 128 * 1024  # was 0.9 MB: the whole answer
    state = WatchlistStore(tmp_path / "watch").load()[task.task_id].state
    assert state is not None
    assert state.output_count == 5000 + len(task.output_tokens)
    assert "padding" not in state.raw
