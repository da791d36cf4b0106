"""The watchlist file: load, save atomically, lock, merge, recover.

``watchlist.json`` in the data directory holds every task the user asked to watch. It is
the one piece of state a user would be angry to lose, so every choice below is about
never losing a task, even with two siray-tui processes open and a crash at any instant.

Why it is built this way:

* **A lock file beside the data file.** Writers take ``fcntl.flock`` on
  ``watchlist.lock``, never on ``watchlist.json``: every save replaces the data file with
  a new inode, so a lock held on the old inode would not exclude a process that opened
  the new one. The lock file is never replaced, so everyone locks the same inode. Plain
  reads take no lock: the atomic replace means a reader sees the old file or the new
  one, never half of either.
* **Merge under the lock.** A process's in-memory watchlist goes stale the moment another
  process saves. So every change (:meth:`WatchlistStore.mutate`, on which ``add``,
  ``remove``, ``clear_finished`` and ``update`` are built) locks, re-reads the file,
  applies the operation to those fresh contents, writes and unlocks. Two instances never
  undo each other's adds or removes, and :meth:`~WatchlistStore.update` only refreshes
  tasks still on disk, so a poller's observation cannot resurrect a removed task.
* **Atomic replace.** The new contents go to ``.watchlist.json.<pid>.<random>.tmp`` in
  the same directory (same file system, so the rename is atomic), are fsynced, renamed
  over ``watchlist.json`` with ``os.replace``, and the directory is fsynced so the rename
  itself survives a power cut. A crash leaves the old file intact plus a temp file, which
  the next locked operation removes.
* **Recover, never destroy.** A file that cannot be used (not JSON, not an object,
  ``tasks`` not a list, a bad ``version``, or no usable task at all) is renamed to
  ``watchlist.json.corrupt-<YYYYmmddTHHMMSS>`` (``-1``, ``-2``... if taken), a warning
  naming it is appended to :attr:`WatchlistStore.warnings`, and an empty watchlist
  starts. The rename is done under the lock after re-reading, so a reader that saw a bad
  file cannot move aside a good one another process has just written.

  Individual bad task entries are a judgement call. Dropping the whole file for one
  bad entry would hide every good task; silently dropping the entry would lose it. So
  the good entries are kept (a warning says how many were skipped), and the next save,
  just before it replaces the file, hard-links (or copies) the original to a
  ``.corrupt-<timestamp>`` name and says so. That happens once: the saved file no
  longer holds the bad entries. A duplicated task ID counts as a bad entry (the first
  one is kept). Only when *no* entry is usable is the file treated as corrupt.
* **Never downgrade.** A ``version`` above :data:`WATCHLIST_VERSION` raises
  :class:`~siray_tui.core.errors.WatchlistVersionError` on every load and every change,
  and that file is never written, renamed or deleted. A missing ``version`` means 1.

Speed. A 10,000-task watchlist is about 6 MB of JSON, and every change re-reads it, so:

* ``WatchedTask.from_json`` / ``to_json`` cost 25-60 µs per task (isinstance chains,
  regexes, frozen-dataclass set-up), so this module has its own decoder and encoder.
  They produce exactly the same tasks (a property test holds :func:`decode_task` to
  ``from_json``) and fall back to the models' own code for anything unusual. Status
  histories are written as ``[status, seen_at]`` pairs, which parse about a fifth faster
  than objects; ``{"status", "seen_at"}`` objects (``to_json``'s form) are read too.
* The file holds one compact entry per line (no ``indent``: it makes the json module
  drop from its C encoder to pure Python, six times slower). A mutation splits the file
  into its entries' texts (each still parsed on its own) and writes every entry whose
  task did not change back as the very text it read: only changed tasks are encoded.
* The store keeps the file its last mutation read or wrote, decoded, and reuses it only
  while the file's bytes are exactly equal to it (a full comparison, no timestamps or
  inode numbers, so it can never be stale). Callers always get copies of its tasks. So
  a change on an unchanged file costs a read, a comparison, copies and a write, not a
  parse; a plain :meth:`~WatchlistStore.load` on a file nobody changed is cheap too.
* The cyclic garbage collector is paused while the hundreds of thousands of small
  objects of a load or save are made: it would scan them all several times over for
  nothing, since they hold no cycles. Afterwards they go straight to the oldest
  generation (``gc.freeze()`` then ``gc.unfreeze()``), or the first young collection
  would traverse them all once more (about 50 ms at 10,000 tasks).
"""

from __future__ import annotations

import contextlib
import dataclasses
import errno
import fcntl
import functools
import gc
import json
import json.scanner
import math
import os
import re
import secrets
import time
import types
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from siray_tui.core import limits
from siray_tui.core.clock import Clock, SystemClock
from siray_tui.core.errors import PayloadError, StoreError, WatchlistVersionError
from siray_tui.core.models import (
    OUTPUTS_DROPPED_KEY,
    StatusChange,
    TaskKind,
    TaskState,
    TaskStatus,
    WatchedTask,
    bounded_raw,
    cap_outputs,
    cap_text,
    parse_progress,
    parse_timestamp,
    validate_task_id,
)
from siray_tui.core.text import clean_text

__all__ = [
    "WATCHLIST_VERSION",
    "AddResult",
    "Watchlist",
    "WatchlistStore",
    "decode_task",
    "encode_task",
    "merge_histories",
]

WATCHLIST_VERSION = 1
"""The format this code writes; files with a higher version are refused, never rewritten."""

FILE_NAME = "watchlist.json"
LOCK_NAME = "watchlist.lock"
_TEMP_PREFIX = f".{FILE_NAME}."
_TEMP_SUFFIX = ".tmp"

