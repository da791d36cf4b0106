"""The simulator, over real loopback HTTP with the standard library's client.

Deliberately not httpx: these tests check the server the client tests rely on, so they
must not share the client's stack. Lifecycles run on a ManualClock, so they are instant.
"""

from __future__ import annotations

import ast
import http.client
import json
import re
import signal
import struct
import subprocess
import sys
import threading
import time
import zlib
from dataclasses import dataclass
from email.message import Message
from email.utils import parsedate_to_datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from siray_tui.sim import (
    FAILURE,
    HOSTILE_TEXTS,
    IN_PROGRESS,
    NOT_START,
    PNG_SIGNATURE,
    QUEUED,
    STATUS_ORDER,
    SUBMITTED,
    SUCCESS,
    Faults,
    Kind,
    ManualClock,
    MediaStore,
    Scenario,
    SimServer,
    api_path,
    default_model,
)
from siray_tui.sim.main import is_loopback
from tests.conftest import SimFactory

TOKEN = "test-token"
NOT_FOUND_BODY = {
    "error": {
        "message": "task not found",
        "type": "invalid_request_error",
        "code": "task_not_found",
    }
}
AUTH_BODY = {
    "error": {"message": "invalid token", "type": "authentication_error", "code": "invalid_api_key"}
}
DATA_KEYS = {
    "task_id",
    "status",
    "progress",
    "outputs",
    "submit_time",
    "start_time",
    "finish_time",
    "fail_reason",
    "action",
}


@dataclass
class Reply:
    status: int
    headers: Message
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


def call(
    method: str,
    url: str,
    *,
    token: str | None = TOKEN,
    body: Any = None,
    raw: bytes | None = None,
    headers: dict[str, str] | None = None,
) -> Reply:
    """One request on a fresh connection; redirects are not followed."""
    parts = urlsplit(url)
    assert parts.hostname == "127.0.0.1"  # never anything but loopback
    sent = dict(headers or {})
    if token is not None:
        sent["Authorization"] = f"Bearer {token}"
    data = raw if raw is not None else None if body is None else json.dumps(body).encode()
    if data is not None:
        sent["Content-Type"] = "application/json"
    connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=5)
    try:
        path = parts.path + (f"?{parts.query}" if parts.query else "")
        connection.request(method, path, body=data, headers=sent)
        response = connection.getresponse()
        return Reply(response.status, response.headers, response.read())
    finally:
        connection.close()


def query(sim: SimServer, kind: Kind, task_id: str, token: str | None = TOKEN) -> Reply:
    return call("GET", sim.url(api_path(kind, task_id)), token=token)


def submit(sim: SimServer, kind: Kind) -> str:
    body = {"model": default_model(kind), "prompt": "a fox"}
    reply = call("POST", sim.url(api_path(kind)), body=body)
    assert reply.status == 200
    task_id: str = reply.json()["data"]["task_id"]
    return task_id


def finished_task(sim: SimServer, kind: Kind, count: int = 1) -> tuple[str, list[str]]:
    """A task that finished an hour ago, and its output URLs."""
    task = sim.scenario.add_task(
        kind, queue_s=1, run_s=2, outputs=count, created_at=sim.scenario.now() - 3600
    )
    data = query(sim, kind, task.task_id).json()["data"]
    assert data["status"] == SUCCESS
    return task.task_id, data["outputs"]


# -- endpoints ---------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["image", "video", "3d"])
def test_submit_then_query_answers_the_documented_shape(sim: SimServer, kind: Kind) -> None:
    task_id = submit(sim, kind)
    assert re.fullmatch(rf"{kind}_[0-9a-f]{{24}}", task_id)

    reply = query(sim, kind, task_id)

    assert reply.status == 200
    assert reply.headers["Content-Type"] == "application/json"
    envelope = reply.json()
    assert (envelope["code"], envelope["message"]) == ("success", "")
    data = envelope["data"]
    assert set(data) == DATA_KEYS
    assert data["task_id"] == task_id
    actions = {"image": "imageGenerate", "video": "videoGenerate", "3d": "modelGenerate"}
    assert data["action"] == actions[kind]
    assert data["status"] in STATUS_ORDER
    assert re.fullmatch(r"\d{1,3}%", data["progress"])
    assert all(isinstance(data[k], int) for k in ("submit_time", "start_time", "finish_time"))


