"""The simulator's fault knobs, and the answers to a query that they bend.

:class:`Faults` holds every misbehaviour knob of :class:`~siray_tui.sim.server.SimServer`
(5xx, 429, latency, non-JSON bodies, dropped connections, hostile or quirky payloads);
:class:`Decision` is the draw that decides, per ``/v1`` request, which of them strike;
:func:`render_task` builds the JSON answer to a query, canonical unless the knobs bend it.
The server module keeps the HTTP plumbing; this one keeps what the answers say.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import Any, Final, Literal

from siray_tui.sim.scenario import SUCCESS, SimState, SimTask

HOSTILE_TEXTS: Final[tuple[str, ...]] = (
    "[/x]",
    "[@click=app.quit]x[/]",
    "\x1b[31mred\x1b]0;title\x07",
    "\x1b]52;c;ZXZpbA==\x07",
    "long line " + "x" * 4990,
    "javascript:alert(1)",
    "file:///etc/passwd",
    "bidi \u202eevil.exe\u202c override",
    "NUL \x00 byte",
    "http://evil.example.com/x.png",
)
HOSTILE_URLS: Final[tuple[str, ...]] = (
    "javascript:alert(1)",
    "file:///etc/passwd",
    "http://evil.example.com/x.png",
    "{base}/redirect/[@click=app.quit]x[/]",
    "https://cdn.example.com/\u202egnp.exe",
    "https://cdn.example.com/a\x1b]52;c;ZXZpbA==\x07.png",
)
SubmitAnswer = Literal["data", "top", "id", "none"]
GATEWAY_PAGE: Final = (
    b"<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n<body>\r\n"
    b"<center><h1>502 Bad Gateway</h1></center>\r\n<hr><center>nginx</center>\r\n"
    b"</body>\r\n</html>\r\n"
)


@dataclass(frozen=True)
class HostileAnswer:
    """How one task's answer misbehaves (see ``Faults.hostile_tasks``).

    Attributes:
        fail_reason: replaces the task's fail reason, whatever its status (e.g. a lone
            surrogate ``"\\ud800"``, sent as the JSON escape, or 10 MB of text).
        message: replaces the top-level ``message``.
        extra_outputs: this many more output URLs (each a distinct ``/files`` path).
        padding: an extra ``data.padding`` field of this many characters.
        drip: declare a 1,000,000-byte body and send one byte every ``drip`` seconds,
            until the client hangs up; 0 is off.
    """

    fail_reason: str | None = None
    message: str | None = None
    extra_outputs: int = 0
    padding: int = 0
    drip: float = 0.0


@dataclass
class Faults:
    """Misbehaviour knobs, all off by default; mutate them while the server runs.

    Attributes:
        error_rate: fraction of ``/v1`` GETs answered 500 / 502 / 503 (with a body).
        rate_limit_every: every Nth ``/v1`` request (counting all) gets 429; 0 is off.
        retry_after: the 429's ``Retry-After``: None (absent), seconds (sent as given,
            so ``0.5`` is possible for fast tests), ``"date"`` (an HTTP date 2 s ahead),
            ``"past"`` (an HTTP date an hour ago), or any other string sent verbatim
            (garbage).
        fail_first: the first N queries of each task ID get ``fail_first_with``
            instead of their answer (deterministic, unlike ``error_rate``).
        fail_first_with: an HTTP status (500, 502, 503) or ``"html"`` (a 200 with the
            gateway page).
        latency: seconds slept before answering each ``/v1`` request.
        nonjson_rate: fraction of ``/v1`` GETs answered 200 with an HTML gateway page.
        drop_rate: fraction of ``/v1`` GETs whose connection closes with no answer.
        hostile: fail reasons, ``message`` and outputs carry markup, escape sequences,
            5,000-character lines, bidi overrides, NULs and foreign-scheme URLs.
        quirky: payloads vary the way real ones do: ``progress`` as a number, ``""`` or
            missing; timestamps as digit strings, or null / missing when 0; a
            ``start_time`` a second before ``submit_time`` (clock skew); extra fields.
        hostile_tasks: task ID -> :class:`HostileAnswer`, for a server that is broken
            or hostile for some tasks only (the others answer normally).
        ambiguous_rate: fraction of accepted submissions answered 500 / 502 / 503
            *after* the task was created: the client cannot know it exists.
        submit_answer: where an accepted submission's answer puts the task ID:
            ``"data"`` (``data.task_id``, as documented), ``"top"`` (a top-level
            ``task_id``), ``"id"`` (a top-level ``id``) or ``"none"`` (nowhere; the task
            exists all the same).
    """

    error_rate: float = 0.0
    rate_limit_every: int = 0
    retry_after: float | str | None = None
    fail_first: int = 0
    fail_first_with: int | str = 500
    latency: float = 0.0
    nonjson_rate: float = 0.0
    drop_rate: float = 0.0
    hostile: bool = False
    quirky: bool = False
    hostile_tasks: dict[str, HostileAnswer] = field(default_factory=dict)
    ambiguous_rate: float = 0.0
    submit_answer: SubmitAnswer = "data"


@dataclass(frozen=True)
class Decision:
    """The fault draws for one ``/v1`` request, made under the server's lock."""

    number: int
    drop: float
    error: float
    nonjson: float
    error_status: int
    rng: random.Random
    task_count: int = 0  # the how-manyth request naming this task ID

    @classmethod
    def draw(cls, seed: int, number: int, task_count: int = 0) -> Decision:
        """The draws for request ``number``: the same on every run with the same seed."""
        rng = random.Random(f"siray-sim-faults:{seed}:{number}")
        return cls(
            number=number,
            drop=rng.random(),
            error=rng.random(),
            nonjson=rng.random(),
            error_status=rng.choice((500, 502, 503)),
            rng=rng,
            task_count=task_count,
        )