_LABEL_MAX = limits.MAX_LABEL  # the limits WatchedTask.from_json applies
_ERROR_MAX = limits.MAX_ERROR
_STATUS_MAX = limits.MAX_STATUS

T = TypeVar("T")
_PEEK_HEAD = re.compile(r'\s*\{\s*"version"\s*:\s*1\s*,\s*"tasks"\s*:\s*\[')
_PEEK_GAP = re.compile(r"[\s,]*")


class Watchlist(Mapping[str, WatchedTask]):
    """The watched tasks: an ordered mapping of task ID to :class:`WatchedTask`.

    Order is insertion order (the order the user added them), which is also the order in
    the file. Mutate ``tasks`` directly or through the helpers; inside
    :meth:`WatchlistStore.mutate` every change is saved.

    Attributes:
        tasks: task ID -> task, in insertion order.
    """

    __slots__ = ("tasks",)

    def __init__(self, tasks: Iterable[WatchedTask] = ()) -> None:
        self.tasks: dict[str, WatchedTask] = {}
        for task in tasks:
            self.tasks.setdefault(task.task_id, task)

    def __getitem__(self, task_id: str) -> WatchedTask:
        return self.tasks[task_id]

    def __iter__(self) -> Iterator[str]:
        return iter(self.tasks)

    def __len__(self) -> int:
        return len(self.tasks)

    def __contains__(self, task_id: object) -> bool:
        return task_id in self.tasks

    def __repr__(self) -> str:
        return f"Watchlist({len(self.tasks)} tasks)"

    def add_task(self, task: WatchedTask) -> bool:
        """Append ``task`` unless its ID is already there; True when it was added."""
        if task.task_id in self.tasks:
            return False
        self.tasks[task.task_id] = task
        return True

    def remove_task(self, task_id: str) -> WatchedTask | None:
        """Remove and return the task with ``task_id``, or None when there is none."""
        return self.tasks.pop(task_id, None)

    def finished(self) -> list[WatchedTask]:
        """Tasks whose last known status is SUCCESS or FAILURE, in order."""
        return [task for task in self.tasks.values() if task.is_final]

    def unfinished(self) -> list[WatchedTask]:
        """Tasks still to poll (no answer yet, or a status that is not final), in order."""
        return [task for task in self.tasks.values() if not task.is_final]


@dataclass(slots=True)
class AddResult:
    """What :meth:`WatchlistStore.add` did, each list in the order the IDs were given.

    Attributes:
        added: IDs that were not on the watchlist and now are.
        already: IDs that were already there (left as they were, except an empty label
            is filled in when a label was given).
    """

    added: list[str] = field(default_factory=list)
    already: list[str] = field(default_factory=list)


