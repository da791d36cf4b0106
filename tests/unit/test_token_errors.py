"""No error text built from an httpx exception may carry the token or a header value."""

from __future__ import annotations

import asyncio
import logging
import traceback

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


def _raised(exc: Exception, token: str = TOKEN) -> TransportError:
    """The TransportError a query raises when the transport raises ``exc``."""

    async def query() -> TransportError:
        async with SirayClient(
            "http://127.0.0.1:9", Secret(token), transport=_failing(exc)
        ) as client:
            with pytest.raises(TransportError) as caught:
                await client.get_task("image_x", TaskKind.IMAGE)
            return caught.value

    return asyncio.run(query())


def _printed(error: BaseException) -> str:
    """What a traceback of ``error`` shows, its whole cause chain included."""
    return "".join(traceback.format_exception(error))


@pytest.mark.parametrize(
    "exc",
    [
        httpx.ConnectError("[Errno 111] Connection refused"),
        httpx.ReadError("connection reset by peer"),
        httpx.RemoteProtocolError("server disconnected without sending a response"),
        httpx.ReadTimeout("timed out"),
    ],
)
def test_errors_keep_the_httpx_cause_for_a_traceback(exc: Exception) -> None:
    error = _raised(exc)
    assert error.__cause__ is exc
    assert str(exc) in _printed(error)


def _with_cause(outer: Exception, inner: Exception) -> Exception:
    outer.__cause__ = inner
    return outer


@pytest.mark.parametrize(
    "exc",
    [
        httpx.ConnectError(f"cannot connect with Authorization: Bearer {TOKEN}"),
        httpx.RemoteProtocolError(f"server echoed {TOKEN}"),
        httpx.ReadTimeout(f"timed out sending Bearer {TOKEN}"),
        _with_cause(httpx.ReadError("reset"), OSError(f"deep down: {TOKEN}")),
    ],
)
def test_a_cause_that_shows_the_token_is_dropped(
    exc: Exception, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    error = _raised(exc)
    assert error.__cause__ is None
    assert TOKEN not in _printed(error)
    assert TOKEN not in caplog.text


def test_local_protocol_error_never_becomes_the_cause() -> None:
    """h11 quotes a refused header's value as repr'd bytes: a token with a backslash is
    escaped there, so searching the text for the token would miss it. The cause goes."""
    token = "sk-live-back\\slash"
    header = repr(f"Bearer {token}".encode())
    error = _raised(httpx.LocalProtocolError(f"Illegal header value {header}"), token=token)
    printed = _printed(error)
    assert "Illegal header" not in printed
    assert "slash" not in printed