def test_a_submitted_task_becomes_final_in_real_time(sim: SimServer) -> None:
    task_id = submit(sim, "image")
    deadline = time.monotonic() + 5
    status = ""
    while time.monotonic() < deadline:
        status = query(sim, "image", task_id).json()["data"]["status"]
        if status in (SUCCESS, FAILURE):
            break
        time.sleep(0.1)
    assert status in (SUCCESS, FAILURE)


@pytest.mark.parametrize("raw", [b"{not json", b"[1, 2]", b"", b"\xff\xfe"])
def test_a_bad_submit_body_is_400(sim: SimServer, raw: bytes) -> None:
    reply = call("POST", sim.url(api_path("video")), raw=raw)
    assert reply.status == 400
    assert reply.json()["error"]["code"] == "invalid_json"


def test_unknown_ids_and_the_wrong_kind_are_404(sim: SimServer) -> None:
    task_id = submit(sim, "image")
    cases: list[tuple[Kind, str]] = [("image", "image_" + "0" * 24), ("video", task_id)]
    for kind, some_id in cases:
        reply = query(sim, kind, some_id)
        assert reply.status == 404
        assert reply.json() == NOT_FOUND_BODY


def test_ids_without_a_prefix_and_tasks_final_long_ago(sim: SimServer) -> None:
    clock_now = sim.scenario.now()
    sim.scenario.add_task(
        "video", "task-abc123", queue_s=5, run_s=60, created_at=clock_now - 86_400
    )
    sim.scenario.add_task(
        "image", "video_0123", queue_s=0, run_s=0, outcome="failure", created_at=clock_now - 60
    )

    assert query(sim, "video", "task-abc123").json()["data"]["status"] == SUCCESS
    assert query(sim, "image", "task-abc123").status == 404
    assert query(sim, "image", "video_0123").json()["data"]["status"] == FAILURE
    assert query(sim, "video", "video_0123").status == 404
    with pytest.raises(ValueError):
        sim.scenario.add_task("image", "task-abc123")


# -- lifecycles --------------------------------------------------------------------------


def test_a_lifecycle_walks_every_state_with_monotonic_progress(sim_factory: SimFactory) -> None:
    clock = ManualClock()
    sim = sim_factory(clock=clock)
    task = sim.scenario.add_task("image", queue_s=10, run_s=20, outputs=3)
    seen: list[dict[str, Any]] = []
    for _ in range(70):
        seen.append(query(sim, "image", task.task_id).json()["data"])
        clock.advance(0.5)

    statuses = [data["status"] for data in seen]
    assert list(dict.fromkeys(statuses)) == [NOT_START, SUBMITTED, QUEUED, IN_PROGRESS, SUCCESS]
    progress = [int(data["progress"].rstrip("%")) for data in seen]
    assert progress == sorted(progress)
    assert max(p for p, s in zip(progress, statuses, strict=True) if s == IN_PROGRESS) <= 99
    running = next(data for data in seen if data["status"] == IN_PROGRESS)
    assert running["start_time"] == int(task.created_at + 10)
    assert running["finish_time"] == 0
    assert seen[0]["submit_time"] == int(task.created_at)
    assert (seen[0]["start_time"], seen[0]["finish_time"]) == (0, 0)
    final = seen[-1]
    assert final["progress"] == "100%"
    assert final["finish_time"] == int(task.created_at + 30)
    assert len(final["outputs"]) == 3
    assert final["fail_reason"] == ""


def test_failures_keep_their_progress_or_never_start(sim_factory: SimFactory) -> None:
    clock = ManualClock()
    sim = sim_factory(clock=clock)
    crash = sim.scenario.add_task(
        "video",
        queue_s=2,
        run_s=4,
        outcome="failure",
        fail_reason="GPU worker out of memory (CUDA error: out of memory)",
        failure_progress=60,
    )
    rejected = sim.scenario.add_task("image", queue_s=1, run_s=0, outcome="failure")
    clock.advance(4)
    mid = query(sim, "video", crash.task_id).json()["data"]
    assert (mid["status"], mid["progress"]) == (IN_PROGRESS, "30%")
    clock.advance(10)

    crashed = query(sim, "video", crash.task_id).json()["data"]
    assert crashed["status"] == FAILURE
    assert crashed["progress"] == "60%"
    assert crashed["fail_reason"].startswith("GPU worker out of memory")
    assert crashed["outputs"] == []
    assert crashed["start_time"] > 0 and crashed["finish_time"] >= crashed["start_time"]
    early = query(sim, "image", rejected.task_id).json()["data"]
    assert (early["status"], early["progress"], early["start_time"]) == (FAILURE, "0%", 0)
    assert early["fail_reason"]