class WatchlistStore:
    """Reads and changes ``watchlist.json`` in ``data_dir``, safely across processes.

    Attributes:
        data_dir: the directory holding the files (created with mode 0700 when needed).
        path: ``data_dir / "watchlist.json"``.
        lock_path: ``data_dir / "watchlist.lock"``, locked around every change.
        warnings: one-line messages for the user, e.g. a corrupt file moved aside (with
            its new name). Each distinct message is appended once; callers may clear it.
    """

    def __init__(self, data_dir: Path, *, clock: Clock | None = None) -> None:
        self.data_dir = Path(data_dir)
        self.path = self.data_dir / FILE_NAME
        self.lock_path = self.data_dir / LOCK_NAME
        self.warnings: list[str] = []
        self._clock: Clock = clock if clock is not None else SystemClock()
        # The file as this store's last mutation read or wrote it, decoded. Valid only
        # while the file's bytes are exactly ``_cache.data``; never changed once set, so
        # threads sharing the store need no lock to use it.
        self._cache: _Parsed | None = None

    # -- public operations -------------------------------------------------------------

    def load(self) -> Watchlist:
        """Read the watchlist; a missing file is an empty watchlist.

        No lock is taken for a plain read (writers replace the file atomically). A
        corrupt file is moved aside under the lock, and leftover temp files are removed
        when the lock is free.

        Raises:
            WatchlistVersionError: the file was written by a newer siray-tui.
            StoreError: the file or directory cannot be read.
        """
        self._remove_temp_files_if_unlocked()
        data = self._read_bytes()
        cache = self._cache
        if cache is not None and data == cache.data:
            return cache.watchlist()
        if data is None:
            return Watchlist()
        # A plain load hands out the decoded tasks themselves: no copies, no cache.
        return self._parse(data, locked=False, for_change=False).watchlist(copy=False)

    def peek(self, limit: int) -> list[WatchedTask]:
        """Up to ``limit`` tasks from the start of the file, without parsing the rest.

        The dashboard shows these as its first screenful while :meth:`load` parses a
        large file (10,000 tasks take ~200 ms). Best effort by design: anything unexpected
        (another version, a damaged entry) returns what was decoded so far, or nothing;
        :meth:`load` then reports the problem.
        """
        try:
            text = (self._read_bytes() or b"").decode("utf-8")
        except (StoreError, UnicodeDecodeError):
            return []
        head = _PEEK_HEAD.match(text)
        if head is None:
            return []
        decoder = json.JSONDecoder()
        position = head.end()
        tasks: list[WatchedTask] = []
        while len(tasks) < limit:
            position = _PEEK_GAP.match(text, position).end()  # type: ignore[union-attr]
            if position >= len(text) or text[position] == "]":
                break
            try:
                entry, position = decoder.raw_decode(text, position)
                tasks.append(decode_task(entry))
            except (ValueError, PayloadError):
                break
        return tasks

    def add(
        self, task_ids: Iterable[str], *, kind: TaskKind = TaskKind.AUTO, label: str = ""
    ) -> AddResult:
        """Add tasks; IDs already present are left alone (idempotent).

        Args:
            task_ids: the IDs, validated again here; an ID given twice counts once.
            kind: the endpoint to use. AUTO is stored as AUTO even for an ``image_`` or
                ``video_`` ID: the prefix is only a hint (docs/api.md: the docs' own image
                task has a ``video_`` ID), so the poller tries the hinted endpoint first,
                the other once, and stores the kind that answered.
            label: a label for the new tasks; also fills an empty label of a task that
                is already there.

        Raises:
            InvalidTaskIdError: for the first bad ID, before anything is written.
            WatchlistVersionError, StoreError: as for :meth:`mutate`.
        """
        ids = list(dict.fromkeys(validate_task_id(task_id) for task_id in task_ids))
        if not ids:
            return AddResult()
        clean_label = clean_text(label)[:_LABEL_MAX]

        def apply(watchlist: Watchlist) -> AddResult:
            result = AddResult()
            now = self._clock.now()
            tasks = watchlist.tasks
            for task_id in ids:
                existing = tasks.get(task_id)
                if existing is not None:
                    result.already.append(task_id)
                    if clean_label and not existing.label:
                        existing.label = clean_label
                    continue
                tasks[task_id] = WatchedTask(
                    task_id=task_id, kind=kind, label=clean_label, added_at=now
                )
                result.added.append(task_id)
            return result

        return self.mutate(apply)

    def remove(self, task_ids: Iterable[str]) -> list[str]:
        """Remove tasks; returns the IDs that were there and are now gone, in given order.

        Raises:
            WatchlistVersionError, StoreError: as for :meth:`mutate`.
        """
        ids = list(dict.fromkeys(task_ids))
        if not ids:
            return []

        def apply(watchlist: Watchlist) -> list[str]:
            return [task_id for task_id in ids if watchlist.tasks.pop(task_id, None)]

        return self.mutate(apply)

    def clear_finished(self) -> list[str]:
        """Remove every SUCCESS and FAILURE task; returns their IDs in watchlist order.

        Raises:
            WatchlistVersionError, StoreError: as for :meth:`mutate`.
        """

        def apply(watchlist: Watchlist) -> list[str]:
            gone = [task.task_id for task in watchlist.finished()]
            for task_id in gone:
                del watchlist.tasks[task_id]
            return gone

        return self.mutate(apply)

    def update(self, tasks: Iterable[WatchedTask]) -> None:
        """Persist what the poller observed, merged into the tasks still on disk.

        For each given task still in the file: its status history is merged with the
        stored one, and ``kind``, ``state``, ``last_polled_at``, ``last_error`` and
        ``not_found`` are taken when the observation is at least as new as the stored one
        (by ``last_polled_at``). ``label`` and ``added_at`` on disk win. Tasks no longer
        on disk were removed by someone else and are not brought back. The given objects
        are not modified.

        Raises:
            WatchlistVersionError, StoreError: as for :meth:`mutate`.
        """
        observed = list(tasks)
        if not observed:
            return

        def apply(watchlist: Watchlist) -> None:
            stored_tasks = watchlist.tasks
            for seen in observed:
                stored = stored_tasks.get(seen.task_id)
                if stored is None:
                    continue
                history = merge_histories(stored.history, seen.history)
                if history != stored.history:
                    stored.history = history
                if _at_least_as_new(seen.last_polled_at, stored.last_polled_at):
                    stored.kind = seen.kind
                    stored.state = seen.state
                    stored.last_polled_at = seen.last_polled_at
                    stored.last_error = seen.last_error
                    stored.not_found = seen.not_found

        self.mutate(apply)

    def mutate(self, fn: Callable[[Watchlist], T]) -> T:
        """Lock, re-read the file, apply ``fn`` to the fresh watchlist, save if it changed.

        ``fn`` may change ``watchlist.tasks`` in any way (add, remove, reorder, edit
        tasks); the file is rewritten only if something differs afterwards. If ``fn``
        raises, nothing is written and the exception propagates. ``fn`` must not call
        back into a store on the same directory (the lock is not re-entrant).

        Returns:
            Whatever ``fn`` returned.

        Raises:
            WatchlistVersionError: the file was written by a newer siray-tui (before
                ``fn`` runs; nothing is written).
            InvalidTaskIdError: ``fn`` added a task whose ID is not valid.
            StoreError: the directory, lock or file cannot be read or written, or ``fn``
                filed a task under a key that is not its ID.
        """
        with self._locked(), _gc_paused():
            self._remove_temp_files()
            data = self._read_bytes()
            parsed = self._cache
            if data is None:
                parsed = _EMPTY
            elif parsed is None or data != parsed.data:
                parsed = self._parse(data, locked=True, for_change=True)
                if parsed is not _EMPTY and not parsed.skipped:
                    self._cache = parsed
            watchlist = parsed.watchlist()  # copies: the cached tasks stay pristine
            result = fn(watchlist)
            plan = _plan_write(parsed, watchlist)
            if plan is not None:
                texts, rows = plan
                if parsed.skipped:
                    self._keep_original(parsed)
                self._cache = None  # until the new file is in place
                data = self._write(texts)
                self._cache = _Parsed(data, rows, [])
            return result

    # -- reading ---------------------------------------------------------------------

    def _read_bytes(self) -> bytes | None:
        # O_NOFOLLOW: a symlinked watchlist.json is refused, since every save replaces
        # the file and would silently turn the link into a regular file.
        try:
            fd = os.open(self.path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise StoreError(_open_error(self.path, exc, "read")) from None
        try:
            with open(fd, "rb") as file:
                return file.read()
        except OSError as exc:
            raise StoreError(f"cannot read {self.path}: {_reason(exc)}") from None

    def _parse(self, data: bytes, *, locked: bool, for_change: bool) -> _Parsed:
        """Decode the file's bytes; move the file aside (under the lock) if unusable.

        Args:
            data: the file's contents.
            locked: whether the caller holds the lock (only then may the file move).
            for_change: also compute what :func:`_plan_write` needs (fingerprints and,
                for a file in this module's layout, each entry's text).
        """
        problem: str | None = None
        parsed: _Parsed | None = None
        with _gc_paused():
            # Splitting into lines costs more than one json.loads; it pays off only when
            # the lines' texts are kept, to write unchanged entries back without encoding.
            lines = _split_lines(data) if for_change else None
            if lines is not None:
                parsed = _decode_lines(data, lines, for_change=for_change)
            if parsed is None:
                try:
                    document = json.loads(data)
                except (ValueError, RecursionError):
                    problem = "not valid JSON"
                else:
                    problem = self._check_document(document)
                    if problem is None:
                        parsed = _decode_entries(data, document["tasks"], for_change=for_change)
            if parsed is not None and not parsed.rows and parsed.skipped:
                problem = f"no usable task entry ({parsed.skipped[0]})"
        if problem is not None:
            if not locked:
                # Only a locked re-read may move the file: another process may have
                # replaced it with a good one since we read it.
                with self._locked():
                    fresh = self._read_bytes()
                    if fresh is None:
                        return _EMPTY
                    return self._parse(fresh, locked=True, for_change=for_change)
            self._move_aside(problem, data)
            return _EMPTY
        assert parsed is not None
        if parsed.skipped:
            count = len(parsed.skipped)
            self._warn(
                f"{self.path}: skipped {count} unusable task {_entries(count)} "
                f"({parsed.skipped[0]}); the original file will be copied aside "
                "before the next save"
            )
        return parsed

    def _check_document(self, document: object) -> str | None:
        """What makes ``document`` unusable, or None; raise for a newer version."""
        if not isinstance(document, dict):
            return f"top level is {type(document).__name__}, not an object"
        version = document.get("version", 1)
        if type(version) is float and version.is_integer():
            version = int(version)  # 1.0 is the version 1 another JSON writer may produce
        if type(version) is float and math.isfinite(version):
            # Not a version anyone writes; it may still be a newer program's, so it is
            # refused untouched rather than moved aside.
            raise WatchlistVersionError(
                f"{self.path} has version {version!r:.40}, which is not a version "
                f"siray-tui knows (this one reads version {WATCHLIST_VERSION}); "
                "the file was left untouched"
            )
        if type(version) is not int:
            return f"'version' is {version!r:.40}, not a number"
        if version > WATCHLIST_VERSION:
            raise WatchlistVersionError(
                f"{self.path} was written by a newer siray-tui (version {version}); "
                "upgrade siray-tui"
            )
        if version < 1:
            return f"'version' is {version}"
        if not isinstance(document.get("tasks"), list):
            return "'tasks' is missing or not a list"
        return None

    # -- writing ---------------------------------------------------------------------

    def _write(self, texts: list[str]) -> bytes:
        """Replace the file atomically with these task entries; returns the bytes written.

        One entry per line (the compact encoder never writes a newline inside one), so
        people can grep and diff the file, and a later read can split it without parsing.
        The caller holds the lock.
        """
        body = ",\n".join(texts)
        data = (_HEADER + body + _FOOTER if texts else _EMPTY_DOCUMENT).encode("ascii")
        temp = self.data_dir / f"{_TEMP_PREFIX}{os.getpid()}.{secrets.token_hex(6)}{_TEMP_SUFFIX}"
        try:
            fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600)
            try:
                _write_all(fd, data)
                os.fsync(fd)
            finally:
                os.close(fd)
            os.replace(temp, self.path)
        except OSError as exc:
            with contextlib.suppress(OSError):
                os.unlink(temp)
            raise StoreError(f"cannot write {self.path}: {_reason(exc)}") from None
        self._fsync_dir()
        return data

    def _fsync_dir(self) -> None:
        # Makes the rename durable; some file systems refuse fsync on a directory.
        with contextlib.suppress(OSError):
            fd = os.open(self.data_dir, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)

    def _aside(self, data: bytes, *, move: bool) -> Path:
        """Put the current file (whose bytes are ``data``) at a fresh ``.corrupt-`` name.

        A hard link is atomic and cannot clobber an existing name; where links are not
        supported the bytes are written to a new file instead. With ``move`` the data
        file is then unlinked. The caller holds the lock.
        """
        stamp = time.strftime("%Y%m%dT%H%M%S", time.localtime(self._clock.now()))
        base = f"{FILE_NAME}.corrupt-{stamp}"
        for attempt in range(10_000):
            target = self.data_dir / (base if attempt == 0 else f"{base}-{attempt}")
            try:
                os.link(self.path, target)
            except FileExistsError:
                continue
            except OSError:
                try:
                    fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
                except FileExistsError:
                    continue
                except OSError as exc:
                    raise StoreError(f"cannot keep a copy of {self.path}: {_reason(exc)}") from None
                try:
                    _write_all(fd, data)
                    os.fsync(fd)
                finally:
                    os.close(fd)
            break
        else:  # pragma: no cover - ten thousand corrupt files in one second
            raise StoreError(f"cannot find a free name for a copy of {self.path}")
        if move:
            try:
                os.unlink(self.path)
            except OSError as exc:
                raise StoreError(f"cannot move {self.path} aside: {_reason(exc)}") from None
        self._fsync_dir()
        return target

    def _move_aside(self, problem: str, data: bytes) -> None:
        target = self._aside(data, move=True)
        self._warn(
            f"{self.path} could not be read ({problem}); it was moved to {target} "
            "and an empty watchlist started"
        )

    def _keep_original(self, parsed: _Parsed) -> None:
        target = self._aside(parsed.data, move=False)
        count = len(parsed.skipped)
        self._warn(
            f"{self.path} had {count} unusable task {_entries(count)} "
            f"({parsed.skipped[0]}); the original was kept as {target}"
        )

    # -- locking and housekeeping ------------------------------------------------------

    def _ensure_dir(self) -> None:
        try:
            self.data_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        except OSError as exc:
            raise StoreError(f"cannot create {self.data_dir}: {_reason(exc)}") from None

    def _open_lock(self) -> int:
        self._ensure_dir()
        # O_NOFOLLOW: a planted watchlist.lock -> /elsewhere/file must not create or
        # lock that file.
        flags = os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC
        try:
            return os.open(self.lock_path, flags, 0o600)
        except OSError as exc:
            raise StoreError(_open_error(self.lock_path, exc, "open")) from None

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        """Hold the exclusive lock (blocking); closing the descriptor releases it."""
        fd = self._open_lock()
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            os.close(fd)

    def _temp_files(self) -> list[Path]:
        try:
            names = os.listdir(self.data_dir)
        except OSError:
            return []
        return [
            self.data_dir / name
            for name in names
            if name.startswith(_TEMP_PREFIX) and name.endswith(_TEMP_SUFFIX)
        ]

    def _remove_temp_files(self) -> None:
        """Delete temp files of crashed saves; only safe while holding the lock."""
        for temp in self._temp_files():
            with contextlib.suppress(OSError):
                os.unlink(temp)

    def _remove_temp_files_if_unlocked(self) -> None:
        if not self._temp_files():
            return
        try:
            fd = self._open_lock()
        except StoreError:
            return  # a read-only data directory: reading must still work
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                return  # a save is in progress: the temp file is probably its own
            self._remove_temp_files()
        finally:
            os.close(fd)

    def _warn(self, message: str) -> None:
        if message not in self.warnings:
            self.warnings.append(message)


