"""``status`` and ``wait`` against the simulator: exit statuses, JSON lines, progress."""

from __future__ import annotations

import dataclasses
import io
import json
from pathlib import Path
from typing import Any

import pytest

from siray_tui.cli import polling
from siray_tui.cli.polling import run_status, run_wait
from siray_tui.config import Settings
from siray_tui.core.columns import JSON_FIELDS
from siray_tui.core.models import TaskStatus
from siray_tui.core.poller import PollPolicy
from siray_tui.core.secret import Secret
from siray_tui.core.store import WatchlistStore
from siray_tui.sim import Faults, SimServer
from tests.conftest import SimFactory

TOKEN = "sk-cli-wait-7d1e"


class TtyStream(io.StringIO):
    """Stands in for a terminal on stderr."""

    def isatty(self) -> bool:
        return True


def make_settings(sim: SimServer, data_dir: Path, **changes: object) -> Settings:
    base = Settings(
        base_url=sim.base_url,
        token=Secret(TOKEN),
        data_dir=data_dir,
        interval=0.2,  # the engine takes any interval; the CLI flag's 1 s floor is not here
        concurrency=8,
        rate=50.0,
    )
    return base.with_overrides(**changes)


def records(text: str) -> list[dict[str, object]]:
    lines = [json.loads(line) for line in text.splitlines()]
    for line in lines:
        assert set(line) == set(JSON_FIELDS)
    return lines


async def wait(
    settings: Settings, ids: list[str], limit: float | None = 20.0, *, json_output: bool = True
) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = await run_wait(settings, ids, timeout=limit, json_output=json_output, out=out, err=err)
    return code, out.getvalue(), err.getvalue()


async def status(
    settings: Settings, ids: list[str], *, json_output: bool = True
) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = await run_status(settings, ids, json_output=json_output, out=out, err=err)
    return code, out.getvalue(), err.getvalue()


# -- wait ------------------------------------------------------------------------------------


async def test_wait_all_success_exits_0_with_a_json_line_per_task(
    sim: SimServer, tmp_path: Path
) -> None:
    tasks = [sim.scenario.add_task("image", queue_s=0.2, run_s=0.4) for _ in range(5)]
    tasks.append(sim.scenario.add_task("video", task_id="plain-id-1", queue_s=0.1, run_s=0.3))
    ids = [t.task_id for t in tasks]
    code, out, _ = await wait(make_settings(sim, tmp_path), ids)
    assert code == 0
    lines = records(out)
    assert sorted(str(r["task_id"]) for r in lines) == sorted(ids)
    for line in lines:
        assert line["status"] == "SUCCESS"
        assert line["progress"] == 100
        assert line["outputs"] and line["finish_time"] and line["total_seconds"] is not None
        assert line["error"] is None
    auto = next(r for r in lines if r["task_id"] == "plain-id-1")
    assert auto["kind"] == "video"  # image answered 404, video answered: remembered
    stored = WatchlistStore(tmp_path).load()
    assert list(stored.tasks) == ids
    assert all(t.status is TaskStatus.SUCCESS for t in stored.tasks.values())
    assert stored.tasks["plain-id-1"].kind.value == "video"


async def test_wait_with_a_failure_exits_1_and_prints_a_table(
    sim: SimServer, tmp_path: Path
) -> None:
    ok = sim.scenario.add_task("image", queue_s=0.1, run_s=0.3)
    bad = sim.scenario.add_task(
        "image", queue_s=0.1, run_s=0.2, outcome="failure", fail_reason="GPU on fire"
    )
    code, out, _ = await wait(
        make_settings(sim, tmp_path), [ok.task_id, bad.task_id], json_output=False
    )
    assert code == 1
    assert out.splitlines()[0].split()[:4] == ["TASK", "KIND", "MODEL", "STATUS"]
    assert "FAILURE" in out and "GPU on fire" in out


async def test_wait_not_found_exits_2(sim: SimServer, tmp_path: Path) -> None:
    ok = sim.scenario.add_task("image", queue_s=0.1, run_s=0.2)
    code, out, err = await wait(make_settings(sim, tmp_path), [ok.task_id, "task-nowhere"])
    assert code == 2
    lines = {str(r["task_id"]): r for r in records(out)}
    assert lines["task-nowhere"]["status"] == "NOT_FOUND"
    assert lines["task-nowhere"]["error"] == "not found"
    assert lines[ok.task_id]["status"] == "SUCCESS"
    assert "task-nowhere: not found" in err
    assert sim.requests_for("task-nowhere") == 3  # image, video, 3d, then given up


