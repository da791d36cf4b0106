"""Building a submission from what the user gave, and what each answer proves."""

from __future__ import annotations

import asyncio
import base64
import hashlib
from pathlib import Path
from typing import Any

import pytest

from siray_tui.core.clock import FakeClock
from siray_tui.core.errors import (
    ApiError,
    AuthError,
    HttpStatusError,
    InputError,
    NotFoundError,
    NotSentError,
    PayloadError,
    RateLimitedError,
    RequestTimeoutError,
    ServerError,
    TransportError,
)
from siray_tui.core.models import InputImage, TaskKind
from siray_tui.core.submission import (
    Outcome,
    Sender,
    build_submission,
    classify,
    load_image,
    parse_param,
)

PNG = b"\x89PNG\r\n\x1a\n" + b"\0" * 40


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("seed=7", ("seed", 7)),
        ("size=2048x2048", ("size", "2048x2048")),
        ("audio_enable=true", ("audio_enable", True)),
        ("ratio=16:9", ("ratio", "16:9")),
        ('tags=["a", 1]', ("tags", ["a", 1])),
        ("note=", ("note", "")),
        ("a=b=c", ("a", "b=c")),
        ('name="7"', ("name", "7")),
    ],
)
def test_params_are_json_when_they_parse(text: str, expected: tuple[str, Any]) -> None:
    assert parse_param(text) == expected


@pytest.mark.parametrize("text", ["seed", "=7", "  =x"])
def test_a_param_without_key_is_an_input_error(text: str) -> None:
    with pytest.raises(InputError):
        parse_param(text)


def test_a_local_image_becomes_a_data_url_and_is_kept_as_size_and_hash(tmp_path: Path) -> None:
    path = tmp_path / "fox.png"
    path.write_bytes(PNG)
    url, kept = load_image(str(path))
    assert url == "data:image/png;base64," + base64.b64encode(PNG).decode()
    assert kept == InputImage(name="fox.png", size=len(PNG), sha256=hashlib.sha256(PNG).hexdigest())


def test_urls_pass_through_and_other_schemes_are_refused() -> None:
    assert load_image("https://cdn.example.com/a.png") == (
        "https://cdn.example.com/a.png",
        InputImage(url="https://cdn.example.com/a.png"),
    )
    for bad in ("file:///etc/passwd", "javascript:alert(1)", "ftp://x/a.png"):
        with pytest.raises(InputError):
            load_image(bad)
    with pytest.raises(InputError):
        load_image("https://x/a b.png")


def test_a_big_image_is_refused_from_its_size_without_reading_it(tmp_path: Path) -> None:
    path = tmp_path / "big.png"
    with path.open("wb") as handle:  # sparse: 20 MB that costs no disk
        handle.write(PNG)
        handle.truncate(20_000_000)
    with pytest.raises(InputError, match="20,000,000 bytes"):
        load_image(str(path))
    url, kept = load_image(str(path), max_bytes=30_000_000)  # the cap, nothing else, refused
    assert kept.size == 20_000_000 and url.startswith("data:image/png;base64,")


