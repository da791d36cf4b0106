"""Downloader against httpx.MockTransport: URL safety, names, cap, resume, concurrency."""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import httpx
import pytest

from siray_tui.core.downloads import Downloader, DownloadProgress, DownloadResult
from siray_tui.core.filetypes import CONTENT_TYPE_EXTENSIONS, FINAL_EXTENSIONS, extension_for

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 56
Handler = Callable[[httpx.Request], httpx.Response | Awaitable[httpx.Response]]


class Recorder:
    """A MockTransport handler that records every request it sees."""

    def __init__(self, handler: Handler) -> None:
        self.handler = handler
        self.requests: list[httpx.Request] = []

    async def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        response = self.handler(request)
        if not isinstance(response, httpx.Response):
            response = await response
        return response


def make(tmp_path: Path, handler: Handler, **kwargs: object) -> tuple[Downloader, Recorder]:
    recorder = Recorder(handler)
    downloader = Downloader(
        tmp_path / "dl",
        transport=httpx.MockTransport(recorder),
        **kwargs,  # type: ignore[arg-type]
    )
    return downloader, recorder


def png_response(request: httpx.Request) -> httpx.Response:
    return httpx.Response(200, headers={"Content-Type": "image/png"}, content=PNG)


def files_under(root: Path) -> list[str]:
    if not root.exists():
        return []
    return sorted(str(p.relative_to(root)) for p in root.rglob("*"))


# --- extension table ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("content_type", "url", "expected"),
    [
        ("image/png", "https://x.example/a", "png"),
        ("image/jpeg", "https://x.example/a", "jpg"),
        ("IMAGE/JPEG; charset=binary", "https://x.example/a", "jpg"),
        ("image/webp", "https://x.example/a.png", "webp"),
        ("image/gif", None, "gif"),
        ("video/mp4", None, "mp4"),
        ("video/webm", None, "webm"),
        ("video/quicktime", None, "mov"),
        (None, "https://x.example/a/b.PNG", "png"),
        ("", "https://x.example/a/b.jpeg?x=1", "jpg"),
        ("application/octet-stream", "https://x.example/clip.mp4", "mp4"),
        ("application/octet-stream", "https://x.example/clip.mov#frag", "mov"),
        ("application/octet-stream", "https://x.example/run.sh", "bin"),
        ("application/octet-stream", "https://x.example/noext", "bin"),
        ("application/octet-stream", None, "bin"),
        ("text/html", "https://x.example/a.png", "bin"),
        ("image/svg+xml", "https://x.example/a.svg", "bin"),
        ("application/x-sh", "https://x.example/a.png", "bin"),
        (None, "https://x.example/a.png/..%2f..%2fevil.exe", "bin"),
        ("model/gltf-binary", "https://x.example/a.bin", "glb"),
        ("Model/GLTF+JSON; charset=utf-8", None, "gltf"),
        ("model/obj", None, "obj"),
        ("model/stl", None, "stl"),
        ("model/vnd.usdz+zip", None, "usdz"),
        ("application/zip", None, "zip"),
        ("application/octet-stream", "https://x.example/m/Model.FBX", "fbx"),
        ("application/octet-stream", "https://x.example/m/model.glb?sig=1", "glb"),
        (None, "https://x.example/m/model.usdz", "usdz"),
        ("model/vrml", "https://x.example/m/model.glb", "bin"),
        ("text/plain", "https://x.example/m/model.fbx", "bin"),
    ],
)
def test_extension_for(content_type: str | None, url: str | None, expected: str) -> None:
    assert extension_for(content_type, url) == expected


def test_extension_table_is_the_documented_one() -> None:
    assert dict(CONTENT_TYPE_EXTENSIONS) == {
        "image/png": "png",
        "image/jpeg": "jpg",
        "image/webp": "webp",
        "image/gif": "gif",
        "video/mp4": "mp4",
        "video/webm": "webm",
        "video/quicktime": "mov",
        "model/gltf-binary": "glb",
        "model/gltf+json": "gltf",
        "model/obj": "obj",
        "model/stl": "stl",
        "model/vnd.usdz+zip": "usdz",
        "application/zip": "zip",
    }
    assert set(FINAL_EXTENSIONS) >= {"glb", "gltf", "obj", "fbx", "usdz", "stl", "zip", "bin"}


# --- the happy path ----------------------------------------------------------------------