# -- merging -----------------------------------------------------------------------------


def merge_histories(stored: list[StatusChange], observed: list[StatusChange]) -> list[StatusChange]:
    """Combine two status histories of one task.

    When one history extends the other (the usual case: the same poller saw more), the
    longer one is returned as it is. Otherwise the changes are merged by status, keeping
    the earliest ``seen_at`` of each, ordered by time (ties keep first-seen order).
    """
    if len(observed) >= len(stored) and observed[: len(stored)] == stored:
        return stored if len(observed) == len(stored) else list(observed)
    if observed == stored[: len(observed)]:
        return stored
    earliest: dict[str, StatusChange] = {}
    for change in (*stored, *observed):
        kept = earliest.get(change.status)
        if kept is None or change.seen_at < kept.seen_at:
            earliest[change.status] = change
    return sorted(earliest.values(), key=lambda change: change.seen_at)


def _at_least_as_new(observed: float | None, stored: float | None) -> bool:
    if observed is None:
        return stored is None
    return stored is None or observed >= stored


# -- what was read, change detection -----------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Row:
    """One task as read from (or written to) the file.

    Attributes:
        task: the decoded task. Cached rows are pristine: never handed out (callers get
            copies), never modified.
        fingerprint: every field of ``task`` but the state (see :func:`_fingerprint`);
            empty when it was not computed (a plain load).
        text: the entry's exact JSON text in the file, or None when the file was not
            written in this module's one-entry-per-line layout.
        entry: the parsed entry when ``text`` is None (written back as it was).
    """

    task: WatchedTask
    fingerprint: tuple[object, ...]
    text: str | None
    entry: object = None


