"""``--demo``: the simulator on loopback and a lively watchlist in a temporary directory.

The demo must never touch the user's real watchlist or need a token, and it must look
alive at once: so it seeds about 40 tasks in every state (finished ones from the past
with their different fail reasons, queued ones, running ones at various progress, one ID
the server does not know) with their current state already in the watchlist, polls
every 2 s, and keeps submitting a new task every few seconds, which it adds to the
watchlist file the way ``siray-tui add`` from a script would (the dashboard notices).

A demo killed by a signal cannot remove its directory, so each demo holds a lock on a
``demo.alive`` file in it for as long as it runs, and the next demo removes every demo
directory whose lock nobody holds.

No Textual import here: ``siray-tui --demo wait`` uses it too.
"""

from __future__ import annotations

import fcntl
import logging
import os
import random
import shutil
import tempfile
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final

from siray_tui.config import LOOPBACK_TOKEN, Settings
from siray_tui.core.models import StatusChange, TaskKind, TaskState, WatchedTask
from siray_tui.core.secret import Secret
from siray_tui.core.store import WatchlistStore
from siray_tui.core.watchlist import Watchlist
from siray_tui.sim import FAIL_REASONS, Faults, Kind, Scenario, SimServer, SimTask
from siray_tui.sim.faults import render_task
from siray_tui.sim.server import StopOnExit

logger = logging.getLogger(__name__)

DEMO_TOKEN: Final = LOOPBACK_TOKEN  # the one a session on loopback sends without a token
DEMO_SEED: Final = 7
NOT_FOUND_ID: Final = "image_0000deadbeef404"
LABELS: Final = ("product shot", "hero banner", "night clip", "thumbnail", "storyboard")
DIR_PREFIX: Final = "siray-tui-demo-"
ALIVE_NAME: Final = "demo.alive"
THROWAWAY_NOTE: Final = (
    "note: --demo uses a throw-away watchlist (and download folder) on a built-in simulator;"
    " what this command changes is gone when it ends. Drop --demo to use your own."
)


@dataclass
class DemoHandle(StopOnExit):
    """A running demo: its settings (base URL, data dir, token) and how to stop it.

    Attributes:
        settings: the caller's settings pointed at the simulator and the temp directory.
        server: the simulator.
        data_dir: the temporary data directory (removed by :meth:`stop`).
    """

    settings: Settings
    server: SimServer
    data_dir: Path
    _alive_fd: int | None = None
    _stopping: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def stop(self) -> None:
        """Stop submitting, stop the simulator and delete the temporary directory."""
        self._stopping.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None
        self.server.stop()
        shutil.rmtree(self.data_dir, ignore_errors=True)
        if self._alive_fd is not None:
            os.close(self._alive_fd)
            self._alive_fd = None


def _seed_tasks(scenario: Scenario, count: int, rng: random.Random) -> list[SimTask]:
    """Every state, every kind, every fail reason; most from the scenario's demo mix."""
    now = scenario.now()
    made = scenario.add_demo_tasks(max(0, count - len(FAIL_REASONS) - 3))
    for index, reason in enumerate(FAIL_REASONS):  # one finished failure per reason
        made.append(
            scenario.add_task(
                "image" if index % 2 else "video",
                queue_s=rng.uniform(3, 20),
                run_s=0.0 if reason.before_start else rng.uniform(10, 60),
                outcome="failure",
                fail_reason=reason.text,
                created_at=now - rng.uniform(120, 3000),
                failure_progress=0 if reason.before_start else rng.randint(10, 90),
            )
        )
    for progress in (0.2, 0.55, 0.9):  # running, at visibly different progress
        run = rng.uniform(30, 90)
        queue = rng.uniform(3, 10)
        made.append(
            scenario.add_task(
                "image", queue_s=queue, run_s=run, created_at=now - queue - run * progress
            )
        )
    return made


def _observed(task: SimTask, server: SimServer, now: float, label: str) -> WatchedTask:
    """The task as a first poll would have left it, so the dashboard opens populated."""
    state = task.state_at(now)
    body = render_task(task, state, server.base_url, Faults(), random.Random(0))
    parsed = TaskState.from_payload(body, task_id=task.task_id)
    kind = TaskKind(task.kind) if task.task_id.startswith(task.kind) else TaskKind.AUTO
    return WatchedTask(
        task_id=task.task_id,
        kind=kind,
        label=label,
        added_at=task.created_at,
        state=parsed,
        last_polled_at=now,
        history=[StatusChange(parsed.raw_status, now)],
    )