async def test_downloads_to_our_name_from_content_type(tmp_path: Path) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("/2"):
            return httpx.Response(200, headers={"Content-Type": "video/mp4"}, content=b"mp4!")
        return png_response(request)

    downloader, _ = make(tmp_path, handler)
    async with downloader:
        results = await downloader.download_task(
            "image_abc",
            ["https://cdn.example/evil-name.sh/1", "https://cdn.example/../../x/2"],
        )
    base = tmp_path / "dl" / "image_abc"
    assert [r.status for r in results] == ["ok", "ok"]
    assert results[0] == DownloadResult(
        "image_abc", 1, "https://cdn.example/evil-name.sh/1", base / "1.png", "ok", None, len(PNG)
    )
    assert results[1].path == base / "2.mp4"
    assert (base / "1.png").read_bytes() == PNG
    assert (base / "2.mp4").read_bytes() == b"mp4!"
    assert files_under(tmp_path / "dl") == ["image_abc", "image_abc/1.png", "image_abc/2.mp4"]
    assert not (base / "1.png").stat().st_mode & 0o022 & ~_umask()


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return ~mask & 0o777


async def test_generic_content_type_falls_back_to_url_extension(tmp_path: Path) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(
            200, headers={"Content-Type": "application/octet-stream"}, content=b"data"
        )

    downloader, _ = make(tmp_path, handler)
    async with downloader:
        results = await downloader.download_task(
            "t1", ["https://cdn.example/a.webp", "https://cdn.example/a.exe"]
        )
    assert [r.path.name if r.path else None for r in results] == ["1.webp", "2.bin"]


async def test_url_extension_of_the_final_hop_is_used(tmp_path: Path) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path.startswith("/redirect/"):
            return httpx.Response(302, headers={"Location": "/files/t1/1.gif"})
        return httpx.Response(200, content=b"GIF89a")

    downloader, _ = make(tmp_path, handler)
    async with downloader:
        result = await downloader.download_one("t1", 1, "https://cdn.example/redirect/xyz")
    assert result.status == "ok"
    assert result.path == tmp_path / "dl" / "t1" / "1.gif"


async def test_weird_but_valid_task_id_stays_inside(tmp_path: Path) -> None:
    downloader, _ = make(tmp_path, png_response)
    async with downloader:
        result = await downloader.download_one("a.b-c_d", 1, "https://cdn.example/1")
    assert result.status == "ok"
    assert result.path == (tmp_path / "dl" / "a.b-c_d" / "1.png")
    assert result.path.resolve().is_relative_to((tmp_path / "dl").resolve())


@pytest.mark.parametrize("task_id", ["..", ".", "../x", "a/b", "a\\b", "", "x" * 200, "a..b"])
async def test_invalid_task_id_fails_and_writes_nothing(tmp_path: Path, task_id: str) -> None:
    downloader, recorder = make(tmp_path, png_response)
    async with downloader:
        results = await downloader.download_task(task_id, ["https://cdn.example/1"])
    assert results[0].status == "failed"
    assert "invalid task ID" in (results[0].error or "")
    assert recorder.requests == []
    assert not (tmp_path / "dl").exists()


