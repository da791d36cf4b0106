"""The simulator's 3D kind: its endpoints, its slower lifecycles and its real GLB files.

The GLB is taken apart here with ``struct`` and ``json`` only, as the glTF 2.0 spec lays
it out, so that these checks never share a bug with the app's own header reader.
"""

from __future__ import annotations

import json
import random
import struct
from typing import Any

import pytest

from siray_tui.sim import GLB_MAGIC, SUCCESS, Scenario, SimServer, api_path
from siray_tui.sim.media import corrupt, make_glb
from tests.integration.test_simulator import call, finished_task, query, submit

_COMPONENT_SIZES = {5126: 4, 5123: 2, 5125: 4}
_TYPE_WIDTHS = {"SCALAR": 1, "VEC3": 3}


def parse_glb(data: bytes) -> tuple[dict[str, Any], bytes]:
    """The JSON document and the BIN chunk of a GLB, checking every length on the way."""
    magic, version, total = struct.unpack("<4sII", data[:12])
    assert (magic, version, total) == (GLB_MAGIC, 2, len(data))
    json_length, json_type = struct.unpack("<I4s", data[12:20])
    assert json_type == b"JSON" and json_length % 4 == 0
    document = json.loads(data[20 : 20 + json_length])
    offset = 20 + json_length
    bin_length, bin_type = struct.unpack("<I4s", data[offset : offset + 8])
    assert bin_type == b"BIN\x00" and bin_length % 4 == 0
    assert offset + 8 + bin_length == len(data)
    return document, data[offset + 8 : offset + 8 + bin_length]


def test_glb_files_are_valid_gltf_with_consistent_geometry() -> None:
    for seed in range(20):
        document, binary = parse_glb(make_glb(random.Random(seed)))
        assert document["asset"]["version"] == "2.0"
        assert document["buffers"] == [{"byteLength": len(binary)}]
        for view in document["bufferViews"]:
            assert view["byteOffset"] + view["byteLength"] <= len(binary)
        accessors = document["accessors"]
        for accessor in accessors:
            view = document["bufferViews"][accessor["bufferView"]]
            size = _COMPONENT_SIZES[accessor["componentType"]] * _TYPE_WIDTHS[accessor["type"]]
            assert accessor["count"] * size == view["byteLength"]
        assert len(document["meshes"]) in (2, 3)
        for mesh in document["meshes"]:
            (primitive,) = mesh["primitives"]
            positions = accessors[primitive["attributes"]["POSITION"]]
            indices = accessors[primitive["indices"]]
            assert indices["count"] % 3 == 0
            view = document["bufferViews"][indices["bufferView"]]
            raw = binary[view["byteOffset"] : view["byteOffset"] + view["byteLength"]]
            assert max(struct.unpack(f"<{indices['count']}H", raw)) == positions["count"] - 1
        assert len(make_glb(random.Random(seed))) < 8_000


def test_glb_files_are_deterministic_and_differ_between_outputs() -> None:
    assert make_glb(random.Random(3)) == make_glb(random.Random(3))
    assert make_glb(random.Random(3)) != make_glb(random.Random(4))


def test_3d_tasks_have_their_own_ids_endpoint_and_action(sim: SimServer) -> None:
    task_id = submit(sim, "3d")
    assert task_id.startswith("3d_") and len(task_id) == 27
    assert api_path("3d", task_id) == f"/v1/3d/generations/{task_id}"
    data = query(sim, "3d", task_id).json()["data"]
    assert (data["task_id"], data["action"]) == (task_id, "modelGenerate")
    # an ID answers on its own kind's endpoint only
    assert query(sim, "image", task_id).status == 404
    assert query(sim, "video", task_id).status == 404


def test_3d_lifecycles_are_slower() -> None:
    scenario = Scenario(5, queue_seconds=(2.0, 10.0), run_seconds=(5.0, 30.0), failure_rate=0)
    runs = {kind: [scenario.submit(kind).run_s for _ in range(30)] for kind in ("image", "3d")}
    assert sum(runs["3d"]) > 2 * sum(runs["image"])
    assert min(runs["3d"]) >= 20 and max(runs["3d"]) <= 120
    queues = [scenario.submit("3d").queue_s for _ in range(30)]
    assert min(queues) >= 4 and max(queues) <= 20


def test_3d_outputs_redirect_to_glb_files(sim: SimServer) -> None:
    task_id, outputs = finished_task(sim, "3d", count=2)
    assert len(outputs) == 2
    for index, url in enumerate(outputs):
        location = call("GET", url, token=None).headers["Location"]
        assert location == f"{sim.base_url}/files/{task_id}/{index}.glb"
        reply = call("GET", location, token=None)
        assert reply.status == 200
        assert reply.headers["Content-Type"] == "model/gltf-binary"
        document, _ = parse_glb(reply.body)
        assert document["meshes"]
    # the wrong extension is not served
    assert call("GET", sim.url(f"/files/{task_id}/0.png"), token=None).status == 404
    first = sim.url(f"/files/{task_id}/0.glb")
    head = call("GET", first, token=None, headers={"Range": "bytes=0-19"})
    assert (head.status, head.body[:4], len(head.body)) == (206, GLB_MAGIC, 20)


def test_corrupt_outputs_lie_in_their_headers(sim: SimServer) -> None:
    task_id, outputs = finished_task(sim, "3d")
    location = call("GET", outputs[0], token=None).headers["Location"]
    good = call("GET", location, token=None).body
    sim.corrupt_outputs.add(task_id)
    bad = call("GET", location, token=None).body
    assert bad[:12] == good[:12] and len(bad) == len(good)
    assert struct.unpack("<I", bad[12:16])[0] > len(bad)
    mp4_start = b"\x00\x00\x00\x18ftypisom"
    assert corrupt(mp4_start + bytes(100)) == mp4_start + bytes(4)


@pytest.mark.parametrize("seed", [0, 1])
def test_3d_tasks_finish_with_outputs(seed: int) -> None:
    scenario = Scenario(seed, failure_rate=0)
    task = scenario.add_task("3d", created_at=scenario.now() - 3600)
    state = task.state_at(scenario.now())
    assert state.status == SUCCESS and state.output_count in (1, 2)
