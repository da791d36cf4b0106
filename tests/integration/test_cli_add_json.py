"""``siray-tui add -`` takes what users have: bare IDs, the API's answers, our ``--json`` lines."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest

from siray_tui.cli import main


def add_stdin(data_dir: Path, stdin: str, capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    code = main(["--data-dir", str(data_dir), "add", "-"], stdin=io.StringIO(stdin))
    captured = capsys.readouterr()
    return code, captured.out + captured.err


def saved_ids(data_dir: Path) -> list[str]:
    saved = json.loads((data_dir / "watchlist.json").read_text())
    return [task["task_id"] for task in saved["tasks"]]


def test_json_lines_give_their_task_id(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    stdin = "\n".join(
        [
            # the API's answer to a submission
            '{"code":"success","message":"","data":{"task_id":"image_from_api"}}',
            # a query answer keeps the same shape, with more fields
            '{"code": "success", "data": {"task_id": "video_queried", "status": "QUEUED"}}',
            '{"id": "plain_id"}',
            "bare_1, bare_2",
            '{"task_id": "ndjson_1", "status": "SUCCESS"}{"task_id": "ndjson_2"}',
            '"quoted_id"',  # what `jq .data.task_id` prints
        ]
    )
    code, output = add_stdin(tmp_path, stdin, capsys)
    assert code == 0, output
    assert "Added 8 tasks" in output
    assert saved_ids(tmp_path) == [
        "image_from_api",
        "video_queried",
        "plain_id",
        "bare_1",
        "bare_2",
        "ndjson_1",
        "ndjson_2",
        "quoted_id",
    ]


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ('{"id": "c", "data": {"task_id": "b"}, "task_id": "a"}', "a"),
        ('{"id": "c", "data": {"task_id": "b"}}', "b"),
        ('{"id": "c", "data": {"status": "QUEUED"}}', "c"),
        ('{"task_id": null, "id": "c"}', "c"),
    ],
)
def test_task_id_then_data_task_id_then_id(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], line: str, expected: str
) -> None:
    code, output = add_stdin(tmp_path, line + "\n", capsys)
    assert code == 0, output
    assert saved_ids(tmp_path) == [expected]


def test_our_own_json_output_pipes_straight_in(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    first, second = tmp_path / "first", tmp_path / "second"
    ids = ["image_aaa", "video_bbb", "plain-ccc"]
    assert main(["--data-dir", str(first), "add", *ids], stdin=io.StringIO()) == 0
    capsys.readouterr()
    assert main(["--data-dir", str(first), "list", "--json"], stdin=io.StringIO()) == 0
    listed = capsys.readouterr().out
    assert len(listed.splitlines()) == 3
    code, output = add_stdin(second, listed, capsys)
    assert code == 0, output
    assert saved_ids(second) == ids


def test_a_json_array_of_objects_and_strings(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    stdin = json.dumps(
        [{"task_id": "image_1"}, "image_2", {"data": {"task_id": "image_3"}}], indent=2
    )
    code, output = add_stdin(tmp_path, stdin, capsys)
    assert code == 0, output
    assert saved_ids(tmp_path) == ["image_1", "image_2", "image_3"]


def test_a_pretty_printed_api_answer(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """What ``curl ... | jq .`` shows: one object over several lines."""
    stdin = json.dumps({"code": "success", "data": {"task_id": "video_pretty"}}, indent=2)
    code, output = add_stdin(tmp_path, stdin, capsys)
    assert code == 0, output
    assert saved_ids(tmp_path) == ["video_pretty"]


def test_json_without_an_id_is_invalid_by_line_number(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    stdin = "\n".join(
        [
            '{"task_id": "good_1"}',
            '{"code": "error", "message": "quota exceeded"}',
            "good_2",
            '{"task_id": "broken"',
            '[{"task_id": "good_3"}, 42]',
            "bad/id",
            '{"task_id": "good_4"}',
        ]
    )
    code = main(["--data-dir", str(tmp_path), "add", "-"], stdin=io.StringIO(stdin))
    captured = capsys.readouterr()
    assert code == 2
    assert saved_ids(tmp_path) == ["good_1", "good_2", "good_3", "good_4"]
    assert "Added 4 tasks, 4 invalid" in captured.out
    errors = captured.err.splitlines()
    assert len(errors) == 4, captured.err
    assert errors[0].startswith("siray-tui: line 2: ")
    assert "task_id" in errors[0]
    assert errors[1].startswith("siray-tui: line 4: ")
    assert "JSON" in errors[1]
    assert errors[2].startswith("siray-tui: line 5: ")
    assert errors[3].startswith("siray-tui: line 6: ")
    assert "'bad/id'" in errors[3]


def test_hostile_stdin_is_one_line_per_problem(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A byte that is not UTF-8, and JSON nested past the parser's depth, lose nothing."""
    stdin = io.TextIOWrapper(io.BytesIO(b"good_1\n\xff\xfe\n" + b"[" * 100_000 + b"\ngood_2\n"))
    code = main(["--data-dir", str(tmp_path), "add", "-"], stdin=stdin)
    captured = capsys.readouterr()
    assert code == 2
    assert saved_ids(tmp_path) == ["good_1", "good_2"]
    errors = captured.err.splitlines()
    assert [e.split(":")[1] for e in errors] == [" line 2", " line 3"], errors
    assert "Traceback" not in captured.err
