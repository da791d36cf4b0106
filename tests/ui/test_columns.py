"""The pure parts of the dashboard: cell specs, sorting, filtering, summaries, preview."""

from __future__ import annotations

import random
from pathlib import Path

from rich.console import Console
from rich.text import Span

from siray_tui.core.columns import COLUMNS, display_status, progress_spec, sort_ids
from siray_tui.core.store import WatchlistStore
from siray_tui.core.sync import WatchlistSync
from siray_tui.ui.columns import cell_text, matches, row_spec, status_style
from siray_tui.ui.summary import SummaryTracker, percentile, summarize
from tests.ui.fixtures import NOW, every_status, fill_store, make_task, many_tasks


def test_row_spec_has_every_column_and_live_durations() -> None:
    task = make_task("image_run0000001", "IN_PROGRESS", progress="45%", ago=70, queue=8, run=None)
    spec = row_spec(task, NOW)
    assert len(spec) == len(COLUMNS)
    plain = {c.key: "".join(p for p, _ in s) for c, s in zip(COLUMNS, spec, strict=True)}
    assert plain["status"] == "IN_PROGRESS"
    assert plain["progress"] == "████░░░░  45%"
    assert (plain["queue"], plain["run"], plain["total"]) == ("8s", "1m 02s", "1m 10s")
    later = {c.key: s for c, s in zip(COLUMNS, row_spec(task, NOW + 5), strict=True)}
    assert "".join(p for p, _ in later["total"]) == "1m 15s"


def test_reason_prefers_poll_error_with_retry() -> None:
    task = make_task("image_err0000001", "IN_PROGRESS", last_error="HTTP 503\nbody")
    reason = "".join(p for p, _ in row_spec(task, NOW, retry_in=8.2)[-1])
    assert reason == "HTTP 503 · retry in 8s"


def test_statuses_and_styles() -> None:
    shown = {t.task_id: display_status(t) for t in every_status()}
    assert shown["image_deadbeef00"] == "NOT_FOUND"
    assert shown["image_0000000001"] == "PENDING"
    assert shown["task-5e6f7a8b9c0d"] == "PAUSED_BY_PROVIDER"
    assert status_style("PAUSED_BY_PROVIDER") == status_style("UNKNOWN") == "magenta"
    assert "green" in status_style("SUCCESS") and "red" in status_style("FAILURE")
    assert progress_spec("IN_PROGRESS", None) == (("-", "dim"),)


def test_cell_text_is_literal() -> None:
    hostile = "[@click=app.quit]x[/]"
    text = cell_text(((hostile, "red"), (" ok", "bold")))
    assert text.plain == hostile + " ok"
    # Exactly the styles given, over exactly their pieces: nothing parsed out of the text.
    assert text.spans == [Span(0, len(hostile), "red"), Span(len(hostile), len(text), "bold")]
    # Markup turns into Style objects with meta (not strings), so look at what renders.
    for segment in text.render(Console(width=200)):
        meta = segment.style.meta if segment.style else {}
        assert "@click" not in meta, (segment.text, meta)


def test_sort_missing_values_last_both_ways() -> None:
    tasks = {t.task_id: t for t in every_status()}
    ids = list(tasks)
    for reverse in (False, True):
        ordered = sort_ids(ids, tasks, "total", reverse, NOW)
        totals = [tasks[i].state.timings(NOW).total if tasks[i].state else None for i in ordered]
        present = [t for t in totals if t is not None]
        assert present == sorted(present, reverse=reverse)
        assert totals[len(present) :] == [None] * (len(totals) - len(present))


def test_filters() -> None:
    tasks = every_status()
    assert [t.task_id for t in tasks if matches(t, "GPU")] == ["video_77aa1290bc"]
    assert [t.task_id for t in tasks if matches(t, "hero")] == ["image_a8813a4b4c9"]
    assert all(t.status and t.status.value == "FAILURE" for t in tasks if matches(t, "", "FAILURE"))
    errors = {t.task_id for t in tasks if matches(t, "", "errors")}
    assert errors == {"image_deadbeef00", "video_5a5a5a5a5a", "task-5e6f7a8b9c0d"}


def test_percentile_nearest_rank() -> None:
    values = [float(v) for v in range(1, 101)]
    assert percentile(values, 0.5) == 50.0 and percentile(values, 0.95) == 95.0
    assert percentile([], 0.5) is None


def test_tracker_matches_a_recount() -> None:
    tasks = many_tasks(300)
    tracker = SummaryTracker()
    tracker.reset(tasks, NOW)
    assert tracker.summary() == summarize(tasks, NOW)
    rng = random.Random(3)
    current = list(tasks)
    for _ in range(200):
        index = rng.randrange(len(current))
        new = rng.choice(tasks)
        replacement = make_task(
            current[index].task_id,
            new.state.raw_status if new.state else None,
            ago=rng.uniform(10, 500),
            queue=rng.uniform(1, 9),
            run=rng.uniform(1, 90),
        )
        tracker.replace(current[index], replacement, NOW)
        current[index] = replacement
    gone = current.pop()
    tracker.remove(gone, NOW)
    assert tracker.summary() == summarize(current, NOW)


def test_sync_sees_other_processes(tmp_path: Path) -> None:
    store = fill_store(tmp_path, every_status()[:3])
    shown = {t.task_id for t in every_status()[:3]}
    sync = WatchlistSync(WatchlistStore(tmp_path), shown)
    assert not sync.changed()
    store.add(["video_external01"])
    store.remove(["image_a8813a4b4c9"])
    assert sync.changed()
    result = sync.read(shown)
    assert [t.task_id for t in result.added] == ["video_external01"]
    assert result.removed == ["image_a8813a4b4c9"]


def test_sync_does_not_parse_its_own_stores_last_write(tmp_path: Path) -> None:
    """The session's own saves (about once a second while polling) are not parsed again,
    since a parse of a large file stalls the event loop: the decoded rows are reused."""
    fill_store(tmp_path, every_status()[:3])
    own = WatchlistStore(tmp_path)
    own.add(["image_ours000001"])
    first, again = own.current_tasks(), own.current_tasks()
    assert first["image_ours000001"] is again["image_ours000001"]  # no new parse
    WatchlistStore(tmp_path).add(["video_theirs0001"])  # another process
    fresh = own.current_tasks()
    assert "video_theirs0001" in fresh
    assert fresh["image_ours000001"] is not first["image_ours000001"]  # read again


def test_reason_of_a_final_task_wins_over_a_later_poll_error() -> None:
    task = make_task(
        "image_err0000002", "FAILURE", fail_reason="NSFW content", last_error="HTTP 500"
    )
    assert "".join(p for p, _ in row_spec(task, NOW, retry_in=3.0)[-1]) == "NSFW content"
    assert summarize([task], NOW).errored == 1
