"""TaskState parsing against every quirk of docs/api.md, timings, task IDs, kinds, the watchlist
form of a task, and the report helpers (durations, the ``--json`` record)."""

from __future__ import annotations

import dataclasses
import json
import math
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from siray_tui.core.clock import FakeClock
from siray_tui.core.columns import JSON_FIELDS, task_record
from siray_tui.core.errors import InvalidTaskIdError, PayloadError
from siray_tui.core.eta import Estimator
from siray_tui.core.models import (
    TASK_ID_MAX_LENGTH,
    StatusChange,
    TaskKind,
    TaskRequest,
    TaskState,
    TaskStatus,
    WatchedTask,
    validate_task_id,
)
from siray_tui.core.report import format_duration

T0 = 1_763_274_672
MISSING: Any = object()  # the key is absent from ``data``

README_JSON_FIELDS = (
    "task_id",
    "kind",
    "label",
    "model",
    "status",
    "progress",
    "outputs",
    "fail_reason",
    "submit_time",
    "start_time",
    "finish_time",
    "queue_seconds",
    "run_seconds",
    "total_seconds",
    "eta_seconds",
    "stalled",
    "last_polled_at",
    "error",
)


def body(**data: Any) -> dict[str, Any]:
    """A whole response around ``data`` (status IN_PROGRESS unless given); MISSING drops a key."""
    fields: dict[str, Any] = {"task_id": "image_a8813a4b4c9", "status": "IN_PROGRESS"}
    fields.update(data)
    return {
        "code": "success",
        "message": "",
        "data": {k: v for k, v in fields.items() if v is not MISSING},
    }


def parse(**data: Any) -> TaskState:
    return TaskState.from_payload(body(**data), task_id="t")


# -- progress ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("45%", 45),
        ("", None),
        ("0%", 0),
        ("100%", 100),
        (45, 45),
        (45.7, 45),
        ("45", 45),
        (" 45 % ", 45),
        ("45.9%", 45),
        (MISSING, None),
        (None, None),
        (True, None),
        (False, None),
        ("abc", None),
        ("%", None),
        (math.nan, None),
        (math.inf, None),
        (-math.inf, None),
        ("nan%", None),
        ("inf", None),
        (-5, 0),
        ("-5%", 0),
        (150, 100),
        ("150%", 100),
        (100.0, 100),
        ([45], None),
        ({"value": 45}, None),
    ],
)
def test_progress_quirks(raw: Any, expected: int | None) -> None:
    assert parse(progress=raw).progress == expected


@pytest.mark.parametrize("field", ["progress", "submit_time", "start_time", "finish_time"])
@pytest.mark.parametrize("digits", [309, 400])
def test_integer_too_large_for_a_float_is_tolerated(field: str, digits: int) -> None:
    """JSON can carry integers beyond float range; parsing must not raise OverflowError."""
    digits_text = "1" + "0" * digits
    text = f'{{"code": "success", "data": {{"status": "IN_PROGRESS", "{field}": {digits_text}}}}}'
    payload = json.loads(text)
    state = TaskState.from_payload(payload, task_id="t")  # must not raise OverflowError
    assert state.status is TaskStatus.IN_PROGRESS
    # A huge progress is past 100 percent, so clamped like 150 is; other fields carry none.
    assert state.progress == (100 if field == "progress" else None)
    timings = state.timings(T0 + 10.0)
    for value in (timings.queue, timings.run, timings.total):
        assert value is None or value >= 0


# -- timestamps --------------------------------------------------------------------------

TIMESTAMP_CASES = [
    (0, None),
    (0.0, None),
    (None, None),
    (MISSING, None),
    ("0", None),
    (T0, float(T0)),
    ("1763274672", float(T0)),
    (" 1763274672 ", float(T0)),
    (1763274672.5, 1763274672.5),
    ("1763274672.5", 1763274672.5),
    (1763274672000, float(T0)),  # milliseconds
    (1763274672500, 1763274672.5),
    ("1763274672000", float(T0)),
    ("garbage", None),
    ("", None),
    ("12abc", None),
    ("2025-11-16T06:31:12Z", None),
    (-5, None),
    ("-1763274672", None),
    (True, None),
    (False, None),
    (math.nan, None),
    (math.inf, None),
    ("inf", None),
    ([T0], None),
    ({"t": T0}, None),
]