def test_status_depends_only_on_the_clock() -> None:
    clock = ManualClock()
    scenario = Scenario(5, clock=clock)
    task = scenario.submit("image")
    clock.advance(7.5)
    first = scenario.state(task.task_id)
    assert all(scenario.state(task.task_id) == first for _ in range(5))
    assert task.state_at(clock() + 10_000).final


def test_demo_tasks_span_every_state() -> None:
    clock = ManualClock()
    scenario = Scenario(3, clock=clock)
    tasks = scenario.add_demo_tasks(16)
    statuses = {task.state_at(clock()).status for task in tasks}
    assert {SUCCESS, FAILURE, IN_PROGRESS, QUEUED, NOT_START, "MODERATION"} <= statuses
    assert any(not task.task_id.startswith(("image_", "video_", "3d_")) for task in tasks)
    assert {task.kind for task in tasks} == {"image", "video", "3d"}


# -- auth --------------------------------------------------------------------------------


def test_a_fixed_token_is_enforced_on_v1_only(sim_factory: SimFactory) -> None:
    sim = sim_factory(token="s3cret")
    task = sim.scenario.add_task("image", queue_s=0, run_s=0, created_at=0)
    for token in (None, "wrong", ""):
        reply = query(sim, "image", task.task_id, token=token)
        assert reply.status == 401
        assert reply.json() == AUTH_BODY
    basic = call(
        "GET",
        sim.url(api_path("image", task.task_id)),
        token=None,
        headers={"Authorization": "Basic s3cret"},
    )
    assert basic.status == 401
    reply = query(sim, "image", task.task_id, token="s3cret")
    assert reply.status == 200
    assert call("POST", sim.url(api_path("image")), token="wrong", body={}).status == 401

    url = reply.json()["data"]["outputs"][0]
    redirect = call("GET", url, token=None)
    assert redirect.status == 302
    assert call("GET", redirect.headers["Location"], token=None).status == 200

    sim.token = "rotated"
    assert query(sim, "image", task.task_id, token="s3cret").status == 401
    assert query(sim, "image", task.task_id, token="rotated").status == 200


def test_without_a_fixed_token_any_bearer_is_accepted(sim: SimServer) -> None:
    task = sim.scenario.add_task("video")
    assert query(sim, "video", task.task_id, token=None).status == 401
    assert query(sim, "video", task.task_id, token="").status == 401
    assert query(sim, "video", task.task_id, token="anything").status == 200


# -- output files ------------------------------------------------------------------------


def test_image_outputs_redirect_to_real_pngs(sim: SimServer) -> None:
    task_id, outputs = finished_task(sim, "image", count=2)
    assert len(outputs) == 2
    assert all(url.startswith(sim.base_url + "/redirect/") for url in outputs)

    redirect = call("GET", outputs[1], token=None)
    assert redirect.status == 302
    assert redirect.headers["Location"] == f"{sim.base_url}/files/{task_id}/1.png"
    png = call("GET", redirect.headers["Location"], token=None)
    assert png.status == 200
    assert png.headers["Content-Type"] == "image/png"
    assert int(png.headers["Content-Length"]) == len(png.body)
    assert png.body.startswith(PNG_SIGNATURE)
    width, height = struct.unpack(">II", png.body[16:24])
    assert (width, height) == (64, 64)
    idat_length = struct.unpack(">I", png.body[33:37])[0]
    assert len(zlib.decompress(png.body[41 : 41 + idat_length])) == 64 * (1 + 64 * 3)

    head = call("HEAD", redirect.headers["Location"], token=None)
    assert (head.status, head.body) == (200, b"")
    assert head.headers["Content-Length"] == str(len(png.body))
    assert call("GET", redirect.headers["Location"], token=None).body == png.body


def test_video_outputs_are_mp4_files(sim: SimServer) -> None:
    task_id, outputs = finished_task(sim, "video")
    location = call("GET", outputs[0], token=None).headers["Location"]
    assert location.endswith(f"/files/{task_id}/0.mp4")
    mp4 = call("GET", location, token=None)
    assert mp4.headers["Content-Type"] == "video/mp4"
    assert mp4.body[4:8] == b"ftyp"
    boxes, offset = [], 0
    while offset < len(mp4.body):
        size = struct.unpack(">I", mp4.body[offset : offset + 4])[0]
        boxes.append(mp4.body[offset + 4 : offset + 8])
        offset += size
    assert (boxes, offset) == ([b"ftyp", b"moov", b"mdat"], len(mp4.body))


