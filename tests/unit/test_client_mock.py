"""SirayClient over httpx.MockTransport: paths, the token, redirects, the error taxonomy."""

from __future__ import annotations

import json
import ssl
import traceback
from collections.abc import Callable
from email.utils import formatdate
from typing import Any

import httpx
import pytest

from siray_tui.core import client as client_module
from siray_tui.core.client import (
    DEFAULT_BASE_URL,
    MAX_CONNECTIONS,
    SirayClient,
    check_base_url,
)
from siray_tui.core.clock import FakeClock
from siray_tui.core.errors import (
    ApiError,
    AuthError,
    ConfigError,
    HttpStatusError,
    InvalidTaskIdError,
    NotFoundError,
    NotSentError,
    PayloadError,
    RateLimitedError,
    RequestTimeoutError,
    ServerError,
    TransportError,
)
from siray_tui.core.lanes import Lanes
from siray_tui.core.models import TaskKind, TaskStatus
from siray_tui.core.secret import Secret

BASE = "https://api.siray.ai"
# Distinctive, so a search for it in messages cannot hit ordinary words like "token".
TOKEN = "sk-test-9f8e7d6c5b4a3f2e1d0c"
IMAGE_ID = "image_a8813a4b4c9"
VIDEO_ID = "video_a8813a4b4c9"

Handler = Callable[[httpx.Request], httpx.Response]


def task_body(task_id: str = IMAGE_ID, status: str = "IN_PROGRESS", **data: Any) -> dict[str, Any]:
    return {
        "code": "success",
        "message": "",
        "data": {"task_id": task_id, "status": status, "progress": "45%", **data},
    }


class Recorder:
    """A MockTransport handler that records every request and answers with ``respond``."""

    def __init__(self, respond: Handler | None = None) -> None:
        self.requests: list[httpx.Request] = []
        self._respond = respond or (lambda request: httpx.Response(200, json=task_body()))

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        return self._respond(request)


def make_client(
    handler: Handler, token: Secret | None = None, base_url: str = BASE, **kwargs: Any
) -> SirayClient:
    return SirayClient(
        base_url,
        Secret(TOKEN) if token is None else token,
        transport=httpx.MockTransport(handler),
        **kwargs,
    )


def answer(status: int, **kwargs: Any) -> Handler:
    return lambda request: httpx.Response(status, **kwargs)


# -- requests --------------------------------------------------------------------------


async def test_bearer_token_is_sent_on_api_requests() -> None:
    recorder = Recorder()
    async with make_client(recorder, token=Secret("tok")) as client:
        await client.get_task(IMAGE_ID, TaskKind.IMAGE)
        recorder._respond = answer(200, json={"code": "success", "data": {"task_id": "image_1"}})
        await client.submit(TaskKind.IMAGE, {"model": "m", "prompt": "p"})
    assert len(recorder.requests) == 2
    for request in recorder.requests:
        assert request.headers["Authorization"] == "Bearer tok"
        assert request.headers["Accept"] == "application/json"
        assert request.headers["User-Agent"].startswith("siray-tui/")


@pytest.mark.parametrize(
    ("kind", "task_id", "path"),
    [
        (TaskKind.IMAGE, IMAGE_ID, f"/v1/images/generations/async/{IMAGE_ID}"),
        (TaskKind.VIDEO, VIDEO_ID, f"/v1/video/generations/{VIDEO_ID}"),
        (TaskKind.IMAGE, VIDEO_ID, f"/v1/images/generations/async/{VIDEO_ID}"),
        (TaskKind.VIDEO, "task-1.2_x", "/v1/video/generations/task-1.2_x"),
    ],
)
async def test_query_paths(kind: TaskKind, task_id: str, path: str) -> None:
    recorder = Recorder(answer(200, json=task_body(task_id)))
    async with make_client(recorder) as client:
        state = await client.get_task(task_id, kind)
        assert client.query_url(task_id, kind) == BASE + path
    assert state.task_id == task_id
    assert state.status is TaskStatus.IN_PROGRESS
    assert state.progress == 45
    [request] = recorder.requests
    assert request.method == "GET"
    assert request.url.host == "api.siray.ai"
    assert request.url.scheme == "https"
    assert request.url.raw_path.decode() == path


