"""No error text built from an httpx exception may carry the token or a header value."""

from __future__ import annotations

import asyncio

import httpx
import pytest

from siray_tui.core.client import SirayClient
from siray_tui.core.errors import ConfigError, TransportError
from siray_tui.core.models import TaskKind
from siray_tui.core.secret import Secret

TOKEN = "sk-live-5e5e5e5e"


def _failing(exc: Exception) -> httpx.MockTransport:
    def handler(request: httpx.Request) -> httpx.Response:
        raise exc

    return httpx.MockTransport(handler)


@pytest.mark.parametrize(
    "exc",
    [
        httpx.LocalProtocolError(f"Illegal header value b'Bearer {TOKEN}'"),
        httpx.ConnectError(f"cannot connect with Authorization: Bearer {TOKEN}"),
        httpx.RemoteProtocolError(f"server echoed {TOKEN}"),
    ],
)
def test_transport_error_text_never_carries_the_token(exc: Exception) -> None:
    async def query() -> str:
        async with SirayClient(
            "http://127.0.0.1:9", Secret(TOKEN), transport=_failing(exc)
        ) as client:
            with pytest.raises(TransportError) as caught:
                await client.get_task("image_x", TaskKind.IMAGE)
            return str(caught.value)

    message = asyncio.run(query())
    assert TOKEN not in message
    assert "Illegal header" not in message


@pytest.mark.parametrize("token", [f"{TOKEN}\r", f"{TOKEN}\nX", f"a\x00{TOKEN}", f"{TOKEN}é"])
def test_client_refuses_a_token_that_cannot_be_a_header(token: str) -> None:
    with pytest.raises(ConfigError) as caught:
        SirayClient("http://127.0.0.1:9", Secret(token))
    assert TOKEN not in str(caught.value)