def test_range_requests_resume_a_download(sim: SimServer) -> None:
    task_id, _ = finished_task(sim, "image")
    url = sim.url(f"/files/{task_id}/0.png")
    whole = call("GET", url, token=None).body

    part = call("GET", url, token=None, headers={"Range": "bytes=100-"})
    assert part.status == 206
    assert part.headers["Content-Range"] == f"bytes 100-{len(whole) - 1}/{len(whole)}"
    assert part.body == whole[100:]
    past_end = call("GET", url, token=None, headers={"Range": f"bytes={len(whole)}-"})
    assert past_end.status == 416


def test_files_exist_only_for_finished_outputs(sim_factory: SimFactory) -> None:
    clock = ManualClock()
    sim = sim_factory(clock=clock)
    task = sim.scenario.add_task("image", queue_s=1, run_s=1, outputs=1)
    assert call("GET", sim.url(f"/files/{task.task_id}/0.png"), token=None).status == 404
    clock.advance(5)
    assert call("GET", sim.url(f"/files/{task.task_id}/0.png"), token=None).status == 200
    for bad in ("1.png", "0.mp4"):
        assert call("GET", sim.url(f"/files/{task.task_id}/{bad}"), token=None).status == 404
    assert call("GET", sim.url("/redirect/nope"), token=None).status == 404


def test_a_lying_content_length(sim: SimServer) -> None:
    task_id, _ = finished_task(sim, "image")
    url = sim.url(f"/files/{task_id}/0.png")
    real_size = len(call("GET", url, token=None).body)

    sim.lying_content_length = 10
    short = call("GET", url, token=None)
    assert (short.headers["Content-Length"], len(short.body)) == ("10", 10)
    sim.lying_content_length = real_size + 100
    with pytest.raises(http.client.IncompleteRead):
        call("GET", url, token=None)


def test_huge_files_stream_without_a_length(
    sim: SimServer, capfd: pytest.CaptureFixture[str]
) -> None:
    reply = call("GET", sim.url("/files-huge/300000.png"), token=None)
    assert reply.headers["Transfer-Encoding"] == "chunked"
    assert reply.headers["Content-Length"] is None
    assert (reply.headers["Content-Type"], len(reply.body)) == ("image/png", 300_000)
    claimed = call("GET", sim.url("/files-huge/300000?length=1000"), token=None)
    assert (claimed.headers["Content-Length"], len(claimed.body)) == ("1000", 1000)

    # A client that gives up mid-stream must not upset the server. The thread that
    # started for this connection is the one that could print a traceback, so the check
    # waits for it to end rather than for a guessed while.
    before = set(threading.enumerate())
    connection = http.client.HTTPConnection("127.0.0.1", sim.port, timeout=5)
    connection.request("GET", "/files-huge/500000000")
    connection.getresponse().read(1000)
    handlers = set(threading.enumerate()) - before
    assert len(handlers) == 1
    connection.close()
    (handler,) = handlers
    handler.join(30)
    assert not handler.is_alive()
    assert query(sim, "image", "x").status == 404
    assert "Traceback" not in capfd.readouterr().err


# -- faults ------------------------------------------------------------------------------


def test_server_errors(sim: SimServer) -> None:
    task = sim.scenario.add_task("image")
    sim.faults.error_rate = 1.0
    statuses = {query(sim, "image", task.task_id).status for _ in range(30)}
    assert statuses == {500, 502, 503}
    body = {"model": default_model("image"), "prompt": "a fox"}
    assert call("POST", sim.url(api_path("image")), body=body).status == 200  # polls only
    sim.faults.error_rate = 0.0
    assert query(sim, "image", task.task_id).status == 200


