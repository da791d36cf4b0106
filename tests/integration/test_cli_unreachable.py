"""A server that does not answer is named in the error: which URL, and why, in one line."""

from __future__ import annotations

import io
import socket
from pathlib import Path

import pytest

from siray_tui.cli import main


@pytest.fixture
def closed_port() -> int:
    """A loopback port with nobody listening: connecting to it is refused at once."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.mark.parametrize("command", [["status", "image_x"], ["download", "image_x"]])
def test_unreachable_server_error_names_the_base_url(
    tmp_path: Path,
    closed_port: int,
    command: list[str],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("SIRAY_API_TOKEN", "sk-unreachable")
    base_url = f"http://127.0.0.1:{closed_port}"
    argv = ["--data-dir", str(tmp_path), "--base-url", base_url, *command]
    code = main([*argv, "--download-dir", str(tmp_path / "out")], stdin=io.StringIO())
    err = capsys.readouterr().err
    assert code in (1, 2)
    lines = err.splitlines()
    assert len(lines) == 1, err
    assert f"cannot reach {base_url}: connection refused" in lines[0]
    assert "Traceback" not in err
