"""Downloader against the simulator over loopback: real redirects, files, Range and framing."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from siray_tui.core.client import SirayClient
from siray_tui.core.downloads import Downloader, DownloadProgress
from siray_tui.core.models import TaskKind
from siray_tui.core.secret import Secret
from siray_tui.sim import PNG_SIGNATURE, SimServer, SimTask

TOKEN = "sk-sim-download-test-token"
SimFactory = Callable[..., SimServer]


@pytest.fixture
def server(sim_factory: SimFactory) -> SimServer:
    """A simulator that accepts only TOKEN, so we know which requests carried it."""
    return sim_factory(token=TOKEN)


def finished_task(server: SimServer, kind: str, **kwargs: Any) -> SimTask:
    """A task that ended an hour ago, so its outputs are served at once."""
    return server.scenario.add_task(
        kind,  # type: ignore[arg-type]
        created_at=server.scenario.now() - 3600,
        outcome="success",
        **kwargs,
    )


async def outputs_of(server: SimServer, task: SimTask) -> list[str]:
    """The output URLs as the API reports them (the token is used here, and only here)."""
    kind = TaskKind.IMAGE if task.kind == "image" else TaskKind.VIDEO
    async with SirayClient(server.base_url, Secret(TOKEN)) as client:
        state = await client.get_task(task.task_id, kind)
    return list(state.outputs)


def downloader(tmp_path: Path, **kwargs: Any) -> Downloader:
    return Downloader(tmp_path / "dl", allow_loopback_http=True, timeout=10.0, **kwargs)


def listing(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir()) if folder.exists() else []


async def test_outputs_arrive_whole_and_valid_without_credentials(
    server: SimServer, tmp_path: Path
) -> None:
    image = finished_task(server, "image", outputs=3)
    video = finished_task(server, "video", outputs=1)
    image_urls = await outputs_of(server, image)
    video_urls = await outputs_of(server, video)
    assert len(image_urls) == 3 and all("/redirect/" in url for url in image_urls)

    async with downloader(tmp_path) as dl:
        image_results, video_results = await asyncio.gather(
            dl.download_task(image.task_id, image_urls),
            dl.download_task(video.task_id, video_urls),
        )

    assert [r.status for r in image_results + video_results] == ["ok"] * 4
    image_dir = tmp_path / "dl" / image.task_id
    assert listing(image_dir) == ["1.png", "2.png", "3.png"]
    for position in range(3):
        data = (image_dir / f"{position + 1}.png").read_bytes()
        assert data.startswith(PNG_SIGNATURE)
        assert data == server.media.get(image.task_id, "image", position)
        assert image_results[position].bytes == len(data)
    video_file = tmp_path / "dl" / video.task_id / "1.mp4"
    assert listing(video_file.parent) == ["1.mp4"]
    mp4 = video_file.read_bytes()
    assert mp4[4:8] == b"ftyp"
    assert mp4 == server.media.get(video.task_id, "video", 0)

    log = server.request_log
    api = [r for r in log if r.path.startswith("/v1/")]
    public = [r for r in log if r.path.startswith(("/redirect/", "/files/"))]
    assert api and all(r.headers.get("authorization") == f"Bearer {TOKEN}" for r in api)
    assert len(public) == 8  # a redirect and a file per output
    for record in public:
        assert "authorization" not in record.headers
        assert "cookie" not in record.headers
        assert not any(TOKEN in value for value in record.headers.values())


async def test_second_run_fetches_nothing(server: SimServer, tmp_path: Path) -> None:
    task = finished_task(server, "image", outputs=2)
    urls = await outputs_of(server, task)
    async with downloader(tmp_path) as dl:
        first = await dl.download_task(task.task_id, urls)
        server.clear_log()
        second = await dl.download_task(task.task_id, urls)
    assert [r.status for r in first] == ["ok", "ok"]
    assert [r.status for r in second] == ["skipped", "skipped"]
    assert [r.path for r in second] == [r.path for r in first]
    assert server.request_log == []


async def test_resume_appends_with_range(server: SimServer, tmp_path: Path) -> None:
    task = finished_task(server, "image", outputs=1)
    (url,) = await outputs_of(server, task)
    real = server.media.get(task.task_id, "image", 0)
    folder = tmp_path / "dl" / task.task_id
    folder.mkdir(parents=True)
    half = len(real) // 2
    (folder / "1.part").write_bytes(real[:half])  # what a killed run leaves behind

    server.clear_log()
    async with downloader(tmp_path) as dl:
        (result,) = await dl.download_task(task.task_id, [url])

    assert result.status == "ok"
    assert listing(folder) == ["1.png"]
    assert (folder / "1.png").read_bytes() == real
    files = [r for r in server.request_log if r.path.startswith("/files/")]
    assert [r.headers.get("range") for r in files] == [f"bytes={half}-"]


async def test_killed_download_leaves_part_and_next_run_completes(
    server: SimServer, tmp_path: Path
) -> None:
    size = 8 * 1024 * 1024
    task = finished_task(server, "image", outputs=[f"{{base}}/files-huge/{size}.png"])
    (url,) = await outputs_of(server, task)
    folder = tmp_path / "dl" / task.task_id
    enough = asyncio.Event()

    def on_progress(progress: DownloadProgress) -> None:
        if progress.received >= 256 * 1024:
            enough.set()

    async with downloader(tmp_path) as dl:
        running = asyncio.create_task(
            dl.download_task(task.task_id, [url], on_progress=on_progress)
        )
        await asyncio.wait_for(enough.wait(), 10)
        running.cancel()  # as if the app were closed mid-download
        with pytest.raises(asyncio.CancelledError):
            await running

    assert listing(folder) == ["1.part"]
    kept = (folder / "1.part").stat().st_size
    assert 0 < kept < size

    server.clear_log()
    async with downloader(tmp_path) as dl:
        (result,) = await dl.download_task(task.task_id, [url])
    assert result.status == "ok"
    assert listing(folder) == ["1.png"]
    assert (folder / "1.png").stat().st_size == size
    # /files-huge ignores Range and answers 200: the .part was restarted, not appended to.
    (request,) = [r for r in server.request_log if r.path.startswith("/files-huge/")]
    assert request.headers.get("range") == f"bytes={kept}-"


async def test_body_shorter_than_declared_keeps_part_then_recovers(
    server: SimServer, tmp_path: Path
) -> None:
    task = finished_task(server, "video", outputs=1)
    (url,) = await outputs_of(server, task)
    real = server.media.get(task.task_id, "video", 0)
    folder = tmp_path / "dl" / task.task_id

    server.lying_content_length = len(real) + 1000  # promises more, then hangs up
    async with downloader(tmp_path) as dl:
        (failed,) = await dl.download_task(task.task_id, [url])
    assert failed.status == "failed"
    assert failed.error and "\n" not in failed.error
    assert failed.bytes == len(real)
    assert listing(folder) == ["1.part"]

    server.lying_content_length = None
    async with downloader(tmp_path) as dl:
        (result,) = await dl.download_task(task.task_id, [url])
    # The .part already held every byte: the server answers 416 to the Range and the
    # download starts over rather than guess.
    assert result.status == "ok"
    assert listing(folder) == ["1.mp4"]
    assert (folder / "1.mp4").read_bytes() == real


async def test_size_cap_against_absent_and_lying_lengths(server: SimServer, tmp_path: Path) -> None:
    cap = 1_000_000
    huge = 20_000_000
    task = finished_task(
        server,
        "image",
        outputs=[
            f"{{base}}/files-huge/{huge}.png",  # chunked, no length at all
            f"{{base}}/files-huge/{huge}.png?length=1000",  # declares 1000, sends 20 MB
            f"{{base}}/files-huge/{huge}.mp4?length={huge}",  # declared above the cap
        ],
    )
    urls = await outputs_of(server, task)
    async with downloader(tmp_path, max_bytes=cap) as dl:
        no_length, short_lie, declared = await dl.download_task(task.task_id, urls)

    assert no_length.status == "failed"
    assert "larger than" in (no_length.error or "")
    # HTTP/1.1 framing: the client reads exactly the declared 1000 bytes and stops.
    assert short_lie.status == "ok"
    assert short_lie.bytes == 1000
    assert declared.status == "failed"
    assert "declared" in (declared.error or "")
    folder = tmp_path / "dl" / task.task_id
    assert listing(folder) == ["2.png"]
    assert (folder / "2.png").stat().st_size == 1000


async def test_hostile_outputs_from_the_server_are_refused(
    server: SimServer, tmp_path: Path
) -> None:
    task = finished_task(
        server,
        "image",
        outputs=[
            "javascript:alert(1)",
            "file:///etc/passwd",
            "http://evil.example.com/x.png",
            "https://cdn.example.com/a\x1b]52;c;ZXZpbA==\x07.png",
        ],
    )
    urls = await outputs_of(server, task)
    assert len(urls) == 4
    server.clear_log()
    async with downloader(tmp_path) as dl:
        results = await dl.download_task(task.task_id, urls)
    assert [r.status for r in results] == ["failed"] * 4
    assert all((r.error or "").startswith("refused") for r in results)
    assert not (tmp_path / "dl").exists()
    assert server.request_log == []
