"""The one token rule: Settings makes the client, the downloader and the poll policy."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from siray_tui.config import Settings
from siray_tui.core.clock import FakeClock
from siray_tui.core.errors import AuthError, ConfigError
from siray_tui.core.events import AuthFailed, SessionEvent
from siray_tui.core.models import TaskKind, WatchedTask
from siray_tui.core.secret import Secret
from siray_tui.core.session import WatchSession


def settings(tmp_path: Path, **changes: object) -> Settings:
    base = Settings(token=None, data_dir=tmp_path / "data", download_dir=tmp_path / "dl")
    return base.with_overrides(**changes)


async def test_no_token_for_a_real_api_makes_no_client(tmp_path: Path) -> None:
    plain = settings(tmp_path)
    assert plain.api_token is None
    assert plain.token_problem is not None and "SIRAY_API_TOKEN" in plain.token_problem
    with pytest.raises(ConfigError, match="SIRAY_API_TOKEN"):
        plain.make_client()
    # Downloads never carry the token, and the policy does not depend on it.
    downloader = plain.make_downloader()
    assert downloader.download_dir == tmp_path / "dl"
    await downloader.aclose()
    policy = plain.poll_policy()
    assert (policy.interval, policy.concurrency, policy.rate) == (4.0, 8, 10.0)


async def test_no_token_on_loopback_sends_the_simulators_dummy(tmp_path: Path) -> None:
    local = settings(tmp_path, base_url="http://127.0.0.1:9")
    assert local.token_problem is None
    assert local.api_token is not None and local.api_token.reveal() == "demo"
    client = local.make_client(FakeClock())
    assert client.has_token
    await client.aclose()


async def test_the_configured_token_wins(tmp_path: Path) -> None:
    configured = settings(tmp_path, token=Secret("sk-real"), base_url="http://127.0.0.1:9")
    assert configured.api_token is not None and configured.api_token.reveal() == "sk-real"
    await configured.make_client().aclose()


async def test_the_downloader_gets_the_output_scope(tmp_path: Path) -> None:
    """An API on a private address may hand out outputs there: the dashboard's downloader
    (made by the same factory as the CLI's) must know it."""
    private = settings(tmp_path, token=Secret("t"), base_url="https://10.1.2.3")
    downloader = private.make_downloader()
    assert downloader.allow_scope == "private"
    assert downloader.max_bytes == private.max_download_bytes
    await downloader.aclose()
    session = WatchSession(private)
    assert session.downloader.allow_scope == "private"
    await session.aclose()


def test_poll_policy_takes_overrides(tmp_path: Path) -> None:
    policy = settings(tmp_path, interval=2.0, rate=3.0).poll_policy(backoff_base=0.5)
    assert (policy.interval, policy.rate, policy.backoff_base) == (2.0, 3.0, 0.5)


async def test_a_session_without_a_token_refuses_to_poll(tmp_path: Path) -> None:
    events: list[SessionEvent] = []
    session = WatchSession(settings(tmp_path), on_event=events.append)
    assert session.client is None and session.token_problem is not None
    with pytest.raises(AuthError, match="SIRAY_API_TOKEN"):
        await session.source.get_task("image_abc", TaskKind.AUTO)
    # A poller run anyway stops at once, saying why, like a rejected token.
    session.watch([WatchedTask(task_id="image_abc")])
    runner = asyncio.create_task(session.poller.run())
    for _ in range(500):  # a bound on a busy machine, not a timing check
        if any(isinstance(e, AuthFailed) for e in events):
            break
        await asyncio.sleep(0.01)
    session.poller.stop()
    await runner
    failed = [e for e in events if isinstance(e, AuthFailed)]
    assert failed and "SIRAY_API_TOKEN" in failed[0].message
    await session.aclose()
