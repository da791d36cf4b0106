"""``siray-tui download`` says what really happened: saved, already there, failed, or why not."""

from __future__ import annotations

import io
from pathlib import Path

import httpx
import pytest

from siray_tui.cli import main
from siray_tui.sim import SimServer


def run(
    argv: list[str], data_dir: Path, capsys: pytest.CaptureFixture[str]
) -> tuple[int, str, str]:
    code = main(["--data-dir", str(data_dir), *argv], stdin=io.StringIO())
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_a_second_download_says_the_files_were_already_there(
    tmp_path: Path, sim: SimServer, capsys: pytest.CaptureFixture[str]
) -> None:
    done = sim.scenario.add_task("image", queue_s=0, run_s=0, created_at=1.0, outputs=2)
    out_dir = tmp_path / "out"
    argv = ["--base-url", sim.base_url, "download", done.task_id, "--dir", str(out_dir)]
    code, out, _ = run(argv, tmp_path, capsys)
    assert code == 0
    assert out == f"Saved 2 files in {out_dir}.\n"
    fetched = len(sim.request_log)
    code, out, _ = run(argv, tmp_path, capsys)
    assert code == 0
    assert out == f"2 files already in {out_dir}.\n"
    assert "Saved" not in out
    files = [p for p in sim.request_log[fetched:] if p.path.startswith(("/redirect", "/files"))]
    assert files == []  # nothing fetched again


def test_one_file_is_singular(
    tmp_path: Path, sim: SimServer, capsys: pytest.CaptureFixture[str]
) -> None:
    done = sim.scenario.add_task("image", queue_s=0, run_s=0, created_at=1.0, outputs=1)
    out_dir = tmp_path / "out"
    argv = ["--base-url", sim.base_url, "download", done.task_id, "--dir", str(out_dir)]
    assert run(argv, tmp_path, capsys)[1] == f"Saved 1 file in {out_dir}.\n"
    assert run(argv, tmp_path, capsys)[1] == f"1 file already in {out_dir}.\n"


def test_downloading_a_failed_task_says_it_failed_and_why(
    tmp_path: Path, sim: SimServer, capsys: pytest.CaptureFixture[str]
) -> None:
    failed = sim.scenario.add_task(
        "image",
        queue_s=0,
        run_s=0,
        created_at=1.0,
        outcome="failure",
        fail_reason="content policy violation",
    )
    argv = ["--base-url", sim.base_url, "download", failed.task_id, "--dir", str(tmp_path)]
    code, out, err = run(argv, tmp_path, capsys)
    assert code == 1
    assert "yet" not in err
    assert err == (
        f"siray-tui: {failed.task_id}: the task failed (content policy violation):"
        " no outputs to download\n"
    )
    assert "files are in" not in out
    assert out == "Nothing downloaded.\n"


def test_after_failed_downloads_no_files_are_said_to_be_anywhere(
    tmp_path: Path, sim: SimServer, capsys: pytest.CaptureFixture[str]
) -> None:
    broken = sim.scenario.add_task(
        "image",
        queue_s=0,
        run_s=0,
        created_at=1.0,
        outputs=["{base}/files/missing-1.png", "file:///etc/passwd"],
    )
    out_dir = tmp_path / "out"
    argv = ["--base-url", sim.base_url, "download", broken.task_id, "--dir", str(out_dir)]
    code, out, err = run(argv, tmp_path, capsys)
    assert code == 1
    assert "files are in" not in out
    assert str(out_dir) not in out
    assert out == "Nothing saved: 2 downloads failed.\n"
    assert len(err.splitlines()) == 2  # one line per failed file


def test_without_a_token_no_known_outputs_means_no_network(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """No request is even attempted: the transport fails the test if it is called."""
    calls: list[str] = []

    async def refuse(self: httpx.AsyncHTTPTransport, request: httpx.Request) -> httpx.Response:
        calls.append(str(request.url))
        raise AssertionError(f"download tried the network: {request.url}")

    monkeypatch.setattr(httpx.AsyncHTTPTransport, "handle_async_request", refuse)
    argv = ["--base-url", "https://siray.invalid", "download", "image_unknown"]
    code, out, err = run([*argv, "--dir", str(tmp_path)], tmp_path, capsys)
    assert calls == []
    assert code == 1
    assert len(err.splitlines()) == 1, err
    assert "image_unknown" in err
    assert "SIRAY_API_TOKEN" in err
    assert out == "Nothing downloaded.\n"
