"""The suite's own guard: nothing outside loopback is looked up or connected to."""

from __future__ import annotations

import socket

import httpx
import pytest


def test_a_lookup_outside_loopback_is_refused_and_recorded(_loopback_only: list[str]) -> None:
    with pytest.raises(httpx.ConnectError):
        httpx.get("https://api.siray.ai/v1/models", timeout=2)
    with pytest.raises(OSError):
        socket.create_connection(("10.1.2.3", 443), timeout=0.1)
    assert len(_loopback_only) == 2
    assert "api.siray.ai" in _loopback_only[0] and "10.1.2.3" in _loopback_only[1]
    _loopback_only.clear()  # recorded on purpose here: the teardown check stays quiet


def test_loopback_stays_reachable() -> None:
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen()
        with socket.create_connection(server.getsockname(), timeout=2):
            pass
    assert socket.getaddrinfo("localhost", 80)
