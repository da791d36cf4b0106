"""``Downloader.fetch_head``: the first bytes of an output, checked and capped, never the rest.

MockTransport stands in for the CDN (no connection is ever made), so the URL checks are
proven to refuse before any request.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from siray_tui.core.errors import DownloadError
from siray_tui.core.outputinfo import describe_output
from tests.unit.test_downloads import make


class CountingStream(httpx.AsyncByteStream):
    """A 10 MB body of 1 KiB chunks that counts how many were pulled."""

    def __init__(self) -> None:
        self.pulled = 0

    async def __aiter__(self) -> AsyncIterator[bytes]:
        for _ in range(10_000):
            self.pulled += 1
            yield b"\x00" * 1024


async def test_a_server_ignoring_the_range_is_cut_off_at_the_limit(tmp_path: Path) -> None:
    stream = CountingStream()

    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, headers={"Content-Type": "model/gltf-binary"}, stream=stream)

    downloader, recorder = make(tmp_path, handler)
    async with downloader:
        head = await downloader.fetch_head("https://cdn.example/m.glb", 4000)
    assert len(head.data) == 4000 and head.size is None
    assert stream.pulled <= 5  # stopped reading: not the other 10 MB
    (request,) = recorder.requests
    assert request.headers["Range"] == "bytes=0-3999"
    assert "Authorization" not in request.headers and "Cookie" not in request.headers


async def test_a_206_gives_the_whole_size_and_redirects_are_followed(tmp_path: Path) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/redirect/x":
            return httpx.Response(302, headers={"Location": "/files/0.mp4"})
        headers = {"Content-Range": "bytes 0-9/123456", "Content-Type": "video/mp4"}
        return httpx.Response(206, headers=headers, content=b"0123456789")

    downloader, _ = make(tmp_path, handler)
    async with downloader:
        head = await downloader.fetch_head("https://cdn.example/redirect/x", 10)
    assert (head.data, head.size, head.url) == (
        b"0123456789",
        123456,
        "https://cdn.example/files/0.mp4",
    )
    assert head.content_type == "video/mp4"


@pytest.mark.parametrize(
    ("url", "location", "message"),
    [
        ("javascript:alert(1)", None, "javascript"),
        ("http://cdn.example/a.glb", None, "http"),
        ("https://10.0.0.7/a.glb", None, "10.0.0.7"),
        ("https://cdn.example/r", "https://169.254.169.254/latest", "169.254.169.254"),
        ("https://cdn.example/r", "file:///etc/passwd", "file"),
    ],
)
async def test_unsafe_urls_are_refused_before_any_request(
    tmp_path: Path, url: str, location: str | None, message: str
) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        assert location is not None, "no request may be made for a refused URL"
        assert request.url.host == "cdn.example"
        return httpx.Response(302, headers={"Location": location})

    downloader, recorder = make(tmp_path, handler)
    async with downloader:
        with pytest.raises(DownloadError, match=message) as caught:
            await downloader.fetch_head(url, 100)
    assert "\n" not in str(caught.value)
    assert len(recorder.requests) == (0 if location is None else 1)


@pytest.mark.parametrize(
    ("status", "message"), [(404, "HTTP 404"), (416, "HTTP 416"), (500, "HTTP 500")]
)
async def test_error_statuses_are_one_line(tmp_path: Path, status: int, message: str) -> None:
    downloader, _ = make(tmp_path, lambda request: httpx.Response(status, content=b"<html>"))
    async with downloader:
        with pytest.raises(DownloadError, match=message):
            await downloader.fetch_head("https://cdn.example/a.glb", 100)


async def test_network_errors_become_a_line_in_the_description(tmp_path: Path) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("connection refused")

    downloader, _ = make(tmp_path, handler)
    async with downloader:
        info = await describe_output(downloader, "3d_abc", 1, "https://cdn.example/a.glb")
    assert info.summary() == ("GLB: cannot fetch its header: network error: connection refused")


async def test_a_planted_link_as_the_downloaded_file_is_not_followed(tmp_path: Path) -> None:
    secret = tmp_path / "secret.glb"
    secret.write_bytes(b"glTF" + bytes(100))
    folder = tmp_path / "dl" / "3d_abc"
    folder.mkdir(parents=True)
    (folder / "1.glb").symlink_to(secret)
    downloader, recorder = make(tmp_path, lambda request: httpx.Response(404))
    assert downloader.downloaded("3d_abc", 1) is None
    assert downloader.downloaded("../etc", 1) is None
    async with downloader:
        info = await describe_output(downloader, "3d_abc", 1, "https://cdn.example/a.glb")
    assert info.problem == "cannot fetch its header: HTTP 404 Not Found"
    assert len(recorder.requests) == 1