async def test_symlinked_task_folder_outside_is_refused(tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    (tmp_path / "dl").mkdir()
    (tmp_path / "dl" / "t1").symlink_to(outside)
    downloader, recorder = make(tmp_path, png_response)
    async with downloader:
        result = await downloader.download_one("t1", 1, "https://cdn.example/1")
    assert result.status == "failed"
    assert "outside the download directory" in (result.error or "")
    assert recorder.requests == []
    assert list(outside.iterdir()) == []


async def test_index_below_one_is_a_programmer_error(tmp_path: Path) -> None:
    downloader, _ = make(tmp_path, png_response)
    async with downloader:
        with pytest.raises(ValueError):
            await downloader.download_one("t1", 0, "https://cdn.example/1")


def test_bad_constructor_arguments(tmp_path: Path) -> None:
    with pytest.raises(ValueError):
        Downloader(tmp_path, max_bytes=0)
    with pytest.raises(ValueError):
        Downloader(tmp_path, max_parallel=0)


# --- hostile URLs ------------------------------------------------------------------------

HOSTILE = [
    "file:///etc/passwd",
    "javascript:alert(1)",
    "//no-scheme.example/x",
    "/relative/x.png",
    "-oProxyCommand=x",
    "https://exa mple.com/x",
    "https://example.com/x\x1b[31m",
    "http://example.com/x.png",
    "data:image/png;base64,AAAA",
    "https:///nohost",
    "https://user:pw@example.com/x.png",
    "ftp://example.com/x.png",
    "",
]


@pytest.mark.parametrize("url", HOSTILE)
async def test_hostile_url_refused_and_nothing_written(tmp_path: Path, url: str) -> None:
    downloader, recorder = make(tmp_path, png_response, allow_loopback_http=True)
    async with downloader:
        results = await downloader.download_task("t1", [url])
    (result,) = results
    assert result.status == "failed"
    assert result.path is None
    assert (result.error or "").startswith("refused")
    assert "\x1b" not in (result.error or "")
    assert "\n" not in (result.error or "")
    assert recorder.requests == []
    assert not (tmp_path / "dl").exists()


async def test_loopback_http_only_when_allowed(tmp_path: Path) -> None:
    downloader, recorder = make(tmp_path, png_response)
    async with downloader:
        refused = await downloader.download_one("t1", 1, "http://127.0.0.1:9/x.png")
    assert refused.status == "failed"
    assert recorder.requests == []
    downloader, recorder = make(tmp_path, png_response, allow_loopback_http=True)
    async with downloader:
        results = await downloader.download_task(
            "t1", ["http://127.0.0.1:9/x.png", "http://localhost/x", "http://[::1]/x"]
        )
    assert [r.status for r in results] == ["ok", "ok", "ok"]


@pytest.mark.parametrize(
    "location",
    [
        "file:///etc/passwd",
        "javascript:alert(1)",
        "http://example.com/x.png",
        "data:image/png;base64,AAAA",
        "https:///nohost",
        "ftp://example.com/x.png",
        "https://user:pw@example.com/x.png",
        "https://example.com:99999/x.png",
        "https://exa mple.com/x",
        "https://example.com/x\x1b]52;c;AAAA\x07",
        "http://127.0.0.1/x.png",  # loopback http is not allowed by default
    ],
)
async def test_redirect_to_hostile_url_refused(tmp_path: Path, location: str) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/redirect/1":
            return httpx.Response(302, headers={"Location": location})
        return png_response(request)

    downloader, recorder = make(tmp_path, handler)
    async with downloader:
        result = await downloader.download_one("t1", 1, "https://cdn.example/redirect/1")
    assert result.status == "failed"
    assert (result.error or "").startswith("refused")
    assert len(recorder.requests) == 1
    assert not (tmp_path / "dl").exists()


async def test_relative_redirects_are_joined_to_the_current_hop(tmp_path: Path) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/redirect/1":
            return httpx.Response(307, headers={"Location": "-oProxyCommand=x"})
        if request.url.path == "/redirect/-oProxyCommand=x":
            return httpx.Response(301, headers={"Location": "//other.example/files/1.png"})
        return png_response(request)

    downloader, recorder = make(tmp_path, handler)
    async with downloader:
        result = await downloader.download_one("t1", 1, "https://cdn.example/redirect/1")
    assert result.status == "ok"
    assert [str(r.url) for r in recorder.requests] == [
        "https://cdn.example/redirect/1",
        "https://cdn.example/redirect/-oProxyCommand=x",
        "https://other.example/files/1.png",
    ]


async def test_too_many_redirects(tmp_path: Path) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        hop = int(request.url.path.rsplit("/", 1)[1])
        return httpx.Response(302, headers={"Location": f"/hop/{hop + 1}"})

    downloader, recorder = make(tmp_path, handler)
    async with downloader:
        result = await downloader.download_one("t1", 1, "https://cdn.example/hop/0")
    assert result.status == "failed"
    assert "too many redirects" in (result.error or "")
    assert len(recorder.requests) == 6
    assert not (tmp_path / "dl").exists()


async def test_redirect_without_location_fails(tmp_path: Path) -> None:
    downloader, _ = make(tmp_path, lambda request: httpx.Response(302))
    async with downloader:
        result = await downloader.download_one("t1", 1, "https://cdn.example/r")
    assert result.status == "failed"
    assert "Location" in (result.error or "")


# --- no credentials ----------------------------------------------------------------------


async def test_no_authorization_header_ever_sent(tmp_path: Path) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path.startswith("/redirect/"):
            return httpx.Response(
                302,
                headers={
                    "Location": "https://other.example/files/1.png",
                    "Set-Cookie": "session=abc; Domain=.example; Path=/",
                },
            )
        return png_response(request)

    downloader, recorder = make(tmp_path, handler)
    # The environment must not add a proxy (and its credentials) to downloads. httpx ignores
    # proxy variables whenever a transport is given, so under MockTransport no request could
    # show it; the client's own setting is what decides.
    assert downloader._http.trust_env is False
    async with downloader:
        await downloader.download_task(
            "t1", ["https://cdn.example/redirect/a", "https://cdn.example/redirect/b"]
        )
        # Defensively stripped even if some caller tried to add one.
        await downloader._http.get(
            "https://cdn.example/files/x",
            headers={"Authorization": "Bearer sk-secret", "Cookie": "a=b"},
        )
    assert len(recorder.requests) == 5
    for request in recorder.requests:
        assert "authorization" not in request.headers
        assert "proxy-authorization" not in request.headers
        assert "cookie" not in request.headers
        assert b"secret" not in b"".join(v for _, v in request.headers.raw)


# --- errors ------------------------------------------------------------------------------


async def test_http_errors_become_failed_results(tmp_path: Path) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        path = request.url.path
        if path == "/404":
            return httpx.Response(404)
        if path == "/500":
            return httpx.Response(500, content=b"\x1b[2J boom")
        if path == "/204":
            return httpx.Response(204)
        if path == "/connect":
            raise httpx.ConnectError("connection refused\nsecond line")
        if path == "/timeout":
            raise httpx.ReadTimeout("slow")
        return png_response(request)

    downloader, _ = make(tmp_path, handler)
    urls = [f"https://cdn.example/{p}" for p in ("404", "500", "ok", "204", "connect", "timeout")]
    async with downloader:
        results = await downloader.download_task("t1", urls)
    assert [r.status for r in results] == ["failed", "failed", "ok", "failed", "failed", "failed"]
    errors = [r.error or "" for r in results]
    assert errors[0] == "HTTP 404 Not Found"
    assert errors[1] == "HTTP 500 Internal Server Error"
    assert errors[3] == "unexpected HTTP status 204"
    assert errors[4] == "network error: connection refused"
    assert errors[5] == "timed out (60 s without progress)"
    assert [r.index for r in results] == [1, 2, 3, 4, 5, 6]
    assert files_under(tmp_path / "dl") == ["t1", "t1/3.png"]


async def test_failure_mid_stream_keeps_part(tmp_path: Path) -> None:
    async def body() -> AsyncIterator[bytes]:
        yield b"a" * 100
        raise httpx.ReadError("connection reset")

    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(
            200, headers={"Content-Type": "image/png", "Content-Length": "1000"}, content=body()
        )

    downloader, _ = make(tmp_path, handler)
    async with downloader:
        result = await downloader.download_one("t1", 1, "https://cdn.example/1")
    assert result.status == "failed"
    assert result.error == "network error: connection reset"
    assert result.bytes == 100
    assert files_under(tmp_path / "dl") == ["t1", "t1/1.part"]


# --- size cap ----------------------------------------------------------------------------


def _stream(total: int, chunk: int = 1000, seen: list[int] | None = None) -> AsyncIterator[bytes]:
    async def generate() -> AsyncIterator[bytes]:
        sent = 0
        while sent < total:
            size = min(chunk, total - sent)
            sent += size
            if seen is not None:
                seen.append(size)
            yield b"x" * size

    return generate()


@pytest.mark.parametrize("declared", ["10", None])
async def test_cap_holds_against_lying_or_absent_length(
    tmp_path: Path, declared: str | None
) -> None:
    seen: list[int] = []

    def handler(request: httpx.Request) -> httpx.Response:
        headers = {"Content-Type": "image/png"}
        if declared is not None:
            headers["Content-Length"] = declared
        return httpx.Response(200, headers=headers, content=_stream(1_000_000, seen=seen))

    downloader, _ = make(tmp_path, handler, max_bytes=5000)
    async with downloader:
        result = await downloader.download_one("t1", 1, "https://cdn.example/1")
    assert result.status == "failed"
    assert "larger than" in (result.error or "")
    # Stopped at the first chunk that crossed the cap: reading on would let a lying server
    # make us pull (and buffer) far more than the cap.
    assert sum(seen) <= 5000 + 1000
    assert files_under(tmp_path / "dl" / "t1") == []


async def test_declared_too_large_refused_before_reading(tmp_path: Path) -> None:
    seen: list[int] = []

    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(
            200,
            headers={"Content-Type": "video/mp4", "Content-Length": str(10**12)},
            content=_stream(10_000, seen=seen),
        )

    downloader, _ = make(tmp_path, handler, max_bytes=5000)
    async with downloader:
        result = await downloader.download_one("t1", 1, "https://cdn.example/1")
    assert result.status == "failed"
    assert "larger than" in (result.error or "") and "declared" in (result.error or "")
    assert seen == []
    assert not (tmp_path / "dl").exists()


async def test_exactly_the_cap_is_fine(tmp_path: Path) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, headers={"Content-Type": "image/png"}, content=b"x" * 5000)

    downloader, _ = make(tmp_path, handler, max_bytes=5000)
    async with downloader:
        result = await downloader.download_one("t1", 1, "https://cdn.example/1")
    assert result.status == "ok"
    assert result.bytes == 5000


