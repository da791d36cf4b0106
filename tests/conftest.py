"""Shared fixtures: isolated user directories, and the Siray simulator on loopback.

``sim`` is a running server with fast lifecycles (a task is final within ~1.5 s) and any
non-empty bearer token accepted. ``sim_factory(...)`` builds more, with custom
arguments; every server either made is stopped at teardown.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from siray_tui.sim import Faults, Scenario, SimServer

SIM_SEED = 1234
FAST_QUEUE_SECONDS = (0.2, 0.5)
FAST_RUN_SECONDS = (0.3, 1.0)

SimFactory = Callable[..., SimServer]


@pytest.fixture(autouse=True)
def _isolated_user_dirs(
    tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    """No test reads or writes the real user's config, watchlist, logs or downloads.

    Also drops any token or base URL from the developer's shell, so a test never talks to
    the real API and never sees a real token.
    """
    home = tmp_path_factory.mktemp("user-home")
    for name in ("XDG_CONFIG_HOME", "XDG_DATA_HOME", "XDG_STATE_HOME", "XDG_CACHE_HOME"):
        monkeypatch.setenv(name, str(home / name.lower()))
    monkeypatch.setenv("XDG_DOWNLOAD_DIR", str(home / "downloads"))
    for name in (
        "SIRAY_API_TOKEN",
        "SIRAY_API_KEY",
        "SIRAY_BASE_URL",
        "SIRAY_TUI_DATA_DIR",
        "SIRAY_TUI_CONFIG",
        "SIRAY_TUI_INTERVAL",
        "SIRAY_TUI_DOWNLOAD_DIR",
    ):
        monkeypatch.delenv(name, raising=False)


def _is_loopback(host: object) -> bool:
    if not isinstance(host, str | bytes):
        return False
    name = host.decode() if isinstance(host, bytes) else host
    if name.lower().rstrip(".") == "localhost":
        return True
    try:
        return ipaddress.ip_address(name.split("%")[0]).is_loopback
    except ValueError:
        return False


@pytest.fixture(autouse=True)
def _loopback_only(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    """No test looks up or connects to anything outside 127.0.0.0/8 (or ::1).

    A name lookup or a connection to any other address is refused (OSError) and fails
    the test at teardown, even when the code under test handled the error quietly.
    Unix sockets are left alone. Child processes are not covered: they talk only to the
    simulators the tests start.
    """
    attempts: list[str] = []
    real_getaddrinfo = socket.getaddrinfo
    real_connect = socket.socket.connect
    real_connect_ex = socket.socket.connect_ex

    def getaddrinfo(host: Any, *args: Any, **kwargs: Any) -> Any:
        if host is not None and not _is_loopback(host):
            attempts.append(f"lookup of {host!r}")
            raise OSError(f"test network guard: no lookup of {host!r} outside loopback")
        return real_getaddrinfo(host, *args, **kwargs)

    def refuse(sock: socket.socket, address: Any) -> None:
        if sock.family in (socket.AF_INET, socket.AF_INET6) and not _is_loopback(address[0]):
            attempts.append(f"connection to {address!r}")
            raise OSError(f"test network guard: no connection to {address!r}")

    def connect(sock: socket.socket, address: Any) -> None:
        refuse(sock, address)
        real_connect(sock, address)

    def connect_ex(sock: socket.socket, address: Any) -> int:
        refuse(sock, address)
        return real_connect_ex(sock, address)

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    monkeypatch.setattr(socket.socket, "connect", connect)
    monkeypatch.setattr(socket.socket, "connect_ex", connect_ex)
    yield attempts
    assert not attempts, f"the test reached outside loopback: {attempts}"


@pytest.fixture
def sim_factory() -> Iterator[SimFactory]:
    """Build started simulators: ``sim_factory(token="t", faults=Faults(...), clock=...)``.

    Keyword arguments: ``scenario`` (else one is built from ``seed``, ``clock``,
    ``queue_seconds``, ``run_seconds`` and ``failure_rate``), ``token``, ``faults``,
    ``seed``; anything else goes to :class:`SimServer`. Always on 127.0.0.1, free port.
    """
    servers: list[SimServer] = []

    def make(
        scenario: Scenario | None = None,
        *,
        token: str | None = None,
        faults: Faults | None = None,
        seed: int = SIM_SEED,
        clock: Callable[[], float] | None = None,
        queue_seconds: tuple[float, float] = FAST_QUEUE_SECONDS,
        run_seconds: tuple[float, float] = FAST_RUN_SECONDS,
        failure_rate: float = 0.2,
        **server_args: Any,
    ) -> SimServer:
        if scenario is None:
            scenario = Scenario(
                seed,
                clock=clock,
                queue_seconds=queue_seconds,
                run_seconds=run_seconds,
                failure_rate=failure_rate,
            )
        server = SimServer(
            scenario, host="127.0.0.1", port=0, token=token, faults=faults, seed=seed, **server_args
        )
        servers.append(server)
        server.start()
        return server

    yield make
    for server in servers:
        server.stop()


@pytest.fixture
def sim(sim_factory: SimFactory) -> SimServer:
    """A running simulator: seed 1234, queue 0.2-0.5 s, run 0.3-1.0 s, no fixed token."""
    return sim_factory()