@pytest.mark.parametrize(
    ("kind", "path"),
    [(TaskKind.IMAGE, "/v1/images/generations/async"), (TaskKind.VIDEO, "/v1/video/generations")],
)
async def test_submit_paths_and_body(kind: TaskKind, path: str) -> None:
    recorder = Recorder(answer(200, json={"code": "success", "data": {"task_id": "new_1"}}))
    request_body = {"model": "m-1", "prompt": "a red fox", "n": 2}
    async with make_client(recorder) as client:
        assert await client.submit(kind, request_body) == "new_1"
    [request] = recorder.requests
    assert request.method == "POST"
    assert request.url.path == path
    assert json.loads(request.content) == request_body
    assert request.headers["Content-Type"] == "application/json"


async def test_base_url_with_a_path_prefix_keeps_it() -> None:
    recorder = Recorder()
    async with make_client(recorder, base_url="https://gw.example.com/siray/") as client:
        await client.get_task(IMAGE_ID, TaskKind.IMAGE)
    assert recorder.requests[0].url.path == f"/siray/v1/images/generations/async/{IMAGE_ID}"


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ({"code": "success", "message": "", "data": {"task_id": "image_1"}}, "image_1"),
        ({"code": "success", "task_id": "image_2"}, "image_2"),
        ({"task_id": "image_3"}, "image_3"),
        ({"code": "success", "data": {"task_id": ""}, "task_id": "image_4"}, "image_4"),
        ({"code": "success", "data": None, "task_id": "image_5"}, "image_5"),
    ],
)
async def test_submit_returns_the_new_id(body: dict[str, Any], expected: str) -> None:
    async with make_client(answer(200, json=body)) as client:
        assert await client.submit(TaskKind.IMAGE, {"prompt": "x"}) == expected


@pytest.mark.parametrize(
    "body",
    [
        {"code": "success", "data": {}},
        {"code": "success", "data": {"task_id": 123}},
        {"code": "success", "data": {"task_id": None}},
        {"code": "error", "message": "quota", "data": {"task_id": "image_1"}},
        ["image_1"],
        "image_1",
    ],
)
async def test_submit_without_a_usable_id_is_a_payload_error(body: Any) -> None:
    async with make_client(answer(200, json=body)) as client:
        with pytest.raises(PayloadError):
            await client.submit(TaskKind.IMAGE, {"prompt": "x"})


@pytest.mark.parametrize(
    "task_id",
    ["../x", "a/b", "a?b", "x" * 129, "a b"],
    ids=["dotdot", "slash", "query", "long", "space"],
)
async def test_submit_answering_an_unsafe_id_is_a_payload_error(task_id: str) -> None:
    """The docstring promises ApiError (PayloadError when no usable ID came back), so a
    caller that catches ApiError must not be surprised by a bare InvalidTaskIdError."""
    body = {"code": "success", "data": {"task_id": task_id}}
    async with make_client(answer(200, json=body)) as client:
        with pytest.raises(PayloadError) as caught:
            await client.submit(TaskKind.VIDEO, {"prompt": "x"})
    assert isinstance(caught.value.__cause__, InvalidTaskIdError)  # kept for a traceback


async def test_auto_kind_is_refused_before_any_request() -> None:
    recorder = Recorder()
    async with make_client(recorder) as client:
        with pytest.raises(ValueError):
            await client.get_task(IMAGE_ID, TaskKind.AUTO)
        with pytest.raises(ValueError):
            await client.submit(TaskKind.AUTO, {})
    assert recorder.requests == []


