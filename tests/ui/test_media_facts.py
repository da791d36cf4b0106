"""Details of video and 3D tasks describe each output by its header, against the simulator.

The headers are read from the simulator's real files: by a ranged GET of the first bytes
(never the whole file, never with the token), or from the downloaded file when there is one.
"""

from __future__ import annotations

import json
import struct
from pathlib import Path
from typing import Any

from siray_tui.core.client import SirayClient
from siray_tui.core.models import TaskKind, WatchedTask
from siray_tui.core.outputinfo import HEAD_BYTES
from siray_tui.core.secret import Secret
from siray_tui.sim import SimServer
from siray_tui.ui.screens.details import DetailsScreen
from siray_tui.ui.widgets.media_facts import MediaFacts
from tests.ui.conftest import AppFactory, finish_workers, open_details
from tests.ui.fixtures import NOW


async def watched(sim: SimServer, kind: str, task_id: str, **traits: Any) -> WatchedTask:
    """A finished simulator task, polled once over loopback, as the watchlist keeps it."""
    sim.scenario.add_task(kind, task_id, queue_s=0, run_s=0, created_at=1.0, **traits)  # type: ignore[arg-type]
    task_kind = TaskKind(kind)
    async with SirayClient(sim.base_url, Secret("t")) as client:
        state = await client.get_task(task_id, task_kind)
    task = WatchedTask(task_id, task_kind, added_at=NOW - 60)
    task.observe(state, at=NOW - 1)
    return task


async def facts_of(make_app: AppFactory, sim: SimServer, task: WatchedTask) -> dict[int, str]:
    """Open the task's details and return the media lines once every one is read."""
    app = make_app([task], base_url=sim.base_url)
    async with app.run_test(size=(120, 50)) as pilot:
        await open_details(pilot, task.task_id)
        await finish_workers(app)
        await pilot.pause()
        screen = app.screen
        assert isinstance(screen, DetailsScreen)
        facts = screen.query_one(MediaFacts)
        shown = "".join(strip.text for strip in facts.render_lines(facts.region.reset_offset))
        lines = dict(facts.lines)
        for line in lines.values():
            assert "\n" not in line and line in shown
        return lines


def glb_counts(data: bytes) -> tuple[int, int]:
    """Meshes and vertices, read the way the glTF spec lays a GLB out."""
    length = struct.unpack_from("<I", data, 12)[0]
    document = json.loads(data[20 : 20 + length])
    vertices = sum(
        document["accessors"][primitive["attributes"]["POSITION"]]["count"]
        for mesh in document["meshes"]
        for primitive in mesh["primitives"]
    )
    return len(document["meshes"]), vertices


def file_requests(sim: SimServer) -> list[dict[str, str]]:
    return [r.headers for r in sim.request_log if r.path.startswith("/files")]


async def test_a_finished_3d_task_shows_glb_meshes_and_vertices(
    make_app: AppFactory, sim: SimServer
) -> None:
    task = await watched(sim, "3d", "3d_0a1b2c3d4e5f", outputs=2)
    sim.clear_log()
    lines = await facts_of(make_app, sim, task)
    assert set(lines) == {1, 2}
    for index, line in lines.items():
        data = sim.media.get(task.task_id, "3d", index - 1)
        meshes, vertices = glb_counts(data)
        assert line.startswith(f"GLB, {len(data) / 1024:.1f} KiB: {meshes} meshes, ")
        assert f"{vertices} vertices" in line
    requests = file_requests(sim)
    assert len(requests) == 2  # one ranged GET each, after the redirect
    for headers in requests:
        assert headers["range"] == f"bytes=0-{HEAD_BYTES - 1}"
        assert "authorization" not in headers


async def test_a_corrupt_glb_shows_a_one_line_reason(make_app: AppFactory, sim: SimServer) -> None:
    task = await watched(sim, "3d", "3d_badbadbad001", outputs=1)
    sim.corrupt_outputs.add(task.task_id)
    lines = await facts_of(make_app, sim, task)
    size = len(sim.media.get(task.task_id, "3d", 0))
    assert lines == {
        1: f"GLB, {size / 1024:.1f} KiB: JSON chunk of 2147483632 bytes runs past the file's "
        f"end ({size} bytes)"
    }


async def test_a_video_shows_its_resolution_and_duration(
    make_app: AppFactory, sim: SimServer
) -> None:
    task = await watched(sim, "video", "video_0d0e0f101112")
    data = sim.media.get(task.task_id, "video", 0)
    mvhd = data.index(b"mvhd") + 4
    scale, duration = struct.unpack_from(">II", data, mvhd + 12)
    tkhd = data.index(b"tkhd") + 4
    width, height = struct.unpack_from(">II", data, tkhd + 76)
    lines = await facts_of(make_app, sim, task)
    assert lines == {
        1: f"MP4, {len(data) / 1024:.1f} KiB: {width >> 16}x{height >> 16}, "
        f"{duration / scale:.1f} s, brand isom"
    }


async def test_a_downloaded_file_is_read_from_disk(
    make_app: AppFactory, sim: SimServer, tmp_path: Path
) -> None:
    task = await watched(sim, "3d", "3d_0000000000d1", outputs=1)
    data = sim.media.get(task.task_id, "3d", 0)
    folder = tmp_path / "downloads" / task.task_id
    folder.mkdir(parents=True)
    (folder / "1.glb").write_bytes(data)
    sim.clear_log()
    lines = await facts_of(make_app, sim, task)
    assert lines[1].startswith(f"GLB, {len(data) / 1024:.1f} KiB: ")
    assert sim.request_log == []  # nothing fetched


async def test_a_server_ignoring_the_range_is_cut_off_and_refused_urls_never_fetched(
    make_app: AppFactory, sim: SimServer
) -> None:
    outputs = [
        "{base}/files-huge/50000000.glb",  # 50 MB of zeros, no length, no ranges
        "http://evil.example.com/model.glb",  # refused before any connection
    ]
    task = await watched(sim, "3d", "3d_hostile00001", outputs=outputs)
    lines = await facts_of(make_app, sim, task)
    assert lines[1] == "GLB: not a GLB (no glTF magic)"
    assert lines[2].startswith("GLB: cannot fetch its header: ")
    assert "http" in lines[2]


async def test_image_tasks_have_no_media_lines(make_app: AppFactory, sim: SimServer) -> None:
    task = await watched(sim, "image", "image_0c0c0c0c0c", outputs=2)
    sim.clear_log()
    app = make_app([task], base_url=sim.base_url)
    async with app.run_test(size=(120, 50)) as pilot:
        await open_details(pilot, task.task_id)
        await finish_workers(app)
        facts = app.screen.query_one(MediaFacts)
        assert not facts.display and facts.lines == {}
    assert file_requests(sim) == []
