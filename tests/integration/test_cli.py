"""The headless CLI: exit statuses of README.md, one-line errors, and the token never leaking."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from siray_tui.cli import build_parser, main
from siray_tui.sim import SimServer

TOKEN = "sk-test-token-4f9a2c"  # must never appear in any output or file


def run(
    argv: list[str], data_dir: Path, stdin: str = "", *, capsys: pytest.CaptureFixture[str]
) -> tuple[int, str, str]:
    code = main(["--data-dir", str(data_dir), *argv], stdin=io.StringIO(stdin))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


@pytest.fixture(autouse=True)
def isolated_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("SIRAY_API_TOKEN", "SIRAY_API_KEY", "SIRAY_BASE_URL", "SIRAY_TUI_DATA_DIR"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("SIRAY_TUI_CONFIG", "")
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config-home"))


@pytest.fixture
def sim_args(sim: SimServer, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Global options that point the CLI at the simulator, with the test token set."""
    monkeypatch.setenv("SIRAY_API_TOKEN", TOKEN)
    return ["--base-url", sim.base_url]


def test_add_list_remove_clear(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(
        ["add", "image_aaa", "video_bbb,plain-ccc", "--label", "batch"], tmp_path, capsys=capsys
    )
    assert code == 0
    assert "Added 3 tasks" in out
    code, out, _ = run(["add", "image_aaa"], tmp_path, capsys=capsys)
    assert code == 0
    assert "1 already watched" in out
    code, out, _ = run(["list", "--json"], tmp_path, capsys=capsys)
    records = [json.loads(line) for line in out.splitlines()]
    assert [r["task_id"] for r in records] == ["image_aaa", "video_bbb", "plain-ccc"]
    assert [r["kind"] for r in records] == ["auto", "auto", "auto"]  # until one answers
    assert all(r["label"] == "batch" for r in records)
    assert all(r["status"] == "PENDING" and r["progress"] is None for r in records)
    code, out, _ = run(["list"], tmp_path, capsys=capsys)
    assert out.splitlines()[0].split() == [
        "TASK",
        "KIND",
        "MODEL",
        "STATUS",
        "PROGRESS",
        "QUEUE",
        "RUN",
        "TOTAL",
        "ETA",
        "OUT",
        "UPDATED",
        "REASON",
    ]
    assert len(out.splitlines()) == 4
    code, out, err = run(["remove", "video_bbb", "nope"], tmp_path, capsys=capsys)
    assert code == 2
    assert "Removed 1 task" in out
    assert "'nope'" in err
    code, out, _ = run(["remove", "plain-ccc"], tmp_path, capsys=capsys)
    assert code == 0
    code, out, _ = run(["clear", "--finished"], tmp_path, capsys=capsys)
    assert code == 0
    assert "Removed 0 finished tasks" in out


def test_add_from_stdin_splits_on_commas_and_whitespace(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    stdin = "image_1, image_2\n\timage_3 image_4,,\n\n image_5\n"
    code, out, _ = run(["add", "-", "image_6"], tmp_path, stdin, capsys=capsys)
    assert code == 0
    assert "Added 6 tasks" in out
    saved = json.loads((tmp_path / "watchlist.json").read_text())
    assert [t["task_id"] for t in saved["tasks"]] == [f"image_{i}" for i in range(1, 7)]


def test_invalid_id_among_valid_adds_the_valid_and_exits_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = run(
        ["add", "good_1", "../etc/passwd", "a b", "good_2", "x%2f"], tmp_path, capsys=capsys
    )
    assert code == 2
    assert "Added 4 tasks, 2 invalid" in out
    assert "'../etc/passwd'" in err
    assert "'x%2f'" in err
    saved = json.loads((tmp_path / "watchlist.json").read_text())
    # "a b" is two IDs: white space separates IDs in arguments as on stdin
    assert [t["task_id"] for t in saved["tasks"]] == ["good_1", "a", "b", "good_2"]


def test_no_ids_is_an_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(["add", "-"], tmp_path, "\n  \n", capsys=capsys)
    assert code == 2
    assert "no task IDs given" in err


def test_corrupt_watchlist_is_moved_aside_and_user_told(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "watchlist.json").write_text('{"version": 1, "tasks": [ broken')
    code, _, err = run(["add", "image_new"], tmp_path, capsys=capsys)
    assert code == 0
    assert "warning" in err
    assert "corrupt" in err
    aside = list(tmp_path.glob("watchlist.json.corrupt-*"))
    assert len(aside) == 1
    assert aside[0].read_text() == '{"version": 1, "tasks": [ broken'
    saved = json.loads((tmp_path / "watchlist.json").read_text())
    assert [t["task_id"] for t in saved["tasks"]] == ["image_new"]


def test_newer_watchlist_version_is_refused_untouched(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    original = '{"version": 99, "tasks": []}'
    (tmp_path / "watchlist.json").write_text(original)
    code, _, err = run(["add", "image_x"], tmp_path, capsys=capsys)
    assert code == 2
    assert "newer" in err
    assert len(err.strip().splitlines()) == 1
    assert (tmp_path / "watchlist.json").read_text() == original


@pytest.mark.parametrize(
    ("argv", "fragment"),
    [
        (["--interval", "0", "list"], "interval must be at least 1"),
        (["--base-url", "http://api.example.com", "list"], "refusing plain http"),
        (["--config", "/nonexistent/siray.toml", "list"], "does not exist"),
    ],
)
def test_bad_settings_one_line_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], argv: list[str], fragment: str
) -> None:
    code, _, err = run(argv, tmp_path, capsys=capsys)
    assert code == 2
    assert fragment in err
    assert len(err.strip().splitlines()) == 1
    assert "Traceback" not in err


def test_global_options_also_after_the_command(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(["add", "image_after", "--data-dir", str(tmp_path)], stdin=io.StringIO())
    assert code == 0
    assert (tmp_path / "watchlist.json").exists()


def test_clear_needs_finished(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as caught:
        run(["clear"], tmp_path, capsys=capsys)
    assert caught.value.code == 2


@pytest.mark.parametrize(
    "command",
    [None, "ui", "add", "remove", "clear", "list", "status", "wait", "download", "simulate"],
)
def test_help_for_every_command_has_an_example(
    command: str | None, capsys: pytest.CaptureFixture[str]
) -> None:
    parser = build_parser()
    with pytest.raises(SystemExit) as caught:
        parser.parse_args([command, "--help"] if command else ["--help"])
    assert caught.value.code == 0
    out = capsys.readouterr().out
    assert "example" in out
    assert "siray-tui" in out


def test_status_exit_codes_against_simulator(
    tmp_path: Path, sim: SimServer, sim_args: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    done = sim.scenario.add_task("image", queue_s=0, run_s=0, created_at=1.0)
    failed = sim.scenario.add_task("video", queue_s=0, run_s=0, outcome="failure", created_at=1.0)
    base = sim_args
    code, out, _ = run([*base, "status", done.task_id, "--json"], tmp_path, capsys=capsys)
    assert code == 0
    assert json.loads(out)["status"] == "SUCCESS"
    code, out, _ = run([*base, "status", done.task_id, failed.task_id], tmp_path, capsys=capsys)
    assert code == 1
    assert "FAILURE" in out
    code, _, _ = run([*base, "status", "image_doesnotexist"], tmp_path, capsys=capsys)
    assert code == 2
    code, out, _ = run(["list", "--json"], tmp_path, capsys=capsys)
    statuses = {
        json.loads(line)["task_id"]: json.loads(line)["status"] for line in out.splitlines()
    }
    assert statuses[done.task_id] == "SUCCESS"
    assert statuses[failed.task_id] == "FAILURE"


def test_a_prefix_is_only_a_hint_the_kind_that_answers_is_stored(
    tmp_path: Path, sim: SimServer, sim_args: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    """docs/api.md: the docs' own image task has a ``video_`` ID."""
    quirky = sim.scenario.add_task("image", "video_0123abcd", queue_s=0, run_s=0, created_at=1.0)
    plain = sim.scenario.add_task("video", "video_4567cdef", queue_s=0, run_s=0, created_at=1.0)
    base = sim_args
    assert run(["add", quirky.task_id, plain.task_id], tmp_path, capsys=capsys)[0] == 0
    code, out, _ = run([*base, "status", quirky.task_id, plain.task_id], tmp_path, capsys=capsys)
    assert code == 0, out
    code, out, _ = run(["list", "--json"], tmp_path, capsys=capsys)
    records = {r["task_id"]: r for r in map(json.loads, out.splitlines())}
    assert records[quirky.task_id]["kind"] == "image"
    assert records[quirky.task_id]["status"] == "SUCCESS"
    assert records[plain.task_id]["kind"] == "video"
    assert records[plain.task_id]["status"] == "SUCCESS"


def test_download_exit_codes_against_simulator(
    tmp_path: Path, sim: SimServer, capsys: pytest.CaptureFixture[str]
) -> None:
    done = sim.scenario.add_task("image", queue_s=0, run_s=0, created_at=1.0)
    running = sim.scenario.add_task("image", queue_s=0, run_s=3600)
    out_dir = tmp_path / "out"
    base = ["--base-url", sim.base_url]
    code, _, _ = run(
        [*base, "download", done.task_id, "--dir", str(out_dir)], tmp_path, capsys=capsys
    )
    assert code == 0
    files = sorted((out_dir / done.task_id).iterdir())
    assert files
    assert all(f.read_bytes().startswith(b"\x89PNG\r\n\x1a\n") for f in files)
    code, _, err = run(
        [*base, "download", running.task_id, "--dir", str(out_dir)], tmp_path, capsys=capsys
    )
    assert code == 1
    assert "not SUCCESS" in err


def test_token_never_appears_in_output_or_files(tmp_path: Path, sim: SimServer) -> None:
    """Run the real entry point with debug logging and grep everything it touched."""
    home = tmp_path / "home"
    env = {
        **os.environ,
        "HOME": str(home),
        "XDG_DATA_HOME": str(home / "data"),
        "XDG_STATE_HOME": str(home / "state"),
        "XDG_CONFIG_HOME": str(home / "config"),
        "XDG_CACHE_HOME": str(home / "cache"),
        "SIRAY_API_TOKEN": TOKEN,
        "SIRAY_BASE_URL": sim.base_url,
        "SIRAY_TUI_DOWNLOAD_DIR": str(home / "downloads"),
    }
    env.pop("SIRAY_TUI_DATA_DIR", None)
    env.pop("SIRAY_TUI_CONFIG", None)
    done = sim.scenario.add_task("image", queue_s=0, run_s=0, created_at=1.0)
    captured = ""
    commands = [
        ["add", done.task_id, "image_missing"],
        ["status", done.task_id, "image_missing", "--json"],
        ["wait", done.task_id, "--timeout", "20", "--json"],
        ["list", "--json"],
        ["download", done.task_id],
        ["--interval", "0", "list"],
    ]
    for argv in commands:
        proc = subprocess.run(
            [sys.executable, "-m", "siray_tui", "--log-level", "debug", *argv],
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )
        captured += proc.stdout + proc.stderr
    assert done.task_id in captured  # the commands really ran
    assert "SUCCESS" in captured
    assert TOKEN not in captured
    written = [p for p in home.rglob("*") if p.is_file()]
    assert any(p.name == "watchlist.json" for p in written)
    assert any(p.suffix == ".log" for p in written)
    assert any(p.suffix == ".png" for p in written)
    for path in written:
        assert TOKEN.encode() not in path.read_bytes(), path
    for entry in sim.request_log:
        if entry.path.startswith(("/redirect", "/files")):
            assert "authorization" not in {k.lower() for k in entry.headers}


@pytest.mark.parametrize("port", ["99999", "-1", "eighty"])
def test_simulate_refuses_a_port_out_of_range_in_one_line(
    port: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """An impossible port is a usage error, not an OverflowError traceback from bind()."""
    with pytest.raises(SystemExit) as caught:
        build_parser().parse_args(["simulate", "--port", port])
    assert caught.value.code == 2
    error = capsys.readouterr().err.strip().splitlines()[-1]
    assert "argument --port" in error
    assert "Traceback" not in error
