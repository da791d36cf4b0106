"""``siray-tui download ID... [--dir D]``: fetch the outputs of SUCCESS tasks.

Outputs stored on the watchlist are used when the task is known to have succeeded;
otherwise the task is queried once, so an ID that was never watched can be downloaded too.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TextIO

from siray_tui.cli.watchlist import split_ids
from siray_tui.config import Settings
from siray_tui.core.client import SirayClient
from siray_tui.core.downloads import Downloader, DownloadProgress, DownloadResult
from siray_tui.core.errors import ApiError, InvalidTaskIdError
from siray_tui.core.models import TaskKind, TaskState, TaskStatus, validate_task_id
from siray_tui.core.secret import Secret
from siray_tui.core.store import WatchlistStore

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
            self._err.write(f"\rdownloading {len(self._received)} file(s), {total:.1f} MB ")
            self._err.flush()

    def result(self, result: DownloadResult) -> None:
        if self._tty:
            self._err.write("\r\x1b[K")
        where = result.path if result.path else f"output {result.index}"
        if result.status == "failed":
            self._err.write(f"failed  {result.task_id} #{result.index}: {result.error}\n")
        else:
            self._err.write(f"{result.status:<7} {where}\n")
        self._err.flush()


async def _outputs_of(
    task_id: str, store_state: TaskState | None, kind: TaskKind, client: SirayClient
) -> tuple[str, ...]:
    if store_state is not None and store_state.status is TaskStatus.SUCCESS:
        return store_state.outputs
    _, state = await client.find_task(task_id, kind)
    if state.status is not TaskStatus.SUCCESS:
        raise ApiError(f"task is {state.raw_status}, not SUCCESS: nothing to download yet")
    return state.outputs


async def run_download(
    settings: Settings,
    ids: Sequence[str],
    directory: str | None,
    *,
    out: TextIO,
    err: TextIO,
) -> int:
    """Download every output of each task; exit 1 if any download (or lookup) failed."""
    target = Path(directory).expanduser() if directory else settings.download_dir  # noqa: ASYNC240
    store = WatchlistStore(settings.data_dir)
    known = store.load().tasks
    token = settings.token
    if token is None and settings.allow_loopback_http:
        token = Secret("demo")  # the simulator accepts any token
    failed = 0
    progress = _ProgressLine(err)
    async with (
        SirayClient(
            settings.base_url,
            token,
            insecure=settings.insecure,
            deadline=settings.request_deadline,
        ) as client,
        Downloader(
            target,
            allow_loopback_http=settings.allow_loopback_http,
            max_bytes=settings.max_download_bytes,
        ) as downloader,
    ):
        for task_id in split_ids(ids):
            try:
                validate_task_id(task_id)
                watched = known.get(task_id)
                kind = watched.kind if watched else TaskKind.AUTO
                urls = await _outputs_of(task_id, watched.state if watched else None, kind, client)
            except (InvalidTaskIdError, ApiError) as exc:
                failed += 1
                err.write(f"siray-tui: {task_id}: {exc}\n")
                continue
            if not urls:
                err.write(f"siray-tui: {task_id}: SUCCESS but no outputs\n")
                continue
            for result in await downloader.download_task(task_id, urls, on_progress=progress):
                progress.result(result)
                if result.status == "failed":
                    failed += 1
    out.write(f"{'All done' if not failed else f'{failed} failed'}: files are in {target}\n")
    return EXIT_FAILED if failed else EXIT_OK
