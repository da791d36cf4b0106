"""SVG snapshot of the details of a finished 3D task, with its Media lines.

Its outputs are already in the download folder (the simulator's own GLB files), so the
headers are read from disk: no request, and the same picture on every run.
"""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

from textual.pilot import Pilot

from siray_tui.sim.media import make_glb
from tests.ui.conftest import AppFactory, finish_workers, select, still
from tests.ui.fixtures import BASE, make_task

TASK_ID = "3d_5e7a1c0ffee3d"


def test_details_of_a_3d_task(snap_compare: Any, make_app: AppFactory, tmp_path: Path) -> None:
    """Each GLB output described by its header: size, meshes, vertices, triangles."""
    outputs = [f"{BASE}/redirect/m{i}" for i in range(2)]
    task = make_task(
        TASK_ID, "SUCCESS", progress="100%", ago=900, queue=40, run=300, outputs=outputs
    )
    folder = tmp_path / "downloads" / TASK_ID
    folder.mkdir(parents=True)
    for index, seed in ((1, 3), (2, 5)):
        (folder / f"{index}.glb").write_bytes(make_glb(random.Random(seed)))

    async def open_details(pilot: Pilot[Any]) -> None:
        await select(pilot, TASK_ID)
        await pilot.press("enter")
        await pilot.pause()
        await finish_workers(pilot.app)  # type: ignore[arg-type]
        await pilot.pause()
        still(pilot)

    assert snap_compare(make_app([task]), terminal_size=(120, 40), run_before=open_details)