@pytest.mark.parametrize("task_id", ["../x", "a/b", "a?b", "a#b", "..", "", "a%2F..", "é"])
async def test_invalid_task_id_makes_no_request(task_id: str) -> None:
    recorder = Recorder()
    async with make_client(recorder) as client:
        for kind in (TaskKind.IMAGE, TaskKind.VIDEO):
            with pytest.raises(InvalidTaskIdError):
                await client.get_task(task_id, kind)
    assert recorder.requests == []


# -- redirects and where the token goes ------------------------------------------------


@pytest.mark.parametrize("status", [301, 302, 303, 307, 308])
async def test_redirect_from_the_api_is_not_followed(status: int) -> None:
    recorder = Recorder(
        lambda request: (
            httpx.Response(status, headers={"Location": "https://evil.example.com/steal"})
            if request.url.host == "api.siray.ai"
            else httpx.Response(200, json=task_body())
        )
    )
    async with make_client(recorder) as client:
        with pytest.raises(HttpStatusError) as caught:
            await client.get_task(IMAGE_ID, TaskKind.IMAGE)
    assert caught.value.status_code == status
    assert [request.url.host for request in recorder.requests] == ["api.siray.ai"]
    assert TOKEN not in str(caught.value)


@pytest.mark.parametrize("token", [None, Secret("")])
async def test_no_token_sends_no_authorization_header(token: Secret | None) -> None:
    recorder = Recorder()
    client = SirayClient(BASE, token, transport=httpx.MockTransport(recorder))
    async with client:
        assert client.has_token is False
        await client.get_task(IMAGE_ID, TaskKind.IMAGE)
    assert "Authorization" not in recorder.requests[0].headers


@pytest.mark.parametrize(
    "url",
    [
        "https://cdn.example.net/v1/images/generations/async/x",  # another host
        "http://api.siray.ai/v1/images/generations/async/x",  # same host, another scheme
        "https://api.siray.ai:8443/v1/images/generations/async/x",  # same host, another port
    ],
)
async def test_token_is_not_sent_to_another_origin(url: str) -> None:
    """Every public method sends a relative path today, so only ``_send`` with an absolute
    URL can show that the origin check (not just "is there a token") guards the header;
    the request to the API itself is the control that the token would otherwise go."""
    recorder = Recorder()
    async with make_client(recorder, token=Secret("tok")) as client:
        await client._send("GET", url)
        await client._send("GET", "/v1/images/generations/async/x")
    foreign, own = recorder.requests
    assert str(foreign.url) == url
    assert "Authorization" not in foreign.headers
    assert own.headers["Authorization"] == "Bearer tok"


async def test_has_token() -> None:
    async with make_client(Recorder()) as client:
        assert client.has_token is True


# -- base URL --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("https://api.siray.ai", "https://api.siray.ai"),
        ("https://api.siray.ai/", "https://api.siray.ai"),
        ("  https://api.siray.ai//  ", "https://api.siray.ai"),
        ("https://gw.example.com:8443/siray/", "https://gw.example.com:8443/siray"),
        ("http://127.0.0.1:8765/", "http://127.0.0.1:8765"),
        ("http://localhost:8765", "http://localhost:8765"),
        ("http://[::1]:8765", "http://[::1]:8765"),
    ],
)
def test_check_base_url_accepts(url: str, expected: str) -> None:
    assert check_base_url(url) == expected


@pytest.mark.parametrize(
    "url", ["http://api.siray.ai", "http://10.0.0.5:8765/", "http://example.com/"]
)
def test_plain_http_to_a_remote_host_needs_insecure(url: str) -> None:
    with pytest.raises(ConfigError):
        check_base_url(url)
    with pytest.raises(ConfigError):
        SirayClient(url, Secret(TOKEN))
    assert check_base_url(url, insecure=True) == url.rstrip("/")


