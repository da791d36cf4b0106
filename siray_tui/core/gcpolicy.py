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
collection. Hence the rules, kept here: only the owner of long-lived objects (the UI,
through :func:`paused` / :func:`resume` with ``freeze``) turns freezing on; nothing ever
thaws what is frozen; core code building many objects uses :func:`building`, which hands
what it made to the oldest generation while nothing is frozen (the CLI: the
freeze-and-thaw trick then moves only young objects) and otherwise freezes it alongside the
owner's objects. No Textual here: the core uses it too.
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

    Afterwards what was made goes where collections no longer scan it over and over:

    * nothing frozen (the CLI): straight to the oldest generation (``freeze`` then
      ``unfreeze``, two list splices); the first young collection would otherwise
      traverse it all once more (about 50 ms at 10,000 tasks);
    * something frozen (the dashboard froze its table): that trick would thaw it, so the
      new objects are frozen with it instead. Leaving them young was measured to be
      worse: the store's cache of the file (10,000 tasks, ~300,000 objects) climbs the
      generations and, next to a mostly frozen heap, soon triggers a full collection
      (200 ms). Frozen objects are still freed by reference counting; the price is that
      a reference cycle that happened to be alive at that instant and dies later is
      never collected, which the acyclic tasks and the app's few cycles make small.
    """
    was_running = pause()
    try:
        yield
    finally:
        if was_running:
            owned = gc.get_freeze_count() > 0
            gc.freeze()
            if not owned:
                gc.unfreeze()
            gc.enable()
