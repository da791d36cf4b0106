"""One owner of the garbage collector's policy: what the UI froze stays frozen."""

from __future__ import annotations

import gc
from collections.abc import Iterator
from pathlib import Path

import pytest

from siray_tui.core import gcpolicy
from siray_tui.core.store import WatchlistStore
from siray_tui.core.watchlist import Watchlist


@pytest.fixture
def thawed_afterwards() -> Iterator[None]:
    """The test plays the owner: whatever it froze is thawed again for the next test."""
    yield
    gc.unfreeze()
    gc.enable()


def test_store_loads_and_saves_never_thaw_what_the_ui_froze(
    tmp_path: Path, thawed_afterwards: None
) -> None:
    store = WatchlistStore(tmp_path)
    store.add([f"image_{i:04d}" for i in range(200)], label="before")
    with gcpolicy.paused(freeze=True):  # the dashboard after building its table
        table = [{"row": i, "cells": [str(i)] * 3} for i in range(5_000)]
    rows = {id(row) for row in table}
    assert gc.get_freeze_count() >= len(table)
    for round_ in range(3):  # the poller's saves and the file sync's loads
        store.add([f"video_{round_}"])

        def relabel(watchlist: Watchlist, label: str = f"round {round_}") -> None:
            watchlist["image_0001"].label = label

        store.mutate(relabel)
        assert len(WatchlistStore(tmp_path).load()) == 201 + round_
        assert store.load()["image_0001"].label == f"round {round_}"
        # still frozen: counted there, and in no generation a collection scans
        assert gc.get_freeze_count() >= len(table)
        assert not rows & {id(o) for o in gc.get_objects()}
    assert gc.isenabled()


def test_building_without_an_owner_hands_objects_to_the_oldest_generation() -> None:
    gc.enable()
    with gcpolicy.building():
        made = [[i] for i in range(1_000)]
        assert not gc.isenabled()
    assert gc.isenabled()
    assert gc.get_freeze_count() == 0
    oldest = {id(o) for o in gc.get_objects(generation=2)}
    assert all(id(item) in oldest for item in made)


def test_paused_restores_a_disabled_collector(thawed_afterwards: None) -> None:
    gc.disable()
    with gcpolicy.paused(freeze=False):
        assert not gc.isenabled()
    assert not gc.isenabled()
    with gcpolicy.building():
        pass
    assert not gc.isenabled()
