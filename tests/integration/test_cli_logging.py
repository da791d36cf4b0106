"""``--log-level debug`` writes what a polling command did to the log file, never the token."""

from __future__ import annotations

import io
from collections.abc import Iterator
from pathlib import Path

import pytest

from siray_tui.cli import main
from siray_tui.config import Settings, default_log_dir, setup_logging
from siray_tui.sim import Faults
from tests.conftest import SimFactory

TOKEN = "sk-log-test-93be1c"


@pytest.fixture(autouse=True)
def _restore_logging() -> Iterator[None]:
    yield
    setup_logging(Settings())  # back to warning, and the file handler closed


def test_debug_run_of_status_logs_each_request_and_never_the_token(
    sim_factory: SimFactory, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    sim = sim_factory(token=TOKEN, faults=Faults(fail_first=1, fail_first_with=502))
    task = sim.scenario.add_task("image", queue_s=0, run_s=0, created_at=1.0)
    monkeypatch.setenv("SIRAY_API_TOKEN", TOKEN)
    monkeypatch.setenv("SIRAY_TUI_CONFIG", "")
    argv = ["--log-level", "debug", "--base-url", sim.base_url, "--data-dir", str(tmp_path)]
    assert main([*argv, "status", task.task_id], stdin=io.StringIO("")) == 0

    log = (default_log_dir() / "siray-tui.log").read_text(encoding="utf-8")
    path = f"/v1/images/generations/async/{task.task_id}"
    requests = [
        line for line in log.splitlines() if f"DEBUG siray_tui.core.client: GET {path}" in line
    ]
    assert [line.split(": HTTP ")[1].split(" in ")[0] for line in requests] == ["502", "200"]
    assert f"{task.task_id}: attempt 1 failed (HTTP 502" in log
    assert TOKEN not in log
