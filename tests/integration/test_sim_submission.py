"""The simulator's submission side: validation, the models list, and the knobs the
submit tests need (an answer after the task was created, each answer shape, POST counts)."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest

from siray_tui.sim import MODELS, Faults, Kind, SimServer, api_path, default_model, tag_kind
from siray_tui.sim.scenario import KINDS

TOKEN = "sim-token"


def post(sim: SimServer, kind: Kind, body: Any) -> httpx.Response:
    return httpx.post(
        sim.url(api_path(kind)), json=body, headers={"Authorization": f"Bearer {TOKEN}"}
    )


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize(
    ("body", "words"),
    [
        ({"model": "nobody/no-such-model", "prompt": "a fox"}, "does not exist"),
        ({"prompt": "a fox"}, "model is required"),
        ({"model": "deepseek/deepseek-v3.1", "prompt": "a fox"}, "not a generation model"),
        ({"model": "MODEL", "prompt": ""}, "prompt"),
        ({"model": "MODEL", "prompt": "   "}, "prompt"),
        ({"model": "MODEL"}, "prompt"),
        ({"model": "MODEL", "prompt": 7}, "prompt"),
    ],
)
def test_an_invalid_submission_is_400_with_an_api_message(
    sim: SimServer, kind: Kind, body: dict[str, Any], words: str
) -> None:
    if body.get("model") == "MODEL":
        body = {**body, "model": default_model(kind)}
    reply = post(sim, kind, body)
    assert reply.status_code == 400
    error = reply.json()["error"]
    assert words in error["message"]
    assert error["type"] == "invalid_request_error"
    assert len(sim.scenario) == 0


def test_a_model_of_another_kind_is_refused_at_each_endpoint(sim: SimServer) -> None:
    for kind in KINDS:
        for other in KINDS:
            if other == kind:
                continue
            reply = post(sim, kind, {"model": default_model(other), "prompt": "a fox"})
            assert reply.status_code == 400
            assert f"not {kind} tasks" in reply.json()["error"]["message"]
    assert len(sim.scenario) == 0


@pytest.mark.parametrize("kind", KINDS)
def test_every_listed_model_of_a_kind_is_accepted(sim: SimServer, kind: Kind) -> None:
    models = [name for name, _, tag in MODELS if tag_kind(tag) == kind]
    assert models
    for model in models:
        reply = post(sim, kind, {"model": model, "prompt": "a fox", "seed": 7})
        assert reply.status_code == 200, reply.text
        task = sim.scenario.get(reply.json()["data"]["task_id"])
        assert task is not None and task.model == model and task.kind == kind


def test_models_lists_names_and_tags(sim: SimServer) -> None:
    reply = httpx.get(sim.url("/v1/models"), headers={"Authorization": f"Bearer {TOKEN}"})
    assert reply.status_code == 200
    items = reply.json()["data"]
    tags = {item["id"]: item["tag"] for item in items}
    assert tags["bytedance/seedream-4.5-t2i"] == "text-to-image"
    assert tags["black-forest-labs/flux-kontext-i2i-max"] == "image-to-image"
    assert tags["google/veo-3.1-t2v"] == "text-to-video"
    assert tags["alibaba/wan-2.6-i2v"] == "image-to-video"
    assert tags["tencent/hunyuan3d-v2.5-rapid-text-to-3d"] == "text-to-3d"
    assert tags["tripo/tripo3d-v2.5-image-to-3d"] == "image-to-3d"
    assert {"chat", "embeddings"} <= set(tags.values())
    assert all(item["model_name"] for item in items)
    no_token = httpx.get(sim.url("/v1/models"))
    assert no_token.status_code == 401


def test_ambiguous_knob_creates_the_task_then_answers_5xx(sim: SimServer) -> None:
    sim.faults = Faults(ambiguous_rate=1.0)
    reply = post(sim, "image", {"model": default_model("image"), "prompt": "lost answer"})
    assert reply.status_code >= 500
    assert len(sim.scenario) == 1
    assert sim.scenario.tasks()[0].prompt == "lost answer"


@pytest.mark.parametrize(
    ("shape", "where"),
    [
        ("data", lambda body: body["data"]["task_id"]),
        ("top", lambda body: body["task_id"]),
        ("id", lambda body: body["id"]),
        ("none", lambda body: None),
    ],
)
def test_each_answer_shape(sim: SimServer, shape: Any, where: Any) -> None:
    sim.faults = Faults(submit_answer=shape)
    reply = post(sim, "video", {"model": default_model("video"), "prompt": "a fox"})
    assert reply.status_code == 200
    body = reply.json()
    made = sim.scenario.tasks()
    assert len(made) == 1
    if shape == "none":
        assert made[0].task_id not in json.dumps(body)
    else:
        assert where(body) == made[0].task_id


def test_posts_are_counted_per_prompt_whatever_the_answer(sim: SimServer) -> None:
    model = default_model("image")
    post(sim, "image", {"model": model, "prompt": "one"})
    post(sim, "image", {"model": model, "prompt": "two"})
    post(sim, "image", {"model": model, "prompt": "two"})
    post(sim, "image", {"model": "nobody/none", "prompt": "two"})
    post(sim, "image", "not an object")
    assert (sim.posts_for("one"), sim.posts_for("two"), sim.posts_for("three")) == (1, 3, 0)
    assert sim.post_count == 5
    sim.clear_log()
    assert sim.post_count == 0
