"""``submit`` (one task) and ``models`` against the simulator: exit statuses, the watchlist
before the ID, answer shapes, uncertain outcomes, the catalog's default kind and cache."""

from __future__ import annotations

import io
import json
import sys
from pathlib import Path
from typing import Any

import pytest

from siray_tui.cli import main
from siray_tui.core.store import WatchlistStore
from siray_tui.sim import Faults, SimServer
from tests.conftest import SimFactory

TOKEN = "sk-submit-test-7c1d"
IMAGE_MODEL = "bytedance/seedream-4.5-t2i"
VIDEO_MODEL = "google/veo-3.1-t2v"


@pytest.fixture(autouse=True)
def token(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SIRAY_API_TOKEN", TOKEN)
    monkeypatch.setenv("SIRAY_TUI_CONFIG", "")


def run(
    sim: SimServer | str, data_dir: Path, *argv: str, capsys: pytest.CaptureFixture[str]
) -> tuple[int, str, str]:
    base = sim if isinstance(sim, str) else sim.base_url
    code = main(["--base-url", base, "--data-dir", str(data_dir), *argv], stdin=io.StringIO(""))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def watched(data_dir: Path) -> dict[str, Any]:
    return dict(WatchlistStore(data_dir).load().tasks)


def posts(sim: SimServer) -> list[str]:
    return [entry.path for entry in sim.request_log if entry.method == "POST"]


# -- one task ---------------------------------------------------------------------------


def test_accepted_task_is_on_the_watchlist_before_its_id_is_printed(
    sim: SimServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen_on_watchlist: list[bool] = []

    class Out(io.StringIO):
        def write(self, text: str) -> int:
            if text.strip():
                seen_on_watchlist.append(text.strip() in watched(tmp_path))
            return super().write(text)

    out = Out()
    monkeypatch.setattr(sys, "stdout", out)
    argv = ["--base-url", sim.base_url, "--data-dir", str(tmp_path), "submit", "--kind", "image"]
    argv += ["--model", IMAGE_MODEL, "--prompt", "a red fox", "--param", "seed=7"]
    argv += ["--param", "size=2048x2048", "--label", "fox"]
    assert main(argv) == 0
    task_id = out.getvalue().strip()
    assert seen_on_watchlist == [True]
    (made,) = sim.scenario.tasks()
    assert made.task_id == task_id and made.prompt == "a red fox"
    task = watched(tmp_path)[task_id]
    assert task.label == "fox"
    assert task.request is not None
    assert (task.request.model, task.request.prompt) == (IMAGE_MODEL, "a red fox")
    assert dict(task.request.params) == {"seed": 7, "size": "2048x2048"}


def test_json_output_and_model_in_list(
    sim: SimServer, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = run(
        sim, tmp_path, "submit", "--kind", "video", "--model", VIDEO_MODEL, "--prompt", "p",
        "--json", capsys=capsys,
    )  # fmt: skip
    assert code == 0
    record = json.loads(out)
    assert record["model"] == VIDEO_MODEL and record["kind"] == "video"
    run(sim, tmp_path, "add", "image_byid", capsys=capsys)
    code, out, _ = run(sim, tmp_path, "list", "--json", capsys=capsys)
    models = {r["task_id"]: r["model"] for r in map(json.loads, out.splitlines())}
    assert models == {record["task_id"]: VIDEO_MODEL, "image_byid": None}


@pytest.mark.parametrize("shape", ["data", "top", "id"])
def test_each_answer_shape_gives_the_id(
    sim: SimServer, tmp_path: Path, capsys: pytest.CaptureFixture[str], shape: Any
) -> None:
    sim.faults = Faults(submit_answer=shape)
    code, out, _ = run(
        sim, tmp_path, "submit", "--kind", "image", "--model", IMAGE_MODEL, "--prompt", "p",
        capsys=capsys,
    )  # fmt: skip
    assert code == 0
    assert out.strip() == sim.scenario.tasks()[0].task_id


@pytest.mark.parametrize(
    ("faults", "words"),
    [
        (Faults(submit_answer="none"), "no task ID"),
        (Faults(ambiguous_rate=1.0), "server error"),
    ],
)
def test_an_unknowable_outcome_exits_4_and_is_not_retried(
    sim: SimServer, tmp_path: Path, capsys: pytest.CaptureFixture[str], faults: Faults, words: str
) -> None:
    sim.faults = faults
    code, out, err = run(
        sim, tmp_path, "submit", "--kind", "image", "--model", IMAGE_MODEL, "--prompt", "p",
        capsys=capsys,
    )  # fmt: skip
    assert code == 4
    assert out == ""
    assert words in err and "may exist" in err
    assert len(posts(sim)) == 1
    assert len(sim.scenario) == 1  # it was created: that is why it is uncertain
    assert watched(tmp_path) == {}


def test_a_rejection_exits_1_with_the_api_message_cleaned(
    sim: SimServer, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = run(
        sim, tmp_path, "submit", "--kind", "image", "--model", "evil/\x1b]0;pwn\x07[red]x[/]",
        "--prompt", "p", capsys=capsys,
    )  # fmt: skip
    assert code == 1
    assert out == ""
    assert "does not exist" in err
    assert "evil/[red]x[/]" in err  # markup shown as typed
    assert "\x1b" not in err and "\x07" not in err
    assert len(err.splitlines()) == 1


def test_a_refused_token_exits_2(
    sim_factory: SimFactory, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    sim = sim_factory(token="the-right-one")
    code, _, err = run(
        sim, tmp_path, "submit", "--kind", "image", "--model", IMAGE_MODEL, "--prompt", "p",
        capsys=capsys,
    )  # fmt: skip
    assert code == 2
    assert "rejected the token" in err
    assert TOKEN not in err


def test_the_kind_comes_from_the_models_list(
    sim: SimServer, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = run(
        sim, tmp_path, "submit", "--model", VIDEO_MODEL, "--prompt", "p", capsys=capsys
    )
    assert code == 0
    assert out.startswith("video_")
    assert watched(tmp_path)[out.strip()].kind.value == "video"
    code, out, err = run(
        sim, tmp_path, "submit", "--model", "nobody/unknown", "--prompt", "p", capsys=capsys
    )
    assert code == 2
    assert "--kind" in err and len(err.splitlines()) == 1
    assert len(posts(sim)) == 1  # only the first submission


def test_a_20_mb_image_is_refused_before_any_request(
    sim: SimServer, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    image = tmp_path / "huge.png"
    with image.open("wb") as handle:
        handle.write(b"\x89PNG\r\n\x1a\n")
        handle.truncate(20_000_000)
    code, out, err = run(
        sim, tmp_path, "submit", "--kind", "video", "--model", "alibaba/wan-2.6-i2v",
        "--prompt", "p", "--image", str(image), capsys=capsys,
    )  # fmt: skip
    assert code == 2
    assert out == ""
    assert "20,000,000 bytes" in err
    assert sim.request_log == []
    assert sim.post_count == 0


def test_a_small_image_is_sent_as_a_data_url_and_kept_as_a_hash(
    sim: SimServer, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    image = tmp_path / "fox.png"
    image.write_bytes(b"\x89PNG\r\n\x1a\n" + b"pixels" * 100)
    code, out, _ = run(
        sim, tmp_path, "submit", "--kind", "video", "--model", "alibaba/wan-2.6-i2v",
        "--prompt", "p", "--image", str(image), capsys=capsys,
    )  # fmt: skip
    assert code == 0
    request = watched(tmp_path)[out.strip()].request
    assert request is not None and request.images[0].size == image.stat().st_size
    assert "base64" not in (tmp_path / "watchlist.json").read_text()


def test_unreachable_api_is_not_sent_exit_2(
    sim_factory: SimFactory, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    sim = sim_factory()
    base = sim.base_url
    sim.stop()
    code, _, err = run(
        base, tmp_path, "submit", "--kind", "image", "--model", IMAGE_MODEL, "--prompt", "p",
        capsys=capsys,
    )  # fmt: skip
    assert code == 2
    assert "not sent" in err


def test_wait_after_submit(
    sim_factory: SimFactory, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    sim = sim_factory(failure_rate=0.0)
    code, out, err = run(
        sim, tmp_path, "--interval", "1", "submit", "--kind", "image", "--model", IMAGE_MODEL,
        "--prompt", "p", "--wait", "--json", capsys=capsys,
    )  # fmt: skip
    assert code == 0
    record = json.loads(out)
    assert record["status"] == "SUCCESS" and record["model"] == IMAGE_MODEL
    assert record["task_id"] in err  # the ID went to stderr: stdout is wait's JSON


@pytest.mark.parametrize(
    ("model", "kind", "suffix"),
    [
        (IMAGE_MODEL, "image", ".png"),
        (VIDEO_MODEL, "video", ".mp4"),
        ("tencent/hunyuan3d-v2.5-rapid-text-to-3d", "3d", ".glb"),
    ],
)
def test_submit_wait_download_end_to_end_for_each_kind(
    sim_factory: SimFactory,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    model: str,
    kind: str,
    suffix: str,
) -> None:
    """The whole workflow headless: the kind comes from the models list, the ID is
    printed, wait follows it to the end, download keeps real files of that kind."""
    sim = sim_factory(failure_rate=0.0)
    data = tmp_path / "data"
    code, out, _ = run(sim, data, "submit", "--model", model, "--prompt", "p", capsys=capsys)
    assert code == 0
    task_id = out.strip()
    assert watched(data)[task_id].kind.value == kind
    assert any(f"/{kind}" in path or kind == "image" for path in posts(sim))
    code, out, _ = run(sim, data, "--interval", "1", "wait", task_id, "--json", capsys=capsys)
    assert code == 0 and json.loads(out)["status"] == "SUCCESS"
    folder = tmp_path / "downloads"
    code, _, _ = run(sim, data, "download", task_id, "--dir", str(folder), capsys=capsys)
    files = sorted((folder / task_id).iterdir())
    assert code == 0 and files and all(f.suffix == suffix for f in files)
    if kind == "3d":
        assert all(f.read_bytes()[:4] == b"glTF" for f in files)


@pytest.mark.parametrize(
    "argv",
    [
        ["submit", "--model", IMAGE_MODEL],
        ["submit", "--prompt", "p"],
        ["submit", "--file", "x.jsonl", "--model", IMAGE_MODEL],
        ["submit", "--model", IMAGE_MODEL, "--prompt", "p", "--dry-run"],
        ["submit", "--model", IMAGE_MODEL, "--prompt", "p", "--param", "novalue"],
    ],
)
def test_usage_errors_exit_2(
    sim: SimServer, tmp_path: Path, capsys: pytest.CaptureFixture[str], argv: list[str]
) -> None:
    try:
        code, _, err = run(sim, tmp_path, *argv, "--kind", "image", capsys=capsys)
    except SystemExit as exited:  # argparse's own usage errors
        code, err = exited.code, capsys.readouterr().err
    assert code == 2
    assert err.strip()
    assert sim.post_count == 0


# -- models -----------------------------------------------------------------------------


def test_models_grouped_by_kind_and_as_json(
    sim: SimServer, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = run(sim, tmp_path, "models", capsys=capsys)
    assert code == 0
    kinds = [line.split()[0] for line in out.splitlines()[1:]]
    assert kinds == sorted(kinds, key=["image", "video", "3d"].index)
    assert "chat" not in out and "embeddings" not in out
    code, out, _ = run(sim, tmp_path, "models", "--kind", "3d", "--json", capsys=capsys)
    records = [json.loads(line) for line in out.splitlines()]
    assert {r["id"] for r in records} == {
        "tencent/hunyuan3d-v2.5-rapid-text-to-3d",
        "tripo/tripo3d-v2.5-image-to-3d",
    }
    assert all(r["kind"] == "3d" for r in records)


def test_models_cached_for_a_day_then_offline_with_its_age(
    sim_factory: SimFactory, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    sim = sim_factory()
    assert run(sim, tmp_path, "models", capsys=capsys)[0] == 0
    gets = len(sim.request_log)
    assert run(sim, tmp_path, "models", capsys=capsys)[0] == 0
    assert len(sim.request_log) == gets  # from the cache
    base = sim.base_url
    sim.stop()
    code, out, err = run(base, tmp_path, "models", "--refresh", capsys=capsys)
    assert code == 0
    assert "google/veo-3.1-t2v" in out
    assert "offline" in err and "cached 0s ago" in err


def test_models_without_list_or_cache_exits_2(
    sim_factory: SimFactory, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    sim = sim_factory()
    base = sim.base_url
    sim.stop()
    code, out, err = run(base, tmp_path, "models", capsys=capsys)
    assert code == 2
    assert out == ""
    assert len(err.splitlines()) == 1 and "none are cached" in err