@pytest.mark.parametrize("field", ["submit_time", "start_time", "finish_time"])
@pytest.mark.parametrize(("raw", "expected"), TIMESTAMP_CASES)
def test_timestamp_quirks(field: str, raw: Any, expected: float | None) -> None:
    state = parse(**{field: raw})
    assert getattr(state, field) == expected
    others = {"submit_time", "start_time", "finish_time"} - {field}
    assert all(getattr(state, other) is None for other in others)


# -- envelope ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "payload",
    [
        {"code": "success", "message": "", "data": None},
        {"code": "success", "message": ""},
        {"code": "success", "data": "IN_PROGRESS"},
        {"code": "success", "data": ["IN_PROGRESS"]},
        {"code": "success", "data": 7},
        {"code": "success", "data": {}},
        {"code": "success", "data": {"progress": "45%"}},
        {"code": "success", "data": {"status": None}},
        {"code": "success", "data": {"status": ""}},
        {"code": "success", "data": {"status": {"name": "QUEUED"}}},
        {"code": "success", "data": {"status": ["QUEUED"]}},
        None,
        [],
        [{"status": "QUEUED"}],
        "SUCCESS",
        42,
        True,
    ],
)
def test_unusable_payload_is_a_payload_error(payload: Any) -> None:
    with pytest.raises(PayloadError):
        TaskState.from_payload(payload, task_id="t")


@pytest.mark.parametrize("code", ["error", "fail", "FAILED", 500, 1, "", False])
def test_code_other_than_success_with_http_200_is_a_payload_error(code: Any) -> None:
    payload = body(status="SUCCESS", progress="100%")
    payload["code"] = code
    payload["message"] = "\x1b[31mquota exceeded\x1b[0m"
    with pytest.raises(PayloadError) as caught:
        TaskState.from_payload(payload, task_id="t")
    message = str(caught.value)
    assert "quota exceeded" in message
    assert "\x1b" not in message
    assert "\n" not in message


@pytest.mark.parametrize("code", ["success", "SUCCESS", " success "])
def test_success_code_is_accepted(code: str) -> None:
    payload = body(status="QUEUED")
    payload["code"] = code
    assert TaskState.from_payload(payload, task_id="t").status is TaskStatus.QUEUED


def test_missing_code_and_bare_data_object_are_tolerated() -> None:
    without_code = {"data": {"status": "QUEUED"}}
    assert TaskState.from_payload(without_code, task_id="t").status is TaskStatus.QUEUED
    bare = {"status": "IN_PROGRESS", "progress": "12%"}
    state = TaskState.from_payload(bare, task_id="t")
    assert (state.status, state.progress) == (TaskStatus.IN_PROGRESS, 12)


def test_extra_fields_are_ignored_and_kept_in_raw() -> None:
    payload = body(status="QUEUED", queue_position=3, model="sim-model-v1", nested={"a": [1]})
    payload["request_id"] = "req_1"
    state = TaskState.from_payload(payload, task_id="t")
    assert state.status is TaskStatus.QUEUED
    assert state.raw["queue_position"] == 3
    assert state.raw["nested"] == {"a": [1]}
    assert "request_id" not in state.raw  # raw is the data object only


def test_the_asked_id_names_the_task_even_if_data_says_otherwise() -> None:
    payload = body(task_id="video_a8813a4b4c9", status="SUCCESS")
    assert TaskState.from_payload(payload, task_id="image_1").task_id == "image_1"


