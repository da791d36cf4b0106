"""Who may pause, freeze and thaw Python's cyclic garbage collector: this module only.

A 10,000-task watchlist is about a million small objects (tasks, states, raw payloads,
table rows, cells). A full collection scans every tracked object and holds the GIL while
it does: 200-250 ms at that size, with nothing else able to run, not even the thread
reading the file. Two things keep it out of the way:

* **Pausing while many objects are built** (a load, a save, a table fill): they hold no
  cycles, so collections triggered by their allocation would scan them for nothing.
* **Freezing what lives as long as the app** (:func:`gc.freeze`): the dashboard freezes
  its tasks and table once they are built, so later collections skip them. Reference
  counting still frees them when they go.

The two used to fight: the store handed its fresh objects to the oldest generation with
``gc.freeze(); gc.unfreeze()``, and ``unfreeze`` thaws *everything* frozen, so about once
a second the ~118,000 objects the table froze went back to being scanned by every full
collection. Hence one rule, kept here: only the owner of long-lived objects (the UI,
through :func:`paused` / :func:`resume` with ``freeze``) freezes, nobody ever thaws, and
core code building short-lived objects uses :func:`building`, which hands what it made to
the oldest generation only while nothing is frozen (the CLI's case, where it is free), and
otherwise just lets the young collections see the few objects that survive. No Textual here:
the core uses it too.
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
    """Undo :func:`pause`, first freezing every object that exists now when ``freeze``.

    Only the owner of long-lived objects (the dashboard) passes ``freeze``: frozen
    objects are never thawed, so anything frozen is skipped by collections for good.
    """
    if freeze:
        gc.freeze()
    if was_running:
        gc.enable()


@contextmanager
def paused(*, freeze: bool) -> Iterator[None]:
    """No automatic collection inside the block; optionally freeze what exists after it."""
    was_running = pause()
    try:
        yield
    finally:
        resume(was_running, freeze=freeze)


@contextmanager
def building() -> Iterator[None]:
    """No automatic collection while core code builds many acyclic objects.

    Afterwards, when nothing is frozen, everything is handed straight to the oldest
    generation (``freeze`` then ``unfreeze``, two list splices): the first young
    collection would otherwise traverse it all once more (about 50 ms at 10,000 tasks).
    When something is frozen, that trick would thaw it, so the objects stay where they
    are: what a load or save leaves behind is mostly freed by reference counting already
    (copies, the previous file's rows), and the owner of what stays decides whether to
    freeze it.
    """
    was_running = pause()
    try:
        yield
    finally:
        if was_running:
            if gc.get_freeze_count() == 0:
                gc.freeze()
                gc.unfreeze()
            gc.enable()
