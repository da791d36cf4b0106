"""A reader that goes away (``siray-tui list --json | head -1``) ends a command quietly.

Each test runs the real entry point in a subprocess whose stdout is a real pipe, reads
one line and closes the read end, as ``head -1`` does. The pipe is shrunk to one page so
that a few dozen JSON lines are more than it holds: the command is still writing when
the reader leaves, whatever the machine's default pipe size.
"""

from __future__ import annotations

import fcntl
import os
import subprocess
import sys
from pathlib import Path

import pytest

from siray_tui.cli.pipes import EXIT_READER_GONE
from siray_tui.sim import SimServer

pytestmark = pytest.mark.skipif(
    not hasattr(fcntl, "F_SETPIPE_SZ"), reason="needs Linux to shrink a pipe"
)

TASKS = 60  # about 25 KB of JSON lines, six times the shrunk pipe


def run_with_early_close(
    argv: list[str], env: dict[str, str], *, merge_stderr: bool = False
) -> tuple[bytes, int, str]:
    """Run ``python -m siray_tui ARGV``, read one line of its stdout, close the pipe.

    Returns the line, the exit status and the whole of stderr ("" when ``merge_stderr``
    sends it into the same pipe, as ``2>&1 | head -1`` does).
    """
    read_fd, write_fd = os.pipe()
    fcntl.fcntl(write_fd, fcntl.F_SETPIPE_SZ, 4096)
    with open(read_fd, "rb", buffering=0) as reader:
        proc = subprocess.Popen(
            [sys.executable, "-m", "siray_tui", *argv],
            stdout=write_fd,
            stderr=subprocess.STDOUT if merge_stderr else subprocess.PIPE,
            env=env,
        )
        os.close(write_fd)
        line = b""
        while not line.endswith(b"\n"):  # byte by byte: take exactly one line, as head -1
            byte = reader.read(1)
            if not byte:
                break
            line += byte
    try:
        _, err = proc.communicate(timeout=60)
    finally:
        proc.kill()
    return line, proc.returncode, (err or b"").decode()


@pytest.fixture
def env(tmp_path: Path, sim: SimServer) -> dict[str, str]:
    environ = {
        **os.environ,
        "SIRAY_TUI_DATA_DIR": str(tmp_path / "data"),
        "SIRAY_BASE_URL": sim.base_url,
        "SIRAY_API_TOKEN": "sk-pipe-test",
    }
    environ.pop("SIRAY_TUI_CONFIG", None)
    return environ


def finished_ids(sim: SimServer, count: int) -> list[str]:
    return [
        sim.scenario.add_task("image", queue_s=0, run_s=0, created_at=1.0).task_id
        for _ in range(count)
    ]


def assert_quiet_exit(line: bytes, code: int, err: str) -> None:
    assert line.startswith(b'{"task_id"')  # the reader got its line
    assert "Traceback" not in err
    assert "BrokenPipe" not in err
    assert "Exception" not in err
    assert code == EXIT_READER_GONE


def test_list_json_into_a_closed_pipe_exits_quietly(env: dict[str, str], sim: SimServer) -> None:
    ids = finished_ids(sim, TASKS)
    subprocess.run(
        [sys.executable, "-m", "siray_tui", "add", *ids], env=env, check=True, capture_output=True
    )
    line, code, err = run_with_early_close(["list", "--json"], env)
    assert_quiet_exit(line, code, err)
    assert err == ""


def test_list_table_into_a_closed_pipe_exits_quietly(env: dict[str, str], sim: SimServer) -> None:
    ids = finished_ids(sim, TASKS * 3)  # table lines are shorter than JSON lines
    subprocess.run(
        [sys.executable, "-m", "siray_tui", "add", *ids], env=env, check=True, capture_output=True
    )
    line, code, err = run_with_early_close(["list"], env)
    assert line.startswith(b"TASK")
    assert err == ""
    assert code == EXIT_READER_GONE


def test_status_json_into_a_closed_pipe_exits_quietly(env: dict[str, str], sim: SimServer) -> None:
    ids = finished_ids(sim, TASKS)
    line, code, err = run_with_early_close(["--rate", "500", "status", *ids, "--json"], env)
    assert_quiet_exit(line, code, err)
    assert err == ""


def test_wait_json_stops_at_the_next_line_after_the_reader_left(
    env: dict[str, str], sim: SimServer
) -> None:
    """The first task is already final; the next ends a second later; one never ends.

    Without care the broken pipe is raised inside the poller's event callback, which
    logs it (a traceback on stderr) and goes on polling until the timeout.
    """
    first = finished_ids(sim, 1)
    soon = sim.scenario.add_task("image", queue_s=0, run_s=1.0).task_id
    never = sim.scenario.add_task("image", queue_s=0, run_s=3600).task_id
    argv = ["--interval", "1", "wait", *first, soon, never, "--timeout", "30", "--json"]
    assert_quiet_exit(*run_with_early_close(argv, env))


def test_wait_with_stderr_in_the_same_pipe_stops_at_its_next_progress_line(
    env: dict[str, str], sim: SimServer
) -> None:
    """``wait --json 2>&1 | head -1``: the progress line, written by a task of its own, is
    the next write after the reader left (no other task ends)."""
    first = finished_ids(sim, 1)
    never = sim.scenario.add_task("image", queue_s=0, run_s=3600).task_id
    # no --timeout: a wait that misses the closed pipe never ends (communicate times out)
    line, code, _ = run_with_early_close(["wait", *first, never, "--json"], env, merge_stderr=True)
    assert line.startswith(b'{"task_id"')
    assert code == EXIT_READER_GONE
