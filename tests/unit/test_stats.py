"""core/stats.py: the numbers of the stats screen on small known sets, and reason grouping."""

from __future__ import annotations

import pytest

from siray_tui.core.models import TaskKind, TaskRequest
from siray_tui.core.stats import (
    NO_REASON,
    UNKNOWN_MODEL,
    compute_stats,
    failure_groups,
    normalise_reason,
    timeline,
)
from tests.ui.fixtures import NOW, every_status, make_task


def test_a_thousand_reasons_differing_in_numbers_are_one_group() -> None:
    tasks = [
        make_task(
            f"image_t{index:08d}",
            "FAILURE",
            ago=1000 + index,
            queue=1,
            run=2,
            fail_reason=f"upstream timeout after {30 + index}s on worker-{index % 17}"
            f" (attempt {index % 3}.{index % 7}, 1,{index:03d} queued)",
        )
        for index in range(1000)
    ]
    groups = failure_groups(tasks)
    assert len(groups) == 1
    (group,) = groups
    assert group.count == 1000
    assert group.reason == ("upstream timeout after <n>s on worker-<n> (attempt <n>, <n> queued)")
    # newest first: the one submitted last (ago=1000) finished last
    assert group.task_ids[0] == "image_t00000000"
    assert group.newest == NOW - 1000 + 3
    assert group.example == "upstream timeout after 30s on worker-0 (attempt 0.0, 1,000 queued)"


@pytest.mark.parametrize(
    ("reason", "group"),
    [
        ("invalid image size 4096x4096: max 2048 x 2048", "invalid image size <size>: max <size>"),
        ("size 1920\u00d71080 or 1024*1024", "size <size> or <size>"),
        ("task image_ab12cd34ef failed", "task <id> failed"),
        ("task video_c0ffee0001 failed", "task <id> failed"),
        ("request 3f2a9c1e-1234-4abc-9def-0123456789ab timed out", "request <id> timed out"),
        ("CUDA error 0x1f at deadbeef0042", "CUDA error <hex> at <hex>"),
        ('prompt "a [red]cat[/red]" was rejected', 'prompt "<…>" was rejected'),
        ("model 'flux-pro-1.1' isn't available", 'model "<…>" isn\'t available'),
        ("out of memory on h264 encoder (gpt4 path)", "out of memory on h264 encoder (gpt4 path)"),
        ("timeout after 12.5s\n  trace: worker-3", "timeout after <n>s trace: worker-<n>"),
        ("", NO_REASON),
        ("  \x1b[31m\n", NO_REASON),
    ],
)
def test_normalise_reason(reason: str, group: str) -> None:
    assert normalise_reason(reason) == group


def test_groups_largest_first_then_newest() -> None:
    def failed(task_id: str, ago: float, reason: str) -> object:
        return make_task(task_id, "FAILURE", ago=ago, queue=1, run=1, fail_reason=reason)

    tasks = [
        failed("image_a00001", 500, "quota exceeded for key 1234"),
        failed("image_a00002", 100, "bad size 10x10"),
        failed("image_a00003", 300, "quota exceeded for key 5678"),
        failed("image_a00004", 50, "nsfw"),
        make_task("image_ok0001", "SUCCESS", ago=10, queue=1, run=1),
    ]
    groups = failure_groups(tasks)  # type: ignore[arg-type]
    assert [(g.reason, g.count) for g in groups] == [
        ("quota exceeded for key <n>", 2),
        ("nsfw", 1),  # newer than "bad size"
        ("bad size <size>", 1),
    ]
    assert groups[0].task_ids == ("image_a00003", "image_a00001")