def test_the_documented_example_parses() -> None:
    payload = {
        "code": "success",
        "message": "",
        "data": {
            "task_id": "image_a8813a4b4c9",
            "status": "SUCCESS",
            "progress": "100%",
            "outputs": ["https://api.siray.ai/redirect/example-output"],
            "submit_time": 1763274672,
            "start_time": 1763274702,
            "finish_time": 1763274838,
            "fail_reason": "",
            "action": "imageGenerate",
        },
    }
    state = TaskState.from_payload(payload, task_id="image_a8813a4b4c9")
    assert state.status is TaskStatus.SUCCESS
    assert state.status.is_final
    assert state.progress == 100
    assert state.outputs == ("https://api.siray.ai/redirect/example-output",)
    assert (state.submit_time, state.start_time, state.finish_time) == (
        1763274672.0,
        1763274702.0,
        1763274838.0,
    )
    assert state.fail_reason == ""
    assert state.action == "imageGenerate"
    timings = state.timings(now=1763279999.0)
    assert (timings.queue, timings.run, timings.total) == (30.0, 136.0, 166.0)


# -- status ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("NOT_START", TaskStatus.NOT_START),
        ("SUBMITTED", TaskStatus.SUBMITTED),
        ("QUEUED", TaskStatus.QUEUED),
        ("IN_PROGRESS", TaskStatus.IN_PROGRESS),
        ("SUCCESS", TaskStatus.SUCCESS),
        ("FAILURE", TaskStatus.FAILURE),
        ("success", TaskStatus.SUCCESS),
        ("Failure", TaskStatus.FAILURE),
        (" queued ", TaskStatus.QUEUED),
        ("in progress", TaskStatus.IN_PROGRESS),
        ("In-Progress", TaskStatus.IN_PROGRESS),
        ("not_start", TaskStatus.NOT_START),
        ("\x1b[32mSUCCESS\x1b[0m", TaskStatus.SUCCESS),
    ],
)
def test_status_case_and_spacing_are_forgiven(raw: str, expected: TaskStatus) -> None:
    assert parse(status=raw).status is expected


@pytest.mark.parametrize(
    "raw", ["PAUSED", "CANCELLED", "RETRYING", "UNKNOWN", "SUCCESSFUL", "DONE", "succes"]
)
def test_unknown_status_is_kept_raw_and_never_final(raw: str) -> None:
    state = parse(status=raw, submit_time=T0)
    assert state.status is TaskStatus.UNKNOWN
    assert state.raw_status == raw
    assert not state.status.is_final
    # Still ticking like any unfinished task.
    assert state.timings(T0 + 12.0).total == 12.0


@pytest.mark.parametrize(("raw", "shown"), [(3, "3"), (2.5, "2.5"), (True, "True")])
def test_status_as_a_number_is_unknown_and_shown(raw: Any, shown: str) -> None:
    state = parse(status=raw)
    assert state.status is TaskStatus.UNKNOWN
    assert state.raw_status == shown
    assert not state.status.is_final


def test_hostile_status_is_cleaned_and_cut() -> None:
    state = parse(status="\x1b]0;pwned\x07" + "X" * 500)
    assert state.status is TaskStatus.UNKNOWN
    assert "\x1b" not in state.raw_status
    assert "pwned" not in state.raw_status
    assert len(state.raw_status) <= 64


@pytest.mark.parametrize("status", list(TaskStatus))
def test_only_success_and_failure_are_final(status: TaskStatus) -> None:
    assert status.is_final == (status in (TaskStatus.SUCCESS, TaskStatus.FAILURE))


# -- outputs, fail_reason, progress on final states --------------------------------------


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("https://x.example/a.png", ("https://x.example/a.png",)),
        ("", ()),
        (["https://x/a.png", "https://x/b.png"], ("https://x/a.png", "https://x/b.png")),
        (["https://x/a.png", 1, None, "", {"u": "v"}, ["n"], True, "https://x/b.png"],
         ("https://x/a.png", "https://x/b.png")),
        ([], ()),
        (None, ()),
        (MISSING, ()),
        (42, ()),
        ({"url": "https://x/a.png"}, ()),
    ],
)  # fmt: skip
def test_outputs_quirks(raw: Any, expected: tuple[str, ...]) -> None:
    assert parse(status="SUCCESS", outputs=raw).outputs == expected