@dataclass(frozen=True, slots=True)
class _Parsed:
    """A decoded file: its bytes, its usable tasks in order, and what was skipped."""

    data: bytes
    rows: dict[str, _Row]
    skipped: list[str]

    def watchlist(self, *, copy: bool = True) -> Watchlist:
        """The tasks as a Watchlist: copies unless the rows are not kept anywhere."""
        watchlist = Watchlist()
        rows = self.rows
        if not copy:
            watchlist.tasks = {task_id: row.task for task_id, row in rows.items()}
            return watchlist
        with _gc_paused():
            watchlist.tasks = {task_id: row.task.copy() for task_id, row in rows.items()}
        return watchlist


_EMPTY = _Parsed(b"", {}, [])


def _fingerprint(task: WatchedTask) -> tuple[object, ...]:
    # state is compared by identity separately: TaskState equality ignores ``raw``.
    return (
        task.task_id,
        task.kind,
        task.label,
        task.added_at,
        task.last_polled_at,
        task.last_error,
        task.not_found,
        tuple(task.history),
    )


def _plan_write(parsed: _Parsed, watchlist: Watchlist) -> tuple[list[str], dict[str, _Row]] | None:
    """The entry texts to save after a mutation and the rows they make, or None.

    A task whose fingerprint and state are those of its row is written back as the
    row's text, byte for byte; only changed and new tasks are encoded. None means
    nothing changed (same tasks, same order, same contents): no write at all.
    """
    tasks = watchlist.tasks
    rows = parsed.rows
    changed = len(tasks) != len(rows) or list(tasks) != list(rows)
    texts: list[str] = []
    new_rows: dict[str, _Row] = {}
    with _gc_paused():
        for task_id, task in tasks.items():
            if task.task_id != task_id:
                raise StoreError(f"task {task.task_id!r} was filed under {task_id!r}")
            row = rows.get(task_id)
            fingerprint = _fingerprint(task)
            if row is not None and row.task.state is task.state and row.fingerprint == fingerprint:
                text = row.text
                if text is None:  # read from a file in another layout: re-serialise as read
                    text = _ENCODER.encode(row.entry)
                    row = _Row(row.task, row.fingerprint, text)
            else:
                if row is None:
                    validate_task_id(task_id)
                changed = True
                text = _ENCODER.encode(encode_task(task))
                row = _Row(task.copy(), fingerprint, text)
            texts.append(text)
            new_rows[task_id] = row
    return (texts, new_rows) if changed else None