@pytest.mark.parametrize(
    "url",
    [
        "",
        "api.siray.ai",
        "ftp://api.siray.ai",
        "file:///etc/passwd",
        "https://",
        "https://u:p@api.siray.ai",
        "https://api.siray.ai/?x=1",
        "https://api.siray.ai/#f",
    ],
)
def test_check_base_url_refuses(url: str) -> None:
    with pytest.raises(ConfigError):
        check_base_url(url, insecure=True)


async def test_default_base_url_is_https() -> None:
    client = SirayClient(token=Secret(TOKEN))
    try:
        assert client.base_url == DEFAULT_BASE_URL == "https://api.siray.ai"
    finally:
        await client.aclose()


# -- error taxonomy --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "error"),
    [
        (401, AuthError),
        (403, AuthError),
        (404, NotFoundError),
        (500, ServerError),
        (502, ServerError),
        (503, ServerError),
        (504, ServerError),
        (400, HttpStatusError),
        (405, HttpStatusError),
        (418, HttpStatusError),
        (304, HttpStatusError),
    ],
)
async def test_status_mapping(status: int, error: type[ApiError]) -> None:
    handler = answer(status, json={"error": {"message": "nope", "type": "t", "code": "c"}})
    async with make_client(handler) as client:
        with pytest.raises(error) as caught:
            await client.get_task(IMAGE_ID, TaskKind.IMAGE)
    assert type(caught.value) is error
    assert caught.value.status_code == status
    assert str(status) in str(caught.value)
    assert "nope" in str(caught.value)


async def test_5xx_with_html_body_is_a_server_error() -> None:
    handler = answer(
        502, content=b"<html>502 Bad Gateway</html>", headers={"Content-Type": "text/html"}
    )
    async with make_client(handler) as client:
        with pytest.raises(ServerError) as caught:
            await client.get_task(IMAGE_ID, TaskKind.IMAGE)
    assert caught.value.status_code == 502


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        ({"Retry-After": "7"}, 7.0),
        ({"Retry-After": "2.5"}, 2.5),
        ({"Retry-After": "9999"}, 120.0),
        ({"Retry-After": "soon"}, None),
        ({}, None),
    ],
)
async def test_429_is_rate_limited_with_retry_after(
    headers: dict[str, str], expected: float | None
) -> None:
    handler = answer(429, headers=headers, json={"error": {"message": "slow down"}})
    async with make_client(handler) as client:
        with pytest.raises(RateLimitedError) as caught:
            await client.get_task(IMAGE_ID, TaskKind.IMAGE)
    assert caught.value.retry_after == expected
    assert caught.value.status_code == 429


async def test_429_with_an_http_date_uses_the_injected_clock() -> None:
    clock = FakeClock(now=1_763_274_672.0)
    handler = answer(429, headers={"Retry-After": formatdate(clock.now() + 30, usegmt=True)})
    async with make_client(handler, clock=clock) as client:
        with pytest.raises(RateLimitedError) as caught:
            await client.get_task(IMAGE_ID, TaskKind.IMAGE)
    assert caught.value.retry_after == 30.0


@pytest.mark.parametrize(
    "response",
    [
        httpx.Response(200, content=b"<html>gateway</html>", headers={"Content-Type": "text/html"}),
        httpx.Response(200, content=b""),
        httpx.Response(200, content=b'{"code": "success", '),
        httpx.Response(200, content=b"\xff\xfe\xfa garbage"),
        httpx.Response(200, json={"code": "error", "message": "quota"}),
        httpx.Response(200, json={"code": "success", "data": None}),
        httpx.Response(200, json=["SUCCESS"]),
        httpx.Response(200, json=None),
    ],
)
async def test_unusable_200_is_a_payload_error(response: httpx.Response) -> None:
    async with make_client(lambda request: response) as client:
        with pytest.raises(PayloadError):
            await client.get_task(IMAGE_ID, TaskKind.IMAGE)


