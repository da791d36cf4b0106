"""Settings from flags, then the environment, then ``config.toml``, then defaults.

The names are an interface (README.md, "Configuration"): scripts and shells set them, so a
typo in config.toml is an error rather than silently ignored. Every bad value becomes a
:class:`~siray_tui.core.errors.ConfigError` whose message is one line naming the setting.
"""

from __future__ import annotations

import logging
import logging.handlers
import math
import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Final
from urllib.parse import urlsplit

import platformdirs

from siray_tui.core.client import DEFAULT_BASE_URL, DEFAULT_DEADLINE, SirayClient, check_base_url
from siray_tui.core.clock import Clock
from siray_tui.core.downloads import Downloader
from siray_tui.core.errors import ConfigError
from siray_tui.core.models import TaskKind
from siray_tui.core.notify import parse_events
from siray_tui.core.policy import PollPolicy
from siray_tui.core.secret import Secret
from siray_tui.core.text import host_scope, is_loopback_host
from siray_tui.core.thumbs import ThumbCache

APP_NAME: Final = "siray-tui"
TOKEN_ENV_VARS: Final = ("SIRAY_API_TOKEN", "SIRAY_API_KEY")
LOG_LEVELS: Final = ("debug", "info", "warning", "error")
MIN_INTERVAL: Final = 1.0
MAX_INTERVAL: Final = 3600.0
MAX_CONCURRENCY: Final = 64
MIN_RATE: Final = 0.1
MAX_RATE: Final = 1000.0
MAX_DEADLINE: Final = 3600.0
MIN_STALENESS: Final = 1.0
MAX_STALENESS: Final = 3600.0
LOOPBACK_TOKEN: Final = "demo"  # noqa: S105 - the simulator on loopback takes any non-empty token
# Each kind's default interval; ``interval = N`` (flag, environment or file) sets them all,
# an ``[interval]`` table in config.toml sets some.
DEFAULT_INTERVALS: Final[Mapping[str, float]] = {"image": 4.0, "video": 4.0, "3d": 8.0}

# config.toml key -> (environment variable or None, type)
_KEYS: Final[dict[str, tuple[str | None, type]]] = {
    "base_url": ("SIRAY_BASE_URL", str),
    "token": (None, str),
    "data_dir": ("SIRAY_TUI_DATA_DIR", Path),
    "download_dir": ("SIRAY_TUI_DOWNLOAD_DIR", Path),
    "interval": ("SIRAY_TUI_INTERVAL", float),
    "concurrency": (None, int),
    "rate": (None, float),
    "max_staleness": (None, float),
    "request_deadline": (None, float),
    "insecure": (None, bool),
    "auto_download": (None, bool),
    "notify_toasts": (None, bool),
    "notify": (None, tuple),
    "max_download_bytes": (None, int),
    "log_level": (None, str),
}


def default_data_dir() -> Path:
    """platformdirs' user data path, so ``XDG_DATA_HOME`` is honoured."""
    return platformdirs.user_data_path(APP_NAME)


def default_config_path() -> Path:
    """platformdirs' user config path plus ``config.toml``."""
    return platformdirs.user_config_path(APP_NAME) / "config.toml"


def default_download_dir() -> Path:
    """The user's downloads folder plus ``siray``."""
    return platformdirs.user_downloads_path() / "siray"


def default_cache_dir() -> Path:
    """platformdirs' user cache path (the models list), so ``XDG_CACHE_HOME`` is honoured."""
    return platformdirs.user_cache_path(APP_NAME)


def default_log_dir() -> Path:
    """Where the rotated debug log goes."""
    return platformdirs.user_log_path(APP_NAME)


