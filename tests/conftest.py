"""Shared fixtures: isolated user directories, and the Siray simulator on loopback.

``sim`` is a running server with fast lifecycles (a task is final within ~1.5 s) and any
non-empty bearer token accepted. ``sim_factory(...)`` builds more, with custom
arguments; every server either made is stopped at teardown.
"""

from __future__ import annotations

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