@pytest.mark.parametrize("retry_after", [None, 7, 0.5, "date", "soon"])
def test_rate_limit_every_nth_request(
    sim_factory: SimFactory, retry_after: float | str | None
) -> None:
    sim = sim_factory(faults=Faults(rate_limit_every=3, retry_after=retry_after))
    task = sim.scenario.add_task("image")
    replies = [query(sim, "image", task.task_id) for _ in range(6)]
    assert [reply.status for reply in replies] == [200, 200, 429, 200, 200, 429]
    limited = replies[2]
    assert limited.json()["error"]["code"] == "rate_limit_exceeded"
    header = limited.headers["Retry-After"]
    if retry_after is None:
        assert header is None
    elif retry_after == "date":
        delay = parsedate_to_datetime(header).timestamp() - time.time()
        assert -1 <= delay <= 4
    else:
        assert header == str(retry_after)


def test_latency(sim: SimServer) -> None:
    task = sim.scenario.add_task("image")
    sim.faults.latency = 0.2
    started = time.monotonic()
    assert query(sim, "image", task.task_id).status == 200
    assert time.monotonic() - started >= 0.2


def test_non_json_gateway_pages(sim: SimServer) -> None:
    task = sim.scenario.add_task("image")
    sim.faults.nonjson_rate = 1.0
    reply = query(sim, "image", task.task_id)
    assert reply.status == 200
    assert reply.headers["Content-Type"] == "text/html"
    with pytest.raises(json.JSONDecodeError):
        reply.json()


def test_dropped_connections(sim: SimServer) -> None:
    task = sim.scenario.add_task("image")
    sim.faults.drop_rate = 1.0
    with pytest.raises((http.client.RemoteDisconnected, ConnectionError)):
        query(sim, "image", task.task_id)
    sim.faults.drop_rate = 0.0
    assert query(sim, "image", task.task_id).status == 200


def test_faults_never_touch_public_files(sim: SimServer) -> None:
    task_id, outputs = finished_task(sim, "image")
    sim.faults = Faults(error_rate=1, nonjson_rate=1, drop_rate=1, rate_limit_every=1)
    location = call("GET", outputs[0], token=None).headers["Location"]
    assert call("GET", location, token=None).body.startswith(PNG_SIGNATURE)
    assert task_id in location


def test_hostile_content(sim: SimServer) -> None:
    long_ago = sim.scenario.now() - 3600
    failed = sim.scenario.add_task("image", outcome="failure", created_at=long_ago)
    done_id, _ = finished_task(sim, "image")
    sim.faults.hostile = True

    reason = query(sim, "image", failed.task_id).json()["data"]["fail_reason"]
    assert all(text in reason for text in HOSTILE_TEXTS)
    assert "\x00" in reason and "\x1b]52;" in reason and "\u202e" in reason
    assert any(len(line) >= 5000 for line in reason.splitlines())
    outputs = query(sim, "image", done_id).json()["data"]["outputs"]
    assert {"javascript:alert(1)", "file:///etc/passwd", "http://evil.example.com/x.png"} <= set(
        outputs
    )
    assert outputs[0].startswith(sim.base_url + "/redirect/")


def test_quirky_payloads_vary_but_stay_parseable(sim_factory: SimFactory) -> None:
    clock = ManualClock()
    sim = sim_factory(clock=clock, faults=Faults(quirky=True))
    tasks = [sim.scenario.add_task("image", queue_s=10, run_s=10) for _ in range(3)]
    shapes: set[str] = set()
    for _ in range(40):
        for task in tasks:
            data = query(sim, "image", task.task_id).json()["data"]
            shapes.add(f"progress:{type(data.get('progress', ...)).__name__}")
            for name in ("submit_time", "start_time", "finish_time"):
                shapes.add(f"time:{type(data.get(name, ...)).__name__}")
            shapes.update(f"extra:{key}" for key in set(data) - DATA_KEYS)
        clock.advance(0.6)
    expected = {"progress:int", "progress:str", "progress:ellipsis", "time:int", "time:str"}
    assert expected | {"time:NoneType", "time:ellipsis", "extra:queue_position"} <= shapes


# -- determinism and inspection --------------------------------------------------------


def test_same_seed_same_tasks() -> None:
    def traits(seed: int) -> list[tuple[Any, ...]]:
        scenario = Scenario(seed, clock=ManualClock(), failure_rate=0.5)
        made = [scenario.submit("image" if i % 2 else "video") for i in range(30)]
        return [
            (t.task_id, t.queue_s, t.run_s, t.outcome, t.fail_reason, t.output_tokens) for t in made
        ]

    assert traits(42) == traits(42)
    assert traits(42) != traits(43)
    assert {outcome for _, _, _, outcome, _, _ in traits(42)} == {"success", "failure"}
    assert MediaStore(1).get("t", "image", 0) == MediaStore(1).get("t", "image", 0)


