"""Lanes: an httpx transport that is a pool of one-connection pools.

httpcore's pool walks every connection twice per request (when the request comes in and
when its response is closed), and for each connection it asks the socket whether the
server closed it: at 8 connections those walks were 18% of the CPU of a submission in a
profile. Requests that arrive together are also often handed the same idle connection,
find it taken and walk again (one request in two, in ``bench/submit.py``). Here each lane
is an httpcore pool of exactly one connection, and a request takes a free lane, last
freed first (so a light load keeps few connections open); it waits, up to the pool
timeout, when every lane is busy. With it, and with requests sent past
``AsyncClient.send`` (see :mod:`siray_tui.core.client`), our client takes 0.6 of the CPU
of a bare ``httpx.AsyncClient`` per request (``bench/client.py``).

A lane is busy from the request until its response is closed, so responses must be
closed (``SirayClient`` reads each in full and closes it at once).
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import AsyncIterator, Callable

import httpx


class Lanes(httpx.AsyncBaseTransport):
    """At most ``size`` requests at once, each on a transport of its own.

    Args:
        make: builds one lane (a transport holding one connection at most).
        size: lanes at most; they are built as the load needs them.
    """

    def __init__(self, make: Callable[[], httpx.AsyncBaseTransport], size: int) -> None:
        self._make = make
        self._size = max(1, size)
        self._lanes: list[httpx.AsyncBaseTransport] = []
        self._free: list[httpx.AsyncBaseTransport] = []
        self._waiting: deque[asyncio.Future[httpx.AsyncBaseTransport]] = deque()

    @property
    def size(self) -> int:
        """Requests at once, at most."""
        return self._size

    @property
    def opened(self) -> int:
        """Lanes built so far."""
        return len(self._lanes)

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        lane = await self._take(request)
        try:
            response = await lane.handle_async_request(request)
        except BaseException:
            self._give_back(lane)
            raise
        stream = _FreesLane(response.stream, lambda: self._give_back(lane))
        return httpx.Response(
            response.status_code,
            headers=response.headers,
            stream=stream,
            extensions=response.extensions,
        )

    async def _take(self, request: httpx.Request) -> httpx.AsyncBaseTransport:
        if self._free:
            return self._free.pop()
        if len(self._lanes) < self._size:
            lane = self._make()
            self._lanes.append(lane)
            return lane
        waiter: asyncio.Future[httpx.AsyncBaseTransport] = (
            asyncio.get_running_loop().create_future()
        )
        self._waiting.append(waiter)
        timeout = request.extensions.get("timeout", {}).get("pool")
        try:
            async with asyncio.timeout(timeout):
                return await waiter
        except BaseException as exc:
            if waiter.done() and not waiter.cancelled():
                self._give_back(waiter.result())  # handed over as we gave up: pass it on
            else:
                waiter.cancel()
            if isinstance(exc, TimeoutError):
                raise httpx.PoolTimeout("no free connection in time", request=request) from None
            raise

    def _give_back(self, lane: httpx.AsyncBaseTransport) -> None:
        while self._waiting:
            waiter = self._waiting.popleft()
            if not waiter.done():
                waiter.set_result(lane)
                return
        self._free.append(lane)

    async def aclose(self) -> None:
        lanes, self._lanes, self._free = self._lanes, [], []
        for lane in lanes:
            await lane.aclose()


class _FreesLane(httpx.AsyncByteStream):
    """A response body that frees its lane when it is closed (once)."""

    def __init__(
        self, stream: httpx.SyncByteStream | httpx.AsyncByteStream, free: Callable[[], None]
    ) -> None:
        self._stream = stream
        self._free: Callable[[], None] | None = free

    async def __aiter__(self) -> AsyncIterator[bytes]:
        assert isinstance(self._stream, httpx.AsyncByteStream)
        async for chunk in self._stream:
            yield chunk

    async def aclose(self) -> None:
        try:
            if isinstance(self._stream, httpx.AsyncByteStream):
                await self._stream.aclose()
        finally:
            free, self._free = self._free, None
            if free is not None:
                free()


__all__ = ["Lanes"]