def test_outputs_are_kept_as_sent_for_check_url_to_judge() -> None:
    hostile = ["javascript:alert(1)", "file:///etc/passwd"]
    assert parse(status="SUCCESS", outputs=hostile).outputs == tuple(hostile)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (None, ""),
        (MISSING, ""),
        ("", ""),
        (42, "42"),
        (0, ""),
        ("GPU out of memory", "GPU out of memory"),
        ("line one\nline two", "line one\nline two"),
        ("\x1b[31mboom\x1b[0m [/x]\x00\u202e", "boom [/x]"),
    ],
)
def test_fail_reason_quirks(raw: Any, expected: str) -> None:
    assert parse(status="FAILURE", fail_reason=raw).fail_reason == expected


def test_failure_keeps_the_progress_it_reached() -> None:
    state = parse(status="FAILURE", progress="37%", fail_reason="worker crashed")
    assert state.status is TaskStatus.FAILURE
    assert state.progress == 37


@pytest.mark.parametrize("progress", [MISSING, None, "", "abc"])
def test_success_without_progress_gives_100(progress: Any) -> None:
    assert parse(status="SUCCESS", progress=progress).progress == 100


def test_message_is_cleaned_to_one_line() -> None:
    payload = body(status="QUEUED")
    payload["message"] = "ok\x1b]52;c;ZXZpbA==\x07\nnext"
    state = TaskState.from_payload(payload, task_id="t")
    assert state.message == "ok next"


@pytest.mark.parametrize(("raw", "expected"), [("imageGenerate", "imageGenerate"), (5, None)])
def test_action(raw: Any, expected: str | None) -> None:
    assert parse(action=raw).action == expected


# -- timings -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "submit", "start", "finish", "expected"),
    [
        # nothing known yet
        ("NOT_START", None, None, None, (None, None, None)),
        # waiting: queue and total tick against now (T0 + 100)
        ("NOT_START", T0, None, None, (100.0, None, 100.0)),
        ("SUBMITTED", T0, None, None, (100.0, None, 100.0)),
        ("QUEUED", T0 + 40, None, None, (60.0, None, 60.0)),
        # running: queue fixed, run and total tick
        ("IN_PROGRESS", T0, T0 + 30, None, (30.0, 70.0, 100.0)),
        ("PAUSED", T0, T0 + 30, None, (30.0, 70.0, 100.0)),
        # done: fixed, whatever now is
        ("SUCCESS", T0, T0 + 30, T0 + 90, (30.0, 60.0, 90.0)),
        ("FAILURE", T0, T0 + 30, T0 + 45, (30.0, 15.0, 45.0)),
        # rejected before it ever ran: the wait ends at the finish
        ("FAILURE", T0, None, T0 + 5, (5.0, None, 5.0)),
        # final without a finish time: no guess
        ("SUCCESS", T0, T0 + 30, None, (30.0, None, None)),
        ("FAILURE", T0, None, None, (None, None, None)),
        ("SUCCESS", None, None, None, (None, None, None)),
        # clock skew: clamp to 0, never negative
        ("IN_PROGRESS", T0, T0 - 3, None, (0.0, 103.0, 100.0)),
        ("SUCCESS", T0, T0 - 3, T0 + 10, (0.0, 13.0, 10.0)),
        ("SUCCESS", T0, T0 + 30, T0 + 20, (30.0, 0.0, 20.0)),
        ("SUCCESS", T0, T0 + 30, T0 - 50, (30.0, 0.0, 0.0)),
        ("QUEUED", T0 + 500, None, None, (0.0, None, 0.0)),
        ("IN_PROGRESS", T0, T0 + 500, None, (500.0, 0.0, 100.0)),
        # start known but submit missing
        ("IN_PROGRESS", None, T0 + 30, None, (None, 70.0, None)),
    ],
)
def test_timings(
    status: str,
    submit: int | None,
    start: int | None,
    finish: int | None,
    expected: tuple[float | None, float | None, float | None],
) -> None:
    clock = FakeClock(now=T0 + 100.0)
    state = parse(status=status, submit_time=submit, start_time=start, finish_time=finish)
    timings = state.timings(clock.now())
    assert (timings.queue, timings.run, timings.total) == expected