def _arrivals(
    scenario: Scenario, store: WatchlistStore, stopping: threading.Event, every: float
) -> None:
    """Submit a task every ``every`` seconds and add it to the watchlist file."""
    rng = random.Random(DEMO_SEED + 1)
    for _ in range(500):
        if stopping.wait(every * rng.uniform(0.7, 1.3)):
            return
        draw = rng.random()
        kind: Kind = "image" if draw < 0.5 else "video" if draw < 0.8 else "3d"
        task = scenario.submit(kind, {"model": "demo", "prompt": "a new arrival"})
        try:
            store.add([task.task_id], kind=TaskKind(kind), label=rng.choice(LABELS))
        except Exception:  # the demo directory may be going away while we add
            logger.debug("demo arrival not added", exc_info=True)
            return


def start_demo(
    settings: Settings,
    *,
    tasks: int = 40,
    seed: int = DEMO_SEED,
    arrival_every: float | None = 5.0,
) -> DemoHandle:
    """Start the simulator and seed a temporary watchlist; returns the handle.

    Args:
        settings: the user's settings; the copy returned points at the demo.
        tasks: how many tasks to seed (about; at least 8 makes every state appear).
        seed: makes the seeded tasks reproducible.
        arrival_every: seconds between new tasks arriving; None for none.
    """
    rng = random.Random(seed)
    removed = remove_abandoned_demos(Path(tempfile.gettempdir()))
    if removed:
        logger.info("removed %d abandoned demo directories", len(removed))
    scenario = Scenario(seed, queue_seconds=(3.0, 15.0), run_seconds=(10.0, 60.0))
    server = SimServer(scenario, token=DEMO_TOKEN, seed=seed)
    server.start()
    data_dir = Path(tempfile.mkdtemp(prefix=DIR_PREFIX))
    alive_fd: int | None = None
    try:
        alive_fd = _claim(data_dir)
        store = WatchlistStore(data_dir)
        now = scenario.now()
        seeded = [
            _observed(task, server, now, rng.choice(LABELS) if rng.random() < 0.3 else "")
            for task in _seed_tasks(scenario, tasks, rng)
        ]
        missing = WatchedTask(NOT_FOUND_ID, kind=TaskKind.IMAGE, added_at=now)

        def put(watchlist: Watchlist) -> None:
            for task in [*seeded, missing]:
                watchlist.add_task(task)

        store.mutate(put)
    except BaseException:
        server.stop()
        shutil.rmtree(data_dir, ignore_errors=True)
        if alive_fd is not None:
            os.close(alive_fd)
        raise
    demo_settings = settings.with_overrides(
        base_url=server.base_url,
        token=Secret(DEMO_TOKEN),
        token_source="demo",  # noqa: S106 (where the token came from)
        data_dir=data_dir,
        download_dir=data_dir / "downloads",
        interval=2.0,
        kind_intervals={"3d": 4.0},  # slower, as 3D polls, yet lively
        rate=max(settings.rate, 40.0),
        demo=True,
    )
    handle = DemoHandle(demo_settings, server, data_dir, alive_fd)
    if arrival_every is not None:
        handle._thread = threading.Thread(
            target=_arrivals,
            args=(scenario, store, handle._stopping, arrival_every),
            name="siray-demo-arrivals",
            daemon=True,
        )
        handle._thread.start()
    return handle


def _claim(data_dir: Path) -> int:
    """Lock ``data_dir``'s alive file for this process's lifetime; returns its descriptor.

    The file is locked under a temporary name and then renamed, so that a sweep by
    another demo never sees it unlocked.
    """
    claiming = data_dir / (ALIVE_NAME + ".new")
    fd = os.open(claiming, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        os.replace(claiming, data_dir / ALIVE_NAME)
    except BaseException:
        os.close(fd)
        raise
    return fd


def remove_abandoned_demos(parent: Path) -> list[Path]:
    """Remove the demo directories under ``parent`` whose demo is no longer running.

    Only a directory with an alive file that nobody holds locked is removed: one without
    the file may be a demo starting right now, or not a demo directory at all.
    """
    removed: list[Path] = []
    for path in parent.glob(DIR_PREFIX + "*"):
        try:
            fd = os.open(path / ALIVE_NAME, os.O_RDWR)
        except OSError:
            continue
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(fd)
            continue  # its demo is running
        try:
            shutil.rmtree(path, ignore_errors=True)
        finally:
            os.close(fd)
        removed.append(path)
    return removed
