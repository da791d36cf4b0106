"""``siray-tui models [--kind K] [--json] [--refresh]``: the models the account can use.

The list comes from :mod:`siray_tui.core.catalog` (cached for a day; offline, the cached
list with its age said on stderr).
"""

from __future__ import annotations

import json
from typing import Final, TextIO

from siray_tui.cli.output import render_table
from siray_tui.config import Settings
from siray_tui.core.catalog import (
    CatalogCache,
    CatalogResult,
    CatalogUnavailableError,
    group_by_kind,
    load_catalog,
)
from siray_tui.core.clock import Clock, SystemClock
from siray_tui.core.errors import AuthError, ConfigError
from siray_tui.core.models import TaskKind
from siray_tui.core.report import format_ago

EXIT_OK: Final = 0
EXIT_ERROR: Final = 2


async def fetch_catalog(
    settings: Settings, clock: Clock, err: TextIO, *, refresh: bool = False
) -> CatalogResult:
    """The catalog for ``settings``, with a note on ``err`` when it is an offline copy.

    Raises:
        ConfigError: no usable token.
        AuthError: the token was refused.
        CatalogUnavailableError: nothing fetched, nothing cached.
    """
    async with settings.make_client(clock) as client:
        result = await load_catalog(
            client, CatalogCache(settings.cache_dir), clock, refresh=refresh
        )
    if result.offline is not None:
        age = format_ago(result.catalog.fetched_at, clock.now())
        err.write(f"siray-tui: offline ({result.offline}): the list cached {age}\n")
    return result


async def run_models(
    settings: Settings,
    *,
    kind: TaskKind | None,
    json_output: bool,
    refresh: bool,
    out: TextIO,
    err: TextIO,
    clock: Clock | None = None,
) -> int:
    """Print the models grouped by kind (or one JSON object per model); 0, or 2 when
    there is no list and no cache (or no usable token)."""
    clock = clock or SystemClock()
    try:
        result = await fetch_catalog(settings, clock, err, refresh=refresh)
    except AuthError as exc:
        err.write(f"siray-tui: error: the API rejected the token ({exc}): check SIRAY_API_TOKEN\n")
        return EXIT_ERROR
    except (ConfigError, CatalogUnavailableError) as exc:
        err.write(f"siray-tui: error: {exc}\n")
        return EXIT_ERROR
    models = result.catalog.of_kind(kind)
    if json_output:
        for info in models:
            out.write(json.dumps(info.to_json(), ensure_ascii=False) + "\n")
        out.flush()
        return EXIT_OK
    if not models:
        which = f"{kind.value} " if kind else ""
        out.write(f"No {which}generation models listed.\n")
        return EXIT_OK
    rows = [
        (kind_of.value, info.id, info.tag, info.name)
        for kind_of, infos in group_by_kind(models).items()
        for info in infos
    ]
    for line in render_table(rows, ("KIND", "MODEL", "TAG", "NAME")).split("\n"):
        out.write(line + "\n")
    out.flush()
    return EXIT_OK


__all__ = ["fetch_catalog", "run_models"]