def test_timings_tick_live_while_unfinished_and_freeze_when_final() -> None:
    clock = FakeClock(now=T0 + 10.0)
    queued = parse(status="QUEUED", submit_time=T0)
    running = parse(status="IN_PROGRESS", submit_time=T0, start_time=T0 + 5)
    done = parse(status="SUCCESS", submit_time=T0, start_time=T0 + 5, finish_time=T0 + 8)
    first = (queued.timings(clock.now()), running.timings(clock.now()), done.timings(clock.now()))
    clock.advance(7.5)
    later = (queued.timings(clock.now()), running.timings(clock.now()), done.timings(clock.now()))
    assert (first[0].queue, later[0].queue) == (10.0, 17.5)
    assert (first[0].total, later[0].total) == (10.0, 17.5)
    assert (first[1].queue, later[1].queue) == (5.0, 5.0)
    assert (first[1].run, later[1].run) == (5.0, 12.5)
    assert (first[1].total, later[1].total) == (10.0, 17.5)
    assert first[2] == later[2]
    assert (later[2].queue, later[2].run, later[2].total) == (5.0, 3.0, 8.0)


# -- property: any JSON in, a TaskState or PayloadError out ------------------------------

KNOWN_KEYS = (
    "task_id",
    "status",
    "progress",
    "outputs",
    "submit_time",
    "start_time",
    "finish_time",
    "fail_reason",
    "action",
)
json_scalars = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.sampled_from([0, -1, 10**20, 10**308, 10**400, -(10**400), 1763274672000])
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=30)
    | st.sampled_from(["45%", "", "100%", "1763274672", "SUCCESS", "\x1b[31m", "nan", "1e400"])
)
json_values = st.recursive(
    json_scalars,
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4)
    ),
    max_leaves=12,
)
statuses = st.sampled_from([s.value for s in TaskStatus] + ["paused", " in progress ", "7"])
data_objects = st.fixed_dictionaries(
    {},
    optional={
        **{key: json_values for key in KNOWN_KEYS},
        "status": statuses | json_values,
        "extra": json_values,
    },
)
envelopes = st.fixed_dictionaries(
    {},
    optional={
        "code": st.just("success") | json_values,
        "message": json_values,
        "data": data_objects | json_values,
        "status": statuses | json_values,
    },
)
any_payload = json_values | envelopes | data_objects


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(payload=any_payload, offset=st.floats(min_value=-1e6, max_value=1e12))
def test_from_payload_returns_a_state_or_raises_payload_error(
    payload: object, offset: float
) -> None:
    try:
        state = TaskState.from_payload(payload, task_id="t")
    except PayloadError:
        return
    except BaseException as exc:  # anything else is a bug
        pytest.fail(f"from_payload raised {type(exc).__name__}: {exc!r} for {payload!r}")
    assert isinstance(state, TaskState)
    assert state.task_id == "t"
    assert state.progress is None or 0 <= state.progress <= 100
    for stamp in (state.submit_time, state.start_time, state.finish_time):
        assert stamp is None or (math.isfinite(stamp) and stamp > 0)
    timings = state.timings(T0 + offset)
    for value in (timings.queue, timings.run, timings.total):
        assert value is None or value >= 0, timings


# -- task IDs ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "task_id",
    [
        "image_a8813a4b4c9",
        "video_a8813a4b4c9",
        "task-abc123",
        "A.b-c_9",
        "a.b",
        ".hidden",
        "x" * TASK_ID_MAX_LENGTH,
        "7",
    ],
)
def test_valid_task_ids(task_id: str) -> None:
    assert validate_task_id(task_id) == task_id