def test_same_seed_same_answers_over_http(sim_factory: SimFactory) -> None:
    def run() -> list[Any]:
        clock = ManualClock()
        sim = sim_factory(clock=clock, faults=Faults(error_rate=0.3, quirky=True), seed=99)
        ids = [submit(sim, "image") for _ in range(4)]
        answers: list[Any] = []
        for _ in range(12):
            for task_id in ids:
                reply = query(sim, "image", task_id)
                body = reply.body.replace(sim.base_url.encode(), b"BASE")
                answers.append(json.loads(body) if reply.status == 200 else reply.status)
            clock.advance(1.0)
        sim.stop()
        return answers

    first = run()
    assert first == run()
    assert any(isinstance(answer, int) for answer in first)


def test_request_log_and_counters(sim: SimServer) -> None:
    task_id, outputs = finished_task(sim, "image")
    location = call("GET", outputs[0], token=None).headers["Location"]
    call("GET", location, token=None, headers={"X-Probe": "1"})
    query(sim, "image", task_id)

    log = sim.request_log
    assert [entry.method for entry in log] == ["GET"] * 4
    assert log[0].headers["authorization"] == f"Bearer {TOKEN}"
    public = [entry for entry in log if not entry.path.startswith("/v1/")]
    assert [entry.path.split("/")[1] for entry in public] == ["redirect", "files"]
    assert all("authorization" not in entry.headers for entry in public)
    assert public[1].headers["x-probe"] == "1"
    assert sim.requests_for(task_id) == 2
    sim.clear_log()
    assert (sim.request_log, sim.requests_for(task_id)) == ([], 0)


# -- command line and packaging ----------------------------------------------------------


def test_run_simulate_serves_until_interrupted() -> None:
    code = (
        "import argparse, signal, sys\n"
        "from siray_tui.sim.main import add_simulate_arguments, run_simulate\n"
        "signal.signal(signal.SIGINT, signal.default_int_handler)\n"
        "parser = argparse.ArgumentParser()\n"
        "add_simulate_arguments(parser)\n"
        "sys.exit(run_simulate(parser.parse_args(sys.argv[1:])))\n"
    )
    process = subprocess.Popen(
        [sys.executable, "-c", code, "--port", "0", "--demo-tasks", "3", "--token", "zq-secret-91"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        lines = [process.stdout.readline() for _ in range(6)]
        base = lines[0].split()[-1]
        assert lines[0].startswith("Simulator listening on http://127.0.0.1:")
        assert "curl" in "".join(lines) and "zq-secret-91" not in "".join(lines)
        demo_ids = lines[5].split(":", 1)[1].split()
        assert len(demo_ids) == 3
        sim_task = demo_ids[0]
        kinds: tuple[Kind, ...] = ("image", "video", "3d")
        statuses = [
            call("GET", base + api_path(k, sim_task), token="zq-secret-91").status for k in kinds
        ]
        assert sorted(statuses) == [200, 404, 404]
        process.send_signal(signal.SIGINT)
        assert process.wait(timeout=5) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        for stream in (process.stdout, process.stderr):
            if stream is not None:
                stream.close()


def test_run_simulate_warns_off_loopback(capsys: pytest.CaptureFixture[str]) -> None:
    import argparse

    from siray_tui.sim.main import add_simulate_arguments, run_simulate

    parser = argparse.ArgumentParser()
    add_simulate_arguments(parser)
    # 192.0.2.1 is TEST-NET-1: never local, so binding fails before anything listens.
    assert run_simulate(parser.parse_args(["--host", "192.0.2.1", "--port", "0"])) == 1
    err = capsys.readouterr().err
    assert "not a loopback address" in err and "cannot listen" in err
    assert is_loopback("127.0.0.2") and is_loopback("::1") and is_loopback("localhost")
    assert not is_loopback("0.0.0.0")


def test_the_simulator_imports_only_the_standard_library() -> None:
    package = Path(__file__).parents[2] / "siray_tui" / "sim"
    for source in package.glob("*.py"):
        for node in ast.walk(ast.parse(source.read_text())):
            names = []
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            for name in names:
                top = name.split(".")[0]
                ok = top in sys.stdlib_module_names or top == "__future__"
                assert ok or name.startswith("siray_tui.sim"), f"{source.name} imports {name}"
