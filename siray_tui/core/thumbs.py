"""Thumbnails of image outputs: fetched into a size-capped cache, decoded off the event loop.

An image output is untrusted twice over: its URL (checked, token-free, by the shared
:class:`~siray_tui.core.downloads.Downloader` rules) and its bytes. So:

* **Fetching** goes through a :class:`Downloader` of its own whose folder is the cache
  (``<user cache dir>/thumbs/<task_id>/<index>.<ext>``): the same URL checks, no token, the
  same ``.part``-then-rename, and a per-file cap far below the download cap. An output of a
  finished task never changes, so a file already there is a cache hit with no request.
* **The cache** is capped in bytes (200 MB by default). Using a file touches its mtime;
  after each new file the oldest-touched files go first until the total fits. Eviction
  errors are ignored: a cache is allowed to be imperfect, never to break a preview.
* **Decoding** happens in a worker thread (:func:`asyncio.to_thread`): Pillow reads the
  header, the pixel count is checked against :data:`MAX_PIXELS` *before* any pixel is
  decoded (a PNG can claim 65,535 x 65,535 in 30 bytes), the file is verified, re-opened,
  reduced while decoding where the format allows (``draft``) and shrunk to the cell grid.
  Every failure (not an image, truncated, bad checksum, too large) becomes a one-line
  reason in a :class:`ThumbFailure`; :meth:`ThumbCache.thumbnail` never raises for bad
  input.

The result is plain data (RGB bytes and a size): drawing it is the UI's business.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import os
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Final

import platformdirs
from PIL import Image, UnidentifiedImageError

from siray_tui.core.downloads import Downloader
from siray_tui.core.models import TaskKind, WatchedTask
from siray_tui.core.text import first_line

APP_NAME: Final = "siray-tui"
DEFAULT_CACHE_BYTES: Final = 200 * 1024**2
"""The cache's total size cap."""
MAX_FILE_BYTES: Final = 50 * 1024**2
"""No single preview file may be larger (a real output image is a few MB)."""
MAX_PIXELS: Final = 40_000_000
"""The pixel count above which an image is refused unread (about 6,300 x 6,300)."""

# Pillow's own guard stays on as a second line (it raises at twice its limit, already in
# ``Image.open``); ours is lower and checked first. Something may have switched it off.
if Image.MAX_IMAGE_PIXELS is None:
    Image.MAX_IMAGE_PIXELS = 2 * MAX_PIXELS


_IMAGE_SUFFIXES: Final = (".png", ".jpg", ".jpeg", ".webp", ".gif")


def image_outputs(task: WatchedTask, limit: int | None = None) -> list[tuple[int, str]]:
    """The outputs of ``task`` worth a preview, as (index from 1, URL), at most ``limit``.

    Every output of an image task; of a task of unknown kind, those whose URL path ends
    like an image. Videos and 3D models are described elsewhere, never decoded here.
    """
    outputs = task.state.outputs if task.state else ()
    found: list[tuple[int, str]] = []
    for index, url in enumerate(outputs, start=1):
        if limit is not None and len(found) >= limit:
            break
        if task.kind is TaskKind.IMAGE or (
            task.kind is TaskKind.AUTO and url.split("?", 1)[0].lower().endswith(_IMAGE_SUFFIXES)
        ):
            found.append((index, url))
    return found


def default_cache_dir() -> Path:
    """``<platformdirs user cache path>/thumbs`` (``XDG_CACHE_HOME`` is honoured)."""
    return platformdirs.user_cache_path(APP_NAME) / "thumbs"


@dataclass(frozen=True, slots=True)
class Thumbnail:
    """A decoded, downscaled image.

    Attributes:
        width: pixels across.
        height: pixels down.
        rgb: ``width * height * 3`` bytes, row by row.
        source_size: the original image's (width, height).
    """

    width: int
    height: int
    rgb: bytes
    source_size: tuple[int, int]

    def pixel(self, x: int, y: int) -> tuple[int, int, int]:
        """The colour at (x, y)."""
        base = (y * self.width + x) * 3
        return self.rgb[base], self.rgb[base + 1], self.rgb[base + 2]


@dataclass(frozen=True, slots=True)
class ThumbFailure:
    """Why there is no preview: one line, safe to show."""

    reason: str


ThumbResult = Thumbnail | ThumbFailure


class _Refused(Exception):
    """Internal: this file will not be decoded, for the reason given."""


def decode_thumbnail(
    path: Path, width: int, height: int, max_pixels: int = MAX_PIXELS
) -> Thumbnail:
    """Decode ``path`` into at most ``width`` x ``height`` pixels (blocking: run in a thread).

    The aspect ratio is kept. The pixel count is checked on the header, before decoding.

    Raises:
        _Refused: for anything that is not a sound image within the limits.
    """
    try:
        with warnings.catch_warnings():
            # A DecompressionBombWarning must not escape as a warning (or, under -W error,
            # as an unexpected exception): our own check below says it in one line.
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(path) as probe:
                size = probe.size
                _check_size(size, max_pixels)
                probe.verify()  # checksums and structure, without decoding pixels
            with Image.open(path) as image:
                image.draft("RGB", (width, height))  # JPEG: decode at a reduced scale
                image.thumbnail((width, height), Image.Resampling.BILINEAR, reducing_gap=2.0)
                rgb = image.convert("RGB")
    except _Refused:
        raise
    except Image.DecompressionBombError:
        limit = 2 * (Image.MAX_IMAGE_PIXELS or 0) / 1e6
        raise _Refused(f"image too large to preview (over {limit:g} million pixels)") from None
    except UnidentifiedImageError:
        raise _Refused("not an image (or a format Pillow cannot read)") from None
    except (OSError, SyntaxError, ValueError, EOFError, MemoryError) as exc:
        # Pillow reports a truncated or corrupt file with any of these.
        raise _Refused(f"broken image: {first_line(str(exc), 120) or type(exc).__name__}") from None
    return Thumbnail(rgb.width, rgb.height, rgb.tobytes(), size)


