"""SirayClient against the simulator over loopback: real sockets, every error class."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any, cast

import pytest

from siray_tui.core.client import SirayClient
from siray_tui.core.errors import (
    ApiError,
    AuthError,
    NotFoundError,
    PayloadError,
    RateLimitedError,
    RequestTimeoutError,
    ServerError,
    TransportError,
    UnsafeUrlError,
)
from siray_tui.core.models import TaskKind, TaskStatus
from siray_tui.core.secret import Secret
from siray_tui.core.text import check_url
from siray_tui.sim import Faults, Kind, SimServer, default_model

TOKEN = "sk-sim-5e4d3c2b1a"
KINDS = [TaskKind.IMAGE, TaskKind.VIDEO]
LONG_AGO = 10_000.0  # seconds: a task created this long ago is final

SimFactory = Callable[..., SimServer]


@asynccontextmanager
async def connect(
    sim: SimServer, token: str | None = TOKEN, **kwargs: Any
) -> AsyncIterator[SirayClient]:
    client = SirayClient(sim.base_url, Secret(token) if token is not None else None, **kwargs)
    async with client:
        yield client


def finished_task(sim: SimServer, kind: TaskKind, **traits: Any) -> str:
    created_at = time.time() - LONG_AGO
    task = sim.scenario.add_task(cast(Kind, kind.value), created_at=created_at, **traits)
    return task.task_id


# -- the happy path ----------------------------------------------------------------------


@pytest.mark.parametrize("kind", KINDS)
async def test_submit_then_query(sim: SimServer, kind: TaskKind) -> None:
    async with connect(sim) as client:
        task_id = await client.submit(
            kind, {"model": default_model(kind.value), "prompt": "a red fox"}
        )
        state = await client.get_task(task_id, kind)
    assert task_id.startswith(f"{kind.value}_")
    sim_task = sim.scenario.get(task_id)
    assert sim_task is not None and sim_task.kind == kind.value
    assert sim_task.prompt == "a red fox"
    assert state.task_id == task_id
    assert state.status is not TaskStatus.UNKNOWN
    assert state.raw["task_id"] == task_id
    assert state.submit_time is not None
    assert [entry.method for entry in sim.request_log] == ["POST", "GET"]
    for entry in sim.request_log:
        assert entry.headers["authorization"] == f"Bearer {TOKEN}"


@pytest.mark.parametrize("kind", KINDS)
async def test_finished_success_has_fetchable_outputs(sim: SimServer, kind: TaskKind) -> None:
    task_id = finished_task(sim, kind, outcome="success", outputs=2)
    async with connect(sim) as client:
        state = await client.get_task(task_id, kind)
    assert state.status is TaskStatus.SUCCESS
    assert state.progress == 100
    assert len(state.outputs) == 2
    for url in state.outputs:
        assert check_url(url, allow_loopback_http=True) == url
    timings = state.timings(time.time())
    assert timings.queue is not None and timings.queue >= 0
    assert timings.run is not None and timings.run >= 0
    assert timings.total is not None and timings.total >= timings.run


@pytest.mark.parametrize("kind", KINDS)
async def test_finished_failure_has_a_reason(sim: SimServer, kind: TaskKind) -> None:
    task_id = finished_task(sim, kind, outcome="failure", fail_reason="GPU out of memory")
    async with connect(sim) as client:
        state = await client.get_task(task_id, kind)
    assert state.status is TaskStatus.FAILURE
    assert state.fail_reason == "GPU out of memory"
    assert state.outputs == ()


async def test_an_id_without_prefix_is_answered_by_its_endpoint(sim: SimServer) -> None:
    sim.scenario.add_task("video", "task-abc123", created_at=time.time() - LONG_AGO)
    async with connect(sim) as client:
        order = TaskKind.AUTO.endpoints_to_try("task-abc123")
        assert order[:2] == (TaskKind.IMAGE, TaskKind.VIDEO)
        with pytest.raises(NotFoundError):
            await client.get_task("task-abc123", order[0])
        state = await client.get_task("task-abc123", order[1])
    assert state.status.is_final


# -- every error class -------------------------------------------------------------------


@pytest.mark.parametrize("token", ["wrong-token", None, ""])
async def test_wrong_or_missing_token_is_an_auth_error(
    sim_factory: SimFactory, token: str | None
) -> None:
    sim = sim_factory(token=TOKEN)
    task_id = finished_task(sim, TaskKind.IMAGE)
    async with connect(sim, token=token) as client:
        with pytest.raises(AuthError) as caught:
            await client.get_task(task_id, TaskKind.IMAGE)
        with pytest.raises(AuthError):
            await client.submit(TaskKind.IMAGE, {"prompt": "x"})
    assert caught.value.status_code == 401
    async with connect(sim) as client:  # the right token works on the same server
        assert (await client.get_task(task_id, TaskKind.IMAGE)).status.is_final


@pytest.mark.parametrize("kind", KINDS)
async def test_unknown_id_is_not_found(sim: SimServer, kind: TaskKind) -> None:
    async with connect(sim) as client:
        with pytest.raises(NotFoundError) as caught:
            await client.get_task(f"{kind.value}_000000000000deadbeef", kind)
    assert caught.value.status_code == 404
    assert "task not found" in str(caught.value)


@pytest.mark.parametrize(
    ("kind", "wrong"), [(TaskKind.IMAGE, TaskKind.VIDEO), (TaskKind.VIDEO, TaskKind.IMAGE)]
)
async def test_wrong_kinds_endpoint_is_not_found(
    sim: SimServer, kind: TaskKind, wrong: TaskKind
) -> None:
    task_id = finished_task(sim, kind)
    async with connect(sim) as client:
        with pytest.raises(NotFoundError):
            await client.get_task(task_id, wrong)
        assert (await client.get_task(task_id, kind)).status.is_final


@pytest.mark.parametrize(
    ("retry_after", "expected"),
    [(7, 7.0), (0.5, 0.5), (500, 120.0), (None, None), ("soon", None), ("-3", None)],
)
async def test_rate_limited_with_retry_after_seconds(
    sim_factory: SimFactory, retry_after: float | str | None, expected: float | None
) -> None:
    sim = sim_factory(faults=Faults(rate_limit_every=1, retry_after=retry_after))
    task_id = finished_task(sim, TaskKind.IMAGE)
    async with connect(sim) as client:
        with pytest.raises(RateLimitedError) as caught:
            await client.get_task(task_id, TaskKind.IMAGE)
    assert caught.value.retry_after == expected
    assert caught.value.status_code == 429


async def test_rate_limited_with_retry_after_date(sim_factory: SimFactory) -> None:
    sim = sim_factory(faults=Faults(rate_limit_every=1, retry_after="date"))
    task_id = finished_task(sim, TaskKind.VIDEO)
    async with connect(sim) as client:
        with pytest.raises(RateLimitedError) as caught:
            await client.get_task(task_id, TaskKind.VIDEO)
    # The simulator sends a date 2 s ahead, at one-second resolution.
    assert caught.value.retry_after is not None
    assert 0.0 <= caught.value.retry_after <= 2.0


async def test_rate_limit_every_nth_request(sim_factory: SimFactory) -> None:
    sim = sim_factory(faults=Faults(rate_limit_every=3, retry_after=1))
    task_id = finished_task(sim, TaskKind.IMAGE)
    outcomes: list[str] = []
    async with connect(sim) as client:
        for _ in range(6):
            try:
                await client.get_task(task_id, TaskKind.IMAGE)
                outcomes.append("ok")
            except RateLimitedError:
                outcomes.append("429")
    assert outcomes == ["ok", "ok", "429", "ok", "ok", "429"]


async def test_5xx_is_a_server_error(sim_factory: SimFactory) -> None:
    sim = sim_factory(faults=Faults(error_rate=1.0))
    task_id = finished_task(sim, TaskKind.IMAGE)
    seen: set[int] = set()
    async with connect(sim) as client:
        for _ in range(15):
            with pytest.raises(ServerError) as caught:
                await client.get_task(task_id, TaskKind.IMAGE)
            assert caught.value.status_code is not None
            seen.add(caught.value.status_code)
    assert seen <= {500, 502, 503}
    assert len(seen) >= 2  # HTML gateway pages and JSON error bodies alike


async def test_non_json_200_is_a_payload_error(sim_factory: SimFactory) -> None:
    sim = sim_factory(faults=Faults(nonjson_rate=1.0))
    task_id = finished_task(sim, TaskKind.VIDEO)
    async with connect(sim) as client:
        with pytest.raises(PayloadError) as caught:
            await client.get_task(task_id, TaskKind.VIDEO)
    assert "not JSON" in str(caught.value)
    assert caught.value.status_code == 200


async def test_dropped_connection_is_a_transport_error(sim_factory: SimFactory) -> None:
    sim = sim_factory(faults=Faults(drop_rate=1.0))
    task_id = finished_task(sim, TaskKind.IMAGE)
    async with connect(sim) as client:
        for _ in range(3):
            with pytest.raises(TransportError) as caught:
                await client.get_task(task_id, TaskKind.IMAGE)
            assert not isinstance(caught.value, RequestTimeoutError)
            assert caught.value.status_code is None
        sim.faults.drop_rate = 0.0  # the client recovers on the same pool
        assert (await client.get_task(task_id, TaskKind.IMAGE)).status.is_final


async def test_latency_beyond_the_timeout_is_a_timeout(sim_factory: SimFactory) -> None:
    sim = sim_factory(faults=Faults(latency=0.6))
    task_id = finished_task(sim, TaskKind.IMAGE)
    async with connect(sim, timeout=0.15) as client:
        started = time.monotonic()
        with pytest.raises(RequestTimeoutError) as caught:
            await client.get_task(task_id, TaskKind.IMAGE)
        elapsed = time.monotonic() - started
    assert isinstance(caught.value, TransportError)
    assert elapsed < 0.55


async def test_connection_refused_is_a_transport_error(sim_factory: SimFactory) -> None:
    sim = sim_factory()
    base_url = sim.base_url
    sim.stop()
    async with SirayClient(base_url, Secret(TOKEN), timeout=2.0) as client:
        with pytest.raises(TransportError):
            await client.get_task("image_1", TaskKind.IMAGE)


# -- hostile and quirky payloads ---------------------------------------------------------


async def test_hostile_fail_reason_is_parsed_and_cleaned(sim_factory: SimFactory) -> None:
    sim = sim_factory(faults=Faults(hostile=True))
    task_id = finished_task(sim, TaskKind.VIDEO, outcome="failure", fail_reason="bad prompt")
    async with connect(sim) as client:
        state = await client.get_task(task_id, TaskKind.VIDEO)
    assert state.status is TaskStatus.FAILURE
    reason = state.fail_reason
    assert reason.startswith("bad prompt\n")
    for forbidden in ("\x1b", "\x00", "\x07", "\u202e", "\u202c", "\r"):
        assert forbidden not in reason
    assert "]52;" not in reason and "ZXZpbA" not in reason  # the OSC 52 payload is gone
    assert "[/x]" in reason  # markup is kept literally: cleaning is not escaping
    assert "[@click=app.quit]x[/]" in reason
    assert "red" in reason
    assert "x" * 4990 in reason
    assert state.message == "[@click=app.quit]x[/]"
    assert "\x1b" not in state.raw_status


async def test_hostile_outputs_are_kept_for_check_url_to_refuse(sim_factory: SimFactory) -> None:
    sim = sim_factory(faults=Faults(hostile=True))
    task_id = finished_task(sim, TaskKind.IMAGE, outcome="success", outputs=1)
    async with connect(sim) as client:
        state = await client.get_task(task_id, TaskKind.IMAGE)
    assert state.status is TaskStatus.SUCCESS
    accepted, refused = [], []
    for url in state.outputs:
        try:
            accepted.append(check_url(url, allow_loopback_http=True))
        except UnsafeUrlError as exc:
            refused.append(url)
            assert "\x1b" not in str(exc) and "\n" not in str(exc)
    assert accepted[0] == f"{sim.base_url}/redirect/" + accepted[0].rsplit("/", 1)[1]
    assert "javascript:alert(1)" in refused
    assert "file:///etc/passwd" in refused
    assert "http://evil.example.com/x.png" in refused
    assert any("\u202e" in url for url in refused)
    assert any("\x1b" in url for url in refused)


async def test_quirky_payloads_always_parse(sim_factory: SimFactory) -> None:
    sim = sim_factory(faults=Faults(quirky=True))
    now = time.time()
    ids = [
        sim.scenario.add_task(
            kind, created_at=now - ago, queue_s=2.0, run_s=4.0, outcome=outcome
        ).task_id
        for kind in ("image", "video")
        for ago in (0.1, 0.5, 1.0, 3.0, 100.0)
        for outcome in ("success", "failure")
    ]
    async with connect(sim) as client:
        for _ in range(3):
            for task_id in ids:
                kind = TaskKind.guess(task_id)
                state = await client.get_task(task_id, kind)
                assert state.status is not TaskStatus.UNKNOWN
                assert state.progress is None or 0 <= state.progress <= 100
                timings = state.timings(time.time())
                for value in (timings.queue, timings.run, timings.total):
                    assert value is None or value >= 0


async def test_every_fault_at_once_raises_only_api_errors(sim_factory: SimFactory) -> None:
    faults = Faults(
        error_rate=0.2,
        rate_limit_every=7,
        retry_after="date",
        nonjson_rate=0.2,
        drop_rate=0.1,
        hostile=True,
        quirky=True,
    )
    sim = sim_factory(faults=faults)
    task_id = finished_task(sim, TaskKind.IMAGE, outcome="failure")
    kinds: dict[str, int] = {}
    async with connect(sim, timeout=5.0) as client:
        for _ in range(60):
            try:
                state = await client.get_task(task_id, TaskKind.IMAGE)
            except ApiError as exc:
                kinds[type(exc).__name__] = kinds.get(type(exc).__name__, 0) + 1
                assert "\x1b" not in str(exc)
                assert TOKEN not in str(exc)
            else:
                kinds["ok"] = kinds.get("ok", 0) + 1
                assert state.status is TaskStatus.FAILURE
    assert {"ok", "ServerError", "PayloadError", "RateLimitedError", "TransportError"} <= set(
        kinds
    ), kinds