async def test_short_body_is_a_failure_that_keeps_the_part(tmp_path: Path) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(
            200,
            headers={"Content-Type": "image/png", "Content-Length": "100"},
            content=_stream(40),
        )

    downloader, _ = make(tmp_path, handler)
    async with downloader:
        result = await downloader.download_one("t1", 1, "https://cdn.example/1")
    assert result.status == "failed"
    assert (result.error or "").startswith("incomplete")
    assert result.bytes == 40
    assert files_under(tmp_path / "dl" / "t1") == ["1.part"]


async def test_longer_body_than_declared_is_discarded(tmp_path: Path) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(
            200, headers={"Content-Type": "image/png", "Content-Length": "10"}, content=_stream(40)
        )

    downloader, _ = make(tmp_path, handler)
    async with downloader:
        result = await downloader.download_one("t1", 1, "https://cdn.example/1")
    assert result.status == "failed"
    assert "more than its declared" in (result.error or "")
    assert files_under(tmp_path / "dl" / "t1") == []


# --- skip and resume ---------------------------------------------------------------------


@pytest.mark.parametrize("name", ["1.png", "1.mp4", "1.bin", "1.jpg"])
async def test_existing_complete_file_skipped_without_request(tmp_path: Path, name: str) -> None:
    folder = tmp_path / "dl" / "t1"
    folder.mkdir(parents=True)
    (folder / name).write_bytes(b"done")
    downloader, recorder = make(tmp_path, png_response)
    async with downloader:
        result = await downloader.download_one("t1", 1, "https://cdn.example/1")
    assert result == DownloadResult(
        "t1", 1, "https://cdn.example/1", folder / name, "skipped", None, 4
    )
    assert recorder.requests == []


