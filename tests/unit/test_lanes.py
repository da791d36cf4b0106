"""Lanes: one request per one-connection transport, the pool timeout, lanes never lost."""

from __future__ import annotations

import asyncio

import httpx
import pytest

from siray_tui.core.lanes import Lanes


class Lane(httpx.AsyncBaseTransport):
    """A fake one-connection transport: answers when ``release`` is set, records what it
    served, and fails when told to."""

    def __init__(self, number: int, release: asyncio.Event, served: list[int]) -> None:
        self.number = number
        self.release = release
        self.served = served
        self.closed = False
        self.fail = False

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if self.fail:
            raise httpx.ConnectError("refused", request=request)
        await self.release.wait()
        self.served.append(self.number)
        return httpx.Response(200, content=b"{}")

    async def aclose(self) -> None:
        self.closed = True


def make_lanes(size: int, release: asyncio.Event | None = None) -> tuple[Lanes, list[Lane]]:
    built: list[Lane] = []
    served: list[int] = []
    gate = release or asyncio.Event()
    if release is None:
        gate.set()

    def make() -> Lane:
        built.append(Lane(len(built), gate, served))
        return built[-1]

    return Lanes(make, size), built


def request(pool: float | None = 5.0) -> httpx.Request:
    timeout = {"connect": 5.0, "read": 5.0, "write": 5.0, "pool": pool}
    return httpx.Request("GET", "http://127.0.0.1:9/x", extensions={"timeout": timeout})


async def fetch(lanes: Lanes, pool: float | None = 5.0) -> bytes:
    """Send, read and close, as SirayClient does."""
    response = await lanes.handle_async_request(request(pool))
    try:
        return b"".join([chunk async for chunk in response.aiter_bytes()])
    finally:
        await response.aclose()


async def burst(count: int, size: int) -> tuple[Lanes, list[Lane]]:
    """``count`` requests at once on ``size`` lanes, held until all have started; the
    lanes and the fake transports built for them."""
    release = asyncio.Event()
    lanes, built = make_lanes(size, release)
    jobs = [asyncio.create_task(fetch(lanes)) for _ in range(count)]
    await asyncio.sleep(0.01)
    assert lanes.opened == min(count, size)  # the rest wait: no lane is built for them
    release.set()
    assert await asyncio.gather(*jobs) == [b"{}"] * count
    return lanes, built


async def test_a_lane_carries_one_request_at_a_time_and_the_rest_wait() -> None:
    _, built = await burst(5, size=2)
    assert len(built) == 2 and sorted(set(built[0].served)) == [0, 1]  # both lanes served


async def test_a_light_load_keeps_to_the_lane_freed_last() -> None:
    """After a burst opened three lanes, requests one at a time keep to one of them (the
    others' connections can expire) instead of going round all three."""
    lanes, built = await burst(3, size=8)
    served = built[0].served
    del served[:]
    for _ in range(6):
        await fetch(lanes)
    assert lanes.opened == 3
    assert len(set(served)) == 1, served


async def test_no_free_lane_within_the_pool_timeout_is_a_pool_timeout() -> None:
    release = asyncio.Event()
    lanes, _ = make_lanes(1, release)
    busy = asyncio.create_task(fetch(lanes))
    await asyncio.sleep(0)
    with pytest.raises(httpx.PoolTimeout):
        await fetch(lanes, pool=0.05)
    release.set()
    await busy
    assert await fetch(lanes) == b"{}"  # the lane was not lost to the waiter that gave up


async def test_a_failed_or_cancelled_request_gives_its_lane_back() -> None:
    release = asyncio.Event()
    lanes, built = make_lanes(1, release)
    await asyncio.sleep(0)
    stuck = asyncio.create_task(fetch(lanes))
    waiting = asyncio.create_task(fetch(lanes))
    await asyncio.sleep(0.01)
    stuck.cancel()  # cancelled while on the lane
    waiting.cancel()  # cancelled while waiting for it
    await asyncio.gather(stuck, waiting, return_exceptions=True)
    built[0].fail = True
    with pytest.raises(httpx.ConnectError):
        await fetch(lanes)
    built[0].fail = False
    release.set()
    assert await asyncio.wait_for(fetch(lanes), 2) == b"{}"
    assert lanes.opened == 1


async def test_closing_closes_every_lane() -> None:
    lanes, built = await burst(3, size=3)
    await lanes.aclose()
    assert len(built) == 3 and all(lane.closed for lane in built)
