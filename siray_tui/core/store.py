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

Speed. A 10,000-task watchlist is about 6 MB of JSON, and every change re-reads it.
Decoding and encoding are :mod:`siray_tui.core.codec`'s; the file part keeps them cheap:

* The bytes last read or written are remembered with their parsed rows, so a change on
  an unchanged file costs a read, a comparison, copies and a write, not a parse; a plain
  :meth:`~WatchlistStore.load` on a file nobody changed is cheap too.
* The poller's saves copy only the tasks they change; the others are written back by
  identity as their rows' texts.
* The cyclic garbage collector is paused while the hundreds of thousands of small
  objects of a load or a general change are made (:func:`siray_tui.core.gcpolicy.building`, which
  never thaws what the dashboard froze).
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import json
import math
import os
import secrets
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from pathlib import Path
from typing import TypeVar

from siray_tui.core import gcpolicy, limits
from siray_tui.core.clock import Clock, SystemClock
from siray_tui.core.codec import (
    EMPTY,
    WATCHLIST_VERSION,
    Parsed,
    decode_entries,
    decode_lines,
    file_bytes,
    peek_tasks,
    plan_write,
    split_lines,
)
from siray_tui.core.errors import StoreError, WatchlistVersionError
from siray_tui.core.models import TaskKind, WatchedTask, validate_task_id
from siray_tui.core.text import clean_text
from siray_tui.core.watchlist import AddResult, Watchlist, merge_histories

__all__ = ["FILE_NAME", "LOCK_NAME", "WATCHLIST_VERSION", "WatchlistStore"]

FILE_NAME = "watchlist.json"
LOCK_NAME = "watchlist.lock"
_TEMP_PREFIX = f".{FILE_NAME}."
_TEMP_SUFFIX = ".tmp"

T = TypeVar("T")


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
        self._cache: Parsed | None = None

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

    def current_tasks(self) -> Mapping[str, WatchedTask]:
        """The file's tasks, to read and not to change.

        The dashboard's file sync asks this about once a second while its own poller
        saves. When the file holds exactly what this store last read or wrote, its rows
        are already decoded and are handed out as they are: comparing the bytes costs a
        read, where parsing 10,000 tasks holds the GIL for ~100 ms and stalls the event
        loop. Otherwise this is a plain :meth:`load`.
        """
        cache = self._cache
        if cache is not None and self._read_bytes() == cache.data:
            return {task_id: row.task for task_id, row in cache.rows.items()}
        return self.load().tasks

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
        return peek_tasks(text, limit)

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
        clean_label = clean_text(label)[: limits.MAX_LABEL]

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

    def add_tasks(self, tasks: Iterable[WatchedTask]) -> None:
        """Add these tasks (copies); one whose ID is already there is left as it is.

        A batch submission saves its accepted tasks in groups while it sends: nothing
        already in the file is copied (see :meth:`_mutate`), so a save costs what it adds.
        """
        new = [task.copy() for task in tasks]

        def apply(watchlist: Watchlist) -> None:
            for task in new:
                watchlist.add_task(task)  # new objects: the cached tasks are not touched

        self._mutate(apply, copy_tasks=False)

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
            # The watchlist holds the cached tasks themselves (see _mutate): a task is
            # copied before it is changed, and the others are written back untouched.
            stored_tasks = watchlist.tasks
            for seen in observed:
                cached = stored_tasks.get(seen.task_id)
                if cached is None:
                    continue
                history = merge_histories(cached.history, seen.history)
                newer = _at_least_as_new(seen.last_polled_at, cached.last_polled_at)
                if history == cached.history and not newer:
                    continue
                stored = stored_tasks[seen.task_id] = cached.copy()
                stored.history = history
                if newer:
                    stored.kind = seen.kind
                    stored.state = seen.state
                    stored.last_polled_at = seen.last_polled_at
                    stored.last_error = seen.last_error
                    stored.not_found = seen.not_found

        self._mutate(apply, copy_tasks=False)

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
        return self._mutate(fn, copy_tasks=True)

    def _mutate(self, fn: Callable[[Watchlist], T], *, copy_tasks: bool) -> T:
        """:meth:`mutate`; without ``copy_tasks`` ``fn`` sees the cached tasks themselves
        and must replace a task by a changed copy, never change it in place.

        The poller saves about once a second: copying 10,000 tasks each time (and
        fingerprinting them to find what changed) was ~30 ms of work holding the GIL in
        a worker thread, time the event loop waited for. Untouched tasks are recognised
        by identity and written back as their row's text. That save makes a few hundred
        objects, so it leaves the collector alone (:func:`gcpolicy.building` would freeze
        every young object of the process, the dashboard's passing ones too, each second).
        """
        building = gcpolicy.building() if copy_tasks else contextlib.nullcontext()
        with self._locked(), building:
            self._remove_temp_files()
            data = self._read_bytes()
            parsed = self._cache
            if data is None:
                parsed = EMPTY
            elif parsed is None or data != parsed.data:
                parsed = self._parse(data, locked=True, for_change=True)
                if parsed is not EMPTY and not parsed.skipped:
                    self._cache = parsed
            # copies (unless fn copies what it changes): the cached tasks stay pristine
            watchlist = parsed.watchlist(copy=copy_tasks)
            result = fn(watchlist)
            plan = plan_write(parsed, watchlist)
            if plan is not None:
                texts, rows = plan
                if parsed.skipped:
                    self._keep_original(parsed)
                self._cache = None  # until the new file is in place
                data = self._write(texts)
                self._cache = Parsed(data, rows, [])
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

    def _parse(self, data: bytes, *, locked: bool, for_change: bool) -> Parsed:
        """Decode the file's bytes; move the file aside (under the lock) if unusable.

        Args:
            data: the file's contents.
            locked: whether the caller holds the lock (only then may the file move).
            for_change: also compute what :func:`plan_write` needs (fingerprints and,
                for a file in the codec's layout, each entry's text).
        """
        problem: str | None = None
        parsed: Parsed | None = None
        with gcpolicy.building():
            # Splitting into lines costs more than one json.loads; it pays off only when
            # the lines' texts are kept, to write unchanged entries back without encoding.
            lines = split_lines(data) if for_change else None
            if lines is not None:
                parsed = decode_lines(data, lines, for_change=for_change)
            if parsed is None:
                try:
                    document = json.loads(data)
                except (ValueError, RecursionError):
                    problem = "not valid JSON"
                else:
                    problem = self._check_document(document)
                    if problem is None:
                        parsed = decode_entries(data, document["tasks"], for_change=for_change)
            if parsed is not None and not parsed.rows and parsed.skipped:
                problem = f"no usable task entry ({parsed.skipped[0]})"
        if problem is not None:
            if not locked:
                # Only a locked re-read may move the file: another process may have
                # replaced it with a good one since we read it.
                with self._locked():
                    fresh = self._read_bytes()
                    if fresh is None:
                        return EMPTY
                    return self._parse(fresh, locked=True, for_change=for_change)
            self._move_aside(problem, data)
            return EMPTY
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
        data = file_bytes(texts)
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

    def _keep_original(self, parsed: Parsed) -> None:
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


def _at_least_as_new(observed: float | None, stored: float | None) -> bool:
    if observed is None:
        return stored is None
    return stored is None or observed >= stored


# -- small helpers -----------------------------------------------------------------------


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
