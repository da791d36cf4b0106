"""Planted symbolic links and odd versions in the data directory, on real files."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from siray_tui.core.errors import StoreError, WatchlistVersionError
from siray_tui.core.store import WatchlistStore


@pytest.fixture
def store(tmp_path: Path) -> WatchlistStore:
    return WatchlistStore(tmp_path / "data")


def test_a_symlinked_lock_is_refused_and_its_target_never_created(
    store: WatchlistStore, tmp_path: Path
) -> None:
    elsewhere = tmp_path / "elsewhere" / "file"
    elsewhere.parent.mkdir()
    store.data_dir.mkdir()
    store.lock_path.symlink_to(elsewhere)
    with pytest.raises(StoreError) as raised:
        store.add(["image_a"])
    assert str(raised.value) == (
        f"refusing to use {store.lock_path}: it is a symbolic link "
        "(point --data-dir at the real folder instead)"
    )
    assert not elsewhere.exists()
    assert not store.path.exists()


def test_a_symlinked_watchlist_is_refused_never_replaced_by_a_regular_file(
    store: WatchlistStore, tmp_path: Path
) -> None:
    real = tmp_path / "real.json"
    real.write_text('{"version": 1, "tasks": [{"task_id": "image_a"}]}')
    before = real.read_bytes()
    store.data_dir.mkdir()
    store.path.symlink_to(real)
    message = (
        f"refusing to use {store.path}: it is a symbolic link "
        "(point --data-dir at the real folder instead)"
    )
    for change in (lambda: store.add(["image_b"]), store.load):
        with pytest.raises(StoreError) as raised:
            change()
        assert str(raised.value) == message
    assert store.path.is_symlink()
    assert real.read_bytes() == before
    assert store.peek(10) == []


@pytest.mark.parametrize("version", ["1.5", "2.5"])
def test_a_fractional_version_is_reported_as_an_unknown_version_and_left_alone(
    store: WatchlistStore, version: str
) -> None:
    store.data_dir.mkdir()
    data = f'{{"version": {version}, "tasks": []}}'.encode()
    store.path.write_bytes(data)
    with pytest.raises(WatchlistVersionError) as raised:
        store.load()
    assert str(raised.value) == (
        f"{store.path} has version {version}, which is not a version siray-tui knows "
        "(this one reads version 1); the file was left untouched"
    )
    assert "not a number" not in str(raised.value)
    assert store.path.read_bytes() == data


def test_version_1_0_is_version_1(store: WatchlistStore) -> None:
    store.data_dir.mkdir()
    store.path.write_text('{"version": 1.0, "tasks": [{"task_id": "image_a"}]}')
    assert list(store.load()) == ["image_a"]
    store.add(["image_b"])
    assert json.loads(store.path.read_text())["version"] == 1
