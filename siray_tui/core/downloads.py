"""Downloading the outputs of finished tasks, safely.

Output URLs come from the server and are untrusted, so this module:

* **Isolates the token.** :class:`Downloader` owns its own :class:`httpx.AsyncClient`,
  separate from the API client. It is never given the token, ignores the environment
  (``trust_env=False``: no proxies or ``.netrc`` credentials), and a request hook strips
  ``Authorization``, ``Proxy-Authorization`` and ``Cookie`` from every request anyway.
  Output URLs go through ``/redirect/...`` hops, so redirects are followed by hand (at
  most :data:`MAX_REDIRECTS`) and every hop's URL is checked with
  :func:`~siray_tui.core.text.check_url`: only ``https`` with a host, or plain ``http`` to
  loopback when the caller allows it (tests, the demo). ``file:``, ``javascript:``,
  ``data:``, relative URLs and the like are refused before anything is written, and so
  are private, link-local, loopback and other non-public IP literals and ``localhost``
  names (unless the API itself is at one), before any connection or DNS lookup.
* **Chooses the file names.** The server's names are ignored: a file is saved as
  ``<download_dir>/<task_id>/<index>.<ext>`` (index from 1) with ``ext`` taken from the
  Content-Type (or the URL's path when the type is missing or generic) through an
  allow-list, else ``bin``. The task ID is re-validated and the resolved path must lie
  inside the resolved download directory.
* **Never leaves a half file under the final name.** The body is streamed to
  ``<index>.part`` (without an extension: the extension is known only once the response
  arrives) and renamed with :func:`os.replace` once complete and flushed to disk. A
  ``.part`` left by an interrupted run is resumed with ``Range: bytes=<size>-``: a 206
  with a matching ``Content-Range`` is appended, a 200 restarts from zero. Any existing
  ``<index>.<allow-listed ext>`` counts as complete and is not fetched again.
* **Never follows a planted link.** A symbolic link (or anything but a regular file) as
  the final name or the ``.part``, or as the task's folder, fails that output with a
  message saying so: it is not ours, and following it would read or write elsewhere.
* **Caps the size while streaming.** ``Content-Length`` can lie or be absent, so the cap
  (2 GiB by default) counts the bytes that really arrive; crossing it aborts and deletes
  the ``.part``. A declared length above the cap is refused before reading the body.

A download never raises for a bad URL or a failed transfer: each output gets a
:class:`DownloadResult` that says ``ok``, ``skipped`` or ``failed`` with a one-line reason.

:meth:`Downloader.fetch_head` reads only the first bytes of an output (a ranged GET, cut
off at the cap even when the server ignores the range), for describing a file by its
header without downloading it; it follows the same checked redirects, without the token.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import stat
import weakref
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Final, Literal
from urllib.parse import urljoin, urlsplit

import httpx

from siray_tui import __version__
from siray_tui.core.errors import DownloadError, InvalidTaskIdError, UnsafeUrlError
from siray_tui.core.filetypes import (
    FALLBACK_EXTENSION,
    FINAL_EXTENSIONS,
    extension_for,
    format_size,
)
from siray_tui.core.models import validate_task_id
from siray_tui.core.pool import HttpPoolOwner
from siray_tui.core.text import check_url, clean_text, first_line

DEFAULT_MAX_BYTES: Final = 2 * 1024**3
DEFAULT_MAX_PARALLEL: Final = 4
MAX_REDIRECTS: Final = 5
CHUNK_SIZE: Final = 64 * 1024
PART_SUFFIX: Final = ".part"
USER_AGENT: Final = f"siray-tui/{__version__}"

_REDIRECT_STATUSES: Final = frozenset({301, 302, 303, 307, 308})
_STRIPPED_HEADERS: Final = ("Authorization", "Proxy-Authorization", "Cookie")
_LOCATION_KEY: Final = "siray_tui.location"
_CONTENT_RANGE = re.compile(r"bytes\s+(\d+)-(\d+)/(\d+|\*)", re.IGNORECASE)
_DIGITS = re.compile(r"\d+")

DownloadStatus = Literal["ok", "skipped", "failed"]


@dataclass(frozen=True, slots=True)
class OutputRef:
    """Which output a progress report or a result is about.

    Attributes:
        task_id: the task the output belongs to.
        index: the output's position, from 1.
        url: the output URL as the server gave it.
    """

    task_id: str
    index: int
    url: str

    def progress(self, received: int, total: int | None, done: bool = False) -> DownloadProgress:
        """A progress report about this output."""
        return DownloadProgress(self.task_id, self.index, self.url, received, total, done)

    def result(
        self, path: Path | None, status: DownloadStatus, error: str | None = None, size: int = 0
    ) -> DownloadResult:
        """The outcome for this output."""
        return DownloadResult(self.task_id, self.index, self.url, path, status, error, size)


@dataclass(frozen=True, slots=True)
class DownloadProgress(OutputRef):
    """How far one output's download has come (after the :class:`OutputRef` fields).

    Attributes:
        received: bytes on disk so far (a resumed download starts at the ``.part`` size).
        total: the expected size in bytes, or None when the server did not say.
        done: True in the last report for this output, whatever the outcome.
    """

    received: int
    total: int | None
    done: bool = False


@dataclass(frozen=True, slots=True)
class DownloadResult(OutputRef):
    """The outcome of downloading one output (after the :class:`OutputRef` fields).

    Attributes:
        path: the saved (or already present) file; None when nothing was saved.
        status: ``ok`` (downloaded now), ``skipped`` (a complete file was already there)
            or ``failed``.
        error: a one-line reason when ``failed``, safe to show; else None.
        bytes: the file's size (``ok``, ``skipped``), or the bytes on disk in the
            ``.part`` when the failure left one to resume.
    """

    path: Path | None
    status: DownloadStatus
    error: str | None = None
    bytes: int = 0

    @property
    def ok(self) -> bool:
        """True when the file is there: downloaded now or already present."""
        return self.status != "failed"


ProgressCallback = Callable[[DownloadProgress], None]


@dataclass(frozen=True, slots=True)
class Head:
    """The first bytes of an output (see :meth:`Downloader.fetch_head`).

    Attributes:
        data: at most the asked-for number of bytes from the start of the file.
        size: the whole file's size when the server said it, else None.
        content_type: the response's Content-Type, if any.
        url: the URL that answered, after redirects.
    """

    data: bytes
    size: int | None
    content_type: str | None
    url: str


def _content_length(response: httpx.Response) -> int | None:
    """The declared body length, or None when absent or not a plain number."""
    value = response.headers.get("Content-Length", "").strip()
    return int(value) if _DIGITS.fullmatch(value) else None


async def _strip_credentials(request: httpx.Request) -> None:
    """Request hook: nothing that identifies the user ever goes to an output host."""
    for name in _STRIPPED_HEADERS:
        request.headers.pop(name, None)


async def _hide_location(response: httpx.Response) -> None:
    """Response hook: take a redirect's Location away before httpx parses it.

    httpx would resolve it with its own (lenient or failing) rules; we want the raw text,
    checked by :func:`check_url`, and we follow redirects ourselves.
    """
    if response.status_code in _REDIRECT_STATUSES and "Location" in response.headers:
        response.extensions[_LOCATION_KEY] = response.headers["Location"]
        del response.headers["Location"]


def _redirect_target(current: str, location: str) -> str:
    """Where a Location leads: absolute ones as written (never repaired), others joined."""
    try:
        if urlsplit(location).scheme:
            return location
    except ValueError:
        return location  # check_url will refuse it with a clear message
    return urljoin(current, location)


class _Failed(Exception):
    """Internal: this output failed with a one-line message (caught in download_one)."""


class _Restart(Exception):
    """Internal: the ``.part`` cannot be continued; delete it and fetch from zero."""


@dataclass(frozen=True, slots=True)
class _Target:
    """Where one output goes on disk."""

    base: Path  # the resolved download directory
    task_dir: Path
    part: Path
    index: int

    def final(self, ext: str) -> Path:
        path = (self.task_dir / f"{self.index}.{ext}").resolve()
        if not path.is_relative_to(self.base) or path.parent != self.task_dir:
            raise DownloadError(f"refused to write outside the download directory: {path}")
        return path

    def existing(self) -> Path | None:
        """A complete earlier download of this output, or None.

        Raises:
            DownloadError: when the name (or the ``.part``) is a symbolic link or anything
                but a regular file: planted, not ours, and never followed.
        """
        _refuse_unless_regular(self.part)
        for ext in FINAL_EXTENSIONS:
            candidate = self.task_dir / f"{self.index}.{ext}"
            if _refuse_unless_regular(candidate):
                return candidate
        return None

    def part_size(self) -> int:
        try:
            info = self.part.lstat()
        except OSError:
            return 0
        return info.st_size if stat.S_ISREG(info.st_mode) else 0


def _refuse_unless_regular(path: Path) -> bool:
    """True for a regular file, False for nothing there; raise for anything else."""
    try:
        info = path.lstat()
    except FileNotFoundError:
        return False
    if stat.S_ISREG(info.st_mode):
        return True
    what = "a symbolic link" if stat.S_ISLNK(info.st_mode) else "not a regular file"
    raise DownloadError(f"refused {clean_text(path)}: it is {what}; not following it")


class _PartFile:
    """A ``.part`` file opened without following a planted symlink (blocking I/O, small)."""

    def __init__(self, path: Path, *, append: bool) -> None:
        flags = os.O_WRONLY | os.O_CREAT | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_BINARY", 0)
        flags |= os.O_APPEND if append else os.O_TRUNC
        self._fd: int | None = os.open(path, flags, 0o644)

    def write(self, data: bytes) -> None:
        assert self._fd is not None
        view = memoryview(data)
        while view:
            written = os.write(self._fd, view)
            view = view[written:]

    def sync_and_close(self) -> None:
        if self._fd is not None:
            try:
                os.fsync(self._fd)
            finally:
                self.close()

    def close(self) -> None:
        if self._fd is not None:
            fd, self._fd = self._fd, None
            os.close(fd)


class Downloader(HttpPoolOwner):
    """Downloads task outputs into ``<download_dir>/<task_id>/<index>.<ext>``.

    One Downloader is shared by everything that downloads, so that its semaphore bounds
    the downloads in flight overall. Use as an async context manager, or call
    :meth:`aclose`.

    Args:
        download_dir: the folder that holds one sub-folder per task; created on the first
            file actually written.
        allow_loopback_http: also fetch plain ``http`` from loopback hosts (the
            simulator); never from anything else.
        allow_scope: also fetch from non-public addresses of this kind (``private``,
            ...: see :func:`~siray_tui.core.text.host_scope`), for an API that is itself
            on one; None refuses them all, before any connection.
        max_bytes: the size cap per file, counted on the bytes that really arrive.
        max_parallel: downloads in flight at most, across all tasks.
        timeout: seconds allowed for connecting and between two reads (not for the
            whole transfer, which may legitimately take long).
        transport: an httpx transport, for tests (``httpx.MockTransport``).

    Raises:
        ValueError: for a ``max_bytes`` or ``max_parallel`` below 1.
    """

    def __init__(
        self,
        download_dir: Path,
        *,
        allow_loopback_http: bool = False,
        allow_scope: str | None = None,
        max_bytes: int = DEFAULT_MAX_BYTES,
        max_parallel: int = DEFAULT_MAX_PARALLEL,
        timeout: float = 60.0,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        if max_bytes < 1:
            raise ValueError(f"max_bytes must be at least 1, got {max_bytes}")
        if max_parallel < 1:
            raise ValueError(f"max_parallel must be at least 1, got {max_parallel}")
        self.download_dir = Path(download_dir)
        self.allow_loopback_http = allow_loopback_http
        self.allow_scope = allow_scope
        self.max_bytes = max_bytes
        self.max_parallel = max_parallel
        self._timeout = timeout
        self._semaphore = asyncio.Semaphore(max_parallel)
        # One lock per (task, index): a second request for the same output waits and then
        # finds the finished file instead of writing the same .part concurrently.
        self._locks: weakref.WeakValueDictionary[tuple[str, int], asyncio.Lock] = (
            weakref.WeakValueDictionary()
        )
        self._http = httpx.AsyncClient(
            timeout=httpx.Timeout(timeout, connect=min(timeout, 15.0)),
            limits=httpx.Limits(
                max_connections=max_parallel, max_keepalive_connections=max_parallel
            ),
            follow_redirects=False,
            trust_env=False,
            # identity: Content-Length and Range then count the bytes we store.
            headers={"User-Agent": USER_AGENT, "Accept": "*/*", "Accept-Encoding": "identity"},
            event_hooks={"request": [_strip_credentials], "response": [_hide_location]},
            transport=transport,
        )

    def _check(self, url: str) -> None:
        check_url(url, allow_loopback_http=self.allow_loopback_http, allow_scope=self.allow_scope)

    def task_dir(self, task_id: str) -> Path:
        """The folder that holds (or will hold) a task's outputs.

        Raises:
            InvalidTaskIdError: for an ID that is not safe as a path segment.
        """
        return self.download_dir / validate_task_id(task_id)

    async def download_task(
        self,
        task_id: str,
        urls: Sequence[str],
        *,
        on_progress: ProgressCallback | None = None,
    ) -> list[DownloadResult]:
        """Download every output of one task, concurrently within the shared limit.

        Args:
            task_id: the task the outputs belong to.
            urls: its output URLs, in the server's order (the first is saved as ``1.*``).
            on_progress: called on the event loop as bytes arrive, and once with
                ``done=True`` per output.

        Returns:
            One result per URL, in order. A bad URL or failed transfer gives a ``failed``
            result; it never raises for one.

        Raises:
            TypeError: when ``urls`` is a single string (a programmer error).
        """
        if isinstance(urls, str):
            raise TypeError("urls must be a sequence of URLs, not one string")
        async with asyncio.TaskGroup() as group:
            tasks = [
                group.create_task(self.download_one(task_id, index, url, on_progress))
                for index, url in enumerate(urls, start=1)
            ]
        return [task.result() for task in tasks]

    async def download_one(
        self,
        task_id: str,
        index: int,
        url: str,
        on_progress: ProgressCallback | None = None,
    ) -> DownloadResult:
        """Download one output to ``<download_dir>/<task_id>/<index>.<ext>``.

        Args:
            task_id: the task the output belongs to (re-validated here).
            index: the output's position, from 1.
            url: the output URL from the server (untrusted).
            on_progress: see :meth:`download_task`.

        Returns:
            ``ok``, ``skipped`` when a complete file is already there (no request is
            made), or ``failed`` with a one-line reason.

        Raises:
            ValueError: for an index below 1 (a programmer error).
        """
        if isinstance(index, bool) or not isinstance(index, int) or index < 1:
            raise ValueError(f"output index must be an int from 1, got {index!r}")

        output = OutputRef(task_id, index, url)
        try:
            target = self._target(task_id, index)
            self._check(url)
        except (InvalidTaskIdError, UnsafeUrlError, DownloadError) as exc:
            result = output.result(None, "failed", first_line(str(exc), limit=300))
        else:
            key = (target.task_dir.name, index)
            lock = self._locks.get(key)
            if lock is None:
                lock = self._locks[key] = asyncio.Lock()
            async with lock:
                result = await self._download_locked(target, output, on_progress)
        if on_progress is not None:
            total = result.bytes if result.ok else None
            on_progress(output.progress(result.bytes, total, done=True))
        return result

    def _target(self, task_id: str, index: int) -> _Target:
        base = self.download_dir.resolve()
        named = base / validate_task_id(task_id)
        task_dir = named.resolve()
        if task_dir.parent != base:
            raise DownloadError(f"refused task folder outside the download directory: {task_dir}")
        if named.is_symlink():  # even to a sibling: its files are another task's
            raise DownloadError(f"refused {clean_text(named)}: it is a symbolic link")
        return _Target(base, task_dir, task_dir / f"{index}{PART_SUFFIX}", index)

    async def _download_locked(
        self, target: _Target, output: OutputRef, on_progress: ProgressCallback | None
    ) -> DownloadResult:
        try:
            existing = target.existing()
            if existing is not None:
                size = existing.stat().st_size
                return output.result(existing, "skipped", None, size)
            async with self._semaphore:
                try:
                    path, size = await self._fetch(target, output, on_progress)
                except _Restart:
                    # The server would not continue the .part: start over, once.
                    target.part.unlink(missing_ok=True)
                    path, size = await self._fetch(target, output, on_progress)
        except _Restart:
            message = "server would not resume the partial download"
        except (_Failed, UnsafeUrlError, DownloadError) as exc:
            message = first_line(str(exc), limit=300)
        except httpx.TimeoutException:
            message = f"timed out ({self._timeout:g} s without progress)"
        except (httpx.HTTPError, httpx.InvalidURL) as exc:
            detail = first_line(str(exc), limit=160) or type(exc).__name__
            message = f"network error: {detail}"
        except OSError as exc:
            where = clean_text(exc.filename) if exc.filename else str(target.task_dir)
            message = f"cannot write {where}: {exc.strerror or type(exc).__name__}"
        else:
            return output.result(path, "ok", None, size)
        return output.result(None, "failed", message, target.part_size())

    def downloaded(self, task_id: str, index: int) -> Path | None:
        """The complete earlier download of output ``index`` (from 1), or None (also for
        an unsafe task ID, or a planted link there, which is never followed)."""
        try:
            return self._target(task_id, index).existing()
        except (InvalidTaskIdError, DownloadError, OSError):
            return None

    async def fetch_head(self, url: str, limit: int) -> Head:
        """The first ``limit`` bytes of an output, with a ranged GET.

        The URL and every redirect are checked as for a download, and no credential is
        sent. A server that ignores the range and sends the whole file is cut off after
        ``limit`` bytes.

        Raises:
            DownloadError: with a one-line reason (an unsafe URL, an HTTP error status,
                a network error or a timeout).
        """
        try:
            headers = {"Range": f"bytes=0-{max(limit, 1) - 1}"}
            async with self._final_response(url, headers) as (response, final_url):
                status = response.status_code
                if status not in (200, 206):
                    reason = clean_text(response.reason_phrase)[:60]
                    raise _Failed(f"HTTP {status} {reason}".rstrip())
                size = _content_length(response) if status == 200 else None
                match = _CONTENT_RANGE.fullmatch(response.headers.get("Content-Range", "").strip())
                if status == 206 and match and match.group(3) != "*":
                    size = int(match.group(3))
                data = bytearray()
                async for chunk in response.aiter_bytes():
                    data += chunk[: limit - len(data)]
                    if len(data) >= limit:
                        break
                content_type = response.headers.get("Content-Type")
                return Head(bytes(data), size, content_type, final_url)
        except (_Failed, UnsafeUrlError) as exc:
            raise DownloadError(first_line(str(exc), limit=300)) from None
        except httpx.TimeoutException:
            raise DownloadError(f"timed out ({self._timeout:g} s without progress)") from None
        except (httpx.HTTPError, httpx.InvalidURL) as exc:
            detail = first_line(str(exc), limit=160) or type(exc).__name__
            raise DownloadError(f"network error: {detail}") from None

    @contextlib.asynccontextmanager
    async def _final_response(
        self, url: str, headers: dict[str, str]
    ) -> AsyncIterator[tuple[httpx.Response, str]]:
        """The streamed response at the end of the checked redirects, and its URL."""
        current = url
        for _hop in range(MAX_REDIRECTS + 1):
            self._check(current)
            async with self._http.stream("GET", current, headers=headers) as response:
                if response.status_code in _REDIRECT_STATUSES:
                    location = response.extensions.get(_LOCATION_KEY)
                    if not isinstance(location, str) or not location:
                        raise _Failed(f"HTTP {response.status_code} redirect without a Location")
                    current = _redirect_target(current, location)
                    continue
                yield response, current
                return
        raise _Failed(f"too many redirects (more than {MAX_REDIRECTS})")

    async def _fetch(
        self, target: _Target, output: OutputRef, on_progress: ProgressCallback | None
    ) -> tuple[Path, int]:
        """One attempt: follow checked redirects, then stream the body. Returns the file."""
        offset = target.part_size()
        headers = {"Range": f"bytes={offset}-"} if offset else {}
        async with self._final_response(output.url, headers) as (response, current):
            return await self._receive(response, target, offset, output, current, on_progress)

    async def _receive(
        self,
        response: httpx.Response,
        target: _Target,
        offset: int,
        output: OutputRef,
        final_url: str,
        on_progress: ProgressCallback | None,
    ) -> tuple[Path, int]:
        status = response.status_code
        # We ask for identity; a server that compresses anyway declares (and ranges over)
        # the encoded length, which says nothing about the bytes we store.
        encoded = response.headers.get("Content-Encoding", "").strip().lower() not in (
            "",
            "identity",
        )
        declared = None if encoded else _content_length(response)
        expected: int | None = None  # the whole file's size, when known
        if status == 200:
            offset = 0
            expected = declared
        elif status == 206 and offset and not encoded:
            match = _CONTENT_RANGE.fullmatch(response.headers.get("Content-Range", "").strip())
            if match is None or int(match.group(1)) != offset:
                raise _Restart
            end = int(match.group(2))
            expected = int(match.group(3)) if match.group(3) != "*" else end + 1
            if declared is not None and declared != end + 1 - offset:
                raise _Restart
        elif status in (206, 416) and offset:
            raise _Restart
        elif status >= 400:
            reason = clean_text(response.reason_phrase)[:60]
            raise _Failed(f"HTTP {status} {reason}".rstrip())
        else:
            raise _Failed(f"unexpected HTTP status {status}")
        if declared is not None and offset + declared > self.max_bytes:
            target.part.unlink(missing_ok=True)
            raise _Failed(self._too_large(offset + declared, declared=True))
        if expected is not None and expected > self.max_bytes:
            target.part.unlink(missing_ok=True)
            raise _Failed(self._too_large(expected, declared=True))

        ext = extension_for(response.headers.get("Content-Type"), final_url)
        if ext == FALLBACK_EXTENSION and final_url != output.url:
            ext = extension_for(response.headers.get("Content-Type"), output.url)
        final = target.final(ext)
        target.task_dir.mkdir(mode=0o755, parents=True, exist_ok=True)

        received = offset
        part = _PartFile(target.part, append=offset > 0)
        try:
            if on_progress is not None:
                on_progress(output.progress(received, expected))
            async for chunk in response.aiter_bytes():
                received += len(chunk)
                if received > self.max_bytes:
                    part.close()
                    target.part.unlink(missing_ok=True)
                    raise _Failed(self._too_large(received, declared=False))
                part.write(chunk)
                if on_progress is not None:
                    on_progress(output.progress(received, expected))
            body = received - offset
            if declared is not None and body > declared:
                part.close()
                target.part.unlink(missing_ok=True)
                raise _Failed(f"server sent more than its declared {declared} bytes; discarded")
            if declared is not None and body < declared:
                raise _Failed(
                    f"incomplete: {format_size(received)} of {format_size(offset + declared)}"
                )
            if expected is not None and received != expected:
                raise _Failed(f"incomplete: {format_size(received)} of {format_size(expected)}")
        except BaseException:
            # Keep the .part (unless deleted above): the next run resumes it.
            part.close()
            raise
        await asyncio.to_thread(part.sync_and_close)
        os.replace(target.part, final)
        return final, received

    def _too_large(self, size: int, *, declared: bool) -> str:
        cap = format_size(self.max_bytes)
        if declared:
            return f"larger than the {cap} cap (declared {format_size(size)}); not downloaded"
        return f"larger than the {cap} cap (received more than that); download aborted"


__all__ = [
    "DEFAULT_MAX_BYTES",
    "DEFAULT_MAX_PARALLEL",
    "MAX_REDIRECTS",
    "DownloadProgress",
    "DownloadResult",
    "DownloadStatus",
    "Downloader",
    "Head",
    "OutputRef",
    "ProgressCallback",
]
