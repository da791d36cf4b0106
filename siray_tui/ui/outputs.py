"""Opening, copying and downloading task outputs: shared by the dashboard and details.

Output URLs come from the server, so each one passes
:func:`~siray_tui.core.text.check_url` before a browser, the clipboard or the downloader
sees it. The browser is started in a thread (``webbrowser.open`` can block for seconds),
and where no graphical browser can be found the URL is shown instead: Python's
``webbrowser`` falls back to text browsers (lynx, w3m) that would take over this very
terminal.
"""

from __future__ import annotations

import asyncio
import os
import sys
import webbrowser
from collections.abc import Sequence
from pathlib import Path

from textual.app import App

from siray_tui.config import Settings
from siray_tui.core.downloads import DownloadProgress, DownloadResult
from siray_tui.core.errors import UnsafeUrlError
from siray_tui.core.mediainfo import MediaInfo
from siray_tui.core.models import WatchedTask
from siray_tui.core.outputinfo import describe_output
from siray_tui.core.report import plural
from siray_tui.core.session import WatchSession
from siray_tui.core.text import check_url, clean_text, first_line
from siray_tui.ui.widgets.downloads_panel import DownloadsPanel

_CONSOLE_BROWSERS = frozenset({"www-browser", "links", "elinks", "lynx", "w3m", "links2"})


def graphical_browser_available() -> bool:
    """Whether ``webbrowser.open`` would start a browser outside this terminal."""
    if sys.platform in ("darwin", "win32"):
        return True
    if not (os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")):
        browser = os.environ.get("BROWSER", "").split(os.pathsep)[0]
        return bool(browser) and Path(browser).name not in _CONSOLE_BROWSERS
    return True


def open_in_browser(url: str) -> bool:
    """Open ``url`` (already checked) in a graphical browser; False when none opened."""
    if not graphical_browser_available():
        return False
    try:
        return bool(webbrowser.open(url, new=2))
    except webbrowser.Error:
        return False


class OutputActions:
    """What ``o``, ``c`` and ``d`` do, wherever they are pressed.

    Args:
        app: for notifications, the clipboard and workers.
        settings: download folder and whether loopback http is allowed.
        session: owns the one shared Downloader (made on first use).
        panel: where download progress is drawn.
    """

    def __init__(
        self,
        app: App[object],
        settings: Settings,
        session: WatchSession,
        panel: DownloadsPanel,
    ) -> None:
        self.app = app
        self.settings = settings
        self.session = session
        self.panel = panel

    def checked(self, url: str) -> str | None:
        """``url`` if it is safe to hand out; else None, after saying why."""
        try:
            return check_url(url, allow_loopback_http=self.settings.allow_loopback_http)
        except UnsafeUrlError as exc:
            self.app.notify(first_line(str(exc), 200), severity="error", markup=False)
            return None

    async def open(self, url: str) -> None:
        """Open one output in a browser, or show its URL when that is not possible."""
        safe = self.checked(url)
        if safe is None:
            return
        opened = await asyncio.to_thread(open_in_browser, safe)
        if opened:
            self.app.notify(f"Opened {safe}", markup=False)
        else:
            self.app.notify(
                f"No browser available here. The URL: {safe}",
                title="Open output",
                timeout=20,
                markup=False,
            )

    def copy(self, text: str, what: str) -> None:
        """Put ``text`` on the clipboard (OSC 52 and Textual's own) and say so."""
        self.app.copy_to_clipboard(text)
        self.app.notify(f"Copied {what}: {text}", markup=False)

    def copy_url(self, url: str) -> None:
        """Copy an output URL, if it passes the URL check."""
        safe = self.checked(url)
        if safe is not None:
            self.copy(safe, "output URL")

    async def describe(self, task_id: str, index: int, url: str) -> MediaInfo:
        """What output ``index`` (from 1) is, from its header: the downloaded file if it
        is there, else the first bytes of ``url`` (checked, without the token)."""
        return await describe_output(self.session.downloader, task_id, index, url)

    async def download(self, task: WatchedTask, only: int | None = None) -> list[DownloadResult]:
        """Download a task's outputs (or only output number ``only``, from 1) into
        ``<download dir>/<task ID>/``."""
        urls: Sequence[str] = task.state.outputs if task.state else ()
        if not urls:
            self.app.notify(
                f"{task.task_id} has no outputs to download yet", severity="warning", markup=False
            )
            return []
        indexes = list(range(1, len(urls) + 1)) if only is None else [only]
        if not self.panel.start(task.task_id, [(i, urls[i - 1]) for i in indexes]):
            self.app.notify(f"{task.task_id} is already downloading", markup=False)
            return []

        def report(progress: DownloadProgress) -> None:
            self.panel.report(progress)

        downloader = self.session.downloader
        try:
            results = await asyncio.gather(
                *(downloader.download_one(task.task_id, i, urls[i - 1], report) for i in indexes)
            )
        finally:
            self.panel.finish(task.task_id, [])
        self._announce(task.task_id, results)
        return list(results)

    def _announce(self, task_id: str, results: Sequence[DownloadResult]) -> None:
        saved = [r for r in results if r.ok]
        failed = [r for r in results if not r.ok]
        folder = self.settings.download_dir / task_id
        if saved and not failed:
            self.app.notify(
                f"Saved {plural(len(saved), 'file')} to {folder}",
                title="Download finished",
                markup=False,
            )
            return
        reasons = "; ".join(f"#{r.index}: {clean_text(r.error or 'failed')}" for r in failed[:3])
        self.app.notify(
            f"{len(saved)} saved to {folder}, {len(failed)} failed: {reasons}",
            title="Download problems",
            severity="error",
            timeout=15,
            markup=False,
        )
