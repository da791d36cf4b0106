"""Leaving quietly when the reader of stdout goes away (``siray-tui list --json | head -1``).

Python ignores SIGPIPE, so a write to a pipe whose reader has closed raises
BrokenPipeError, and a traceback (or an "Exception ignored" note at the interpreter's last
flush) lands on stderr. Restoring SIGPIPE's default action instead would also kill the
process when a *socket* peer hangs up mid-download, so the error is caught instead: the
entry point turns it into status 141 (128 + SIGPIPE, what a shell reports for
``yes | head -1``, so ``set -o pipefail`` treats us like any coreutils tool).

One case needs help: ``wait --json`` prints from inside the poller's event callback, and
the poller logs and survives whatever its callbacks raise, so ``wait`` would go on polling
for nobody. :class:`StdoutGuard` notices the broken pipe there and cancels the command
instead, which then ends with the same BrokenPipeError.
"""

from __future__ import annotations

import asyncio
import os
import sys
from collections.abc import Awaitable
from typing import Any, Final, TextIO, cast

EXIT_READER_GONE: Final = 141


def silence_stdout() -> None:
    """Point file descriptor 1 at the null device.

    What is still buffered in ``sys.stdout`` is flushed again when the interpreter exits;
    without this, that flush raises BrokenPipeError a second time.
    """
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, sys.stdout.fileno())
    finally:
        os.close(devnull)


class StdoutGuard:
    """stdout for the commands: a broken pipe ends the command even from a callback.

    In the command's own flow (and outside asyncio) the BrokenPipeError is raised as
    usual. Raised in another task (a poller callback) it would be swallowed, so the
    command's task is cancelled instead, and :meth:`run` raises it there.
    """

    def __init__(self, stream: TextIO) -> None:
        self._stream = stream
        self._command: asyncio.Task[Any] | None = None
        self.broken = False

    @property
    def stream(self) -> TextIO:
        """This guard as the TextIO the commands write to."""
        return cast(TextIO, self)

    def write(self, text: str) -> int:
        if not self.broken:
            try:
                return self._stream.write(text)
            except BrokenPipeError:
                if not self._cancel_command():
                    raise
        return len(text)  # nobody reads any more: what follows is dropped

    def flush(self) -> None:
        if not self.broken:
            try:
                self._stream.flush()
            except BrokenPipeError:
                if not self._cancel_command():
                    raise

    def __getattr__(self, name: str) -> Any:
        return getattr(self._stream, name)

    def _cancel_command(self) -> bool:
        """The reader is gone: cancel the command if this write came from another task.

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