async def test_other_index_or_other_ext_not_taken_as_complete(tmp_path: Path) -> None:
    folder = tmp_path / "dl" / "t1"
    folder.mkdir(parents=True)
    (folder / "2.png").write_bytes(b"other")
    (folder / "1.txt").write_bytes(b"not ours")
    (folder / "1.png.tmp").write_bytes(b"not ours")
    downloader, recorder = make(tmp_path, png_response)
    async with downloader:
        result = await downloader.download_one("t1", 1, "https://cdn.example/1")
    assert result.status == "ok"
    assert len(recorder.requests) == 1


async def test_second_run_skips(tmp_path: Path) -> None:
    downloader, recorder = make(tmp_path, png_response)
    async with downloader:
        first = await downloader.download_task("t1", ["https://cdn.example/1"])
        second = await downloader.download_task("t1", ["https://cdn.example/1"])
    assert first[0].status == "ok"
    assert second[0].status == "skipped"
    assert second[0].path == first[0].path
    assert len(recorder.requests) == 1


async def test_same_output_twice_at_once_downloads_once(tmp_path: Path) -> None:
    async def handler(request: httpx.Request) -> httpx.Response:
        await asyncio.sleep(0.01)
        return png_response(request)

    downloader, recorder = make(tmp_path, handler)
    async with downloader:
        a, b = await asyncio.gather(
            downloader.download_one("t1", 1, "https://cdn.example/1"),
            downloader.download_one("t1", 1, "https://cdn.example/1"),
        )
    assert sorted([a.status, b.status]) == ["ok", "skipped"]
    assert len(recorder.requests) == 1