async def test_wait_timeout_exits_3_and_reports_the_unfinished(
    sim: SimServer, tmp_path: Path
) -> None:
    quick = sim.scenario.add_task("image", queue_s=0.0, run_s=0.1, created_at=1.0)
    slow = sim.scenario.add_task("video", queue_s=0.2, run_s=3600)
    code, out, err = await wait(make_settings(sim, tmp_path), [quick.task_id, slow.task_id], 1.0)
    assert code == 3
    lines = records(out)
    assert [r["task_id"] for r in lines] == [quick.task_id, slow.task_id]
    assert lines[1]["status"] == "IN_PROGRESS"
    assert "timed out after 1s: 1 of 2 tasks unfinished" in err


async def test_wait_with_a_rejected_token_exits_2_after_one_round(
    sim_factory: SimFactory, tmp_path: Path
) -> None:
    sim = sim_factory(token="the-right-one")
    ids = [sim.scenario.add_task("image", queue_s=5, run_s=5).task_id for _ in range(20)]
    code, out, err = await wait(make_settings(sim, tmp_path, concurrency=4), ids)
    assert code == 2
    assert "rejected the token" in err and "SIRAY_API_TOKEN" in err
    assert TOKEN not in err + out
    assert sim.api_request_count <= 4  # no retry storm
    assert all(r["error"] and "401" in str(r["error"]) for r in records(out))


async def test_wait_without_ids_waits_for_the_unfinished_watchlist(
    sim: SimServer, tmp_path: Path
) -> None:
    running = [sim.scenario.add_task("image", queue_s=0.1, run_s=0.3) for _ in range(3)]
    done = sim.scenario.add_task("image", queue_s=0, run_s=0, created_at=1.0)
    store = WatchlistStore(tmp_path)
    store.add([done.task_id])
    settings = make_settings(sim, tmp_path)
    assert (await status(settings, [done.task_id]))[0] == 0
    store.add([t.task_id for t in running])
    before = sim.requests_for(done.task_id)
    code, out, _ = await wait(settings, [])
    assert code == 0
    assert sorted(str(r["task_id"]) for r in records(out)) == sorted(t.task_id for t in running)
    assert sim.requests_for(done.task_id) == before  # final: not polled again
    code, _, err = await wait(settings, [])
    assert code == 0 and "nothing to wait for" in err


async def test_wait_already_final_task_prints_at_once(sim: SimServer, tmp_path: Path) -> None:
    done = sim.scenario.add_task("image", queue_s=0, run_s=0, created_at=1.0)
    settings = make_settings(sim, tmp_path)
    await status(settings, [done.task_id])
    before = sim.requests_for(done.task_id)
    code, out, _ = await wait(settings, [done.task_id])
    assert code == 0
    assert [r["status"] for r in records(out)] == ["SUCCESS"]
    assert sim.requests_for(done.task_id) == before