@pytest.mark.parametrize(
    "task_id",
    [
        "",
        "x" * (TASK_ID_MAX_LENGTH + 1),
        "a/b",
        "../x",
        "a?b",
        "a#b",
        "a%2fb",
        "a b",
        "a\tb",
        "a\nb",
        "abc\n",
        "..",
        "a..b",
        ".",
        "ímage_1",
        "日本",
        "a\x00b",
        "a\x1b[31m",
        "a\u202eb",
        "a\\b",
        "a:b",
        "a;b",
        "a+b",
    ],
)
def test_invalid_task_ids(task_id: str) -> None:
    with pytest.raises(InvalidTaskIdError) as caught:
        validate_task_id(task_id)
    message = str(caught.value)
    assert isinstance(caught.value, ValueError)
    shown = task_id if len(task_id) <= TASK_ID_MAX_LENGTH else task_id[:40]
    assert repr(shown).strip("'") in message  # the message names the ID
    assert "\n" not in message
    assert "\x1b" not in message
    assert "\x00" not in message


# -- kinds -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("task_id", "kind"),
    [
        ("video_abc", TaskKind.VIDEO),
        ("image_abc", TaskKind.IMAGE),
        ("3d_abc", TaskKind.MODEL_3D),
        ("3dabc", TaskKind.AUTO),
        ("task-abc", TaskKind.AUTO),
        ("VIDEO_abc", TaskKind.AUTO),
        ("videoabc", TaskKind.AUTO),
        ("my_video_abc", TaskKind.AUTO),
        ("", TaskKind.AUTO),
    ],
)
def test_kind_guess(task_id: str, kind: TaskKind) -> None:
    assert TaskKind.guess(task_id) is kind


@pytest.mark.parametrize(
    ("kind", "task_id", "expected"),
    [
        (TaskKind.IMAGE, "video_abc", (TaskKind.IMAGE,)),
        (TaskKind.VIDEO, "image_abc", (TaskKind.VIDEO,)),
        (TaskKind.MODEL_3D, "image_abc", (TaskKind.MODEL_3D,)),
        (TaskKind.AUTO, "video_abc", (TaskKind.VIDEO, TaskKind.IMAGE, TaskKind.MODEL_3D)),
        (TaskKind.AUTO, "image_abc", (TaskKind.IMAGE, TaskKind.VIDEO, TaskKind.MODEL_3D)),
        (TaskKind.AUTO, "3d_abc", (TaskKind.MODEL_3D, TaskKind.IMAGE, TaskKind.VIDEO)),
        (TaskKind.AUTO, "task-abc", (TaskKind.IMAGE, TaskKind.VIDEO, TaskKind.MODEL_3D)),
    ],
)
def test_endpoints_to_try(kind: TaskKind, task_id: str, expected: tuple[TaskKind, ...]) -> None:
    assert kind.endpoints_to_try(task_id) == expected
    assert TaskKind.AUTO not in expected


# -- WatchedTask -------------------------------------------------------------------------


def test_observe_appends_history_only_on_status_change() -> None:
    task = WatchedTask("image_abc", kind=TaskKind.IMAGE, added_at=T0)
    task.last_error = "HTTP 502 server error"
    task.not_found = True
    assert task.observe(parse(status="QUEUED", submit_time=T0), at=T0 + 1) is True
    assert task.last_error is None
    assert task.not_found is False
    assert task.observe(parse(status="QUEUED", submit_time=T0), at=T0 + 5) is False
    assert task.observe(parse(status="IN_PROGRESS", progress="10%"), at=T0 + 9) is True
    assert task.observe(parse(status="IN_PROGRESS", progress="50%"), at=T0 + 13) is False
    assert task.observe(parse(status="SUCCESS", progress="100%"), at=T0 + 17) is True
    assert task.history == [
        StatusChange("QUEUED", T0 + 1),
        StatusChange("IN_PROGRESS", T0 + 9),
        StatusChange("SUCCESS", T0 + 17),
    ]
    assert task.last_polled_at == T0 + 17
    assert task.status is TaskStatus.SUCCESS
    assert task.is_final


