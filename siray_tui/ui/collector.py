"""Keeping Python's cyclic garbage collector from freezing the dashboard.

A 10,000-task watchlist is about a million small objects (tasks, states, raw payloads,
rows, cells). A full collection scans every tracked object and holds the GIL while it
does: measured here, 200-250 ms with nothing else able to run, not even the thread
reading the file. These objects live as long as the app and hold no cycles worth
collecting, so while they are built the collector is paused, and afterwards they are
frozen (:func:`gc.freeze`): later collections skip them. Reference counting still frees
them when they go.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager


def pause() -> bool:
    """Stop automatic collection; returns whether it was running (for :func:`resume`)."""
    running = gc.isenabled()
    gc.disable()
    return running


def resume(was_running: bool, *, freeze: bool) -> None:
    """Undo :func:`pause`, first freezing what exists now when ``freeze``."""
    if freeze:
        gc.freeze()
    if was_running:
        gc.enable()


@contextmanager
def paused(*, freeze: bool) -> Iterator[None]:
    """No automatic collection inside the block; optionally freeze what it built."""
    was_running = pause()
    try:
        yield
    finally:
        resume(was_running, freeze=freeze)