@dataclass(frozen=True)
class Settings:
    """Everything a command needs to know, resolved once at start-up."""

    base_url: str = DEFAULT_BASE_URL
    token: Secret | None = None
    token_source: str = ""
    data_dir: Path = field(default_factory=default_data_dir)
    config_path: Path = field(default_factory=default_config_path)
    download_dir: Path = field(default_factory=default_download_dir)
    cache_dir: Path = field(default_factory=default_cache_dir)
    interval: float = 4.0
    kind_intervals: Mapping[str, float] = field(default_factory=lambda: {"3d": 8.0})
    concurrency: int = 8
    rate: float = 10.0
    max_staleness: float = 30.0
    request_deadline: float = DEFAULT_DEADLINE
    insecure: bool = False
    auto_download: bool = False
    notify_toasts: bool = True
    notify: tuple[str, ...] = ()
    """Desktop notifications wanted (:data:`~siray_tui.core.notify.EVENTS`)."""
    max_download_bytes: int = 2 * 1024**3
    log_level: str = "warning"
    demo: bool = False

    @property
    def allow_loopback_http(self) -> bool:
        """Plain-http output URLs are fetched only from loopback, and only in demo or tests
        (a base URL on loopback means the simulator)."""
        host = urlsplit(self.base_url).hostname or ""
        return self.demo or is_loopback_host(host)

    @property
    def output_scope(self) -> str | None:
        """The kind of non-public address the base URL is at (``private``...), or None.

        Output URLs at such addresses are refused unless the API itself is at one.
        """
        return host_scope(urlsplit(self.base_url).hostname or "")

    @property
    def api_token(self) -> Secret | None:
        """The token requests carry: the configured one, else a dummy on loopback (the
        simulator, which takes any token, so ``--demo`` and local tests need no setup),
        else None. The one token rule: every client comes from :meth:`make_client`."""
        if self.token:
            return self.token
        return Secret(LOOPBACK_TOKEN) if self.allow_loopback_http else None

    @property
    def token_problem(self) -> str | None:
        """Why no client can be made (no token for a real API), in one line, or None."""
        if self.api_token is not None:
            return None
        return (
            "no API token: set SIRAY_API_TOKEN (export SIRAY_API_TOKEN=...), "
            f'or put token = "..." in {self.config_path}'
        )

    def make_client(self, clock: Clock | None = None) -> SirayClient:
        """The API client for these settings.

        Raises:
            ConfigError: no token (see :attr:`token_problem`), or an unusable one.
        """
        problem = self.token_problem
        if problem is not None:
            raise ConfigError(problem)
        return SirayClient(
            self.base_url,
            self.api_token,
            insecure=self.insecure,
            deadline=self.request_deadline,
            clock=clock,
        )

    def make_downloader(self) -> Downloader:
        """The downloader: into ``download_dir``, with the size cap and the URL policy
        (loopback http only for the demo and tests; a private address only when the API
        itself is at one). It never needs, nor sends, the token."""
        return Downloader(
            self.download_dir,
            allow_loopback_http=self.allow_loopback_http,
            allow_scope=self.output_scope,
            max_bytes=self.max_download_bytes,
        )

    def interval_for(self, kind: str) -> float:
        """Seconds between polls of a task of this kind (``interval`` unless the kind has
        its own in ``kind_intervals``; a kind not known yet polls at ``interval``)."""
        return self.kind_intervals.get(kind, self.interval)

    def make_thumbs(self) -> ThumbCache:
        """The preview cache in the user cache dir, with the downloads' URL policy."""
        return ThumbCache.for_cache(
            allow_loopback_http=self.allow_loopback_http, allow_scope=self.output_scope
        )

    def poll_policy(self, **changes: Any) -> PollPolicy:
        """How hard to poll: intervals, concurrency, rate and max_staleness from the
        settings (``changes`` override other PollPolicy fields, e.g. ``status``'s short
        backoff)."""
        fields: dict[str, Any] = {
            "interval": self.interval,
            "kind_intervals": {TaskKind(k): v for k, v in self.kind_intervals.items()},
            "concurrency": self.concurrency,
            "rate": self.rate,
            "max_staleness": self.max_staleness,
        }
        return PollPolicy(**(fields | changes))

    def with_overrides(self, **changes: Any) -> Settings:
        """A copy with some fields changed (the demo swaps base URL and directories)."""
        return replace(self, **changes)


def _convert(key: str, kind: type, value: object, source: str) -> Any:
    where = f"{key} ({source})"
    if kind is bool:
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.strip().lower() in ("1", "true", "yes", "on"):
            return True
        if isinstance(value, str) and value.strip().lower() in ("0", "false", "no", "off"):
            return False
        raise ConfigError(f"{where}: expected true or false, got {value!r}")
    if kind is int:
        if isinstance(value, bool) or not isinstance(value, int | str):
            raise ConfigError(f"{where}: expected a whole number, got {value!r}")
        try:
            return int(value)
        except ValueError:
            raise ConfigError(f"{where}: expected a whole number, got {value!r}") from None
    if kind is float:
        if isinstance(value, bool) or not isinstance(value, int | float | str):
            raise ConfigError(f"{where}: expected a number, got {value!r}")
        try:
            number = float(value)
        except ValueError:
            raise ConfigError(f"{where}: expected a number, got {value!r}") from None
        if not math.isfinite(number):
            raise ConfigError(f"{where}: expected a finite number, got {value!r}")
        return number
    if kind is tuple:  # the only list setting: notify
        try:
            return parse_events(value, where)
        except ValueError as exc:
            raise ConfigError(str(exc)) from None
    if kind is Path:
        if not isinstance(value, str | Path) or not str(value).strip():
            raise ConfigError(f"{where}: expected a path, got {value!r}")
        return Path(os.path.expandvars(str(value))).expanduser()
    if not isinstance(value, str):
        raise ConfigError(f"{where}: expected text, got {value!r}")
    return value