def test_a_new_task_has_no_status() -> None:
    task = WatchedTask("task-1")
    assert task.status is None
    assert not task.is_final
    assert task.history == []


def test_watched_task_json_round_trip_with_history() -> None:
    task = WatchedTask("video_abc", kind=TaskKind.VIDEO, label="fox [b]clip[/b]", added_at=T0)
    full = body(
        task_id="video_abc",
        status="FAILURE",
        progress="37%",
        fail_reason="GPU worker out of memory\nsecond line",
        submit_time=T0,
        start_time=str(T0 + 30),
        finish_time=T0 + 45,
        action="videoGenerate",
        queue_position=2,
    )
    full["message"] = "note"
    task.observe(parse(status="QUEUED", submit_time=T0), at=T0 + 2.5)
    task.observe(TaskState.from_payload(full, task_id="video_abc"), at=T0 + 50.25)
    task.last_error = "HTTP 503 server error"

    text = json.dumps(task.to_json(), allow_nan=False)
    restored = WatchedTask.from_json(json.loads(text))

    assert restored == task
    assert restored.state is not None and task.state is not None
    assert restored.state.raw == task.state.raw
    assert restored.state.message == "note"
    assert restored.history == [
        StatusChange("QUEUED", T0 + 2.5),
        StatusChange("FAILURE", T0 + 50.25),
    ]
    assert restored.label == "fox [b]clip[/b]"


def test_watched_task_round_trip_without_state() -> None:
    task = WatchedTask("task-1", label="", added_at=T0, last_error="timed out", not_found=True)
    restored = WatchedTask.from_json(json.loads(json.dumps(task.to_json())))
    assert restored == task


def test_from_json_drops_an_unparseable_state_but_keeps_the_task() -> None:
    entry = WatchedTask("image_abc", added_at=T0).to_json()
    entry["state"] = {"data": None, "message": ""}
    restored = WatchedTask.from_json(entry)
    assert restored.task_id == "image_abc"
    assert restored.state is None


@pytest.mark.parametrize(
    "entry",
    [
        None,
        [],
        "image_abc",
        {},
        {"task_id": 5},
        {"task_id": "../etc"},
        {"task_id": "ok", "kind": "audio"},
    ],
)
def test_from_json_rejects_unusable_entries(entry: Any) -> None:
    with pytest.raises(PayloadError):
        WatchedTask.from_json(entry)


# -- report ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (None, "-"),
        (0, "0s"),
        (0.4, "0s"),
        (5.2, "5s"),
        (59.9, "59s"),
        (60, "1m 00s"),
        (65, "1m 05s"),
        (3599, "59m 59s"),
        (3600, "1h 00m"),
        (3725, "1h 02m"),
        (86399, "23h 59m"),
        (86400, "1d 00h"),
        (86400 + 3 * 3600 + 59, "1d 03h"),
        (10 * 86400, "10d 00h"),
        (math.nan, "-"),
        (math.inf, "-"),
        (-math.inf, "-"),
        (-5, "0s"),
    ],
)
def test_format_duration(seconds: float | None, text: str) -> None:
    assert format_duration(seconds) == text


def test_json_fields_are_the_design_fields() -> None:
    assert tuple(JSON_FIELDS) == README_JSON_FIELDS


def test_task_record_of_a_finished_task() -> None:
    task = WatchedTask("image_abc", kind=TaskKind.IMAGE, label="fox", added_at=T0)
    state = parse(
        status="SUCCESS",
        outputs=["https://x/a.png", "https://x/\x1b[2Jb.png"],
        submit_time=T0,
        start_time=T0 + 30,
        finish_time=T0 + 166.0004,
    )
    task.observe(state, at=T0 + 170)
    record = task_record(task, now=T0 + 999)
    assert list(record) == list(README_JSON_FIELDS)
    assert record == {
        "task_id": "image_abc",
        "kind": "image",
        "label": "fox",
        "model": None,
        "status": "SUCCESS",
        "progress": 100,
        "outputs": ["https://x/a.png", "https://x/b.png"],
        "fail_reason": "",
        "submit_time": float(T0),
        "start_time": float(T0 + 30),
        "finish_time": T0 + 166.0004,
        "queue_seconds": 30.0,
        "run_seconds": 136.0,
        "total_seconds": 166.0,
        "eta_seconds": None,
        "stalled": False,
        "last_polled_at": T0 + 170,
        "error": None,
    }
    json.dumps(record, allow_nan=False)


