"""One list of columns serves the dashboard's table, its sort cycle, the CLI's ``list``
table and the ``--json`` record: a column added to it shows in all four."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest
from textual.widgets.data_table import ColumnKey

from siray_tui.cli import main
from siray_tui.cli.output import print_tasks
from siray_tui.core.columns import COLUMNS, JSON_FIELDS, SORT_KEYS, task_record
from tests.ui.conftest import AppFactory, ready, table
from tests.ui.fixtures import NOW, every_status, fill_store, make_task, settings_for

# ``siray-tui list`` of every_status() at NOW, as printed before the columns became
# objects (issue 11): the refactoring must not change a character of it. The ETA column
# came later: the finished tasks of every_status() give the others their ETA; so did
# the MODEL column (from the stored request; "-" for tasks added by ID). From 10% on, a
# running task's ETA is its own progress alone (issue 15).
LIST_BEFORE = """\
TASK                           KIND   MODEL  STATUS              PROGRESS  QUEUE   RUN      TOTAL    ETA       OUT  UPDATED  REASON
hero shot (image_a8813a4b4c9)  image  -      SUCCESS             100%      12s     1m 35s   1m 47s   -         4    2s ago
video_5f2e0c1d7a               video  -      SUCCESS             100%      40s     10m 10s  10m 50s  -         1    2s ago
banner 4k (image_0b91c2f3aa)   image  -      FAILURE             0%        5s      -        5s       -         0    2s ago   invalid image size 4096x4096: maximum is 2048x2048
video_77aa1290bc               video  -      FAILURE             37%       20s     2m 20s   2m 40s   -         0    2s ago   GPU worker out of memory (CUDA error: out of memory)
product 12 (image_4c5d6e7f80)  image  -      IN_PROGRESS         45%       8s      1m 02s   1m 10s   ~1m 15s   0    2s ago
video_1234abcd99               video  -      IN_PROGRESS         82%       30s     4m 30s   5m 00s   ~59s      0    2s ago
image_9988776655               image  -      QUEUED              0%        25s     -        25s      ~1m 35s   0    2s ago
video_c0ffee0001               video  -      SUBMITTED           0%        6s      -        6s       ~10m 34s  0    2s ago
image_beef000042               image  -      NOT_START           0%        2s      -        2s       ~1m 41s   0    2s ago
task-5e6f7a8b9c0d              image  -      PAUSED_BY_PROVIDER  0%        15s     1m 45s   2m 00s   +10s      0    2s ago
image_deadbeef00               image  -      NOT_FOUND           -         -       -        -        -         0    40s ago  not found
just added (image_0000000001)  image  -      PENDING             -         -       -        -        -         0    never
video_5a5a5a5a5a               video  -      IN_PROGRESS         12%       1m 00s  2m 20s   3m 20s   ~17m 06s  0    9s ago   HTTP 503 server error: upstream overloaded
auto kind (task-aa00bb11cc22)  auto   -      QUEUED              0%        44s     -        44s      -         0    2s ago
"""  # noqa: E501 (the table is as wide as it is)


def test_list_table_is_unchanged() -> None:
    out = io.StringIO()
    print_tasks(every_status(), NOW, out)
    assert out.getvalue() == LIST_BEFORE


def test_list_reason_is_one_cleaned_line_of_80() -> None:
    """The list's reason keeps its own, shorter cut (the dashboard's is 200)."""
    task = make_task("image_long000001", "FAILURE", fail_reason="\x07" + "x" * 100 + "\nmore")
    out = io.StringIO()
    print_tasks([task], NOW, out)
    assert out.getvalue().splitlines()[1].endswith("  " + "x" * 79 + "…")


async def test_every_column_shows_in_table_sort_cycle_list_and_json(
    make_app: AppFactory,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    keys = [column.key for column in COLUMNS]
    app = make_app()
    async with app.run_test(size=(200, 40)) as pilot:
        await ready(pilot)
        grid = table(app)
        # the table: a column per entry, in order, with its header
        assert [key.value for key in grid.columns] == keys
        for column in COLUMNS:
            assert str(grid.columns[ColumnKey(column.key)].label).startswith(column.header)
        # the sort cycle: ``s`` reaches every column, then comes back to "added"
        cycled = []
        for _ in range(len(COLUMNS) + 1):
            await pilot.press("s")
            cycled.append(grid.sort_column)
        assert cycled == [*keys, "added"]
        # a header click sorts by any column
        for key in keys:
            grid.set_sort(key)
            assert grid.sort_column == key
    assert set(SORT_KEYS) == {"added", *keys}

    # the CLI's list table and --json, through the command itself
    for name in ("SIRAY_API_TOKEN", "SIRAY_API_KEY", "SIRAY_BASE_URL", "SIRAY_TUI_DATA_DIR"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("SIRAY_TUI_CONFIG", "")
    data_dir = settings_for(tmp_path / "cli").data_dir
    fill_store(data_dir, every_status())
    assert main(["--data-dir", str(data_dir), "list"]) == 0
    header = capsys.readouterr().out.splitlines()[0]
    assert header.split() == [column.header.upper() for column in COLUMNS]
    assert main(["--data-dir", str(data_dir), "list", "--json"]) == 0
    record = json.loads(capsys.readouterr().out.splitlines()[0])
    assert list(record) == list(JSON_FIELDS)
    for column in COLUMNS:
        assert column.fields, f"{column.key} adds nothing to --json"
        assert {field.name for field in column.fields} <= set(record)


def test_json_fields_have_one_owner_each() -> None:
    """A field is either a column's or a time field, never both (two values for one
    name would silently overwrite each other in the record)."""
    record = task_record(every_status()[0], NOW)
    assert len(JSON_FIELDS) == len(set(JSON_FIELDS)) == len(record)
