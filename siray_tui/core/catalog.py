"""The models an account can use (``GET /v1/models``), by task kind, cached for a day.

The list changes rarely and is only a help (a default ``--kind``, the choices of a form),
so it is kept in the user cache directory and fetched again after a day; offline, the
cached list is used whatever its age, and the caller says how old it is. The API's
items are loose (``id``, ``model_name``, ``tag``; the list bare or under ``data``);
chat and embeddings models, and tags we do not know, make no generation task and are
left out.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Final, Protocol

from siray_tui.core import limits
from siray_tui.core.clock import Clock
from siray_tui.core.errors import ApiError, AuthError, PayloadError, SirayError
from siray_tui.core.models import TaskKind
from siray_tui.core.text import clean_text

CACHE_MAX_AGE: Final = 24 * 3600.0
CACHE_FILE: Final = "models.json"
CACHE_VERSION: Final = 1
MAX_MODELS: Final = 5000


def kind_for_tag(tag: str) -> TaskKind | None:
    """The task kind of a model tag: ``text-to-image``/``image-to-image`` -> image,
    ``*-to-video`` -> video, anything with ``3d`` -> 3d; None for the rest (``chat``,
    ``embeddings``, a tag we do not know)."""
    tag = tag.strip().lower()
    if "3d" in tag:
        return TaskKind.MODEL_3D
    if tag.endswith("-to-image"):
        return TaskKind.IMAGE
    if tag.endswith("-to-video"):
        return TaskKind.VIDEO
    return None


@dataclass(frozen=True, slots=True)
class ModelInfo:
    """One generation model: its ID (what a request names), kind, tag and display name."""

    id: str
    kind: TaskKind
    tag: str
    name: str = ""

    def to_json(self) -> dict[str, str]:
        """The ``models --json`` object."""
        return {"id": self.id, "kind": self.kind.value, "tag": self.tag, "name": self.name}


def _text(value: object) -> str:
    return clean_text(value)[: limits.MAX_LABEL].strip() if isinstance(value, str) else ""


def parse_models(body: object) -> list[ModelInfo]:
    """The generation models in an answer to ``GET /v1/models``, in its order.

    Accepts the list bare or under ``data`` (also ``{"data": {"data": [...]}}``); an item
    is named by ``id``, else ``model``, else ``model_name``. Items without a name or
    with a tag of no task kind are skipped; a repeated ID keeps its first entry.

    Raises:
        PayloadError: the answer holds no list of models at all.
    """
    items: object = body
    for _ in range(2):
        if isinstance(items, dict):
            items = items.get("data", items.get("models"))
    if not isinstance(items, list):
        raise PayloadError("the models answer holds no list of models")
    models: dict[str, ModelInfo] = {}
    for item in items[:MAX_MODELS]:
        if not isinstance(item, dict):
            continue
        name = _text(item.get("model_name"))
        model_id = _text(item.get("id")) or _text(item.get("model")) or name
        tag = _text(item.get("tag"))
        kind = kind_for_tag(tag) if tag else None
        if model_id and kind is not None and model_id not in models:
            models[model_id] = ModelInfo(model_id, kind, tag, name if name != model_id else "")
    return list(models.values())


@dataclass(frozen=True)
class Catalog:
    """A list of models, where it came from and when it was fetched (Unix seconds)."""

    models: tuple[ModelInfo, ...]
    fetched_at: float
    base_url: str

    def kind_of(self, model: str) -> TaskKind | None:
        """The kind of task ``model`` makes, or None when it is not listed."""
        return next((info.kind for info in self.models if info.id == model), None)

    def of_kind(self, kind: TaskKind | None = None) -> list[ModelInfo]:
        """The models of one kind (every one for None), in the API's order."""
        return [info for info in self.models if kind is None or info.kind is kind]

    def age(self, now: float) -> float:
        """Seconds since it was fetched."""
        return max(0.0, now - self.fetched_at)


