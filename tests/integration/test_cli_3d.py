"""3D tasks through the command line, against the simulator: ``add --kind 3d``, ``list``,
``status``, ``wait`` and ``--json``, and ``download`` giving real GLB files."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import pytest

from siray_tui.cli import main
from siray_tui.core.mediainfo import describe
from siray_tui.sim import GLB_MAGIC, STATUS_ORDER, SimServer
from tests.integration.test_simulator_3d import parse_glb


def run(argv: list[str], data_dir: Path, capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    code = main(["--data-dir", str(data_dir), *argv], stdin=io.StringIO())
    return code, capsys.readouterr().out


def json_lines(text: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in text.splitlines()]


def test_add_kind_3d_then_list_status_wait_and_download(
    tmp_path: Path, sim: SimServer, capsys: pytest.CaptureFixture[str]
) -> None:
    task = sim.scenario.add_task("3d", queue_s=0.3, run_s=0.6, outputs=2)
    assert task.task_id.startswith("3d_")
    base = ["--base-url", sim.base_url, "--interval", "1"]

    assert run([*base, "add", "--kind", "3d", task.task_id], tmp_path, capsys)[0] == 0
    code, out = run([*base, "list", "--json"], tmp_path, capsys)
    assert code == 0
    (listed,) = json_lines(out)
    assert (listed["task_id"], listed["kind"], listed["status"]) == (task.task_id, "3d", "PENDING")

    code, out = run([*base, "status", task.task_id, "--json"], tmp_path, capsys)
    assert code == 0
    (checked,) = json_lines(out)
    assert checked["kind"] == "3d" and checked["status"] in STATUS_ORDER
    assert [r.path for r in sim.request_log if r.path.startswith("/v1")] == [
        f"/v1/3d/generations/{task.task_id}"  # the stated kind: no other endpoint asked
    ]

    code, out = run([*base, "wait", task.task_id, "--json", "--timeout", "30"], tmp_path, capsys)
    assert code == 0
    (finished,) = json_lines(out)
    assert (finished["kind"], finished["status"], finished["progress"]) == ("3d", "SUCCESS", 100)
    assert len(finished["outputs"]) == 2

    code, out = run([*base, "list"], tmp_path, capsys)
    assert code == 0 and "3d" in out.split("\n")[1].split() and "SUCCESS" in out

    out_dir = tmp_path / "out"
    code, out = run([*base, "download", task.task_id, "--dir", str(out_dir)], tmp_path, capsys)
    assert code == 0
    assert out == f"Saved 2 files in {out_dir}.\n"
    files = sorted((out_dir / task.task_id).iterdir())
    assert [f.name for f in files] == ["1.glb", "2.glb"]
    for index, path in enumerate(files):
        data = path.read_bytes()
        assert data[:4] == GLB_MAGIC
        assert data == sim.media.get(task.task_id, "3d", index)
        document, _ = parse_glb(data)
        info = describe(data, size=len(data))
        assert info.format == "GLB" and info.problem is None
        assert info.facts[0] == f"{len(document['meshes'])} meshes"
        vertices = sum(
            document["accessors"][p["attributes"]["POSITION"]]["count"]
            for mesh in document["meshes"]
            for p in mesh["primitives"]
        )
        assert info.facts[2] == f"{vertices} vertices"


def test_an_auto_3d_id_is_found_on_the_3d_endpoint(
    tmp_path: Path, sim: SimServer, capsys: pytest.CaptureFixture[str]
) -> None:
    prefixed = sim.scenario.add_task("3d", created_at=1.0)
    bare = sim.scenario.add_task("3d", task_id="plain-3d-7", created_at=1.0)
    base = ["--base-url", sim.base_url]
    code, out = run([*base, "status", prefixed.task_id, bare.task_id, "--json"], tmp_path, capsys)
    assert code == 0
    assert [(r["kind"], r["status"]) for r in json_lines(out)] == [("3d", "SUCCESS")] * 2
    assert sim.requests_for(prefixed.task_id) == 1  # the 3d_ prefix hint is asked first
    assert sim.requests_for(bare.task_id) == 3  # image, video, then 3d
    code, out = run([*base, "list", "--json"], tmp_path, capsys)
    assert {r["kind"] for r in json_lines(out)} == {"3d"}  # remembered
