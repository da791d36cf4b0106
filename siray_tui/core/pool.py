"""One httpx connection pool per object, closed by ``async with`` or :meth:`aclose`.

The API client and the downloader each keep one :class:`httpx.AsyncClient` for their whole
life (a pool per request rebuilds the TLS context each time); this base gives both the
same way to close it.
"""

from __future__ import annotations

from types import TracebackType
from typing import Self

import httpx


class HttpPoolOwner:
    """Owns ``self._http``; use as an async context manager, or call :meth:`aclose`."""

    _http: httpx.AsyncClient

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Close the connection pool."""
        await self._http.aclose()