def test_task_record_of_a_running_task_ticks() -> None:
    task = WatchedTask("video_abc", kind=TaskKind.VIDEO)
    task.observe(parse(status="IN_PROGRESS", progress="45%", submit_time=T0, start_time=T0 + 3), T0)
    record = task_record(task, now=T0 + 10)
    assert set(record) == set(README_JSON_FIELDS)
    assert (record["queue_seconds"], record["run_seconds"], record["total_seconds"]) == (
        3.0,
        7.0,
        10.0,
    )
    assert record["progress"] == 45
    assert record["status"] == "IN_PROGRESS"
    assert (record["eta_seconds"], record["stalled"]) == (None, False)  # no estimator


def test_task_record_with_an_estimator_has_eta_and_stall() -> None:
    task = WatchedTask("video_abc", kind=TaskKind.VIDEO)
    task.observe(parse(status="IN_PROGRESS", progress="50%", submit_time=T0, start_time=T0), T0)
    estimator = Estimator()
    estimator.observe(task, T0 + 30)
    record = task_record(task, now=T0 + 40, estimator=estimator)
    # 50% in 30 s: due at 60 s, 20 s from now
    assert (record["eta_seconds"], record["stalled"]) == (20.0, False)
    record = task_record(task, now=T0 + 100, estimator=estimator)
    assert (record["eta_seconds"], record["stalled"]) == (-40.0, True)
    json.dumps(record, allow_nan=False)


@pytest.mark.parametrize(("not_found", "status"), [(False, "PENDING"), (True, "NOT_FOUND")])
def test_task_record_without_state(not_found: bool, status: str) -> None:
    task = WatchedTask("task-1", label="x", not_found=not_found, last_error="boom")
    record = task_record(task, now=T0)
    assert list(record) == list(README_JSON_FIELDS)
    assert record["status"] == status
    assert record["progress"] is None
    assert record["outputs"] == []
    assert record["error"] == "boom"
    assert record["kind"] == "auto"
    for name in ("submit_time", "queue_seconds", "run_seconds", "total_seconds"):
        assert record[name] is None
    json.dumps(record, allow_nan=False)


def test_copy_keeps_every_field() -> None:
    """copy() lists the fields by hand (for speed); a new field must be added there."""
    names = {f.name for f in dataclasses.fields(WatchedTask)}
    task = WatchedTask(
        "image_a",
        kind=TaskKind.IMAGE,
        label="x",
        added_at=1.0,
        state=TaskState.from_payload({"data": {"status": "QUEUED"}}, task_id="image_a"),
        last_polled_at=2.0,
        last_error="e",
        not_found=True,
        history=[StatusChange("QUEUED", 1.5)],
        request=TaskRequest(TaskKind.IMAGE, "m/x", "a fox", {"seed": 7}),
    )
    copied = task.copy()
    assert names == {
        "task_id",
        "kind",
        "label",
        "added_at",
        "state",
        "last_polled_at",
        "last_error",
        "not_found",
        "history",
        "request",
    }
    for name in names:
        assert getattr(copied, name) == getattr(task, name), name
    assert copied.history is not task.history


def test_from_json_reads_both_history_forms() -> None:
    entry = {
        "task_id": "image_a",
        "history": [
            {"status": "QUEUED", "seen_at": 10.0},
            ["IN_PROGRESS", 20.0],
            ["bad"],
            [1, 2],
            "junk",
        ],
    }
    task = WatchedTask.from_json(entry)
    assert task.history == [StatusChange("QUEUED", 10.0), StatusChange("IN_PROGRESS", 20.0)]