def test_numbers_on_a_small_known_set() -> None:
    """Queue waits 1..10 s and run times 10..100 s over ten finished image tasks, of which
    seven succeeded; one more image task still running, and one video failed."""
    tasks = [
        make_task(
            f"image_k{index:06d}",
            "SUCCESS" if index <= 7 else "FAILURE",
            ago=1000,
            queue=index,
            run=index * 10,
            fail_reason="" if index <= 7 else "boom",
        )
        for index in range(1, 11)
    ]
    tasks.append(make_task("image_running01", "IN_PROGRESS", ago=500, queue=400, run=None))
    tasks.append(make_task("video_failed001", "FAILURE", ago=900, queue=7, run=30, fail_reason="x"))
    stats = compute_stats(tasks, NOW)
    assert stats.total == 12
    image, video = stats.by_kind
    assert (image.name, image.tasks, image.succeeded, image.failed) == ("image", 11, 7, 3)
    assert image.success_rate == pytest.approx(0.7)
    # nearest rank over the ten finished ones: p50 is the 5th, p95 the 10th
    assert (image.queue.median, image.queue.p95, image.queue.count) == (5, 10, 10)
    assert (image.run.median, image.run.p95) == (50, 100)
    assert (video.name, video.tasks, video.success_rate) == ("video", 1, 0.0)
    assert (video.queue.median, video.run.p95) == (7, 30)
    # added by ID, no task carries its model: every one is "(unknown)"
    (model,) = stats.by_model
    assert (model.name, model.tasks, model.succeeded, model.failed) == (UNKNOWN_MODEL, 12, 7, 4)
    # eleven finished: queue 1..10 and 7, run 10..100 and 30; p50 is the 6th of each
    assert (model.queue.median, model.queue.p95, model.queue.count) == (6, 10, 11)
    assert (model.run.median, model.run.p95) == (50, 100)
    # submitted ones are counted under the model of their stored request
    for submitted in tasks[:3]:
        submitted.request = TaskRequest(TaskKind.IMAGE, "vendor/seedream", "p")
    by_model = {group.name: group for group in compute_stats(tasks, NOW).by_model}
    assert by_model["vendor/seedream"].tasks == 3 and by_model[UNKNOWN_MODEL].tasks == 9


def test_a_kind_without_ended_tasks_has_no_rate() -> None:
    stats = compute_stats([make_task("image_q0000001", "QUEUED", queue=None, run=None)], NOW)
    (image,) = stats.by_kind
    assert image.success_rate is None and image.queue.median is None
    assert stats.failures == ()


def test_model_of_is_none_for_tasks_added_by_id() -> None:
    assert all(task.model is None for task in every_status())


def test_timeline_buckets_over_the_time_range() -> None:
    """Submitted 1000 s ago, ended 400, 300 and 10 s ago; one still running: the range
    runs from the first submission to now, in ten buckets of 100 s."""
    tasks = [
        make_task("image_t1", "SUCCESS", ago=1000, queue=100, run=500),  # ends 400 s ago
        make_task("image_t2", "FAILURE", ago=800, queue=100, run=400, fail_reason="x"),  # 300
        make_task("image_t3", "SUCCESS", ago=110, queue=50, run=50),  # 10 s ago
        make_task("image_t4", "IN_PROGRESS", ago=700, queue=10, run=None),
    ]
    line = timeline(tasks, NOW, buckets=10)
    assert line.start == NOW - 1000 and line.bucket == 100 and line.end == NOW
    assert line.completed == (0, 0, 0, 0, 0, 0, 1, 1, 0, 1)
    assert line.failed == (0, 0, 0, 0, 0, 0, 0, 1, 0, 0)


def test_timeline_of_nothing() -> None:
    assert timeline([], NOW).start is None
    stats = compute_stats([], NOW)
    assert stats.total == 0 and stats.by_kind == () and stats.timeline.completed == ()


def test_kinds_in_their_order() -> None:
    tasks = [
        make_task("task-auto0001", "QUEUED", kind=TaskKind.AUTO, queue=None, run=None),
        make_task("video_v0000001", "QUEUED", queue=None, run=None),
        make_task("3d_m000000001", "QUEUED", kind=TaskKind.MODEL_3D, queue=None, run=None),
        make_task("image_i0000001", "QUEUED", queue=None, run=None),
    ]
    assert [g.name for g in compute_stats(tasks, NOW).by_kind] == ["image", "video", "3d", "auto"]