class CatalogCache:
    """The cached list, one file in the user cache directory, for one base URL at a time
    (the simulator's list never stands in for the real API's)."""

    def __init__(self, cache_dir: Path) -> None:
        self.path = cache_dir / CACHE_FILE

    def load(self, base_url: str) -> Catalog | None:
        """The cached catalog of ``base_url``, or None (absent, unreadable, another URL)."""
        try:
            stored = json.loads(self.path.read_bytes())
        except (OSError, ValueError, RecursionError):
            return None
        if not isinstance(stored, dict) or stored.get("version") != CACHE_VERSION:
            return None
        fetched_at = stored.get("fetched_at")
        if stored.get("base_url") != base_url or not isinstance(fetched_at, int | float):
            return None
        try:
            models = parse_models(stored.get("models"))
        except PayloadError:
            return None
        return Catalog(tuple(models), float(fetched_at), base_url)

    def save(self, catalog: Catalog) -> None:
        """Write atomically (temp file, fsync, rename): a reader never sees half a list.

        Raises:
            OSError: the cache directory cannot be written (the caller may ignore it).
        """
        document = {
            "version": CACHE_VERSION,
            "base_url": catalog.base_url,
            "fetched_at": catalog.fetched_at,
            "models": [{"id": m.id, "model_name": m.name, "tag": m.tag} for m in catalog.models],
        }
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd, temp = tempfile.mkstemp(prefix=".models-", dir=self.path.parent)
        try:
            with os.fdopen(fd, "wb") as handle:
                handle.write(json.dumps(document, ensure_ascii=False).encode("utf-8"))
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(temp, self.path)
        except BaseException:
            Path(temp).unlink(missing_ok=True)
            raise


class ModelSource(Protocol):
    """Where the list comes from; :class:`~siray_tui.core.client.SirayClient` is one."""

    base_url: str

    async def list_models(self) -> list[ModelInfo]: ...


class CatalogUnavailableError(SirayError):
    """No list could be fetched and none is cached."""


@dataclass(frozen=True)
class CatalogResult:
    """The catalog to use, and why it is what it is.

    Attributes:
        catalog: the models.
        fetched: fetched now (else it came from the cache).
        offline: why it could not be fetched now (the cached list stands in), or None.
    """

    catalog: Catalog
    fetched: bool
    offline: str | None = None


async def load_catalog(
    source: ModelSource, cache: CatalogCache, clock: Clock, *, refresh: bool = False
) -> CatalogResult:
    """The catalog: the cached one while under a day old (unless ``refresh``), else
    fetched (and cached); when fetching fails for any reason but the token, the cached
    one whatever its age.

    Raises:
        AuthError: the API refused the token (a cached list would hide that).
        CatalogUnavailableError: nothing fetched and nothing cached; says why.
    """
    # The file work runs in a thread: the dashboard's event loop never waits on a disk.
    cached = await asyncio.to_thread(cache.load, source.base_url)
    if cached is not None and not refresh and cached.age(clock.now()) < CACHE_MAX_AGE:
        return CatalogResult(cached, fetched=False)
    try:
        models = await source.list_models()
    except AuthError:
        raise
    except ApiError as exc:
        if cached is None:
            raise CatalogUnavailableError(
                f"cannot list the models ({exc}) and none are cached"
            ) from exc
        return CatalogResult(cached, fetched=False, offline=str(exc))
    catalog = Catalog(tuple(models), clock.now(), source.base_url)
    with contextlib.suppress(OSError):  # a cache not written only costs a fetch next time
        await asyncio.to_thread(cache.save, catalog)
    return CatalogResult(catalog, fetched=True)


def group_by_kind(models: Iterable[ModelInfo]) -> dict[TaskKind, list[ModelInfo]]:
    """Models grouped by kind, kinds in their usual order, empty kinds left out."""
    groups: dict[TaskKind, list[ModelInfo]] = {kind: [] for kind in TaskKind.concrete()}
    for info in models:
        groups[info.kind].append(info)
    return {kind: infos for kind, infos in groups.items() if infos}


__all__ = [
    "CACHE_MAX_AGE",
    "Catalog",
    "CatalogCache",
    "CatalogResult",
    "CatalogUnavailableError",
    "ModelInfo",
    "ModelSource",
    "group_by_kind",
    "kind_for_tag",
    "load_catalog",
    "parse_models",
]