@pytest.mark.parametrize("content", [b"", b"GIF8", b"<html>", b"%PDF-1.4"])
def test_a_file_that_is_no_image_is_refused(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "x.png"
    path.write_bytes(content)
    with pytest.raises(InputError, match="not a PNG"):
        load_image(str(path))


def test_a_missing_file_is_a_one_line_input_error(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="no such file"):
        load_image(str(tmp_path / "gone.png"))


def test_build_submission_body_and_stored_request(tmp_path: Path) -> None:
    path = tmp_path / "fox.png"
    path.write_bytes(PNG)
    submission = build_submission(
        TaskKind.VIDEO,
        "alibaba/wan-2.6-i2v",
        "it runs",
        {"duration": 5, "model": "ignored"},
        [str(path), "https://x/b.png"],
        label="clip\x1b[31m",
    )
    body = dict(submission.body)
    assert body["model"] == "alibaba/wan-2.6-i2v" and body["prompt"] == "it runs"
    assert body["duration"] == 5
    assert body["images"][0].startswith("data:image/png;base64,")
    assert body["images"][1] == "https://x/b.png"
    request = submission.request
    assert request.params == {"duration": 5}
    assert [image.url for image in request.images] == ["", "https://x/b.png"]
    assert "data:" not in repr(request)
    assert submission.label == "clip"
    single = build_submission(TaskKind.IMAGE, "m", "p", {}, ["https://x/a.png"])
    assert single.body["image"] == "https://x/a.png" and "images" not in single.body


@pytest.mark.parametrize(
    ("error", "outcome"),
    [
        (AuthError("401", status_code=401), Outcome.AUTH),
        (RateLimitedError("429", retry_after=1.0), Outcome.RATE_LIMITED),
        (NotSentError("refused"), Outcome.NOT_SENT),
        (HttpStatusError("400", status_code=400), Outcome.REJECTED),
        (HttpStatusError("422", status_code=422), Outcome.REJECTED),
        (NotFoundError("404", status_code=404), Outcome.REJECTED),
        (HttpStatusError("302", status_code=302), Outcome.UNCERTAIN),
        (ServerError("500", status_code=500), Outcome.UNCERTAIN),
        (TransportError("dropped"), Outcome.UNCERTAIN),
        (RequestTimeoutError("timed out"), Outcome.UNCERTAIN),
        (PayloadError("no task ID", status_code=200), Outcome.UNCERTAIN),
    ],
)
def test_only_what_certainly_created_nothing_is_certain(error: ApiError, outcome: Outcome) -> None:
    assert classify(error) is outcome


class JumpClock(FakeClock):
    """A FakeClock whose sleeps move it forward themselves (one sender, no race)."""

    async def sleep(self, seconds: float) -> None:
        self.advance(max(seconds, 0.0))
        await asyncio.sleep(0)


class Answers:
    """A Submitter that raises or answers from a list, in order."""

    def __init__(self, *answers: str | Exception) -> None:
        self.answers = list(answers)
        self.calls = 0

    async def submit(self, kind: TaskKind, request: dict[str, Any]) -> str:
        self.calls += 1
        answer = self.answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return answer


async def test_429_waits_retry_after_then_sends_again() -> None:
    clock = JumpClock()
    client = Answers(RateLimitedError("429", retry_after=3.0), "image_1")
    events: list[str] = []

    async def before() -> None:
        events.append(f"sent@{clock.monotonic() - 1000:g}")

    async def not_sent() -> None:
        events.append("unsent")

    sender = Sender(client, clock, rate=100)
    submission = build_submission(TaskKind.IMAGE, "m", "p")
    sent = await sender.send(submission, before=before, not_sent=not_sent)
    assert sent.outcome is Outcome.ACCEPTED and sent.task_id == "image_1"
    assert events == ["sent@0", "unsent", "sent@3"]


@pytest.mark.parametrize(
    "error", [ServerError("HTTP 500", status_code=500), TransportError("connection lost")]
)
async def test_an_uncertain_answer_is_never_retried(error: ApiError) -> None:
    client = Answers(error, "image_2")
    sent = await Sender(client, FakeClock()).send(build_submission(TaskKind.IMAGE, "m", "p"))
    assert sent.outcome is Outcome.UNCERTAIN
    assert client.calls == 1


async def test_rate_cap_spaces_the_starts() -> None:
    clock = JumpClock()
    client = Answers(*[f"image_{n}" for n in range(4)])
    sender = Sender(client, clock, rate=2)
    starts = []
    for _ in range(4):

        async def before() -> None:
            starts.append(clock.monotonic() - 1000)

        await sender.send(build_submission(TaskKind.IMAGE, "m", "p"), before=before)
    assert starts == [0, 0, 1, 1]