async def test_resume_with_range_and_206(tmp_path: Path) -> None:
    folder = tmp_path / "dl" / "t1"
    folder.mkdir(parents=True)
    (folder / "1.part").write_bytes(PNG[:20])

    def handler(request: httpx.Request) -> httpx.Response:
        assert request.headers.get("Range") == "bytes=20-"
        return httpx.Response(
            206,
            headers={
                "Content-Type": "image/png",
                "Content-Range": f"bytes 20-{len(PNG) - 1}/{len(PNG)}",
            },
            content=PNG[20:],
        )

    progress: list[DownloadProgress] = []
    downloader, recorder = make(tmp_path, handler)
    async with downloader:
        result = await downloader.download_one(
            "t1", 1, "https://cdn.example/1", on_progress=progress.append
        )
    assert result.status == "ok"
    assert (folder / "1.png").read_bytes() == PNG
    assert not (folder / "1.part").exists()
    assert len(recorder.requests) == 1
    assert progress[0].received == 20 and progress[0].total == len(PNG)
    assert progress[-1].done and progress[-1].received == len(PNG)


async def test_resume_restarts_on_200(tmp_path: Path) -> None:
    folder = tmp_path / "dl" / "t1"
    folder.mkdir(parents=True)
    (folder / "1.part").write_bytes(b"stale garbage from another time")
    downloader, recorder = make(tmp_path, png_response)
    async with downloader:
        result = await downloader.download_one("t1", 1, "https://cdn.example/1")
    assert result.status == "ok"
    assert (folder / "1.png").read_bytes() == PNG
    assert recorder.requests[0].headers["Range"] == "bytes=31-"
    assert files_under(folder) == ["1.png"]


@pytest.mark.parametrize(
    ("status", "content_range"),
    [(206, "bytes 5-63/64"), (206, None), (206, "bytes 20-63/*x"), (416, "bytes */64")],
)
async def test_unusable_partial_answer_restarts_from_zero(
    tmp_path: Path, status: int, content_range: str | None
) -> None:
    folder = tmp_path / "dl" / "t1"
    folder.mkdir(parents=True)
    (folder / "1.part").write_bytes(PNG[:20])

    def handler(request: httpx.Request) -> httpx.Response:
        if "Range" in request.headers:
            headers = {"Content-Type": "image/png"}
            if content_range is not None:
                headers["Content-Range"] = content_range
            return httpx.Response(
                status, headers=headers, content=PNG[5:] if status == 206 else b""
            )
        return png_response(request)

    downloader, recorder = make(tmp_path, handler)
    async with downloader:
        result = await downloader.download_one("t1", 1, "https://cdn.example/1")
    assert result.status == "ok"
    assert (folder / "1.png").read_bytes() == PNG
    assert [("Range" in r.headers) for r in recorder.requests] == [True, False]


async def test_interrupted_then_resumed(tmp_path: Path) -> None:
    calls = 0

    def handler(request: httpx.Request) -> httpx.Response:
        nonlocal calls
        calls += 1
        if calls == 1:  # the server promises 64 bytes and hangs up after 30
            return httpx.Response(
                200,
                headers={"Content-Type": "image/png", "Content-Length": str(len(PNG))},
                content=_once(PNG[:30]),
            )
        start = int(request.headers["Range"].removeprefix("bytes=").rstrip("-"))
        return httpx.Response(
            206,
            headers={
                "Content-Type": "image/png",
                "Content-Range": f"bytes {start}-{len(PNG) - 1}/{len(PNG)}",
            },
            content=PNG[start:],
        )

    downloader, _ = make(tmp_path, handler)
    async with downloader:
        first = await downloader.download_one("t1", 1, "https://cdn.example/1")
        second = await downloader.download_one("t1", 1, "https://cdn.example/1")
    assert first.status == "failed" and first.bytes == 30
    assert second.status == "ok"
    assert (tmp_path / "dl" / "t1" / "1.png").read_bytes() == PNG


def _once(data: bytes) -> AsyncIterator[bytes]:
    async def generate() -> AsyncIterator[bytes]:
        yield data

    return generate()


