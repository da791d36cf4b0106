"""Describing one output by its header: from the downloaded file, else its first bytes.

The details screen shows, for each output of a video or 3D task, its format, size and what
its header tells (:mod:`siray_tui.core.mediainfo`). The bytes come from the file already in
the download folder when it is there; else only the first :data:`HEAD_BYTES` are fetched,
through the token-free :class:`~siray_tui.core.downloads.Downloader` and its URL checks,
never the whole file (an MP4 whose ``moov`` is at its end is described as such, not
downloaded to find it). Any failure is one line in the result, never an exception.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Final

from siray_tui.core.downloads import Downloader
from siray_tui.core.errors import DownloadError
from siray_tui.core.mediainfo import MediaInfo, describe

HEAD_BYTES: Final = 256 * 1024


def _read_head(path: Path, limit: int) -> tuple[bytes, int]:
    with path.open("rb") as file:
        size = path.stat().st_size
        return file.read(limit), size


async def describe_output(
    downloader: Downloader, task_id: str, index: int, url: str, *, limit: int = HEAD_BYTES
) -> MediaInfo:
    """What output ``index`` (from 1) of a task is, from at most ``limit`` of its bytes.

    File reads run in a thread and the fetch is asynchronous, so the caller's event loop
    never waits on either.
    """
    local = downloader.downloaded(task_id, index)
    if local is not None:
        try:
            data, size = await asyncio.to_thread(_read_head, local, limit)
        except OSError as exc:
            return describe(b"", url=local.name).with_problem(
                f"cannot read {local.name}: {exc.strerror or type(exc).__name__}"
            )
        return describe(data, size=size, url=local.name)
    try:
        head = await downloader.fetch_head(url, limit)
    except DownloadError as exc:
        return describe(b"", url=url).with_problem(f"cannot fetch its header: {exc}")
    return describe(head.data, size=head.size, content_type=head.content_type, url=head.url)


__all__ = ["HEAD_BYTES", "describe_output"]
