"""The preview cache against the simulator: real PNGs, hostile images, the size cap.

Every bad image must come back as one line (a ThumbFailure), never as an exception, and
the huge ones must be refused on their header, before a pixel is decoded.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from siray_tui.core.downloads import Downloader
from siray_tui.core.thumbs import ThumbCache, ThumbFailure, Thumbnail, default_cache_dir
from siray_tui.sim import SimServer
from tests.conftest import SimFactory


@pytest.fixture
async def thumbs(tmp_path: Path) -> AsyncIterator[ThumbCache]:
    cache = ThumbCache.for_cache(tmp_path / "thumbs", allow_loopback_http=True)
    yield cache
    await cache.aclose()


def hostile(sim: SimServer, name: str) -> str:
    return sim.url(f"/files-hostile/{name}.png")


async def test_a_real_image_becomes_a_small_thumbnail(sim: SimServer, thumbs: ThumbCache) -> None:
    result = await thumbs.thumbnail("image_big", 1, hostile(sim, "large"), 40, 40)
    assert isinstance(result, Thumbnail)
    assert (result.width, result.height, result.source_size) == (40, 40, (4096, 4096))
    assert len(result.rgb) == 40 * 40 * 3


async def test_a_png_that_lies_about_its_size_is_refused_on_its_header(
    sim: SimServer, thumbs: ThumbCache
) -> None:
    """10,000 x 10,000 claimed, one pixel sent: Pillow's own guard only warns at this size,
    so without our check it would allocate 300 MB and then find the data missing."""
    result = await thumbs.thumbnail("image_lie", 1, hostile(sim, "lying"), 40, 40)
    assert result == ThumbFailure(
        "image too large to preview (10,000 x 10,000 pixels; the limit is 40 million)"
    )


async def test_a_truncated_image_gives_one_line(sim: SimServer, thumbs: ThumbCache) -> None:
    result = await thumbs.thumbnail("image_cut", 1, hostile(sim, "truncated"), 40, 40)
    assert isinstance(result, ThumbFailure)
    assert result.reason.startswith("broken image: ")
    assert "\n" not in result.reason


async def test_a_decompression_bomb_is_refused(sim: SimServer, thumbs: ThumbCache) -> None:
    """20,000 x 20,000 real pixels in 50 KB: refused before decoding (1.2 GB as RGB)."""
    result = await thumbs.thumbnail("image_bomb", 1, hostile(sim, "bomb"), 40, 40)
    assert isinstance(result, ThumbFailure)
    assert result.reason.startswith("image too large to preview")


async def test_a_web_page_behind_an_image_url_gives_one_line(
    sim: SimServer, thumbs: ThumbCache
) -> None:
    result = await thumbs.thumbnail("image_html", 1, hostile(sim, "not-image"), 40, 40)
    assert result == ThumbFailure("not an image (or a format Pillow cannot read)")


async def test_a_cached_image_is_not_fetched_again(sim: SimServer, thumbs: ThumbCache) -> None:
    url = hostile(sim, "large")
    await thumbs.thumbnail("image_once", 1, url, 10, 10)
    sim.clear_log()
    again = await thumbs.thumbnail("image_once", 1, url, 10, 10)
    assert isinstance(again, Thumbnail)
    assert sim.request_log == []


async def test_the_cache_drops_the_least_recently_used_first(
    sim_factory: SimFactory, tmp_path: Path
) -> None:
    sim = sim_factory()
    url = hostile(sim, "truncated")  # 5,536 bytes each
    cache = ThumbCache.for_cache(tmp_path / "t", allow_loopback_http=True, max_bytes=12_000)
    try:
        await cache.thumbnail("image_a", 1, url, 8, 8)
        await cache.thumbnail("image_b", 1, url, 8, 8)
        folder = tmp_path / "t"
        os.utime(folder / "image_a" / "1.png", (2_000, 2_000))  # long ago ...
        os.utime(folder / "image_b" / "1.png", (1_000, 1_000))  # ... and b even earlier
        await cache.thumbnail("image_b", 1, url, 8, 8)  # but b is used again now
        await cache.thumbnail("image_c", 1, url, 8, 8)  # 3 x 5,536 > 12,000: one must go
    finally:
        await cache.aclose()
    left = sorted(p.parent.name for p in (tmp_path / "t").rglob("*.png"))
    assert left == ["image_b", "image_c"]


async def test_a_private_address_is_refused_before_any_connection(tmp_path: Path) -> None:
    def fail(request: httpx.Request) -> httpx.Response:
        pytest.fail(f"a connection was attempted to {request.url}")

    transport = httpx.MockTransport(fail)
    cache = ThumbCache(tmp_path, lambda: Downloader(tmp_path, transport=transport))
    try:
        result = await cache.thumbnail("image_x", 1, "https://192.168.1.10/a.png", 8, 8)
    finally:
        await cache.aclose()
    assert isinstance(result, ThumbFailure)
    assert "192.168.1.10" in result.reason


def test_the_cache_lives_in_the_user_cache_dir(tmp_path: Path) -> None:
    # The autouse fixture points XDG_CACHE_HOME into the test's own folder.
    assert default_cache_dir() == Path(os.environ["XDG_CACHE_HOME"]) / "siray-tui" / "thumbs"