def read_config_file(path: Path, *, required: bool) -> dict[str, Any]:
    """The table in ``config.toml``; missing is fine unless the user named the file.

    Raises:
        ConfigError: unreadable file, bad TOML, or an unknown key.
    """
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        if required:
            raise ConfigError(f"config file {path} does not exist") from None
        return {}
    except OSError as exc:
        raise ConfigError(f"cannot read config file {path}: {exc.strerror or exc}") from None
    try:
        table = tomllib.loads(raw.decode("utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(f"config file {path} is not valid TOML: {exc}") from None
    unknown = sorted(set(table) - set(_KEYS))
    if unknown:
        known = ", ".join(_KEYS)
        raise ConfigError(f"config file {path}: unknown key {unknown[0]!r} (known keys: {known})")
    return table


def load_settings(
    flags: Mapping[str, Any] | None = None, environ: Mapping[str, str] | None = None
) -> Settings:
    """Resolve settings: flags, then environment, then config.toml, then defaults.

    Args:
        flags: values given on the command line (None or absent keys mean "not given");
            keys are the config.toml names plus ``config`` and ``demo``.
        environ: the environment (``os.environ`` when None).

    Raises:
        ConfigError: for any unusable value, with a one-line message.
    """
    flags = {k: v for k, v in (flags or {}).items() if v is not None}
    env = os.environ if environ is None else environ
    if "config" in flags:
        config_path, required = Path(flags["config"]).expanduser(), True
    elif env.get("SIRAY_TUI_CONFIG"):
        config_path, required = Path(env["SIRAY_TUI_CONFIG"]).expanduser(), True
    else:
        config_path, required = default_config_path(), False
    file_values = read_config_file(config_path, required=required)
    # Every key of the file is checked, also those a flag or the environment overrides
    # now: a bad file must not lie in wait for the day the override goes away.
    from_file = {
        key: _file_value(key, value, str(config_path)) for key, value in file_values.items()
    }

    values: dict[str, Any] = {}
    for key, (env_name, kind) in _KEYS.items():
        if key in flags:
            values[key] = _convert(key, kind, flags[key], "command line")
        elif env_name and env.get(env_name):
            values[key] = _convert(key, kind, env[env_name], env_name)
        elif key in from_file:
            values[key] = from_file[key]

    token_text, token_source = None, ""
    for name in TOKEN_ENV_VARS:
        if env.get(name, "").strip():
            token_text, token_source = env[name].strip(), name
            break
    else:
        if values.get("token", "").strip():
            token_text, token_source = values["token"].strip(), str(config_path)
    values.pop("token", None)
    values.update(_intervals(values.get("interval")))
    token = Secret(token_text) if token_text else None
    problem = token.problem() if token else None
    if problem:
        raise ConfigError(f"the API token from {token_source} {problem}")

    settings = Settings(
        token=token,
        token_source=token_source,
        config_path=config_path,
        demo=bool(flags.get("demo", False)),
        **values,
    )
    return validate(settings)


def _file_value(key: str, value: object, source: str) -> Any:
    """One key of config.toml, converted and bounds-checked; ``interval`` may be a table
    of kinds (``[interval]`` with ``3d = 10``), each checked like a plain interval."""
    if key == "interval" and isinstance(value, dict):
        table: dict[str, float] = {}
        for kind, seconds in value.items():
            name = f"interval.{kind}"
            if kind not in DEFAULT_INTERVALS:
                known = ", ".join(DEFAULT_INTERVALS)
                raise ConfigError(
                    f"config file {source}: unknown kind {name!r} (known kinds: {known})"
                )
            table[kind] = _check_bounds(name, _convert(name, float, seconds, source))
        return table
    return _check_bounds(key, _convert(key, _KEYS[key][1], value, source))


def _intervals(resolved: float | dict[str, float] | None) -> dict[str, Any]:
    """The ``interval`` and ``kind_intervals`` fields for the resolved ``interval`` value.

    A number (flag, environment or file) sets every kind; a table from the file sets the
    kinds it names (image's is also the interval of a task whose kind is not known yet);
    nothing leaves the defaults.
    """
    if resolved is None:
        return {}
    if isinstance(resolved, dict):
        per_kind = dict(DEFAULT_INTERVALS) | resolved
        return {"interval": per_kind.pop("image"), "kind_intervals": per_kind}
    return {"interval": resolved, "kind_intervals": {}}


_BOUNDED_KEYS: Final = (
    "interval",
    "concurrency",
    "rate",
    "max_staleness",
    "request_deadline",
    "max_download_bytes",
    "log_level",
)


def _check_bounds(key: str, value: Any) -> Any:
    """``value`` if it is within the sane range for ``key``, else a one-line ConfigError.

    The bounds keep the poller out of absurd states: a rate of 1e-300 requests per
    second is accepted by arithmetic and then waits for ever.
    """
    if key.partition(".")[0] == "interval" and not MIN_INTERVAL <= value <= MAX_INTERVAL:
        raise ConfigError(
            f"{key} must be at least {MIN_INTERVAL:g} second and at most "
            f"{MAX_INTERVAL:g}, got {value:g}"
        )
    if key == "concurrency" and not 1 <= value <= MAX_CONCURRENCY:
        raise ConfigError(f"concurrency must be 1 to {MAX_CONCURRENCY}, got {value}")
    if key == "rate" and not MIN_RATE <= value <= MAX_RATE:
        raise ConfigError(
            f"rate must be at least {MIN_RATE:g} and at most {MAX_RATE:g} requests per "
            f"second, got {value:g}"
        )
    if key == "max_staleness" and not MIN_STALENESS <= value <= MAX_STALENESS:
        raise ConfigError(
            f"max_staleness must be at least {MIN_STALENESS:g} second and at most "
            f"{MAX_STALENESS:g}, got {value:g}"
        )
    if key == "request_deadline" and not 0 < value <= MAX_DEADLINE:
        raise ConfigError(
            f"request_deadline must be above 0 and at most {MAX_DEADLINE:g} seconds, got {value:g}"
        )
    if key == "max_download_bytes" and value < 1:
        raise ConfigError(f"max_download_bytes must be positive, got {value}")
    if key == "log_level" and value.lower() not in LOG_LEVELS:
        raise ConfigError(f"log level must be one of {', '.join(LOG_LEVELS)}, got {value!r}")
    return value


def validate(settings: Settings) -> Settings:
    """Check ranges and the base URL; returns the settings with a normalised base URL."""
    for key in _BOUNDED_KEYS:
        _check_bounds(key, getattr(settings, key))
    for kind, seconds in settings.kind_intervals.items():
        _check_bounds(f"interval.{kind}", seconds)
    base_url = check_base_url(settings.base_url, insecure=settings.insecure)
    return replace(settings, base_url=base_url, log_level=settings.log_level.lower())


class RedactingFilter(logging.Filter):
    """Replaces the token wherever it appears in a log record, arguments included."""

    def __init__(self, secret: Secret | None) -> None:
        super().__init__()
        self._needle = secret.reveal() if secret else ""

    def filter(self, record: logging.LogRecord) -> bool:
        if self._needle:
            message = record.getMessage()
            if self._needle in message:
                record.msg = message.replace(self._needle, "********")
                record.args = None
        return True


class _LogFileHandler(logging.handlers.RotatingFileHandler):
    """The handler :func:`setup_logging` installs, so a second call can replace it."""


def setup_logging(settings: Settings, log_dir: Path | None = None) -> Path | None:
    """Send ``siray_tui`` logs to a rotated file when the level is debug or info.

    The client logs every request at debug (method, path, status, time: never a header),
    the poller its backoffs; a second call replaces the file handler of the first.

    Returns the log file's path, or None when no file log was asked for.
    """
    logger = logging.getLogger("siray_tui")
    logger.setLevel(settings.log_level.upper())
    for old in [h for h in logger.handlers if isinstance(h, _LogFileHandler)]:
        logger.removeHandler(old)
        old.close()
    if settings.log_level not in ("debug", "info"):
        return None
    directory = log_dir or default_log_dir()
    directory.mkdir(parents=True, exist_ok=True, mode=0o700)
    path = directory / "siray-tui.log"
    handler = _LogFileHandler(path, maxBytes=2 * 1024 * 1024, backupCount=3, encoding="utf-8")
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    handler.addFilter(RedactingFilter(settings.token))
    logger.addHandler(handler)
    return path
