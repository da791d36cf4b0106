"""``wait --auto-download`` against the simulator: a failed download is a failed wait."""

from __future__ import annotations

import io
from pathlib import Path

from siray_tui.cli.polling import run_wait
from siray_tui.config import Settings
from siray_tui.core.secret import Secret
from siray_tui.sim import SimServer


async def test_wait_auto_download_exits_1_and_names_every_failed_output(
    sim: SimServer, tmp_path: Path
) -> None:
    good = sim.scenario.add_task("image", queue_s=0.1, run_s=0.2, outputs=1)
    # A SUCCESS whose outputs are gone from the CDN: the download is the part that fails.
    gone = sim.scenario.add_task(
        "image", queue_s=0.1, run_s=0.2, outputs=["{base}/files/gone/1.png", "{base}/nowhere"]
    )
    downloads = tmp_path / "downloads"
    settings = Settings(
        base_url=sim.base_url,
        token=Secret("sk-wait-downloads-5e2a"),
        data_dir=tmp_path / "data",
        download_dir=downloads,
        interval=0.2,
        rate=50.0,
        auto_download=True,
    )
    out, err = io.StringIO(), io.StringIO()
    code = await run_wait(
        settings, [good.task_id, gone.task_id], timeout=20, json_output=True, out=out, err=err
    )
    assert code == 1
    failures = [line for line in err.getvalue().splitlines() if "download failed" in line]
    assert failures == [
        f"siray-tui: download failed: {gone.task_id} #1: HTTP 404 Not Found",
        f"siray-tui: download failed: {gone.task_id} #2: HTTP 404 Not Found",
    ]
    assert [f.name for f in (downloads / good.task_id).iterdir()] == ["1.png"]
