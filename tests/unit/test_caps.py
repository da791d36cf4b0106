"""Hostile text and sizes from a server: what is cleaned, what is cut, and the markers."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from siray_tui.config import load_settings
from siray_tui.core import limits
from siray_tui.core.errors import ConfigError, UnsafeUrlError
from siray_tui.core.models import TaskState, cap_outputs, cap_text
from siray_tui.core.store import WatchlistStore
from siray_tui.core.text import check_url, clean_text


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("a\u061cb", "ab"),  # Arabic letter mark
        ("a\u200bb", "ab"),  # zero width space
        ("a\ufeffb", "ab"),  # zero width no-break space / BOM
        ("a\u00adb", "ab"),  # soft hyphen
        ("a\u2060b", "ab"),  # word joiner
        ("x\u200dy", "xy"),  # a joiner between ASCII letters only hides something
        ("lone \ud800 surrogate", "lone \ufffd surrogate"),
        ("escaped \udcff byte", "escaped \ufffd byte"),
        ("line\u2028break", "line break"),
        ("no-break\u00a0space", "no-break\u00a0space"),
    ],
)
def test_format_characters_and_surrogates_never_pass(raw: str, expected: str) -> None:
    assert clean_text(raw) == expected
    assert clean_text(raw, multiline=True) == expected.replace("line break", "line\nbreak")
    clean_text(raw).encode("utf-8")  # printable: never an UnicodeEncodeError


@pytest.mark.parametrize("char", ["\u200b", "\u061c", "\ufeff", "\ud800", "\u00a0"])
def test_url_with_an_invisible_character_is_refused(char: str) -> None:
    with pytest.raises(UnsafeUrlError):
        check_url(f"https://cdn.example.com/a{char}b.png")


def test_cap_text_marks_what_it_cut_and_is_stable() -> None:
    capped = cap_text("x" * 10_000, 100)
    assert len(capped) == 100
    assert capped.endswith("… (9,925 more characters)")
    assert cap_text(capped, 100) == capped  # read back from the watchlist: unchanged
    assert cap_text("short", 100) == "short"


def test_cap_outputs_counts_the_dropped() -> None:
    urls = [f"https://cdn.example.com/{i}.png" for i in range(limits.MAX_OUTPUTS + 4000)]
    kept, more = cap_outputs(urls)
    assert len(kept) == limits.MAX_OUTPUTS
    assert more == 4000


def test_a_state_cut_down_parses_back_to_itself() -> None:
    data = {
        "status": "FAILURE",
        "fail_reason": "r" * 200_000,
        "outputs": [f"https://cdn.example.com/{i}.png" for i in range(5000)],
        "padding": "p" * 100_000,
    }
    state = TaskState.from_payload({"data": data}, task_id="t")
    assert len(state.fail_reason) == limits.MAX_FAIL_REASON
    assert state.output_count == 5000
    assert len(state.outputs) == limits.MAX_OUTPUTS
    assert "padding" not in state.raw
    again = TaskState.from_payload({"data": dict(state.raw)}, task_id="t")
    assert again == state
    assert again.outputs_more == 4000


def test_request_deadline_is_a_setting_with_a_sane_range(tmp_path: Path) -> None:
    environ = {"SIRAY_TUI_CONFIG": str(tmp_path / "none.toml")}
    (tmp_path / "none.toml").write_text("request_deadline = 2.5\n", "utf-8")
    assert load_settings({}, environ).request_deadline == 2.5
    assert load_settings({"request_deadline": "0.5"}, environ).request_deadline == 0.5
    for bad in ("0", "-1", "nan", "1e9"):
        with pytest.raises(ConfigError, match="request_deadline"):
            load_settings({"request_deadline": bad}, environ)


def test_a_watchlist_written_before_the_caps_loads_capped(tmp_path: Path) -> None:
    """A file from a version without caps: its huge entry is cut on load, not kept."""
    data = {
        "status": "FAILURE",
        "fail_reason": "r" * 1_000_000,
        "outputs": [f"https://cdn.example.com/{i}.png" for i in range(5000)],
    }
    entry = {"task_id": "image_big", "kind": "image", "state": {"data": data, "message": ""}}
    (tmp_path / "watchlist.json").write_text(json.dumps({"version": 1, "tasks": [entry]}), "ascii")
    store = WatchlistStore(tmp_path)
    state = store.load()["image_big"].state
    assert state is not None
    assert len(state.fail_reason) == limits.MAX_FAIL_REASON
    assert len(state.outputs) == limits.MAX_OUTPUTS
    assert state.output_count == 5000
    assert len(json.dumps(dict(state.raw))) < 2 * limits.MAX_RAW_JSON


def test_answer_nested_too_deep_to_clean_keeps_its_fields() -> None:
    # The surrogate makes the whole object be walked to replace it: 950 levels deep is
    # more than the recursion limit allows once the test's own frames are counted.
    text = '{"status": "FAILURE", "fail_reason": "\\ud800", "x": ' + "[" * 950 + "]" * 950 + "}"
    nested = json.loads(text)
    state = TaskState.from_payload({"data": nested}, task_id="t")
    assert state.raw["status"] == "FAILURE"
    assert state.raw["fail_reason"] == "\ufffd"
    assert "x" not in state.raw