# -- fast decoding and encoding ----------------------------------------------------------

_ENCODER = json.JSONEncoder(separators=(",", ":"), check_circular=False)
_KIND_BY_TEXT = {kind.value: kind for kind in TaskKind}
_STATUS_BY_TEXT = {status.value: status for status in TaskStatus}
_MILLISECONDS_THRESHOLD = 100_000_000_000  # as in models.parse_timestamp

_Setter = Callable[[Any, Any], None]


def _slot_setters(cls: type, names: tuple[str, ...]) -> tuple[_Setter, ...] | None:
    """The slot setters of dataclass ``cls``, if its fields are exactly ``names``.

    A frozen dataclass's ``__init__`` sets each field through ``object.__setattr__``
    (4 µs for TaskState); filling the slots directly costs a quarter of that. This is
    only done while the class is a plain slotted dataclass with exactly these fields and
    no ``__post_init__``; otherwise (models.py changed) the normal constructor is used.
    """
    if not dataclasses.is_dataclass(cls) or hasattr(cls, "__post_init__"):
        return None
    if tuple(item.name for item in dataclasses.fields(cls)) != names:
        return None
    slots = [cls.__dict__.get(name) for name in names]
    if not all(isinstance(slot, types.MemberDescriptorType) for slot in slots):
        return None
    return tuple(slot.__set__ for slot in slots)  # type: ignore[union-attr]


_STATE_FIELDS = (
    "task_id",
    "status",
    "raw_status",
    "progress",
    "outputs",
    "fail_reason",
    "message",
    "submit_time",
    "start_time",
    "finish_time",
    "action",
    "outputs_more",
    "raw",
)
_CHANGE_FIELDS = ("status", "seen_at")
_TASK_FIELDS = (
    "task_id",
    "kind",
    "label",
    "added_at",
    "state",
    "last_polled_at",
    "last_error",
    "not_found",
    "history",
)
_STATE_SETTERS = _slot_setters(TaskState, _STATE_FIELDS)
_CHANGE_SETTERS = _slot_setters(StatusChange, _CHANGE_FIELDS)
_TASK_SETTERS = _slot_setters(WatchedTask, _TASK_FIELDS)


def _new_state(
    task_id: str,
    status: TaskStatus,
    raw_status: str,
    progress: int | None,
    outputs: tuple[str, ...],
    fail_reason: str,
    message: str,
    submit_time: float | None,
    start_time: float | None,
    finish_time: float | None,
    action: str | None,
    outputs_more: int,
    raw: dict[str, Any],
) -> TaskState:
    """``TaskState(...)``, filling the slots directly when allowed (see above)."""
    setters = _STATE_SETTERS
    if setters is None:
        return TaskState(
            task_id,
            status,
            raw_status,
            progress,
            outputs,
            fail_reason,
            message,
            submit_time,
            start_time,
            finish_time,
            action,
            outputs_more,
            raw,
        )
    made = object.__new__(TaskState)
    s0, s1, s2, s3, s4, s5, s6, s7, s8, s9, s10, s11, s12 = setters
    s0(made, task_id)
    s1(made, status)
    s2(made, raw_status)
    s3(made, progress)
    s4(made, outputs)
    s5(made, fail_reason)
    s6(made, message)
    s7(made, submit_time)
    s8(made, start_time)
    s9(made, finish_time)
    s10(made, action)
    s11(made, outputs_more)
    s12(made, raw)
    return made


def _new_task(
    task_id: str,
    kind: TaskKind,
    label: str,
    added_at: float,
    state: TaskState | None,
    last_polled_at: float | None,
    last_error: str | None,
    not_found: bool,
    history: list[StatusChange],
) -> WatchedTask:
    """``WatchedTask(...)``, filling the slots directly when allowed (see above)."""
    setters = _TASK_SETTERS
    if setters is None:
        return WatchedTask(
            task_id, kind, label, added_at, state, last_polled_at, last_error, not_found, history
        )
    made = object.__new__(WatchedTask)
    s0, s1, s2, s3, s4, s5, s6, s7, s8 = setters
    s0(made, task_id)
    s1(made, kind)
    s2(made, label)
    s3(made, added_at)
    s4(made, state)
    s5(made, last_polled_at)
    s6(made, last_error)
    s7(made, not_found)
    s8(made, history)
    return made


def _clean(text: object, limit: int) -> str:
    """``clean_text(text)[:limit]``; printable ASCII, which it would not change, skips it."""
    if type(text) is str and text.isascii() and text.isprintable():
        return text[:limit]
    if type(text) is str:
        text = text[:limit]  # cleaning only shortens: no need to clean what is cut off
    return clean_text(text)[:limit]


