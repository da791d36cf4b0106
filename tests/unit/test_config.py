"""Settings precedence (flags > environment > config.toml > defaults) and one-line errors."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from siray_tui.config import RedactingFilter, Settings, load_settings, setup_logging
from siray_tui.core.errors import ConfigError
from siray_tui.core.secret import Secret


def write_config(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "config.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_defaults_without_anything(tmp_path: Path) -> None:
    settings = load_settings({"config": None}, environ={"SIRAY_TUI_CONFIG": ""})
    assert settings.base_url == "https://api.siray.ai"
    assert settings.token is None
    assert settings.interval == 4.0
    assert settings.concurrency == 8
    assert settings.rate == 10.0
    assert settings.data_dir.name == "siray-tui"


def test_xdg_data_home_is_honoured(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))
    settings = load_settings({}, environ={})
    assert settings.data_dir == tmp_path / "xdg" / "siray-tui"


def test_precedence_flag_env_file(tmp_path: Path) -> None:
    config = write_config(
        tmp_path, 'interval = 7\nrate = 3\nconcurrency = 2\nbase_url = "https://file.example"\n'
    )
    env = {
        "SIRAY_TUI_CONFIG": str(config),
        "SIRAY_TUI_INTERVAL": "6",
        "SIRAY_BASE_URL": "https://env.example/",
    }
    settings = load_settings({"interval": "5"}, environ=env)
    assert settings.interval == 5.0  # flag beats environment
    assert settings.base_url == "https://env.example"  # environment beats file; slash trimmed
    assert settings.rate == 3.0  # file beats default
    assert settings.concurrency == 2
    assert settings.config_path == config


def test_token_sources_in_order(tmp_path: Path) -> None:
    config = write_config(tmp_path, 'token = "from-file"\n')
    both = {"SIRAY_TUI_CONFIG": str(config), "SIRAY_API_TOKEN": "tok-a", "SIRAY_API_KEY": "tok-b"}
    assert load_settings({}, environ=both).token == Secret("tok-a")
    key_only = {"SIRAY_TUI_CONFIG": str(config), "SIRAY_API_KEY": "tok-b"}
    settings = load_settings({}, environ=key_only)
    assert settings.token == Secret("tok-b")
    assert settings.token_source == "SIRAY_API_KEY"
    file_only = load_settings({}, environ={"SIRAY_TUI_CONFIG": str(config)})
    assert file_only.token == Secret("from-file")
    assert "from-file" not in repr(file_only)


@pytest.mark.parametrize(
    ("flags", "fragment"),
    [
        ({"interval": "0"}, "interval must be at least 1"),
        ({"interval": "abc"}, "interval (command line): expected a number"),
        ({"interval": "nan"}, "expected a finite number"),
        ({"concurrency": "0"}, "concurrency must be 1 to 64"),
        ({"rate": "-1"}, "rate must be at least 0.1"),
        ({"base_url": "ftp://x"}, "base URL must be http(s)"),
        ({"base_url": "http://api.example.com"}, "refusing plain http base URL"),
        ({"log_level": "loud"}, "log level must be one of"),
    ],
)
def test_bad_values_give_one_clear_line(flags: dict[str, str], fragment: str) -> None:
    with pytest.raises(ConfigError) as caught:
        load_settings(flags, environ={"SIRAY_TUI_CONFIG": ""})
    message = str(caught.value)
    assert fragment in message
    assert "\n" not in message


def test_insecure_allows_plain_http() -> None:
    settings = load_settings({"base_url": "http://api.example.com", "insecure": True}, environ={})
    assert settings.base_url == "http://api.example.com"


def test_loopback_http_is_allowed_and_marks_loopback_outputs_fetchable() -> None:
    settings = load_settings({"base_url": "http://127.0.0.1:8765"}, environ={})
    assert settings.allow_loopback_http
    assert not Settings().allow_loopback_http


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("interval = [", "is not valid TOML"),
        ("colour = 'red'\n", "unknown key 'colour'"),
        ("interval = 'fast'\n", "expected a number"),
        ("insecure = 'maybe'\n", "expected true or false"),
        ("concurrency = 2.5\n", "expected a whole number"),
    ],
)
def test_bad_config_file(tmp_path: Path, text: str, fragment: str) -> None:
    config = write_config(tmp_path, text)
    with pytest.raises(ConfigError) as caught:
        load_settings({"config": str(config)}, environ={})
    assert fragment in str(caught.value)
    assert "\n" not in str(caught.value)


def test_named_config_file_must_exist(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="does not exist"):
        load_settings({"config": str(tmp_path / "missing.toml")}, environ={})


def test_unreadable_config_file(tmp_path: Path) -> None:
    directory = tmp_path / "dir.toml"
    directory.mkdir()
    with pytest.raises(ConfigError, match="cannot read config file"):
        load_settings({"config": str(directory)}, environ={})


def test_log_file_redacts_the_token(tmp_path: Path) -> None:
    settings = Settings(token=Secret("sk-very-secret"), log_level="debug")
    path = setup_logging(settings, log_dir=tmp_path)
    assert path is not None
    logger = logging.getLogger("siray_tui.test")
    try:
        logger.debug("header was Bearer %s", "sk-very-secret")
        logger.info("token sk-very-secret in the message itself")
    finally:
        for handler in list(logging.getLogger("siray_tui").handlers):
            handler.close()
            logging.getLogger("siray_tui").removeHandler(handler)
    text = path.read_text(encoding="utf-8")
    assert "sk-very-secret" not in text
    assert text.count("********") == 2


def test_redacting_filter_without_token_passes_records() -> None:
    record = logging.LogRecord("x", logging.INFO, __file__, 1, "hello %s", ("there",), None)
    assert RedactingFilter(None).filter(record)
    assert record.getMessage() == "hello there"
