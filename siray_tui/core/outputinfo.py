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


def _describe_file(path: Path, limit: int) -> MediaInfo:
    try:
        with path.open("rb") as file:
            size = path.stat().st_size
            data = file.read(limit)
    except OSError as exc:
        reason = f"cannot read {path.name}: {exc.strerror or type(exc).__name__}"
        return describe(b"", url=path.name).with_problem(reason)
    return describe(data, size=size, url=path.name)


async def describe_output(
    downloader: Downloader, task_id: str, index: int, url: str, *, limit: int = HEAD_BYTES
) -> MediaInfo:
    """What output ``index`` (from 1) of a task is, from at most ``limit`` of its bytes.

    The fetch is asynchronous, and reading a file and parsing a header (up to a few
    hundred milliseconds for a JSON chunk full of meshes) run in a thread, so the
    caller's event loop never waits on them.
    """
    local = downloader.downloaded(task_id, index)
    if local is not None:
        return await asyncio.to_thread(_describe_file, local, limit)
    try:
        head = await downloader.fetch_head(url, limit)
    except DownloadError as exc:
        return describe(b"", url=url).with_problem(f"cannot fetch its header: {exc}")
    return await asyncio.to_thread(
        describe, head.data, size=head.size, content_type=head.content_type, url=head.url
    )


__all__ = ["HEAD_BYTES", "describe_output"]