async def test_resume_respects_cap_with_offset(tmp_path: Path) -> None:
    folder = tmp_path / "dl" / "t1"
    folder.mkdir(parents=True)
    (folder / "1.part").write_bytes(b"x" * 4000)

    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(
            206,
            headers={"Content-Type": "image/png", "Content-Range": "bytes 4000-5999/6000"},
            content=b"x" * 2000,
        )

    downloader, _ = make(tmp_path, handler, max_bytes=5000)
    async with downloader:
        result = await downloader.download_one("t1", 1, "https://cdn.example/1")
    assert result.status == "failed"
    assert "larger than" in (result.error or "")
    assert files_under(folder) == []


async def test_cancelled_download_leaves_only_part(tmp_path: Path) -> None:
    started = asyncio.Event()

    async def body() -> AsyncIterator[bytes]:
        yield b"a" * 10
        started.set()
        await asyncio.sleep(3600)
        yield b"never"

    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, headers={"Content-Type": "image/png"}, content=body())

    downloader, _ = make(tmp_path, handler)
    async with downloader:
        task = asyncio.create_task(downloader.download_one("t1", 1, "https://cdn.example/1"))
        await asyncio.wait_for(started.wait(), 5)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
    assert files_under(tmp_path / "dl" / "t1") == ["1.part"]
    assert (tmp_path / "dl" / "t1" / "1.part").read_bytes() == b"a" * 10


# --- progress and concurrency ------------------------------------------------------------


async def test_progress_reports(tmp_path: Path) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(
            200,
            headers={"Content-Type": "video/mp4", "Content-Length": "200000"},
            content=_stream(200_000, chunk=50_000),
        )

    progress: list[DownloadProgress] = []
    downloader, _ = make(tmp_path, handler)
    async with downloader:
        await downloader.download_task("t1", ["https://cdn.example/1"], on_progress=progress.append)
    received = [p.received for p in progress]
    assert received == sorted(received)
    assert progress[0].received == 0 and progress[0].total == 200_000
    assert [p.done for p in progress].count(True) == 1
    assert progress[-1] == DownloadProgress(
        "t1", 1, "https://cdn.example/1", 200_000, 200_000, done=True
    )


async def test_failed_url_reports_done_too(tmp_path: Path) -> None:
    progress: list[DownloadProgress] = []
    downloader, _ = make(tmp_path, png_response)
    async with downloader:
        await downloader.download_task("t1", ["file:///etc/passwd"], on_progress=progress.append)
    assert progress == [DownloadProgress("t1", 1, "file:///etc/passwd", 0, None, done=True)]


async def test_at_most_four_downloads_at_once(tmp_path: Path) -> None:
    in_flight = 0
    peak = 0

    async def handler(request: httpx.Request) -> httpx.Response:
        nonlocal in_flight, peak
        in_flight += 1
        peak = max(peak, in_flight)

        async def body() -> AsyncIterator[bytes]:
            nonlocal in_flight
            await asyncio.sleep(0.02)
            yield PNG
            in_flight -= 1

        return httpx.Response(200, headers={"Content-Type": "image/png"}, content=body())

    downloader, recorder = make(tmp_path, handler)
    async with downloader:
        batches = await asyncio.gather(
            *(
                downloader.download_task(
                    f"t{t}", [f"https://cdn.example/{t}/{i}" for i in range(5)]
                )
                for t in range(3)
            )
        )
    assert all(r.status == "ok" for batch in batches for r in batch)
    assert len(recorder.requests) == 15
    assert peak == 4
    assert in_flight == 0


async def test_max_parallel_is_configurable(tmp_path: Path) -> None:
    in_flight = 0
    peak = 0

    async def handler(request: httpx.Request) -> httpx.Response:
        nonlocal in_flight, peak
        in_flight += 1
        peak = max(peak, in_flight)
        await asyncio.sleep(0.01)
        in_flight -= 1
        return png_response(request)

    downloader, _ = make(tmp_path, handler, max_parallel=2)
    async with downloader:
        await downloader.download_task("t1", [f"https://cdn.example/{i}" for i in range(6)])
    assert peak == 2


async def test_empty_output_list(tmp_path: Path) -> None:
    downloader, _ = make(tmp_path, png_response)
    async with downloader:
        assert await downloader.download_task("t1", []) == []
    assert not (tmp_path / "dl").exists()


async def test_one_string_instead_of_a_list_is_a_programmer_error(tmp_path: Path) -> None:
    downloader, _ = make(tmp_path, png_response)
    async with downloader:
        with pytest.raises(TypeError):
            await downloader.download_task("t1", "https://cdn.example/1")