def _timestamp(value: object) -> float | None:
    """``models.parse_timestamp``, with the common case (a plain positive number) first."""
    if (type(value) is float or type(value) is int) and 0 < value < _MILLISECONDS_THRESHOLD:
        return float(value)
    return parse_timestamp(value)


_progress_of_text = functools.lru_cache(maxsize=1024)(parse_progress)


def _decode_state(data: dict[str, Any], message: object, task_id: str) -> TaskState | None:
    """What ``TaskState.from_payload`` makes of a stored state, None where it fails."""
    get = data.get
    raw_status = get("status")
    status_text: str
    if type(raw_status) is str and raw_status in _STATUS_BY_TEXT:
        status_text = raw_status
        status = _STATUS_BY_TEXT[raw_status]
    else:
        if raw_status is None or isinstance(raw_status, dict | list) or raw_status == "":
            return None
        status_text = clean_text(raw_status)[:_STATUS_MAX]
        status = TaskStatus.parse(status_text)
    raw_progress = get("progress")
    if type(raw_progress) is str:
        progress = _progress_of_text(raw_progress)
    else:
        progress = parse_progress(raw_progress)
    if progress is None and status is TaskStatus.SUCCESS:
        progress = 100
    raw_outputs = get("outputs")
    outputs: tuple[str, ...]
    outputs_more = 0
    capped = False  # a field was cut: the stored data object is cut down to match
    dropped = get(OUTPUTS_DROPPED_KEY)
    if type(raw_outputs) is list and len(raw_outputs) <= limits.MAX_OUTPUTS and dropped is None:
        outputs = tuple([item for item in raw_outputs if type(item) is str and item])
    elif type(raw_outputs) is str and dropped is None:
        outputs = (raw_outputs,) if raw_outputs else ()
    else:
        outputs, outputs_more = cap_outputs(raw_outputs, dropped)
        capped = type(raw_outputs) is list and len(raw_outputs) > limits.MAX_OUTPUTS
    fail_reason = get("fail_reason") or ""
    if (
        type(fail_reason) is not str
        or len(fail_reason) > limits.MAX_FAIL_REASON
        or not (fail_reason.isascii() and fail_reason.isprintable())
    ):
        capped = capped or (type(fail_reason) is str and len(fail_reason) > limits.MAX_FAIL_REASON)
        fail_reason = cap_text(fail_reason, limits.MAX_FAIL_REASON, multiline=True)
    message = message or ""
    if (
        type(message) is not str
        or len(message) > limits.MAX_MESSAGE
        or not (message.isascii() and message.isprintable())
    ):
        message = cap_text(message, limits.MAX_MESSAGE)
    action = get("action")
    action = _clean(action, _STATUS_MAX) if type(action) is str else None
    threshold = _MILLISECONDS_THRESHOLD
    submit_time = get("submit_time")
    if not (
        (type(submit_time) is int or type(submit_time) is float) and 0 < submit_time < threshold
    ):
        submit_time = parse_timestamp(submit_time)
    start_time = get("start_time")
    if not ((type(start_time) is int or type(start_time) is float) and 0 < start_time < threshold):
        start_time = parse_timestamp(start_time)
    finish_time = get("finish_time")
    if not (
        (type(finish_time) is int or type(finish_time) is float) and 0 < finish_time < threshold
    ):
        finish_time = parse_timestamp(finish_time)
    state = _new_state(
        task_id,
        status,
        status_text,
        progress,
        outputs,
        fail_reason,
        message,
        None if submit_time is None else float(submit_time),
        None if start_time is None else float(start_time),
        None if finish_time is None else float(finish_time),
        action,
        outputs_more,
        # Fresh from the parser and kept nowhere else, except as the entry of a file in
        # another layout, which is only ever serialised again: no copy needed.
        data,
    )
    if capped:  # written by a version without caps: keep only what the caps allow
        object.__setattr__(state, "raw", bounded_raw(data, state))
    return state


def decode_task(entry: object) -> WatchedTask:
    """``WatchedTask.from_json(entry)`` for an entry decoded from JSON, only faster.

    Anything unusual (not an object, a bad ID or kind) is handed to ``from_json`` itself,
    so errors and edge cases behave exactly as there.

    Raises:
        PayloadError: the entry is not a usable task (from ``from_json``).
    """
    if type(entry) is not dict:
        return WatchedTask.from_json(entry)
    get = entry.get
    task_id = get("task_id")
    kind_text = get("kind", "auto")
    kind = _KIND_BY_TEXT.get(kind_text) if type(kind_text) is str else None
    if type(task_id) is not str or kind is None:
        return WatchedTask.from_json(entry)  # raises the PayloadError that says why
    try:
        validate_task_id(task_id)
    except ValueError:
        return WatchedTask.from_json(entry)
    state: TaskState | None = None
    stored = get("state")
    if type(stored) is dict:
        data = stored.get("data")
        if type(data) is dict:
            state = _decode_state(data, stored.get("message"), task_id)
    history: list[StatusChange] = []
    raw_history = get("history")
    if type(raw_history) is list:
        append = history.append
        known = _STATUS_BY_TEXT
        threshold = _MILLISECONDS_THRESHOLD
        setters = _CHANGE_SETTERS
        new = object.__new__
        for item in raw_history:
            # [status, seen_at] as this module writes it, or to_json's {"status", "seen_at"}
            if type(item) is list:
                if len(item) != 2:
                    continue
                status, seen = item
            elif type(item) is dict:
                status = item.get("status")
                seen = item.get("seen_at")
            else:
                continue
            if type(status) is not str:
                continue
            if (type(seen) is float or type(seen) is int) and 0 < seen < threshold:
                seen = float(seen)
            else:
                seen = parse_timestamp(seen) or 0.0
            if status not in known:
                if not (status.isascii() and status.isprintable()):
                    status = clean_text(status)
                status = status[:_STATUS_MAX]
            if setters is None:
                append(StatusChange(status, seen))
            else:
                change = new(StatusChange)
                setters[0](change, status)
                setters[1](change, seen)
                append(change)
    label = get("label")
    last_error = get("last_error")
    added_at = get("added_at")
    if not (
        (type(added_at) is float or type(added_at) is int)
        and 0 < added_at < _MILLISECONDS_THRESHOLD
    ):
        added_at = parse_timestamp(added_at) or 0.0
    last_polled_at = get("last_polled_at")
    if not (type(last_polled_at) is float and 0 < last_polled_at < _MILLISECONDS_THRESHOLD):
        last_polled_at = _timestamp(last_polled_at)
    return _new_task(
        task_id,
        kind,
        _clean(label, _LABEL_MAX) if type(label) is str else "",
        float(added_at),
        state,
        last_polled_at,
        _clean(last_error, _ERROR_MAX) if type(last_error) is str else None,
        get("not_found") is True,
        history,
    )


