"""The submission journal: what happened to each line of a JSONL batch, kept durably.

One journal per JSONL file, in ``<data dir>/journals/``, named by a hash of the file's
resolved path (of stdin's content for ``-``). A line is known by a hash of its text and
how many identical lines came before it, so an edited line is a new line and two equal
lines stay two jobs.

Each record is one JSON line, appended with one ``write``: ``sent`` before the POST,
fsynced before the POST starts, then ``accepted`` (with the task ID), ``rejected`` (with the
API's message), ``uncertain`` (the outcome cannot be known) or ``unsent`` (certainly
nothing created: a 429, a refused connection). A ``sent`` with nothing after it means
the process died between the two: uncertain, like a timeout. A record cut short by a
kill is ignored (its POST had not started: the record is synced before it). Outcome
records are fsynced with the next ``sent`` record, or when the journal is closed.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Final

from siray_tui.core.errors import SirayError

JOURNAL_DIR: Final = "journals"
JOURNAL_VERSION: Final = 1


class LineState(StrEnum):
    """Where a line stands after the records read so far."""

    NEW = "new"
    ACCEPTED = "accepted"
    REJECTED = "rejected"
    UNCERTAIN = "uncertain"
    UNSENT = "unsent"


_EVENTS: Final = frozenset({"sent", "accepted", "rejected", "uncertain", "unsent"})


@dataclass(frozen=True, slots=True)
class LineRecord:
    """The last word on one line: its state, task ID (accepted), error, and when."""

    state: LineState
    task_id: str | None = None
    error: str = ""
    at: float = 0.0


@dataclass(frozen=True, slots=True)
class Entry:
    """One record to append (see the module docstring for the events)."""

    key: str
    line: int
    event: str
    task_id: str | None = None
    error: str = ""

    def encode(self, at: float) -> bytes:
        record: dict[str, object] = {"key": self.key, "line": self.line, "event": self.event}
        record["at"] = at
        if self.task_id is not None:
            record["task_id"] = self.task_id
        if self.error:
            record["error"] = self.error
        return json.dumps(record, ensure_ascii=True).encode() + b"\n"


def line_keys(texts: Iterable[str]) -> list[str]:
    """The identity of each line: SHA-256 of its stripped text, plus ``#n`` for the n-th
    repeat of the same text."""
    seen: dict[str, int] = {}
    keys: list[str] = []
    for text in texts:
        digest = hashlib.sha256(text.strip().encode("utf-8", "surrogatepass")).hexdigest()[:32]
        count = seen.get(digest, 0)
        seen[digest] = count + 1
        keys.append(digest if count == 0 else f"{digest}#{count}")
    return keys


def journal_path(data_dir: Path, source: Path | None, content: bytes = b"") -> Path:
    """Where the journal of ``source`` lives (of stdin, keyed by ``content``)."""
    if source is not None:
        identity = "file:" + str(source.resolve())
    else:
        identity = "stdin:" + hashlib.sha256(content).hexdigest()
    name = hashlib.sha256(identity.encode("utf-8", "surrogatepass")).hexdigest()[:24]
    return data_dir / JOURNAL_DIR / f"{name}.jsonl"


class JournalBusyError(SirayError):
    """Another run holds the journal: it is sending the same file right now."""


class Journal:
    """An append-only, fsynced record of a batch. Safe to call from several threads.

    Args:
        path: the journal file (created with its folder on first use).
        source: shown in the file's first record, for a person reading it.
    """

    def __init__(self, path: Path, source: str = "") -> None:
        self.path = path
        self.source = source
        self._fd: int | None = None
        self._lock = threading.Lock()

    def lock(self) -> None:
        """Hold the journal for this run alone, until :meth:`close`. Two runs of one file
        at once would each read the journal before the other's records and send the same
        lines: the second is refused before it reads anything.

        Raises:
            JournalBusyError: another run holds it.
            OSError: the journal cannot be created or locked.
        """
        fd = self._open()
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise JournalBusyError(
                f"another run is sending this file now (its journal {self.path} is in use):"
                " wait for it to end"
            ) from None

    def read(self) -> dict[str, LineRecord]:
        """Every line's last state. An ``accepted`` line stays accepted whatever follows."""
        try:
            data = self.path.read_bytes()
        except FileNotFoundError:
            return {}
        states: dict[str, LineRecord] = {}
        for raw in data.split(b"\n"):
            try:
                record = json.loads(raw)
            except (ValueError, RecursionError):
                continue  # a record cut short by a kill, or a stray line
            if not isinstance(record, dict):
                continue
            key, event = record.get("key"), record.get("event")
            if not isinstance(key, str) or event not in _EVENTS:
                continue
            known = states.get(key)
            if known is not None and known.state is LineState.ACCEPTED:
                continue
            at = record.get("at")
            task_id, error = record.get("task_id"), record.get("error")
            states[key] = LineRecord(
                LineState.UNCERTAIN if event == "sent" else LineState(event),
                task_id if isinstance(task_id, str) else None,
                error if isinstance(error, str) else "",
                float(at) if isinstance(at, int | float) else 0.0,
            )
        return states

    def _open(self) -> int:
        if self._fd is None:
            self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
            fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
            size = os.fstat(fd).st_size
            if size == 0:
                head = {"journal": JOURNAL_VERSION, "source": self.source, "at": time.time()}
                os.write(fd, json.dumps(head, ensure_ascii=True).encode() + b"\n")
            else:
                with open(self.path, "rb") as handle:
                    handle.seek(size - 1)
                    if handle.read(1) != b"\n":
                        os.write(fd, b"\n")  # end a record a kill cut short
            self._fd = fd
        return self._fd

    def record(
        self,
        key: str,
        line: int,
        event: str,
        *,
        task_id: str | None = None,
        error: str = "",
        sync: bool = True,
    ) -> None:
        """Append one record; with ``sync`` (a ``sent`` record) fsync the journal, so that
        when this returns the record, and every one before it, survives a crash.

        Without ``sync`` (an outcome) the record survives the process being killed at
        once and a crash of the system from the next synced record (or :meth:`close`)
        on; lost to a crash before that, it leaves its line ``sent``: uncertain, never
        resent by itself. So a line costs one fsync, not two.

        Raises:
            OSError: it could not be written (the caller must then not send).
        """
        data = Entry(key, line, event, task_id, error).encode(time.time())
        with self._lock:
            fd = self._open()
            os.write(fd, data)  # one write of an O_APPEND file: records never interleave
            if sync:
                os.fsync(fd)

    def close(self) -> None:
        """Make every record durable and close the file."""
        with self._lock:
            if self._fd is not None:
                try:
                    os.fsync(self._fd)
                finally:
                    os.close(self._fd)
                    self._fd = None


__all__ = [
    "Entry",
    "Journal",
    "JournalBusyError",
    "LineRecord",
    "LineState",
    "journal_path",
    "line_keys",
]