async def test_a_body_that_is_not_json_keeps_the_decoders_reason_as_cause() -> None:
    async with make_client(answer(200, content=b'{"code": "success", ')) as client:
        with pytest.raises(PayloadError) as caught:
            await client.get_task(IMAGE_ID, TaskKind.IMAGE)
    assert isinstance(caught.value.__cause__, json.JSONDecodeError)


@pytest.mark.parametrize(
    ("exception", "error"),
    [
        (httpx.ConnectError("connection refused"), NotSentError),
        (httpx.ReadError("connection reset"), TransportError),
        (httpx.RemoteProtocolError("server disconnected"), TransportError),
        (httpx.ReadTimeout("read timed out"), RequestTimeoutError),
        (httpx.ConnectTimeout("connect timed out"), NotSentError),
        (httpx.PoolTimeout("pool timed out"), NotSentError),  # never started: not sent
        (httpx.WriteTimeout("write timed out"), RequestTimeoutError),
    ],
)
async def test_transport_failures(exception: httpx.HTTPError, error: type[ApiError]) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        raise exception

    async with make_client(handler) as client:
        with pytest.raises(error) as caught:
            await client.get_task(IMAGE_ID, TaskKind.IMAGE)
    assert type(caught.value) is error
    assert isinstance(caught.value, TransportError)
    assert caught.value.status_code is None


async def test_transport_error_message_is_cleaned() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("refused \x1b]0;owned\x07\nsecond line")

    async with make_client(handler) as client:
        with pytest.raises(TransportError) as caught:
            await client.get_task(IMAGE_ID, TaskKind.IMAGE)
    message = str(caught.value)
    assert "\x1b" not in message
    assert "\n" not in message
    assert "refused" in message


@pytest.mark.parametrize("status", [400, 401, 404, 429, 500])
@pytest.mark.parametrize(
    "body",
    [
        {"error": {"message": "\x1b[31mbad\x1b[0m thing\n\x1b]52;c;ZXZpbA==\x07", "type": "x"}},
        {"error": "\x1b[31mbad\x1b[0m thing"},
        {"message": "\x1b[31mbad\x1b[0m thing"},
    ],
)
async def test_error_body_message_is_cleaned(status: int, body: dict[str, Any]) -> None:
    async with make_client(answer(status, json=body)) as client:
        with pytest.raises(ApiError) as caught:
            await client.get_task(IMAGE_ID, TaskKind.IMAGE)
    message = str(caught.value)
    assert "bad thing" in message
    assert "\x1b" not in message
    assert "\n" not in message
    assert "ZXZpbA" not in message


async def test_long_error_body_message_is_cut() -> None:
    body = {"error": {"message": "x" * 10_000}}
    async with make_client(answer(400, json=body)) as client:
        with pytest.raises(HttpStatusError) as caught:
            await client.get_task(IMAGE_ID, TaskKind.IMAGE)
    assert len(str(caught.value)) < 400


# -- one shared pool -------------------------------------------------------------------


