"""``siray-tui download ID... [--dir D]``: fetch the outputs of SUCCESS tasks.

A task stored on the watchlist in a final state is not asked again (a final state never
changes); otherwise the task is queried once, so an ID that was never watched can be
downloaded too.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TextIO

from siray_tui.cli.ids import split_ids
from siray_tui.config import Settings
from siray_tui.core.client import SirayClient
from siray_tui.core.downloads import DownloadProgress, DownloadResult
from siray_tui.core.errors import ApiError, InvalidTaskIdError, SirayError
from siray_tui.core.models import TaskKind, TaskStatus, WatchedTask, validate_task_id
from siray_tui.core.report import plural
from siray_tui.core.session import WatchSession
from siray_tui.core.text import first_line

EXIT_OK = 0
EXIT_FAILED = 1


class _ProgressLine:
    """One line on stderr: rewritten in place on a terminal, printed per file otherwise."""

    def __init__(self, err: TextIO) -> None:
        self._err = err
        self._tty = err.isatty()
        self._received: dict[tuple[str, int], int] = {}

    def __call__(self, progress: DownloadProgress) -> None:
        self._received[(progress.task_id, progress.index)] = progress.received
        if self._tty:
            total = sum(self._received.values()) / 1_000_000
            files = plural(len(self._received), "file")
            self._err.write(f"\rdownloading {files}, {total:.1f} MB ")
            self._err.flush()

    def result(self, result: DownloadResult) -> None:
        if self._tty:
            self._err.write("\r\x1b[K")
        if result.status == "failed":
            self._err.write(f"failed  {result.task_id} #{result.index}: {result.error}\n")
        elif result.status == "ok":
            self._err.write(f"saved   {result.path}\n")
        else:
            self._err.write(f"already {result.path}\n")
        self._err.flush()


class _NothingToDownload(SirayError):
    """Nothing to fetch for this task: it failed, is not finished, or (without a token)
    its outputs are unknown. Said in one line; the other tasks go on."""


async def _outputs_of(
    task_id: str, watched: WatchedTask | None, client: SirayClient | None
) -> tuple[str, ...]:
    """The output URLs of a SUCCESS task: stored when final, else asked from the API.

    Raises:
        _NothingToDownload: the task failed, or is not finished yet.
        ApiError: the API could not say.
    """
    state = watched.state if watched else None
    if state is None or not state.status.is_final:
        if client is None:
            raise _NothingToDownload(
                "no outputs known and no API token to look them up"
                " (export SIRAY_API_TOKEN=..., then try again)"
            )
        _, state = await client.find_task(task_id, watched.kind if watched else TaskKind.AUTO)
    if state.status is TaskStatus.FAILURE:
        reason = first_line(state.fail_reason, 120)
        why = f" ({reason})" if reason else ""
        raise _NothingToDownload(f"the task failed{why}: no outputs to download")
    if state.status is not TaskStatus.SUCCESS:
        raise _NothingToDownload(
            f"the task is {state.raw_status}, not SUCCESS: nothing to download yet"
        )
    return state.outputs


def _summary(results: Sequence[DownloadResult], target: Path) -> str:
    """One line: what was saved, what was already there, what failed, and only then where."""
    saved = sum(r.status == "ok" for r in results)
    present = sum(r.status == "skipped" for r in results)
    failed = len(results) - saved - present
    if saved:
        line = f"Saved {plural(saved, 'file')} in {target}"
        if present:
            line += f", {present} already there"
    elif present:
        line = f"{plural(present, 'file')} already in {target}"
    else:
        line = "Nothing saved" if failed else "Nothing downloaded"
    if failed:
        line += f"{'; ' if saved or present else ': '}{plural(failed, 'download')} failed"
    return line + ".\n"


async def run_download(
    settings: Settings,
    ids: Sequence[str],
    directory: str | None,
    *,
    out: TextIO,
    err: TextIO,
) -> int:
    """Download every output of each task; exit 1 if any download (or lookup) failed.

    Without a token (and not on the simulator) only outputs already stored on the
    watchlist are fetched: output URLs need no token, and a lookup would only be refused.
    """
    target = Path(directory).expanduser() if directory else settings.download_dir  # noqa: ASYNC240
    session = WatchSession(settings.with_overrides(download_dir=target))
    known = session.store.load().tasks
    failed = 0
    results: list[DownloadResult] = []
    progress = _ProgressLine(err)
    downloader = session.downloader
    try:
        for task_id in split_ids(ids):
            try:
                validate_task_id(task_id)
                urls = await _outputs_of(task_id, known.get(task_id), session.client)
            except (InvalidTaskIdError, ApiError, _NothingToDownload) as exc:
                failed += 1
                err.write(f"siray-tui: {task_id}: {exc}\n")
                continue
            if not urls:
                err.write(f"siray-tui: {task_id}: SUCCESS but no outputs\n")
                continue
            for result in await downloader.download_task(task_id, urls, on_progress=progress):
                progress.result(result)
                results.append(result)
                failed += result.status == "failed"
    finally:
        await session.aclose()
    out.write(_summary(results, target))
    return EXIT_FAILED if failed else EXIT_OK