_HEADER = f'{{"version":{WATCHLIST_VERSION},"tasks":[\n'
_FOOTER = "\n]}\n"
_EMPTY_DOCUMENT = f'{{"version":{WATCHLIST_VERSION},"tasks":[]}}\n'
# typeshed types the C scanner as taking itself; it takes the decoder whose settings it uses.
_SCAN = json.scanner.make_scanner(json.JSONDecoder())  # type: ignore[arg-type]


def _split_lines(data: bytes) -> list[str] | None:
    """The entry texts of a file in this module's layout, or None for any other file.

    Splitting on ``",\n"`` is exact for files this module wrote (a JSON string never
    holds a raw newline, and the compact encoder puts none between tokens); every piece
    is still parsed on its own, so a file that only looks like ours falls back safely.
    """
    if not data.startswith(_HEADER.encode()) or not data.endswith(_FOOTER.encode()):
        return [] if data == _EMPTY_DOCUMENT.encode() else None
    try:
        text = data.decode("ascii")
    except UnicodeDecodeError:
        return None
    return text[len(_HEADER) : -len(_FOOTER)].split(",\n")


def _decode_lines(data: bytes, lines: list[str], *, for_change: bool) -> _Parsed | None:
    """Decode one entry per line, keeping each line's text; None if a line is not one."""
    entries: list[object] = []
    append = entries.append
    scan = _SCAN
    for line in lines:
        try:
            entry, end = scan(line, 0)
        except (StopIteration, ValueError, RecursionError):
            return None
        if end != len(line):
            return None
        append(entry)
    return _decode_entries(data, entries, for_change=for_change, texts=lines)


def _decode_entries(
    data: bytes, entries: list[Any], *, for_change: bool, texts: list[str] | None = None
) -> _Parsed:
    """Decode every entry; unusable ones and repeated IDs are skipped with a reason."""
    rows: dict[str, _Row] = {}
    skipped: list[str] = []
    for index, entry in enumerate(entries):
        try:
            task = decode_task(entry)
        except (PayloadError, ArithmeticError) as exc:
            # ArithmeticError: models.parse_timestamp overflows on a huge integer.
            skipped.append(f"entry {index}: {exc}")
            continue
        task_id = task.task_id
        if task_id in rows:
            skipped.append(f"entry {index}: duplicate task {task_id!r}")
            continue
        rows[task_id] = _Row(
            task,
            _fingerprint(task) if for_change else (),
            texts[index] if texts is not None else None,
            None if texts is not None else entry,
        )
    return _Parsed(data, rows, skipped)


def encode_task(task: WatchedTask) -> dict[str, Any]:
    """``task.to_json()``, only faster (the same dict, key for key)."""
    state = task.state
    stored_state: dict[str, Any] | None = None
    if state is not None:
        raw = state.raw
        stored_state = {
            "data": raw if type(raw) is dict else dict(raw),
            "message": state.message,
        }
    return {
        "task_id": task.task_id,
        "kind": task.kind.value,
        "label": task.label,
        "added_at": task.added_at,
        "last_polled_at": task.last_polled_at,
        "last_error": task.last_error,
        "not_found": task.not_found,
        "state": stored_state,
        "history": [[change.status, change.seen_at] for change in task.history],
    }


# -- small helpers -----------------------------------------------------------------------


@contextlib.contextmanager
def _gc_paused() -> Iterator[None]:
    """Pause the cyclic collector while building many acyclic objects (see the docstring)."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            # Hand what was made straight to the oldest generation (freeze, then
            # unfreeze): the first young collection would otherwise traverse it all.
            gc.freeze()
            gc.unfreeze()
            gc.enable()


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


def _open_error(path: Path, exc: OSError, verb: str) -> str:
    """One line for a failed open; a symbolic link (ELOOP under O_NOFOLLOW) is named."""
    if exc.errno == errno.ELOOP or path.is_symlink():
        return (
            f"refusing to use {path}: it is a symbolic link "
            "(point --data-dir at the real folder instead)"
        )
    return f"cannot {verb} {path}: {_reason(exc)}"


def _reason(exc: OSError) -> str:
    return (exc.strerror or str(exc)).lower()


def _entries(count: int) -> str:
    return "entry" if count == 1 else "entries"