async def test_one_async_client_is_shared_across_requests(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    created: list[httpx.AsyncClient] = []
    original_init = httpx.AsyncClient.__init__

    def counting_init(self: httpx.AsyncClient, *args: Any, **kwargs: Any) -> None:
        created.append(self)
        original_init(self, *args, **kwargs)

    monkeypatch.setattr(httpx.AsyncClient, "__init__", counting_init)
    recorder = Recorder()
    async with make_client(recorder) as client:
        shared = client._http
        for _ in range(5):
            await client.get_task(IMAGE_ID, TaskKind.IMAGE)
            assert client._http is shared
        recorder._respond = answer(200, json={"code": "success", "data": {"task_id": "x_1"}})
        await client.submit(TaskKind.VIDEO, {"prompt": "x"})
    assert created == [shared]
    assert len(recorder.requests) == 6
    assert shared.is_closed


@pytest.mark.parametrize(("asked", "expected"), [(50, 10), (10, 10), (4, 4), (1, 1), (0, 1)])
async def test_pool_size_is_capped(asked: int, expected: int) -> None:
    client = SirayClient(BASE, Secret(TOKEN), max_connections=asked)
    try:
        lanes = client._transport
        assert isinstance(lanes, Lanes)
        assert lanes.size == expected <= MAX_CONNECTIONS == 10
    finally:
        await client.aclose()


async def test_aclose_closes_the_pool() -> None:
    client = make_client(Recorder())
    await client.aclose()
    assert client._http.is_closed


# -- the token never leaks -------------------------------------------------------------

LEAK_CASES: list[tuple[Handler, type[ApiError]]] = [
    (answer(401, json={"error": {"message": "invalid token"}}), AuthError),
    (answer(403, text="forbidden"), AuthError),
    (answer(404, json={"error": {"message": "task not found"}}), NotFoundError),
    (answer(429, headers={"Retry-After": "3"}), RateLimitedError),
    (answer(500, json={"error": {"message": "boom"}}), ServerError),
    (answer(418, text="teapot"), HttpStatusError),
    (answer(302, headers={"Location": "https://evil.example.com/"}), HttpStatusError),
    (answer(200, text="<html>"), PayloadError),
    (answer(200, json={"code": "error", "message": "denied"}), PayloadError),
]


def _raise(exception: Exception) -> Handler:
    def handler(request: httpx.Request) -> httpx.Response:
        raise exception

    return handler


LEAK_CASES += [
    (_raise(httpx.ConnectError("refused")), NotSentError),
    (_raise(httpx.ReadTimeout("timed out")), RequestTimeoutError),
]


@pytest.mark.parametrize(("handler", "error"), LEAK_CASES)
async def test_token_never_appears_in_errors(handler: Handler, error: type[ApiError]) -> None:
    client = make_client(handler)
    assert TOKEN not in repr(client)
    assert TOKEN not in str(client)
    try:
        async with client:
            await client.get_task(IMAGE_ID, TaskKind.IMAGE)
    except ApiError as exc:
        assert type(exc) is error
        assert TOKEN not in str(exc)
        assert TOKEN not in repr(exc)
        assert all(TOKEN not in repr(arg) for arg in exc.args)
        rendered = "".join(
            traceback.TracebackException.from_exception(exc, capture_locals=True).format()
        )
        assert TOKEN not in rendered
        assert "Bearer" not in rendered
    else:
        pytest.fail(f"expected {error.__name__}")


# -- find_task: AUTO tries each endpoint ------------------------------------------------


def answering_on(path_prefix: str) -> Handler:
    """200 on the endpoint under ``path_prefix``, 404 elsewhere."""

    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path.startswith(path_prefix):
            return httpx.Response(200, json=task_body("x", status="QUEUED"))
        return httpx.Response(404, json={"error": {"message": "task not found"}})

    return handler


IMAGE_PATH = "/v1/images/generations/async/"
VIDEO_PATH = "/v1/video/generations/"


@pytest.mark.parametrize(
    ("task_id", "answering", "expected_kind", "paths_tried"),
    [
        ("task-1", IMAGE_PATH, TaskKind.IMAGE, [IMAGE_PATH]),
        ("task-1", VIDEO_PATH, TaskKind.VIDEO, [IMAGE_PATH, VIDEO_PATH]),
        ("image_1", VIDEO_PATH, TaskKind.VIDEO, [IMAGE_PATH, VIDEO_PATH]),
        ("video_1", VIDEO_PATH, TaskKind.VIDEO, [VIDEO_PATH]),
        ("video_1", IMAGE_PATH, TaskKind.IMAGE, [VIDEO_PATH, IMAGE_PATH]),
    ],
)
async def test_find_task_with_auto_kind(
    task_id: str, answering: str, expected_kind: TaskKind, paths_tried: list[str]
) -> None:
    recorder = Recorder(answering_on(answering))
    async with make_client(recorder) as client:
        kind, state = await client.find_task(task_id, TaskKind.AUTO)
    assert kind is expected_kind
    assert state.task_id == task_id
    assert state.status is TaskStatus.QUEUED
    assert [r.url.path.rsplit("/", 1)[0] + "/" for r in recorder.requests] == paths_tried


async def test_find_task_not_found_anywhere() -> None:
    recorder = Recorder(answer(404, json={"error": {"message": "task not found"}}))
    async with make_client(recorder) as client:
        with pytest.raises(NotFoundError):
            await client.find_task("task-1", TaskKind.AUTO)
    assert len(recorder.requests) == 3


async def test_find_task_with_a_concrete_kind_asks_once() -> None:
    recorder = Recorder(answer(404, json={"error": {"message": "task not found"}}))
    async with make_client(recorder) as client:
        with pytest.raises(NotFoundError):
            await client.find_task("task-1", TaskKind.IMAGE)
    assert len(recorder.requests) == 1


@pytest.mark.parametrize(("status", "error"), [(500, ServerError), (401, AuthError)])
async def test_find_task_stops_on_errors_other_than_404(status: int, error: type[ApiError]) -> None:
    recorder = Recorder(answer(status))
    async with make_client(recorder) as client:
        with pytest.raises(error):
            await client.find_task("task-1", TaskKind.AUTO)
    assert len(recorder.requests) == 1


async def test_a_cookie_the_server_sets_is_never_sent_back() -> None:
    """Requests go to the transport directly, past httpx's cookie jar: what an API (or a
    hostile server) sets is not carried into the next request."""
    recorder = Recorder(
        lambda request: httpx.Response(
            200, json=task_body(), headers={"Set-Cookie": "session=abc123; Path=/"}
        )
    )
    async with make_client(recorder) as client:
        await client.get_task(IMAGE_ID, TaskKind.IMAGE)
        await client.get_task(IMAGE_ID, TaskKind.IMAGE)
    assert all("Cookie" not in request.headers for request in recorder.requests)
    assert recorder.requests[1].headers["Authorization"] == f"Bearer {TOKEN}"


async def test_request_urls_are_absolute_on_the_base_url_and_kept_within_a_bound() -> None:
    recorder = Recorder()
    async with make_client(recorder, base_url="https://api.siray.ai/prefix") as client:
        for n in range(client_module.URL_CACHE_SIZE + 5):
            await client.get_task(f"image_{n:x}", TaskKind.IMAGE)
        assert len(client._urls) <= client_module.URL_CACHE_SIZE
    assert str(recorder.requests[-1].url) == (
        f"https://api.siray.ai/prefix/v1/images/generations/async/image_{n:x}"
    )


async def test_a_closed_client_refuses_to_send() -> None:
    """Past ``AsyncClient.send`` the transport would open a new connection for a closed
    client (and leak it): the client checks itself."""
    recorder = Recorder()
    client = make_client(recorder)
    await client.aclose()
    with pytest.raises(RuntimeError, match="closed"):
        await client.get_task(IMAGE_ID, TaskKind.IMAGE)
    assert recorder.requests == []


def test_only_an_https_base_url_loads_the_certificate_authorities() -> None:
    """A plain-http base URL never uses TLS (every request goes to it); its context trusts
    no one, so nothing could be verified through it by mistake."""
    public = client_module._tls_context("https://api.siray.ai")
    assert public.verify_mode is ssl.CERT_REQUIRED and public.cert_store_stats()["x509_ca"] > 0
    context = client_module._tls_context("http://127.0.0.1:8000")
    assert isinstance(context, ssl.SSLContext)
    assert context.verify_mode is ssl.CERT_REQUIRED and context.check_hostname
    assert context.cert_store_stats()["x509_ca"] == 0
