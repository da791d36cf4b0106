"""Planted symbolic links in the download folder: refused and reported, never followed."""

from __future__ import annotations

import io
from pathlib import Path

import pytest

from siray_tui.cli.download import run_download
from siray_tui.config import Settings
from siray_tui.core.secret import Secret
from siray_tui.sim import SimServer


@pytest.mark.parametrize("planted", ["1.png", "1.part"])
async def test_a_planted_symlink_in_the_download_dir_is_a_failed_download(
    sim: SimServer, tmp_path: Path, planted: str
) -> None:
    task = sim.scenario.add_task("image", queue_s=0, run_s=0, created_at=1.0, outputs=2)
    downloads = tmp_path / "downloads"
    victim = tmp_path / "passwd"
    victim.write_text("root:x:0:0\n")
    (downloads / task.task_id).mkdir(parents=True)
    link = downloads / task.task_id / planted
    link.symlink_to(victim)
    settings = Settings(
        base_url=sim.base_url, token=Secret("sk-dl-links-0b7d"), data_dir=tmp_path / "data"
    )
    out, err = io.StringIO(), io.StringIO()
    code = await run_download(settings, [task.task_id], str(downloads), out=out, err=err)
    assert code == 1
    assert f"failed  {task.task_id} #1: refused {link}: it is a symbolic link" in err.getvalue()
    assert "1 download failed" in out.getvalue() and "All done" not in out.getvalue()
    assert victim.read_text() == "root:x:0:0\n"
    assert link.is_symlink()
    assert (downloads / task.task_id / "2.png").read_bytes().startswith(b"\x89PNG")


async def test_a_symlinked_task_folder_is_refused(sim: SimServer, tmp_path: Path) -> None:
    task = sim.scenario.add_task("image", queue_s=0, run_s=0, created_at=1.0, outputs=1)
    downloads = tmp_path / "downloads"
    downloads.mkdir()
    (downloads / "other").mkdir()
    (downloads / task.task_id).symlink_to(downloads / "other")
    settings = Settings(
        base_url=sim.base_url, token=Secret("sk-dl-links-0b7d"), data_dir=tmp_path / "data"
    )
    out, err = io.StringIO(), io.StringIO()
    code = await run_download(settings, [task.task_id], str(downloads), out=out, err=err)
    assert code == 1
    assert "it is a symbolic link" in err.getvalue()
    assert list((downloads / "other").iterdir()) == []
