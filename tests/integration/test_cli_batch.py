"""``submit --file``: JSONL batches against the simulator, journaled so that no line is ever
paid for twice: rejections, 401, 429, uncertain 5xx, reruns, and ``kill -9`` mid-batch."""

from __future__ import annotations

import io
import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from siray_tui.cli import main
from siray_tui.core import batch as batch_module
from siray_tui.core.journal import Journal, journal_path, line_keys
from siray_tui.core.store import WatchlistStore
from siray_tui.sim import Faults, SimServer
from tests.conftest import SimFactory

TOKEN = "sk-batch-test-2b8e"
IMAGE_MODEL = "bytedance/seedream-4.5-t2i"
VIDEO_MODEL = "google/veo-3.1-t2v"
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(autouse=True)
def token(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SIRAY_API_TOKEN", TOKEN)
    monkeypatch.setenv("SIRAY_TUI_CONFIG", "")


def job(prompt: str, model: str = IMAGE_MODEL, **extra: Any) -> str:
    return json.dumps({"model": model, "prompt": prompt, **extra})


def write_jobs(folder: Path, lines: list[str], name: str = "jobs.jsonl") -> Path:
    path = folder / name
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def run(
    sim: SimServer | str,
    data_dir: Path,
    *argv: str,
    capsys: pytest.CaptureFixture[str],
    stdin: str = "",
) -> tuple[int, str, str]:
    base = sim if isinstance(sim, str) else sim.base_url
    code = main(
        ["--base-url", base, "--data-dir", str(data_dir), "--rate", "1000", *argv],
        stdin=io.StringIO(stdin),
    )
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def records(out: str) -> dict[int, dict[str, Any]]:
    parsed = [json.loads(line) for line in out.splitlines()]
    assert all(set(r) == {"line", "status", "task_id", "error"} for r in parsed)
    return {r["line"]: r for r in parsed}


def not_accepted_lines(err: str) -> set[int]:
    """The line numbers the stderr summary names."""
    named = set()
    for line in err.splitlines():
        words = line.split()
        if len(words) > 2 and words[1] == "line" and words[2].rstrip(":").isdigit():
            named.add(int(words[2].rstrip(":")))
    return named


def test_30_lines_with_4_bad_ones_then_a_rerun_sends_only_those(
    sim: SimServer, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    lines = [job(f"fox {n}", VIDEO_MODEL if n % 3 == 0 else IMAGE_MODEL) for n in range(1, 31)]
    lines[4] = job("fox 5", "nobody/no-such-model", kind="image")  # line 5: the API says no
    lines[11] = job("", kind="image")  # line 12: empty prompt, the API's to judge
    lines[19] = "{not json"  # line 20: refused locally
    lines[26] = json.dumps({"prompt": "fox 27"})  # line 27: names no model
    jobs = write_jobs(tmp_path, lines)

    code, out, err = run(sim, tmp_path, "submit", "--file", str(jobs), "--json", capsys=capsys)

    assert code == 1
    results = records(out)
    assert sorted(results) == list(range(1, 31))
    rejected = {n for n, r in results.items() if r["status"] == "rejected"}
    assert rejected == {5, 12, 20, 27}
    assert not_accepted_lines(err) == {5, 12, 20, 27}
    assert "does not exist" in results[5]["error"] and "prompt" in results[12]["error"]
    accepted = {r["task_id"] for r in results.values() if r["status"] == "accepted"}
    assert len(accepted) == 26
    watchlist = WatchlistStore(tmp_path).load()
    assert set(watchlist.tasks) == accepted
    assert all(task.request is not None for task in watchlist.tasks.values())
    assert sim.posts_for("fox 1") == 1 and sim.posts_for("") == 1

    code, out, err = run(sim, tmp_path, "submit", "--file", str(jobs), "--json", capsys=capsys)

    assert code == 1
    again = records(out)
    assert {n for n, r in again.items() if r["status"] == "skipped"} == set(range(1, 31)) - rejected
    assert {n for n, r in again.items() if r["status"] == "rejected"} == rejected
    assert not_accepted_lines(err) == {5, 12, 20, 27}
    for n in range(1, 31):
        prompt = f"fox {n}"
        expected = {5: 2, 12: 0, 20: 0, 27: 0}.get(n, 1)
        assert sim.posts_for(prompt) == expected, n
    assert sim.posts_for("") == 2
    assert len(sim.scenario) == 26


def test_an_edited_line_is_a_new_line(
    sim: SimServer, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    jobs = write_jobs(tmp_path, [job("same"), job("same"), job("other")])
    assert run(sim, tmp_path, "submit", "--file", str(jobs), capsys=capsys)[0] == 0
    assert sim.posts_for("same") == 2  # two equal lines are two jobs
    write_jobs(tmp_path, [job("same"), job("same"), job("other, edited")])
    code, out, _ = run(sim, tmp_path, "submit", "--file", str(jobs), "--json", capsys=capsys)
    assert code == 0
    assert [r["status"] for r in records(out).values()] == ["skipped", "skipped", "accepted"]
    assert (sim.posts_for("same"), sim.posts_for("other, edited")) == (2, 1)


def test_a_missing_file_exits_2_in_one_line(
    sim: SimServer, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = run(
        sim, tmp_path, "submit", "--file", str(tmp_path / "gone.jsonl"), capsys=capsys
    )
    assert code == 2
    assert out == "" and len(err.splitlines()) == 1 and "no such file" in err
    assert sim.request_log == []


def test_a_refused_token_stops_the_batch_with_2(
    sim_factory: SimFactory, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    sim = sim_factory(token="not-ours")
    jobs = write_jobs(tmp_path, [job(f"fox {n}", kind="image") for n in range(10)])
    code, out, err = run(
        sim, tmp_path, "--concurrency", "1", "submit", "--file", str(jobs), "--json",
        capsys=capsys,
    )  # fmt: skip
    assert code == 2
    assert sim.post_count == 1
    assert "stopped sending" in err and "401" in err
    assert all(r["status"] == "rejected" for r in records(out).values())
    assert TOKEN not in out + err
    sim.token = None  # the token is fixed: every line is sent on the rerun
    assert run(sim, tmp_path, "submit", "--file", str(jobs), capsys=capsys)[0] == 0
    assert sim.posts_for("fox 0") == 2 and sim.posts_for("fox 9") == 1


def test_429_waits_and_retries(
    sim: SimServer, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    sim.faults = Faults(rate_limit_every=3, retry_after=0.05)
    jobs = write_jobs(tmp_path, [job(f"fox {n}", kind="image") for n in range(12)])
    code, out, _ = run(sim, tmp_path, "submit", "--file", str(jobs), "--json", capsys=capsys)
    assert code == 0
    assert all(r["status"] == "accepted" for r in records(out).values())
    assert sim.post_count > 12  # some were answered 429 and sent again
    assert len(sim.scenario) == 12  # yet each created once
    assert sorted(task.prompt for task in sim.scenario.tasks()) == sorted(
        f"fox {n}" for n in range(12)
    )


def test_5xx_after_creation_is_uncertain_and_never_resent_unless_asked(
    sim: SimServer, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    sim.faults = Faults(ambiguous_rate=1.0)
    lines = [job(f"fox {n}", kind="image") for n in range(5)]
    jobs = write_jobs(tmp_path, lines)
    code, out, err = run(sim, tmp_path, "submit", "--file", str(jobs), "--json", capsys=capsys)
    assert code == 4
    assert all(r["status"] == "uncertain" for r in records(out).values())
    assert not_accepted_lines(err) == {1, 2, 3, 4, 5}
    assert "--resend-uncertain" in err
    assert sim.post_count == 5

    sim.faults = Faults()
    code, out, _ = run(sim, tmp_path, "submit", "--file", str(jobs), "--json", capsys=capsys)
    assert code == 4
    assert all(r["status"] == "uncertain" for r in records(out).values())
    assert sim.post_count == 5  # left alone

    code, out, _ = run(
        sim, tmp_path, "submit", "--file", str(jobs), "--resend-uncertain", "--json",
        capsys=capsys,
    )  # fmt: skip
    assert code == 0
    assert all(r["status"] == "accepted" for r in records(out).values())
    assert all(sim.posts_for(f"fox {n}") == 2 for n in range(5))


def test_an_answer_without_a_task_id_is_uncertain(
    sim: SimServer, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    sim.faults = Faults(submit_answer="none")
    jobs = write_jobs(tmp_path, [job("fox", kind="image")])
    code, out, _ = run(sim, tmp_path, "submit", "--file", str(jobs), "--json", capsys=capsys)
    assert code == 4
    (result,) = records(out).values()
    assert result["status"] == "uncertain" and "no task ID" in result["error"]


def test_markup_and_escapes_are_shown_literally_and_cleaned(
    sim: SimServer, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    evil = "evil/[red]x[/]\x1b]0;pwn\x07\x1b[2J"
    lines = [job("[bold]fox[/] \x1b[31mred\x07", evil, kind="image"), job("[b]ok[/b]")]
    jobs = write_jobs(tmp_path, lines)
    code, out, err = run(sim, tmp_path, "submit", "--file", str(jobs), capsys=capsys)
    assert code == 1
    assert "evil/[red]x[/]" in err  # as typed, markup and all
    for text in (out, err):
        assert "\x1b" not in text and "\x07" not in text
    code, out, err = run(sim, tmp_path, "submit", "--file", str(jobs), "--dry-run", capsys=capsys)
    assert "\x1b" not in out + err
    assert "[bold]fox[/]" in out


def test_dry_run_sends_nothing(
    sim: SimServer, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    jobs = write_jobs(tmp_path, [job("a"), job("b", VIDEO_MODEL, params={"duration": 5})])
    code, out, _ = run(sim, tmp_path, "submit", "--file", str(jobs), "--dry-run", capsys=capsys)
    assert code == 0
    shown = [json.loads(line) for line in out.splitlines()]
    assert [(s["line"], s["kind"]) for s in shown] == [(1, "image"), (2, "video")]
    assert shown[1]["body"] == {"model": VIDEO_MODEL, "prompt": "b", "duration": 5}
    assert sim.post_count == 0
    assert WatchlistStore(tmp_path).load().tasks == {}


def test_stdin_batch(sim: SimServer, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    text = job("from stdin", kind="image") + "\n"
    code, out, _ = run(sim, tmp_path, "submit", "--file", "-", capsys=capsys, stdin=text)
    assert code == 0 and out.startswith("line 1: accepted image_")
    code, out, _ = run(sim, tmp_path, "submit", "--file", "-", capsys=capsys, stdin=text)
    assert code == 0 and "skipped" in out
    assert sim.posts_for("from stdin") == 1


# -- kill -9 ----------------------------------------------------------------------------

KILL_RUNS = 20
KILL_GROUP = 4
KILL_LINES = 40


def _batch_command(sim: SimServer, data_dir: Path, jobs: Path) -> list[str]:
    return [
        sys.executable, "-m", "siray_tui", "--base-url", sim.base_url, "--data-dir",
        str(data_dir), "--rate", "1000", "--concurrency", "4", "submit", "--file", str(jobs),
        "--json",
    ]  # fmt: skip


def test_kill_9_at_random_moments_never_posts_a_line_twice(
    sim_factory: SimFactory, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Batches run KILL_GROUP at a time (each its own file, data dir and prompts), each
    killed once the simulator has received a random number of its POSTs; then each is
    run again to the end. No prompt may ever reach the simulator twice."""
    sim = sim_factory(faults=Faults(latency=0.002))
    env = {**os.environ, "SIRAY_API_TOKEN": TOKEN, "PYTHONPATH": str(ROOT)}
    chooser = random.Random(20261130)
    killed_mid_batch = 0
    for group in range(0, KILL_RUNS, KILL_GROUP):
        runs = []
        for run_number in range(group, group + KILL_GROUP):
            folder = tmp_path / f"run{run_number}"
            folder.mkdir()
            prompts = [f"run {run_number} line {n}" for n in range(KILL_LINES)]
            jobs = write_jobs(folder, [job(p, kind="image") for p in prompts])
            process = subprocess.Popen(
                _batch_command(sim, folder / "data", jobs),
                env=env,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            runs.append((folder, jobs, prompts, chooser.randrange(KILL_LINES), process))
        live = list(runs)
        deadline = time.monotonic() + 60
        while live:
            assert time.monotonic() < deadline
            for entry in list(live):
                _, _, prompts, kill_after, process = entry
                if process.poll() is not None:
                    live.remove(entry)
                elif sum(map(sim.posts_for, prompts)) >= kill_after:
                    process.send_signal(signal.SIGKILL)
                    killed_mid_batch += 1
                    live.remove(entry)
            time.sleep(0.001)
        for folder, jobs, prompts, _, process in runs:
            process.wait()
            code, out, _ = run(
                sim, folder / "data", "--concurrency", "4", "submit", "--file", str(jobs),
                "--json", capsys=capsys,
            )  # fmt: skip
            results = records(out)
            assert sorted(results) == list(range(1, KILL_LINES + 1))
            assert code in (0, 4)
            for n, prompt in enumerate(prompts, 1):
                posted = sim.posts_for(prompt)
                assert posted <= 1, (folder.name, n, posted)
                status = results[n]["status"]
                assert status in ("accepted", "skipped", "uncertain"), results[n]
                if status != "uncertain":
                    assert posted == 1
            watched = WatchlistStore(folder / "data").load().tasks
            done = {r["task_id"] for r in results.values() if r["status"] != "uncertain"}
            assert done <= set(watched)
    assert killed_mid_batch >= KILL_RUNS // 2


def test_a_journal_that_cannot_be_used_sends_nothing(
    sim: SimServer, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    jobs = write_jobs(tmp_path, [job(f"fox {n}", kind="image") for n in range(3)])
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "journals").write_text("a file where the folder should be")
    code, _, err = run(sim, tmp_path / "data", "submit", "--file", str(jobs), capsys=capsys)
    assert code == 2
    assert "the journal" in err and len(err.splitlines()) == 1
    assert sim.post_count == 0


def test_each_line_costs_one_fsync_made_before_its_post(
    sim: SimServer,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The ``sent`` record of a line is on disk before the server sees its POST, and it
    is the line's only fsync (its outcome rides on the next one, or on the close)."""
    prompts = [f"durable before posted {n}" for n in range(24)]
    lines = [job(prompt) for prompt in prompts]
    prompt_of = dict(zip(line_keys(lines), prompts, strict=True))
    data_dir = tmp_path / "data"
    synced_sent: set[str] = set()
    syncs = 0
    real_fsync = os.fsync

    def fsync(fd: int) -> None:
        nonlocal syncs
        real_fsync(fd)
        journals = list((data_dir / "journals").glob("*.jsonl"))
        if not journals or os.fstat(fd).st_ino != journals[0].stat().st_ino:
            return  # the watchlist's
        syncs += 1
        (journal,) = journals
        for raw in journal.read_text().splitlines()[1:]:
            record = json.loads(raw)
            if record["event"] == "sent" and record["key"] not in synced_sent:
                synced_sent.add(record["key"])
                assert sim.posts_for(prompt_of[record["key"]]) == 0, "POSTed before its fsync"

    monkeypatch.setattr("siray_tui.core.journal.os.fsync", fsync)
    code, _, err = run(
        sim, data_dir, "submit", "--file", str(write_jobs(tmp_path, lines)), capsys=capsys
    )
    assert code == 0, err
    assert synced_sent == set(prompt_of)
    assert all(sim.posts_for(prompt) == 1 for prompt in prompts)
    assert syncs == len(lines) + 1  # one per line, and the close


def test_a_second_run_of_the_same_file_at_once_is_refused_before_it_reads_or_sends(
    sim: SimServer, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Two runs of one file at once would each read the journal before the other's
    records and send the same lines: the second stops with 2 and sends nothing."""
    data_dir = tmp_path / "data"
    path = write_jobs(tmp_path, [job("only once 1"), job("only once 2")])
    running = Journal(journal_path(data_dir, path), "the other run")
    running.lock()
    try:
        code, _, err = run(sim, data_dir, "submit", "--file", str(path), capsys=capsys)
        assert code == 2
        assert "another run is sending this file now" in err and len(err.splitlines()) == 1
        assert sim.posts_for("only once 1") == sim.posts_for("only once 2") == 0
        code, out, _ = run(sim, data_dir, "submit", "--file", str(path), "--dry-run", capsys=capsys)
        assert code == 0 and out.count("would send") == 2  # a dry run only reads: it may look
    finally:
        running.close()
    code, _, err = run(sim, data_dir, "submit", "--file", str(path), capsys=capsys)
    assert code == 0, err
    assert sim.posts_for("only once 1") == sim.posts_for("only once 2") == 1


def test_the_last_lines_are_reported_without_waiting_out_the_save_gap(
    sim: SimServer,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Saves are spaced while answers come in; once every line is answered, what waits is
    saved at once. With a 30 s gap and one line at a time, lines 2 and 3 would otherwise
    wait 30 s for their save."""
    monkeypatch.setattr(batch_module, "SAVE_GAP", 30.0)
    jobs = write_jobs(tmp_path, [job(f"gap {n}") for n in range(3)])
    started = time.monotonic()
    argv = ["submit", "--file", str(jobs), "--concurrency", "1", "--json"]
    code, out, err = run(sim, tmp_path / "data", *argv, capsys=capsys)
    assert code == 0, err
    assert [r["status"] for r in records(out).values()] == ["accepted"] * 3
    assert time.monotonic() - started < 20
    assert len(WatchlistStore(tmp_path / "data").load().tasks) == 3