def _check_size(size: tuple[int, int], max_pixels: int) -> None:
    columns, rows = size
    if columns < 1 or rows < 1:
        raise _Refused(f"image has no pixels ({columns} x {rows})")
    if columns * rows > max_pixels:
        raise _Refused(
            f"image too large to preview ({columns:,} x {rows:,} pixels;"
            f" the limit is {max_pixels / 1e6:g} million)"
        )


class ThumbCache:
    """Fetches image outputs into the cache and decodes them into :class:`Thumbnail`.

    Args:
        folder: the cache folder (one sub-folder per task).
        make_downloader: builds the fetcher into ``folder``, never given the token; called
            once, in a thread, at the first preview (an httpx client loads its TLS
            certificates when built: 100+ ms that must not stall the event loop).
            :meth:`for_cache` passes the usual one.
        max_bytes: the cache's total size cap; least recently used files go first.
        max_pixels: images with more pixels are refused before decoding.
    """

    def __init__(
        self,
        folder: Path,
        make_downloader: Callable[[], Downloader],
        *,
        max_bytes: int = DEFAULT_CACHE_BYTES,
        max_pixels: int = MAX_PIXELS,
    ) -> None:
        self.folder = folder
        self.max_bytes = max_bytes
        self.max_pixels = max_pixels
        self._make_downloader = make_downloader
        self._downloader: Downloader | None = None
        self._building = asyncio.Lock()

    @classmethod
    def for_cache(
        cls,
        cache_dir: Path | None = None,
        *,
        allow_loopback_http: bool = False,
        allow_scope: str | None = None,
        max_bytes: int = DEFAULT_CACHE_BYTES,
    ) -> ThumbCache:
        """A cache in ``cache_dir`` (default :func:`default_cache_dir`) with the same URL
        policy as the downloads and a per-file cap of :data:`MAX_FILE_BYTES`."""
        folder = cache_dir or default_cache_dir()
        make = functools.partial(
            Downloader,
            folder,
            allow_loopback_http=allow_loopback_http,
            allow_scope=allow_scope,
            max_bytes=min(MAX_FILE_BYTES, max_bytes),
            max_parallel=2,
            timeout=20.0,
        )
        return cls(folder, make, max_bytes=max_bytes)

    async def downloader(self) -> Downloader:
        """The fetcher, built in a thread on first use."""
        async with self._building:
            if self._downloader is None:
                self._downloader = await asyncio.to_thread(self._make_downloader)
            return self._downloader

    async def thumbnail(
        self, task_id: str, index: int, url: str, width: int, height: int
    ) -> ThumbResult:
        """Output ``index`` (from 1) of ``task_id``, fetched if not cached, at most
        ``width`` x ``height`` pixels. Never raises for a bad URL, transfer or image."""
        downloader = await self.downloader()
        result = await downloader.download_one(task_id, index, url)
        if result.path is None:
            return ThumbFailure(result.error or "could not fetch the image")
        new = result.status == "ok"
        try:
            return await asyncio.to_thread(self._decode_and_keep, result.path, width, height, new)
        except _Refused as exc:
            return ThumbFailure(str(exc))

    def _decode_and_keep(self, path: Path, width: int, height: int, new: bool) -> Thumbnail:
        """Decode, mark the file used, and (after a new file) trim the cache."""
        with contextlib.suppress(OSError):
            os.utime(path)
        try:
            return decode_thumbnail(path, width, height, self.max_pixels)
        finally:
            if new:
                self.evict()

    def evict(self) -> int:
        """Delete the least recently used files until the cache fits its cap.

        Returns:
            The number of files deleted.
        """
        entries: list[tuple[float, int, Path]] = []
        try:
            folders = list(os.scandir(self.folder))
        except OSError:
            return 0
        for folder in folders:
            if not folder.is_dir(follow_symlinks=False):
                continue
            with contextlib.suppress(OSError):
                for entry in os.scandir(folder.path):
                    if entry.is_file(follow_symlinks=False):
                        info = entry.stat(follow_symlinks=False)
                        entries.append((info.st_mtime, info.st_size, Path(entry.path)))
        total = sum(size for _, size, _ in entries)
        deleted = 0
        for _, size, path in sorted(entries, key=lambda item: item[0]):
            if total <= self.max_bytes:
                break
            with contextlib.suppress(OSError):
                path.unlink()
                total -= size
                deleted += 1
                with contextlib.suppress(OSError):
                    path.parent.rmdir()  # only succeeds once the task's folder is empty
        return deleted

    async def aclose(self) -> None:
        """Close the fetcher's connections (if it was ever built)."""
        if self._downloader is not None:
            await self._downloader.aclose()
            self._downloader = None


__all__ = [
    "DEFAULT_CACHE_BYTES",
    "MAX_FILE_BYTES",
    "MAX_PIXELS",
    "ThumbCache",
    "ThumbFailure",
    "ThumbResult",
    "Thumbnail",
    "decode_thumbnail",
    "default_cache_dir",
    "image_outputs",
]
