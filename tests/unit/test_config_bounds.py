"""Settings out of sane bounds, and config.toml keys that something else overrides."""

from __future__ import annotations

import io
from pathlib import Path

import pytest

from siray_tui.cli import main
from siray_tui.config import load_settings
from siray_tui.core.errors import ConfigError


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (
            {"rate": "1e-300"},
            "rate must be at least 0.1 and at most 1000 requests per second, got 1e-300",
        ),
        (
            {"rate": "0.05"},
            "rate must be at least 0.1 and at most 1000 requests per second, got 0.05",
        ),
        ({"interval": "1e300"}, "interval must be at least 1 second and at most 3600, got 1e+300"),
        ({"concurrency": "100000"}, "concurrency must be 1 to 64, got 100000"),
        (
            {"max_staleness": "0.5"},
            "max_staleness must be at least 1 second and at most 3600, got 0.5",
        ),
        (
            {"max_staleness": "1e9"},
            "max_staleness must be at least 1 second and at most 3600, got 1e+09",
        ),
    ],
)
def test_absurd_limits_are_refused_in_one_line(flags: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigError) as caught:
        load_settings(flags, environ={"SIRAY_TUI_CONFIG": ""})
    assert str(caught.value) == message


def test_rate_1e_minus_300_exits_2_at_once(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """It used to be accepted, and ``status`` then waited for ever for its first slot."""
    code = main(["--data-dir", str(tmp_path), "--rate", "1e-300", "list"], stdin=io.StringIO(""))
    err = capsys.readouterr().err
    assert code == 2
    assert err.splitlines() == [
        "siray-tui: error: rate must be at least 0.1 and at most 1000 requests per second, "
        "got 1e-300"
    ]


@pytest.mark.parametrize(
    ("text", "flags", "environ", "fragment"),
    [
        ("data_dir = 5\n", {}, {"SIRAY_TUI_DATA_DIR": "/tmp/x"}, "data_dir"),
        ("interval = 'soon'\n", {"interval": "5"}, {}, "interval"),
        ("rate = 0\n", {"rate": "5"}, {}, "rate must be at least 0.1"),
        ("max_staleness = 0\n", {}, {}, "max_staleness must be at least 1"),
        ("max_staleness = 'often'\n", {}, {}, "max_staleness"),
        ("log_level = 'loud'\n", {"log_level": "debug"}, {}, "log level must be one of"),
        ("base_url = 7\n", {}, {"SIRAY_BASE_URL": "https://x.example"}, "base_url"),
    ],
)
def test_every_config_file_key_is_checked_even_when_overridden(
    tmp_path: Path, text: str, flags: dict[str, str], environ: dict[str, str], fragment: str
) -> None:
    config = tmp_path / "config.toml"
    config.write_text(text)
    with pytest.raises(ConfigError) as caught:
        load_settings({**flags, "config": str(config)}, environ=environ)
    assert fragment in str(caught.value)
    assert "\n" not in str(caught.value)


def test_max_staleness_from_config_toml_reaches_the_poll_policy(tmp_path: Path) -> None:
    config = tmp_path / "config.toml"
    config.write_text("max_staleness = 45\n")
    settings = load_settings({"config": str(config)}, environ={})
    assert settings.max_staleness == 45.0
    assert settings.poll_policy().max_staleness == 45.0
    assert load_settings({}, environ={"SIRAY_TUI_CONFIG": ""}).poll_policy().max_staleness == 30.0
