"""DownloadsPanel: a progress bar per output file and one per task, while downloads run.

The dashboard runs the :class:`~siray_tui.core.downloads.Downloader` in a worker and feeds
this panel its progress reports; the panel only draws them. It sits docked above the
footer and hides itself when nothing is downloading, so it costs no room otherwise.
"""

from __future__ import annotations

from collections.abc import Sequence

from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.content import Content
from textual.widgets import ProgressBar, Static

from siray_tui.core.downloads import DownloadProgress, DownloadResult
from siray_tui.core.report import plural
from siray_tui.core.text import clean_text

FILE_STEPS = 1000
"""Each file counts for this many steps of its task's overall bar."""


def _safe_id(task_id: str) -> str:
    """A DOM ID for a task (task IDs may hold ``.``, which CSS selectors reject)."""
    return "dl-" + "".join(ch if ch.isalnum() or ch in "-_" else "_" for ch in task_id)


class DownloadJob(Vertical):
    """One task's downloads: a title, an overall bar and a bar per output."""

    DEFAULT_CSS = """
    DownloadJob { height: auto; }
    DownloadJob .file-row { height: 1; }
    DownloadJob .file-name { width: 1fr; }
    DownloadJob ProgressBar { width: auto; }
    """

    def __init__(self, task_id: str, files: Sequence[tuple[int, str]]) -> None:
        super().__init__(id=_safe_id(task_id))
        self.task_id = task_id
        self.files = list(files)
        self.fractions = {index: 0.0 for index, _ in self.files}

    def compose(self) -> ComposeResult:
        count = len(self.files)
        title = Content.assemble(
            ("↓ ", "bold"),
            (self.task_id, "bold"),
            (f"  {plural(count, 'output')}", "dim"),
        )
        with Horizontal(classes="file-row"):
            yield Static(title, classes="file-name")
            yield ProgressBar(total=FILE_STEPS * max(1, count), show_eta=False, id="overall")
        for index, url in self.files:
            with Horizontal(classes="file-row"):
                name = Content(f"  {index}. {clean_text(url)[-60:]}")
                yield Static(name, classes="file-name", markup=False)
                yield ProgressBar(total=None, show_eta=False, id=f"file-{index}")

    def report(self, progress: DownloadProgress) -> None:
        """Move the bars for one progress report."""
        index = progress.index
        if index not in self.fractions:
            return
        bar = self.query_one(f"#file-{index}", ProgressBar)
        if progress.done:
            self.fractions[index] = 1.0
            bar.update(total=1, progress=1)
        elif progress.total:
            self.fractions[index] = min(1.0, progress.received / progress.total)
            bar.update(total=progress.total, progress=progress.received)
        overall = self.query_one("#overall", ProgressBar)
        overall.update(progress=round(sum(self.fractions.values()) * FILE_STEPS))


class DownloadsPanel(Vertical):
    """Every download under way, one :class:`DownloadJob` per task."""

    DEFAULT_CSS = """
    DownloadsPanel {
        dock: bottom;
        height: auto;
        max-height: 12;
        display: none;
        border-top: solid $primary;
        padding: 0 1;
        overflow-y: auto;
    }
    DownloadsPanel.-active { display: block; }
    """

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self._jobs: dict[str, DownloadJob] = {}

    @property
    def active(self) -> list[str]:
        """Task IDs being downloaded."""
        return list(self._jobs)

    def start(self, task_id: str, files: Sequence[tuple[int, str]]) -> bool:
        """Show a job for ``(index, url)`` pairs; False when that task is already
        downloading."""
        if task_id in self._jobs:
            return False
        job = DownloadJob(task_id, files)
        self._jobs[task_id] = job
        self.mount(job)
        self.add_class("-active")
        return True

    def report(self, progress: DownloadProgress) -> None:
        """Forward a progress report to its job."""
        job = self._jobs.get(progress.task_id)
        if job is not None and job.is_mounted:
            job.report(progress)

    def finish(self, task_id: str, results: Sequence[DownloadResult]) -> None:
        """Drop a finished job (its outcome goes in a notification, not here)."""
        job = self._jobs.pop(task_id, None)
        if job is not None:
            job.remove()
        if not self._jobs:
            self.remove_class("-active")
