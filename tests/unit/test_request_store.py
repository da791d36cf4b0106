"""A submitted task keeps its request in the watchlist: round trip, old files, odd entries."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

import pytest

from siray_tui.core.codec import ENCODER, decode_task, encode_task
from siray_tui.core.columns import task_record
from siray_tui.core.models import InputImage, TaskKind, TaskRequest, WatchedTask
from siray_tui.core.retries import retried_as
from siray_tui.core.store import WatchlistStore

T0 = 1_763_274_672.0
REQUEST = TaskRequest(
    TaskKind.VIDEO,
    "alibaba/wan-2.6-i2v",
    "a fox [bold]jumps[/]",
    {"duration": 5, "size": "1280x720", "audio_enable": True, "extra": {"a": [1, None]}},
    (
        InputImage(url="https://example.com/fox.png"),
        InputImage(name="fox.png", size=1234, sha256="ab" * 32),
    ),
)


def test_a_request_round_trips_through_the_store(tmp_path: Path) -> None:
    store = WatchlistStore(tmp_path)
    task = WatchedTask("video_1", kind=TaskKind.VIDEO, added_at=T0, request=REQUEST)
    store.mutate(lambda watchlist: watchlist.add_task(task))
    loaded = WatchlistStore(tmp_path).load()["video_1"]
    assert loaded.request == REQUEST
    text = (tmp_path / "watchlist.json").read_text()
    assert "sha256" in text and "data:" not in text
    # and to_json / from_json, the models' own path, agree with the codec
    assert WatchedTask.from_json(json.loads(json.dumps(task.to_json()))).request == REQUEST
    assert encode_task(task) == json.loads(json.dumps(task.to_json()))


def test_an_old_file_without_requests_still_loads_and_is_not_rewritten(tmp_path: Path) -> None:
    old = (
        b'{"version":1,"tasks":[\n'
        b'{"task_id":"image_1","kind":"image","label":"","added_at":1763274672.0,'
        b'"last_polled_at":null,"last_error":null,"not_found":false,"state":null,"history":[]}'
        b"\n]}\n"
    )
    (tmp_path / "watchlist.json").write_bytes(old)
    store = WatchlistStore(tmp_path)
    task = store.load()["image_1"]
    assert task.request is None
    assert task_record(task, T0)["model"] is None
    store.add(["image_1"])
    assert (tmp_path / "watchlist.json").read_bytes() == old


@pytest.mark.parametrize(
    "stored",
    [
        None,
        "junk",
        {"kind": "nope", "model": "m", "prompt": "p"},
        {"kind": "image", "model": 5, "prompt": "p"},
        {"kind": "image", "model": "m", "prompt": "p", "params": [1], "images": "x"},
        {"kind": "image", "model": "m\x1b[31m", "images": [{"size": 1}, {"url": ""}, 7]},
        {"kind": "3d", "model": "m", "prompt": "x" * 30_000, "images": [{"url": "u\x07"}]},
    ],
)
def test_odd_stored_requests_decode_alike_and_never_cost_the_task(stored: Any) -> None:
    entry: dict[str, Any] = {"task_id": "image_1", "kind": "image"}
    if stored is not None:
        entry["request"] = stored
    entry = json.loads(ENCODER.encode(entry))
    fast, reference = decode_task(entry), WatchedTask.from_json(entry)
    assert fast == reference
    request = fast.request
    if request is not None:
        assert "\x1b" not in request.model
        assert len(request.prompt) <= 20_000
        assert all("\x07" not in image.url for image in request.images)


def test_model_in_json_comes_from_the_request() -> None:
    task = WatchedTask("video_1", kind=TaskKind.VIDEO, request=REQUEST)
    assert task_record(task, T0)["model"] == "alibaba/wan-2.6-i2v"
    assert task_record(WatchedTask("video_2"), T0)["model"] is None


def test_retry_of_round_trips_and_old_requests_have_none(tmp_path: Path) -> None:
    """A resubmission remembers the task it retries (both decode paths); an older
    request, and a link to an ID we could never watch, load as no link."""
    retry = dataclasses.replace(REQUEST, retry_of="video_0")
    store = WatchlistStore(tmp_path)
    task = WatchedTask("video_1", kind=TaskKind.VIDEO, added_at=T0, request=retry)
    store.mutate(lambda watchlist: watchlist.add_task(task))
    assert WatchlistStore(tmp_path).load()["video_1"].request == retry
    assert WatchedTask.from_json(json.loads(json.dumps(task.to_json()))).request == retry
    assert "retry_of" not in REQUEST.to_json()
    unwatchable = {**retry.to_json(), "retry_of": "a/../b"}
    for stored in (REQUEST.to_json(), unwatchable):
        entry = json.loads(ENCODER.encode({"task_id": "image_1", "request": stored}))
        fast, reference = decode_task(entry), WatchedTask.from_json(entry)
        assert fast == reference and fast.request is not None
        assert fast.request.retry_of == ""


def test_retried_as_is_worked_out_from_the_watchlist() -> None:
    old = WatchedTask("video_0", kind=TaskKind.VIDEO, request=REQUEST)
    first = WatchedTask("video_1", request=dataclasses.replace(REQUEST, retry_of="video_0"))
    second = WatchedTask("video_2", request=dataclasses.replace(REQUEST, retry_of="video_0"))
    other = WatchedTask("video_3", request=dataclasses.replace(REQUEST, retry_of="video_1"))
    assert retried_as("video_0", [old, first, second, other]) == ["video_1", "video_2"]
    assert retried_as("video_2", [old, first, second, other]) == []
