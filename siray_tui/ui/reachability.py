"""Whether the API answers at all, from the poll results the dashboard sees.

One failed connection is a blip; when the last few polls all failed to connect, the
server is down or the network is, and the summary says so instead of "▶ live", with the
base URL and when the next try is. Any answer from the server (even a 500) ends it.
"""

from __future__ import annotations

from typing import Final

OFFLINE_AFTER: Final = 3
"""Failed connections in a row, without an answer between them, that mean offline."""


class Reachability:
    """Counts failed connections in a row and remembers when each task retries."""

    def __init__(self) -> None:
        self._failures = 0
        self._retry_at: dict[str, float] = {}

    @property
    def offline(self) -> bool:
        """Whether the recent polls all failed to reach the server."""
        return self._failures >= OFFLINE_AFTER

    def failed(self, task_id: str, retry_at: float, *, unreachable: bool) -> None:
        """A poll failed; only one that got no answer at all counts towards offline."""
        if not unreachable:
            self.answered()
            return
        self._failures += 1
        self._retry_at[task_id] = retry_at

    def answered(self) -> None:
        """The server answered something: it is reachable."""
        self._failures = 0
        self._retry_at.clear()

    def retry_in(self, now: float) -> float:
        """Seconds until the next try (0: one is under way)."""
        if not self._retry_at:
            return 0.0
        return max(0.0, min(self._retry_at.values()) - now)
