"""``--demo`` with a command that changes the watchlist says the watchlist is a throw-away one."""

from __future__ import annotations

import io
import tempfile
from pathlib import Path

import pytest

from siray_tui.cli import main


@pytest.mark.parametrize(
    ("argv", "noted"),
    [
        (["add", "image_abc"], True),
        (["remove", "image_0000deadbeef404"], True),
        (["download", "image_0000deadbeef404"], True),
        (["list"], False),
    ],
)
def test_demo_says_its_watchlist_is_a_throw_away_one(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    argv: list[str],
    noted: bool,
) -> None:
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    main(["--demo", *argv], stdin=io.StringIO())
    err = capsys.readouterr().err
    assert ("throw-away watchlist" in err) is noted
    assert list(tmp_path.iterdir()) == []  # and it is gone