def render_task(
    task: SimTask, state: SimState, base: str, faults: Faults, rng: random.Random
) -> dict[str, Any]:
    """The full JSON answer to a query, canonical unless ``hostile`` / ``quirky``."""
    outputs: list[str] = []
    if state.status == SUCCESS:
        if task.literal_outputs is not None:
            outputs = [url.replace("{base}", base) for url in task.literal_outputs]
        else:
            outputs = [f"{base}/redirect/{token}" for token in task.output_tokens]
    fail_reason = state.fail_reason
    if faults.hostile:
        if fail_reason:
            fail_reason = "\n".join((fail_reason, *HOSTILE_TEXTS))
        if outputs:
            outputs += [url.replace("{base}", base) for url in HOSTILE_URLS]
    data: dict[str, Any] = {
        "task_id": task.task_id,
        "status": state.status,
        "progress": f"{state.progress}%",
        "outputs": outputs,
        "submit_time": state.submit_time,
        "start_time": state.start_time,
        "finish_time": state.finish_time,
        "fail_reason": fail_reason,
        "action": task.action,
    }
    body: dict[str, Any] = {
        "code": "success",
        "message": HOSTILE_TEXTS[1] if faults.hostile else "",
        "data": data,
    }
    if faults.quirky:
        _quirk(body, state, rng)
    hostile = faults.hostile_tasks.get(task.task_id)
    if hostile is not None:
        _make_hostile(body, hostile, base)
    return body


def accepted_answer(task_id: str, shape: SubmitAnswer) -> dict[str, Any]:
    """The answer to an accepted submission, with the task ID where ``shape`` says."""
    answer: dict[str, Any] = {"code": "success", "message": ""}
    if shape == "data":
        answer["data"] = {"task_id": task_id}
    elif shape == "top":
        answer["task_id"] = task_id
    elif shape == "id":
        answer["id"] = task_id
    else:
        answer["data"] = {"status": "accepted"}
    return answer


def _make_hostile(body: dict[str, Any], hostile: HostileAnswer, base: str) -> None:
    data: dict[str, Any] = body["data"]
    if hostile.fail_reason is not None:
        data["fail_reason"] = hostile.fail_reason
    if hostile.message is not None:
        body["message"] = hostile.message
    if hostile.extra_outputs:
        outputs = data.get("outputs") or []
        data["outputs"] = [
            *outputs,
            *(f"{base}/files/extra/{index}.png" for index in range(hostile.extra_outputs)),
        ]
    if hostile.padding:
        data["padding"] = "x" * hostile.padding


def _quirk(body: dict[str, Any], state: SimState, rng: random.Random) -> None:
    """Bend a canonical payload into shapes the real API has been seen to send."""
    data: dict[str, Any] = body["data"]
    choice = rng.randrange(4)
    if choice == 1:
        data["progress"] = state.progress
    elif choice == 2 and state.progress == 0:
        data["progress"] = ""
    elif choice == 3:
        del data["progress"]
    if state.start_time and rng.random() < 0.1:
        data["start_time"] = state.submit_time - 1
    for name in ("submit_time", "start_time", "finish_time"):
        value = data[name]
        pick = rng.randrange(3)
        if value == 0:
            if pick == 1:
                data[name] = None
            elif pick == 2:
                del data[name]
        elif pick == 1:
            data[name] = str(value)
    if not data["outputs"]:
        pick = rng.randrange(3)
        if pick == 1:
            data["outputs"] = None
        elif pick == 2:
            del data["outputs"]
    if rng.random() < 0.5:
        data["queue_position"] = rng.randint(0, 40)
        data["model"] = "sim-model-v1"
        body["request_id"] = f"req_{rng.getrandbits(64):016x}"
