"""SVG snapshots of the stats and triage screen (fixed clock, UTC, polling off, no blink).

Regenerate with ``pytest tests/ui/test_stats_snapshots.py --snapshot-update`` and look at
the report before committing.
"""

from __future__ import annotations

from typing import Any

from textual.pilot import Pilot

from tests.ui.conftest import AppFactory, ready, still
from tests.ui.test_stats_screen import triage_tasks


async def _settle(pilot: Pilot[Any]) -> None:
    await ready(pilot)
    still(pilot)


def test_stats_and_triage(snap_compare: Any, make_app: AppFactory) -> None:
    """Per kind and model, the completions chart, and the failure groups, largest first;
    the hostile reason shown literally."""
    assert snap_compare(
        make_app(triage_tasks()), press=["t"], terminal_size=(120, 44), run_before=_settle
    )


def test_stats_80x24(snap_compare: Any, make_app: AppFactory) -> None:
    """A small terminal: the failure groups keep a few rows."""
    assert snap_compare(
        make_app(triage_tasks()), press=["t"], terminal_size=(80, 24), run_before=_settle
    )


def test_table_narrowed_to_a_group(snap_compare: Any, make_app: AppFactory) -> None:
    """enter on a group: its tasks only, and the summary names the group."""
    assert snap_compare(
        make_app(triage_tasks()),
        press=["t", "enter"],
        terminal_size=(140, 30),
        run_before=_settle,
    )


def test_resubmit_group_confirmation(snap_compare: Any, make_app: AppFactory, sim: Any) -> None:
    """N on a group: how many will be sent, how many cannot be and why, and the cost."""
    from tests.ui.test_resubmit_group import OLD, failed

    tasks = [failed(task_id, i, stored=i != 1) for i, task_id in enumerate(OLD)]
    app = make_app(tasks, source="client", base_url=sim.base_url)
    assert snap_compare(app, press=["t", "N"], terminal_size=(120, 30), run_before=_settle)
