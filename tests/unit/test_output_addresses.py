"""Output URLs at private, link-local, loopback... addresses: refused before any connection.

Every test here hands the downloader a transport that fails the test if it is called, so
a refusal is proven to happen before any connection or DNS lookup.
"""

from __future__ import annotations

import os
from pathlib import Path

import httpx
import pytest

from siray_tui.config import Settings
from siray_tui.core.downloads import Downloader
from siray_tui.core.errors import UnsafeUrlError
from siray_tui.core.text import check_url, host_scope

PNG = b"\x89PNG\r\n\x1a\n" + bytes(16)

REFUSED = [
    ("https://169.254.169.254/latest/meta-data/iam", "link-local"),
    ("https://[fe80::1]/x.png", "link-local"),
    ("https://[::ffff:169.254.169.254]/x.png", "link-local"),
    ("https://2852039166/x.png", "link-local"),  # 169.254.169.254 as one number
    ("https://0xa9.0xfe.43518/x.png", "link-local"),
    ("https://10.0.0.1/x.png", "private"),
    ("https://192.168.1.1:8443/x.png", "private"),
    ("https://172.16.0.1/x.png", "private"),
    ("https://[fd00::1]/x.png", "private"),
    ("https://127.0.0.1/x.png", "loopback"),
    ("https://[::1]/x.png", "loopback"),
    ("https://localhost/x.png", "loopback"),
    ("https://LOCALHOST./x.png", "loopback"),
    ("https://metadata.localhost/x.png", "loopback"),
    ("https://0.0.0.0/x.png", "unspecified"),
    ("https://224.0.0.1/x.png", "multicast"),
    ("https://100.64.0.1/x.png", "reserved"),
]


def no_network(request: httpx.Request) -> httpx.Response:
    pytest.fail(f"a request was sent to {request.url}")


@pytest.mark.parametrize(("url", "scope"), REFUSED)
async def test_non_public_output_is_refused_before_any_connection(
    tmp_path: Path, url: str, scope: str
) -> None:
    async with Downloader(tmp_path, transport=httpx.MockTransport(no_network)) as downloader:
        result = await downloader.download_one("image_a", 1, url)
    assert result.status == "failed"
    assert result.error is not None
    assert result.error.startswith(f"refused URL to a {scope} address: ")
    assert os.listdir(tmp_path) == []


async def test_a_redirect_to_the_metadata_address_is_refused_before_following_it(
    tmp_path: Path,
) -> None:
    seen: list[str] = []

    def cdn(request: httpx.Request) -> httpx.Response:
        if request.url.host != "cdn.example.com":
            pytest.fail(f"a request was sent to {request.url}")
        seen.append(str(request.url))
        return httpx.Response(302, headers={"Location": "https://169.254.169.254/latest"})

    async with Downloader(tmp_path, transport=httpx.MockTransport(cdn)) as downloader:
        result = await downloader.download_one("image_a", 1, "https://cdn.example.com/x.png")
    assert seen == ["https://cdn.example.com/x.png"]
    assert result.error == "refused URL to a link-local address: 'https://169.254.169.254/latest'"


async def test_outputs_on_the_apis_own_kind_of_address_are_fetched(tmp_path: Path) -> None:
    """A self-hosted API on 10.0.0.5 may serve its outputs from 10.0.0.6."""
    settings = Settings(base_url="https://10.0.0.5")
    assert settings.output_scope == "private"
    assert Settings().output_scope is None

    def lan(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, content=PNG, headers={"Content-Type": "image/png"})

    downloader = Downloader(
        tmp_path, allow_scope=settings.output_scope, transport=httpx.MockTransport(lan)
    )
    async with downloader:
        result = await downloader.download_one("image_a", 1, "https://10.0.0.6/x.png")
        link_local = await downloader.download_one("image_a", 2, "https://169.254.169.254/x")
    assert result.status == "ok"
    assert link_local.status == "failed"


def test_host_names_are_not_resolved_and_public_addresses_pass() -> None:
    assert host_scope("cdn.example.com") is None
    assert host_scope("8.8.8.8") is None
    assert check_url("https://cdn.example.com/x.png") == "https://cdn.example.com/x.png"
    with pytest.raises(UnsafeUrlError):
        check_url("https://10.1.2.3/x.png", allow_loopback_http=True)
    assert check_url("http://127.0.0.1:8765/x", allow_loopback_http=True)