async def test_wait_progress_plain_lines_and_tty_rewrites(
    sim: SimServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(polling, "PROGRESS_EVERY_PLAIN", 0.1)
    monkeypatch.setattr(polling, "PROGRESS_EVERY_TTY", 0.1)
    ids = [sim.scenario.add_task("image", queue_s=0.3, run_s=1.0).task_id for _ in range(3)]
    settings = make_settings(sim, tmp_path)
    out, err = io.StringIO(), io.StringIO()
    assert await run_wait(settings, ids, timeout=20, json_output=True, out=out, err=err) == 0
    lines = err.getvalue().splitlines()
    assert len(lines) >= 3
    assert "\r" not in err.getvalue()
    assert lines[-1].startswith("waited ") and "3 of 3 done (SUCCESS 3)" in lines[-1]
    middle = [line for line in lines if "slowest" in line]
    assert middle and any(task_id in middle[0] for task_id in ids)

    more = [sim.scenario.add_task("image", queue_s=0.3, run_s=1.0).task_id for _ in range(2)]
    tty = TtyStream()
    assert await run_wait(settings, more, timeout=20, json_output=False, out=out, err=tty) == 0
    text = tty.getvalue()
    assert text.count("\r") >= 3 and text.endswith("\n") and text.count("\n") == 1
    assert "2 of 2 done (SUCCESS 2)" in text.rsplit("\r", 1)[-1]


async def test_wait_survives_faults(
    sim_factory: SimFactory, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Nearly half the answers fail here: with the real 2 s backoff base, four failures
    # in a row on one task (2+4+8+16 s) would outlast the timeout on a slow machine.
    policy = Settings.poll_policy

    def short_backoff(settings: Settings, **changes: Any) -> PollPolicy:
        return dataclasses.replace(policy(settings, **changes), backoff_base=0.1, backoff_cap=1.0)

    monkeypatch.setattr(Settings, "poll_policy", short_backoff)
    faults = Faults(error_rate=0.3, nonjson_rate=0.1, drop_rate=0.1, rate_limit_every=9)
    faults.retry_after = 0.3
    sim = sim_factory(faults=faults)
    tasks = [sim.scenario.add_task("image", queue_s=0.2, run_s=0.5) for _ in range(10)]
    settings = make_settings(sim, tmp_path)
    code, out, _ = await wait(settings, [t.task_id for t in tasks], 30)
    assert code == 0
    assert {r["status"] for r in records(out)} == {"SUCCESS"}


async def test_wait_keeps_polling_through_an_undocumented_status(
    sim: SimServer, tmp_path: Path
) -> None:
    """docs/api.md: new states appear; show them, keep polling, never treat them as final."""
    task = sim.scenario.add_task("video", queue_s=2.0, run_s=0.3, queued_status="MODERATION")
    # Its 1.4 s of MODERATION must be polled: a task with no forecast is otherwise asked
    # after 3 times its age, which can step over so short a phase.
    settings = make_settings(sim, tmp_path, max_staleness=1.0)
    code, out, _ = await wait(settings, [task.task_id], 30)
    assert code == 0
    assert [r["status"] for r in records(out)] == ["SUCCESS"]
    seen = [change.status for change in WatchlistStore(tmp_path).load()[task.task_id].history]
    assert "MODERATION" in seen
    assert seen.index("MODERATION") < seen.index("SUCCESS")


# -- errors before any request ---------------------------------------------------------------


async def test_missing_token_exits_2_with_how_to_set_it(tmp_path: Path) -> None:
    settings = Settings(base_url="https://api.siray.ai", token=None, data_dir=tmp_path)
    for call in (wait(settings, ["image_abc"]), status(settings, ["image_abc"])):
        code, out, err = await call
        assert code == 2 and out == ""
        assert err.count("\n") == 1 and "SIRAY_API_TOKEN" in err
    assert not (tmp_path / "watchlist.json").exists()


async def test_loopback_needs_no_token(sim: SimServer, tmp_path: Path) -> None:
    task = sim.scenario.add_task("image", queue_s=0, run_s=0, created_at=1.0)
    code, out, _ = await status(make_settings(sim, tmp_path, token=None), [task.task_id])
    assert code == 0
    assert records(out)[0]["status"] == "SUCCESS"
    assert sim.request_log[-1].headers["authorization"] == "Bearer demo"


async def test_invalid_id_exits_2_before_anything(sim: SimServer, tmp_path: Path) -> None:
    settings = make_settings(sim, tmp_path)
    for call in (wait(settings, ["ok_1", "../etc"]), status(settings, ["bad id"])):
        code, _, err = await call
        assert code == 2 and "invalid task ID" in err
    assert sim.api_request_count == 0


# -- status ----------------------------------------------------------------------------------


async def test_status_exit_statuses_and_fields(sim: SimServer, tmp_path: Path) -> None:
    done = sim.scenario.add_task("image", queue_s=0, run_s=0, created_at=1.0)
    failed = sim.scenario.add_task("video", queue_s=0, run_s=0, outcome="failure", created_at=1.0)
    running = sim.scenario.add_task("image", queue_s=0, run_s=3600)
    settings = make_settings(sim, tmp_path)

    code, out, _ = await status(settings, [done.task_id, running.task_id])
    assert code == 0
    by_id = {str(r["task_id"]): r for r in records(out)}
    assert by_id[done.task_id]["status"] == "SUCCESS"
    assert by_id[running.task_id]["status"] == "IN_PROGRESS"
    assert isinstance(by_id[running.task_id]["progress"], int)

    code, out, _ = await status(settings, [done.task_id, failed.task_id], json_output=False)
    assert code == 1 and "FAILURE" in out

    code, _, err = await status(settings, ["image_doesnotexist"])
    assert code == 2 and "not found" in err

    # Final tasks are queried again: status means "now".
    before = sim.requests_for(done.task_id)
    await status(settings, [done.task_id])
    assert sim.requests_for(done.task_id) == before + 1
    stored = WatchlistStore(tmp_path).load()
    assert stored.tasks[failed.task_id].status is TaskStatus.FAILURE
    assert stored.tasks["image_doesnotexist"].not_found


async def test_status_network_error_exits_2(sim_factory: SimFactory, tmp_path: Path) -> None:
    sim = sim_factory(faults=Faults(error_rate=1.0))
    task = sim.scenario.add_task("image", queue_s=0, run_s=0, created_at=1.0)
    code, out, err = await status(make_settings(sim, tmp_path), [task.task_id])
    assert code == 2
    assert "server error" in str(records(out)[0]["error"])
    assert f"{task.task_id}: HTTP 50" in err


async def test_wait_auto_download_fetches_outputs_as_tasks_succeed(
    sim: SimServer, tmp_path: Path
) -> None:
    done = sim.scenario.add_task("image", queue_s=0.1, run_s=0.3, outputs=2)
    failed = sim.scenario.add_task("image", queue_s=0.1, run_s=0.2, outcome="failure")
    downloads = tmp_path / "downloads"
    settings = make_settings(sim, tmp_path / "data", auto_download=True, download_dir=downloads)
    code, _, err = await wait(settings, [done.task_id, failed.task_id])
    assert code == 1
    files = sorted((downloads / done.task_id).iterdir())
    assert [f.name for f in files] == ["1.png", "2.png"]
    assert all(f.read_bytes().startswith(b"\x89PNG\r\n\x1a\n") for f in files)
    assert not (downloads / failed.task_id).exists()
    assert "downloaded" in err


async def test_wait_without_auto_download_fetches_nothing(sim: SimServer, tmp_path: Path) -> None:
    done = sim.scenario.add_task("image", queue_s=0.1, run_s=0.2, outputs=1)
    downloads = tmp_path / "downloads"
    settings = make_settings(sim, tmp_path / "data", download_dir=downloads)
    code, _, _ = await wait(settings, [done.task_id])
    assert code == 0
    assert not downloads.exists()
    assert not any(r.path.startswith("/files") for r in sim.request_log)


async def test_wait_notify_on_a_terminal_only(
    sim: SimServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TERM_PROGRAM", "WezTerm")  # OSC 9
    monkeypatch.delenv("TMUX", raising=False)
    monkeypatch.delenv("KITTY_WINDOW_ID", raising=False)
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))  # no notify-send to fall back on
    ok = sim.scenario.add_task("image", queue_s=0.1, run_s=0.2)
    bad = sim.scenario.add_task(
        "image", queue_s=0.1, run_s=0.2, outcome="failure", fail_reason="GPU \x1b]0;x\x07on fire"
    )
    settings = make_settings(sim, tmp_path, notify=("failure", "all-done"))
    tty = TtyStream()
    code = await run_wait(
        settings,
        [ok.task_id, bad.task_id],
        timeout=20,
        json_output=False,
        out=tty,
        err=io.StringIO(),
    )
    assert code == 1
    sent = [part.split("\x07")[0] for part in tty.getvalue().split("\x1b]9;")[1:]]
    assert sent == [
        f"siray-tui: task failed: {bad.task_id}: GPU on fire",
        "siray-tui: all done: 2 tasks finished, 1 failed",
    ]
    # not a terminal: not one escape sequence
    again = sim.scenario.add_task("image", queue_s=0.1, run_s=0.2, outcome="failure")
    out = io.StringIO()
    await run_wait(settings, [again.task_id], timeout=20, json_output=True, out=out, err=out)
    assert "\x1b" not in out.getvalue()


async def test_wait_progress_says_when_all_will_be_done(
    sim: SimServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A running task's progress gives its ETA; the progress line carries the latest."""
    monkeypatch.setattr(polling, "PROGRESS_EVERY_PLAIN", 0.1)
    ids = [sim.scenario.add_task("image", queue_s=0.2, run_s=2.0).task_id for _ in range(2)]
    settings = make_settings(sim, tmp_path)
    out, err = io.StringIO(), io.StringIO()
    assert await run_wait(settings, ids, timeout=20, json_output=True, out=out, err=err) == 0
    lines = err.getvalue().splitlines()
    assert any("; all done ~" in line for line in lines[:-1])
    assert "all done" not in lines[-1]  # nothing is left to wait for
