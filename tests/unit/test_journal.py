"""The submission journal: line identity, states after each record, torn records."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from siray_tui.core.journal import Journal, LineState, journal_path, line_keys


def test_line_keys_follow_the_content_and_count_repeats() -> None:
    first = line_keys(['{"a": 1}', '{"a": 1}', '{"a": 2}', ' {"a": 1} '])
    assert len(set(first)) == 4
    assert first[1] == first[0] + "#1" and first[3] == first[0] + "#2"
    assert line_keys(['{"a": 2}'])[0] == first[2]  # the same text is the same line
    assert line_keys(['{"a": 3}'])[0] != first[2]  # an edited line is a new one


def test_journal_paths_per_file_and_per_stdin_content(tmp_path: Path) -> None:
    (tmp_path / "a.jsonl").touch()
    one = journal_path(tmp_path, tmp_path / "a.jsonl")
    assert one == journal_path(tmp_path, tmp_path / "." / "a.jsonl")
    assert one != journal_path(tmp_path, tmp_path / "b.jsonl")
    assert journal_path(tmp_path, None, b"x") != journal_path(tmp_path, None, b"y")
    assert one.parent == tmp_path / "journals"


def test_states_after_each_record(tmp_path: Path) -> None:
    journal = Journal(tmp_path / "j.jsonl", "jobs.jsonl")
    journal.record("a", 1, "sent")
    journal.record("b", 2, "sent")
    journal.record("b", 2, "rejected", error="HTTP 400")
    journal.record("c", 3, "sent")
    journal.record("c", 3, "accepted", task_id="image_1")
    journal.record("c", 3, "sent")  # never happens, but accepted must stay accepted
    journal.record("d", 4, "sent")
    journal.record("d", 4, "unsent", error="rate limited")
    journal.record("e", 5, "sent")
    journal.record("e", 5, "uncertain", error="HTTP 502")
    journal.close()
    states = Journal(tmp_path / "j.jsonl").read()
    assert {key: record.state for key, record in states.items()} == {
        "a": LineState.UNCERTAIN,  # sent, then the process died
        "b": LineState.REJECTED,
        "c": LineState.ACCEPTED,
        "d": LineState.UNSENT,
        "e": LineState.UNCERTAIN,
    }
    assert states["c"].task_id == "image_1" and states["b"].error == "HTTP 400"


def test_a_record_cut_short_by_a_kill_is_ignored_and_ended(tmp_path: Path) -> None:
    path = tmp_path / "j.jsonl"
    journal = Journal(path)
    journal.record("a", 1, "sent")
    journal.close()
    with path.open("ab") as handle:
        handle.write(b'{"key": "b", "line": 2, "eve')  # the kill came mid-write
    assert set(Journal(path).read()) == {"a"}
    again = Journal(path)
    again.record("b", 2, "sent")
    again.close()
    assert set(Journal(path).read()) == {"a", "b"}  # the torn text did not swallow it
    assert Journal(tmp_path / "none.jsonl").read() == {}


def test_a_sent_record_is_synced_and_an_outcome_rides_on_the_next_sync(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """One fsync per line: ``sent`` (the POST waits on it) syncs every record before it;
    an outcome is written at once (a killed process keeps it) and synced with the next
    ``sent`` or at close."""
    path = tmp_path / "j.jsonl"
    synced: list[bytes] = []
    real_fsync = os.fsync

    def fsync(fd: int) -> None:
        real_fsync(fd)
        synced.append(path.read_bytes())

    monkeypatch.setattr("siray_tui.core.journal.os.fsync", fsync)
    journal = Journal(path, "test")
    journal.record("a", 1, "sent", sync=True)
    assert len(synced) == 1 and b'"sent"' in synced[0]
    journal.record("a", 1, "accepted", task_id="image_1", sync=False)
    assert len(synced) == 1  # no fsync of its own...
    assert journal.read()["a"].state is LineState.ACCEPTED  # ...but already in the file
    journal.record("b", 2, "sent", sync=True)
    assert len(synced) == 2 and b'"accepted"' in synced[1]
    journal.record("b", 2, "rejected", error="HTTP 400", sync=False)
    journal.close()
    assert len(synced) == 3 and b'"rejected"' in synced[2]
    assert Journal(path).read()["b"].state is LineState.REJECTED
