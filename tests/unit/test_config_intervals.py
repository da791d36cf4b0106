"""Per-kind poll intervals: 3D slower by default, ``--interval`` for every kind, and an
``[interval]`` table in config.toml for some."""

from __future__ import annotations

from pathlib import Path

import pytest

from siray_tui.config import Settings, load_settings
from siray_tui.core.errors import ConfigError
from siray_tui.core.models import TaskKind


def settings_from(
    tmp_path: Path,
    text: str,
    flags: dict[str, str] | None = None,
    environ: dict[str, str] | None = None,
) -> Settings:
    config = tmp_path / "config.toml"
    config.write_text(text)
    return load_settings({**(flags or {}), "config": str(config)}, environ=environ or {})


def intervals(settings: Settings) -> dict[TaskKind, float]:
    policy = settings.poll_policy()
    return {kind: policy.interval_for(kind) for kind in TaskKind}


def test_3d_polls_every_8_seconds_and_the_others_every_4(tmp_path: Path) -> None:
    settings = settings_from(tmp_path, "")
    assert intervals(settings) == {
        TaskKind.IMAGE: 4.0,
        TaskKind.VIDEO: 4.0,
        TaskKind.MODEL_3D: 8.0,
        TaskKind.AUTO: 4.0,  # not known yet: the image/video pace
    }


@pytest.mark.parametrize(
    ("text", "flags", "environ"),
    [
        ("", {"interval": "6"}, {}),
        ("", {}, {"SIRAY_TUI_INTERVAL": "6"}),
        ("interval = 6\n", {}, {}),
        ("[interval]\n3d = 20\n", {"interval": "6"}, {}),  # the flag beats the table
    ],
)
def test_one_interval_sets_every_kind(
    tmp_path: Path, text: str, flags: dict[str, str], environ: dict[str, str]
) -> None:
    settings = settings_from(tmp_path, text, flags, environ)
    assert set(intervals(settings).values()) == {6.0}


def test_an_interval_table_sets_the_kinds_it_names(tmp_path: Path) -> None:
    settings = settings_from(tmp_path, "[interval]\n3d = 10\nvideo = 5.5\n")
    assert intervals(settings) == {
        TaskKind.IMAGE: 4.0,
        TaskKind.VIDEO: 5.5,
        TaskKind.MODEL_3D: 10.0,
        TaskKind.AUTO: 4.0,
    }
    settings = settings_from(tmp_path, "[interval]\nimage = 2\n")
    assert intervals(settings) == {
        TaskKind.IMAGE: 2.0,
        TaskKind.VIDEO: 4.0,
        TaskKind.MODEL_3D: 8.0,
        TaskKind.AUTO: 2.0,
    }
    assert settings.interval_for("3d") == 8.0


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            "[interval]\n3d = 0.5\n",
            "interval.3d must be at least 1 second and at most 3600, got 0.5",
        ),
        ("[interval]\nvideo = 5000\n", "interval.video must be at least 1 second"),
        ("[interval]\n3d = 'slow'\n", "interval.3d ("),
        ("[interval]\n3d = true\n", "expected a number"),
        (
            "[interval]\naudio = 5\n",
            "unknown kind 'interval.audio' (known kinds: image, video, 3d)",
        ),
        ("[interval]\nauto = 5\n", "unknown kind 'interval.auto'"),
        ("[interval]\n3d = {a = 1}\n", "expected a number"),
    ],
)
def test_bad_interval_tables_are_one_line_errors(tmp_path: Path, text: str, message: str) -> None:
    with pytest.raises(ConfigError) as caught:
        settings_from(tmp_path, text)
    assert message in str(caught.value)
    assert "\n" not in str(caught.value)


def test_a_bad_table_is_refused_even_when_the_flag_overrides_it(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"interval\.3d must be"):
        settings_from(tmp_path, "[interval]\n3d = 0\n", {"interval": "5"})
