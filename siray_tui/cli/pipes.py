"""Leaving quietly when the reader of our output goes away (``siray-tui list --json | head -1``).

Python ignores SIGPIPE, so a write to a pipe whose reader has closed raises
BrokenPipeError, and a traceback (or an "Exception ignored" note at the interpreter's last
flush) lands on stderr. Restoring SIGPIPE's default action instead would also kill the
process when a *socket* peer hangs up mid-download, so the error is caught instead: the
entry point turns it into status 141 (128 + SIGPIPE, what a shell reports for
``yes | head -1``, so ``set -o pipefail`` treats us like any coreutils tool).

One case needs help: some lines are written from another task than the command's own
(``wait --json`` prints from the poller's event callback, which logs and survives whatever
it raises; ``wait``'s progress line has a task of its own), so ``wait`` would go on
polling for nobody. :class:`OutputGuard` notices the broken pipe there and cancels the
command instead, which then ends with the same BrokenPipeError.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Awaitable
from typing import Any, Final, TextIO, cast

EXIT_READER_GONE: Final = 141


def silence_output() -> None:
    """Point file descriptors 1 and 2 at the null device.

    What is still buffered in ``sys.stdout`` is flushed again when the interpreter exits;
    without this, that flush raises BrokenPipeError a second time (and says so on stderr,
    which may be the same closed pipe).
    """
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        for descriptor in (1, 2):
            os.dup2(devnull, descriptor)
    finally:
        os.close(devnull)


class OutputGuard:
    """stdout and stderr for a command: a closed pipe ends the command, even from a callback.

    In the command's own flow (and outside asyncio) the BrokenPipeError is raised as
    usual. Raised in another task it would be swallowed, so the command's task is
    cancelled instead, and :meth:`run` raises it there.
    """

    def __init__(self, out: TextIO, err: TextIO) -> None:
        self.out = cast(TextIO, _GuardedStream(out, self))
        self.err = cast(TextIO, _GuardedStream(err, self))
        self.broken = False
        self._command: asyncio.Task[Any] | None = None

    def reader_gone(self) -> bool:
        """Note the closed pipe; cancel the command if this write came from another task.

        Returns False when the caller should raise: in the command's own flow, or
        outside asyncio (a plain command).
        """
        self.broken = True
        try:
            current = asyncio.current_task()
        except RuntimeError:  # no running event loop
            current = None
        if self._command is None or current is self._command:
            return False
        self._command.cancel()
        return True

    async def run(self, command: Awaitable[int]) -> int:
        """Await ``command``; raise BrokenPipeError if it was cancelled for a gone reader."""
        self._command = asyncio.current_task()
        try:
            return await command
        except asyncio.CancelledError:
            if self.broken:
                raise BrokenPipeError from None
            raise


class _GuardedStream:
    """A text stream whose ``write`` and ``flush`` report a broken pipe to the guard."""

    def __init__(self, stream: TextIO, guard: OutputGuard) -> None:
        self._stream = stream
        self._guard = guard

    def write(self, text: str) -> int:
        if not self._guard.broken:
            try:
                return self._stream.write(text)
            except BrokenPipeError:
                if not self._guard.reader_gone():
                    raise
        return len(text)  # nobody reads any more: what follows is dropped

    def flush(self) -> None:
        if not self._guard.broken:
            try:
                self._stream.flush()
            except BrokenPipeError:
                if not self._guard.reader_gone():
                    raise

    def __getattr__(self, name: str) -> Any:
        return getattr(self._stream, name)
