"""``status`` against a failing simulator: transient errors retried, 429s bounded."""

from __future__ import annotations

import asyncio
import io
import json
from pathlib import Path

import pytest

from siray_tui.cli.polling import STATUS_ATTEMPTS, run_status
from siray_tui.config import Settings
from siray_tui.core.secret import Secret
from siray_tui.sim import Faults
from tests.conftest import SimFactory

TOKEN = "sk-status-faults-31c8"
# Old code never returned from an always-429 status: fail the test instead of hanging.
NO_HANG = 20.0


def settings_for(base_url: str, data_dir: Path) -> Settings:
    return Settings(
        base_url=base_url,
        token=Secret(TOKEN),
        data_dir=data_dir,
        interval=30.0,  # one round: an answered task is not polled again meanwhile
        rate=50.0,
    )


async def status(
    settings: Settings, ids: list[str], **limits: float
) -> tuple[int, list[dict[str, object]], str]:
    out, err = io.StringIO(), io.StringIO()
    run = run_status(
        settings, ids, json_output=True, out=out, err=err, retry_backoff=0.05, **limits
    )
    code = await asyncio.wait_for(run, NO_HANG)
    return code, [json.loads(line) for line in out.getvalue().splitlines()], err.getvalue()


@pytest.mark.parametrize("answer", [500, 502, "html"])
async def test_status_retries_a_5xx_or_non_json_answer_then_reports_the_real_state(
    sim_factory: SimFactory, tmp_path: Path, answer: int | str
) -> None:
    sim = sim_factory(faults=Faults(fail_first=STATUS_ATTEMPTS - 1, fail_first_with=answer))
    task = sim.scenario.add_task("image", queue_s=0, run_s=0, created_at=1.0)
    code, records, err = await status(settings_for(sim.base_url, tmp_path), [task.task_id])
    assert (code, err) == (0, "")
    assert [(r["status"], r["error"]) for r in records] == [("SUCCESS", None)]
    assert sim.requests_for(task.task_id) == STATUS_ATTEMPTS


async def test_status_persistent_500_exits_2_with_one_line_after_three_tries(
    sim_factory: SimFactory, tmp_path: Path
) -> None:
    sim = sim_factory(faults=Faults(fail_first=1000, fail_first_with=500))
    task = sim.scenario.add_task("image", queue_s=0, run_s=0, created_at=1.0)
    code, records, err = await status(settings_for(sim.base_url, tmp_path), [task.task_id])
    assert code == 2
    assert err.splitlines() == [
        f"siray-tui: error: {task.task_id}: HTTP 500 server error: internal server error"
    ]
    assert "HTTP 500" in str(records[0]["error"])
    assert sim.requests_for(task.task_id) == STATUS_ATTEMPTS


async def test_status_against_an_always_429_past_date_server_backs_off_and_gives_up(
    sim_factory: SimFactory, tmp_path: Path
) -> None:
    """A Retry-After date in the past is no reason to retry at once."""
    sim = sim_factory(faults=Faults(rate_limit_every=1, retry_after="past"))
    task = sim.scenario.add_task("image", queue_s=0, run_s=0, created_at=1.0)
    settings = settings_for(sim.base_url, tmp_path)
    code, records, err = await status(settings, [task.task_id], give_up_after=3.0)
    assert code == 2
    # Tried at 0 s (then 2 s of backoff) and at 2 s (4 s more would pass the limit).
    assert err.splitlines() == [
        "siray-tui: rate-limited, retrying in 2s",
        "siray-tui: error: rate-limited by the API: next try in 4s, after the 3s limit; "
        "gave up with 1 task unanswered",
    ]
    assert "rate-limited" in str(records[0]["error"])
    # The old code retried at once, once per rate slot (about 150 requests in 3 s here),
    # and never returned.
    assert sim.api_request_count == 2


async def test_status_gives_up_at_once_when_the_server_asks_for_longer_than_the_budget(
    sim_factory: SimFactory, tmp_path: Path
) -> None:
    sim = sim_factory(faults=Faults(rate_limit_every=1, retry_after=999999))
    task = sim.scenario.add_task("image", queue_s=0, run_s=0, created_at=1.0)
    code, _, err = await status(settings_for(sim.base_url, tmp_path), [task.task_id])
    assert code == 2
    assert err.splitlines() == [
        "siray-tui: error: rate-limited by the API: next try in 2m 00s, after the 1m 00s "
        "limit; gave up with 1 task unanswered"
    ]
    assert sim.api_request_count == 1
