"""The models catalog: tolerant parsing, tags to kinds, the day-long cache, offline."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from siray_tui.core.catalog import (
    CACHE_MAX_AGE,
    Catalog,
    CatalogCache,
    CatalogUnavailableError,
    ModelInfo,
    kind_for_tag,
    load_catalog,
    parse_models,
)
from siray_tui.core.clock import FakeClock
from siray_tui.core.errors import AuthError, PayloadError, ServerError, TransportError
from siray_tui.core.models import TaskKind

BASE = "https://api.siray.ai"


@pytest.mark.parametrize(
    ("tag", "kind"),
    [
        ("text-to-image", TaskKind.IMAGE),
        ("image-to-image", TaskKind.IMAGE),
        ("text-to-video", TaskKind.VIDEO),
        ("image-to-video", TaskKind.VIDEO),
        ("video-to-video", TaskKind.VIDEO),
        ("text-to-3d", TaskKind.MODEL_3D),
        ("Image-To-3D", TaskKind.MODEL_3D),
        ("chat", None),
        ("embeddings", None),
        ("text-to-speech", None),
        ("", None),
    ],
)
def test_tags_map_to_kinds(tag: str, kind: TaskKind | None) -> None:
    assert kind_for_tag(tag) is kind


@pytest.mark.parametrize(
    "body",
    [
        [{"id": "a/img", "tag": "text-to-image"}],
        {"data": [{"id": "a/img", "tag": "text-to-image"}]},
        {"data": {"data": [{"id": "a/img", "tag": "text-to-image"}]}},
        {"object": "list", "data": [{"model_name": "a/img", "tag": "text-to-image"}]},
        {"data": [{"model": "a/img", "tag": "text-to-image", "model_name": "Img"}]},
    ],
)
def test_parse_models_accepts_every_shape_seen(body: Any) -> None:
    assert [(m.id, m.kind) for m in parse_models(body)] == [("a/img", TaskKind.IMAGE)]


def test_parse_models_skips_what_makes_no_task_and_cleans_text() -> None:
    body = {
        "data": [
            {"id": "c/chat", "tag": "chat"},
            {"id": "e/emb", "tag": "embeddings"},
            {"id": "n/none"},
            {"tag": "text-to-image"},
            "junk",
            7,
            {"id": "v/\x1b[31mclip", "tag": "text-to-video", "model_name": "[bold]Clip[/]"},
            {"id": "v/\x1b[31mclip", "tag": "text-to-image"},
            {"id": "t/3d", "tag": "image-to-3d", "model_name": 5},
        ]
    }
    models = parse_models(body)
    assert [(m.id, m.kind, m.name) for m in models] == [
        ("v/clip", TaskKind.VIDEO, "[bold]Clip[/]"),  # the escape sequence gone, markup kept
        ("t/3d", TaskKind.MODEL_3D, ""),
    ]


@pytest.mark.parametrize("body", [None, "x", 5, {"data": 5}, {"error": {}}])
def test_parse_models_without_a_list_is_a_payload_error(body: Any) -> None:
    with pytest.raises(PayloadError):
        parse_models(body)


class Source:
    """A ModelSource that answers from a list, or raises."""

    def __init__(self, answer: list[ModelInfo] | Exception) -> None:
        self.base_url = BASE
        self.answer = answer
        self.calls = 0

    async def list_models(self) -> list[ModelInfo]:
        self.calls += 1
        if isinstance(self.answer, Exception):
            raise self.answer
        return self.answer


def temp_files(folder: Path) -> list[Path]:
    return list(folder.glob(".models-*"))


MODELS = [ModelInfo("a/img", TaskKind.IMAGE, "text-to-image")]


async def test_fetched_then_cached_for_a_day(tmp_path: Path) -> None:
    clock = FakeClock()
    cache = CatalogCache(tmp_path)
    source = Source(MODELS)
    first = await load_catalog(source, cache, clock)
    assert first.fetched and source.calls == 1
    clock.advance(CACHE_MAX_AGE - 60)
    second = await load_catalog(source, cache, clock)
    assert not second.fetched and second.offline is None and source.calls == 1
    assert second.catalog.kind_of("a/img") is TaskKind.IMAGE
    assert second.catalog.kind_of("b/none") is None
    refreshed = await load_catalog(source, cache, clock, refresh=True)
    assert refreshed.fetched and source.calls == 2
    clock.advance(CACHE_MAX_AGE + 1)
    assert (await load_catalog(source, cache, clock)).fetched and source.calls == 3
    assert not temp_files(tmp_path)  # no temp file left behind


@pytest.mark.parametrize(
    "error", [TransportError("cannot reach"), ServerError("HTTP 503"), PayloadError("html")]
)
async def test_offline_uses_the_cached_list_whatever_its_age(
    tmp_path: Path, error: Exception
) -> None:
    clock = FakeClock()
    cache = CatalogCache(tmp_path)
    await load_catalog(Source(MODELS), cache, clock)
    clock.advance(3 * CACHE_MAX_AGE)
    result = await load_catalog(Source(error), cache, clock)
    assert not result.fetched
    assert result.offline == str(error)
    assert result.catalog.age(clock.now()) == pytest.approx(3 * CACHE_MAX_AGE)


async def test_no_list_and_no_cache_is_unavailable(tmp_path: Path) -> None:
    with pytest.raises(CatalogUnavailableError, match="none are cached"):
        await load_catalog(Source(TransportError("refused")), CatalogCache(tmp_path), FakeClock())


async def test_a_refused_token_is_not_hidden_by_the_cache(tmp_path: Path) -> None:
    clock = FakeClock()
    cache = CatalogCache(tmp_path)
    await load_catalog(Source(MODELS), cache, clock)
    with pytest.raises(AuthError):
        await load_catalog(Source(AuthError("401")), cache, clock, refresh=True)


@pytest.mark.parametrize(
    "content",
    [b"", b"{", b"[]", b'{"version": 2}', b'{"version": 1, "base_url": "https://other"}'],
)
def test_an_unusable_or_foreign_cache_is_no_cache(tmp_path: Path, content: bytes) -> None:
    (tmp_path / "models.json").write_bytes(content)
    assert CatalogCache(tmp_path).load(BASE) is None


def test_the_cache_is_per_base_url(tmp_path: Path) -> None:
    cache = CatalogCache(tmp_path)
    cache.save(Catalog(tuple(MODELS), 1000.0, BASE))
    assert cache.load(BASE) == Catalog(tuple(MODELS), 1000.0, BASE)
    assert cache.load("http://127.0.0.1:8765") is None
    assert json.loads((tmp_path / "models.json").read_text())["base_url"] == BASE
