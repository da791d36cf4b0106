"""Every error a user can cause on the command line is one line, never a traceback."""

from __future__ import annotations

import io
from pathlib import Path

import pytest

from siray_tui.cli import main


def test_a_log_folder_that_cannot_be_made_is_a_warning(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    blocker = tmp_path / "state"
    blocker.write_text("a file where the log folder should go")
    monkeypatch.setenv("XDG_STATE_HOME", str(blocker))
    monkeypatch.setenv("SIRAY_TUI_CONFIG", "")
    argv = ["--data-dir", str(tmp_path / "data"), "--log-level", "debug", "add", "image_x"]
    code = main(argv, stdin=io.StringIO())
    captured = capsys.readouterr()
    assert code == 0
    assert "Added 1 task." in captured.out
    assert captured.err.startswith("siray-tui: warning: no log file (")
    assert len(captured.err.splitlines()) == 1
