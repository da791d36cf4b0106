"""SimServer: a real HTTP server on loopback that answers like the Siray task API.

Routes (JSON unless noted):

====================================================  =====================================
``GET  /v1/images/generations/async/{task_id}``       query an image task
``GET  /v1/video/generations/{task_id}``               query a video task
``POST /v1/images/generations/async``                  submit an image task
``POST /v1/video/generations``                         submit a video task
``GET  /v1/3d/generations/{task_id}``                  query a 3D task
``POST /v1/3d/generations``                            submit a 3D task
``GET  /v1/models``                                    the models, with their tags
``GET  /redirect/{token}``                             302 to the output file (no auth)
``GET|HEAD /files/{task_id}/{index}.png|mp4|glb``      the file; ``Range: bytes=N-[M]`` -> 206
``GET|HEAD /files-huge/{n}[.png|.mp4|.glb|.bin]``      n zero bytes, chunked, no length;
                                                      ``?length=K`` sends a lying
                                                      ``Content-Length: K`` instead
``GET|HEAD /files-hostile/{name}.png``                 an image that attacks a decoder
                                                      (see :mod:`~siray_tui.sim.hostile_images`)
====================================================  =====================================

Faults (:class:`~siray_tui.sim.faults.Faults`, with the answers they bend, live in
:mod:`siray_tui.sim.faults`) and the token are plain attributes, changeable while the server
runs; they apply to ``/v1`` only, because output URLs are public files on a CDN in the
real service. Each ``/v1`` request draws its fault decisions from ``Random(seed, request
number)``, so a sequence of requests meets the same faults on every run.

``lying_content_length``: when set, ``/files`` answers a full (200) download with that
``Content-Length`` whatever the real size, sends the whole body, and closes the
connection. Smaller than the file, the client sees a short body; larger, a truncated one.
To test a download size cap, serve a body with no length at all from ``/files-huge/{n}``,
e.g. as a task's literal output:
``scenario.add_task("image", outputs=["{base}/files-huge/50000000.png"])``.

``corrupt_outputs``: task IDs whose output files are served with a lying header (see
:func:`~siray_tui.sim.media.corrupt`), for readers of media headers.
"""

from __future__ import annotations

import contextlib
import hmac
import json
import random
import re
import socket
import sys
import threading
import time
from collections import Counter, deque
from dataclasses import dataclass, field
from email.utils import formatdate
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any, Final, Self
from urllib.parse import parse_qs, quote, unquote, urlsplit

from siray_tui.sim.faults import GATEWAY_PAGE, Decision, Faults, accepted_answer, render_task
from siray_tui.sim.hostile_images import hostile_image
from siray_tui.sim.media import CONTENT_TYPES, EXTENSIONS, MediaStore, corrupt
from siray_tui.sim.scenario import KINDS, MODELS, SUCCESS, Kind, Scenario, submission_problem

SUBMIT_PATHS: Final[dict[str, Kind]] = {
    "/v1/images/generations/async": "image",
    "/v1/video/generations": "video",
    "/v1/3d/generations": "3d",
}
_QUERY_PATTERNS: Final[dict[Kind, re.Pattern[str]]] = {
    "image": re.compile(r"/v1/images/generations/async/([^/]+)"),
    "video": re.compile(r"/v1/video/generations/([^/]+)"),
    "3d": re.compile(r"/v1/3d/generations/([^/]+)"),
}
MODELS_PATH: Final = "/v1/models"
_FILE_PATTERN: Final = re.compile(r"/files/([^/]+)/(\d+)\.(png|mp4|glb)")
_HUGE_PATTERN: Final = re.compile(r"/files-huge/(\d+)(?:\.(png|mp4|glb|bin))?")
_RANGE_PATTERN: Final = re.compile(r"bytes=(\d+)-(\d*)")
_HUGE_TYPES: Final = {
    "png": "image/png",
    "mp4": "video/mp4",
    "glb": "model/gltf-binary",
    "bin": "application/octet-stream",
}
_STREAM_CHUNK: Final = 64 * 1024
_WILDCARD_HOSTS: Final = frozenset({"0.0.0.0", "::", ""})  # noqa: S104 (a check, not a bind)


def api_path(kind: Kind, task_id: str | None = None) -> str:
    """The submit path of a kind, or its query path for ``task_id`` (URL-quoted)."""
    submit = next(path for path, path_kind in SUBMIT_PATHS.items() if path_kind == kind)
    return submit if task_id is None else f"{submit}/{quote(task_id, safe='')}"


def error_body(message: str, type_: str, code: str) -> dict[str, Any]:
    """The API's error envelope."""
    return {"error": {"message": message, "type": type_, "code": code}}


@dataclass(frozen=True)
class LoggedRequest:
    """One request as it reached the server; header names are lower-cased."""

    method: str
    path: str
    headers: dict[str, str]
    at: float = field(default_factory=time.monotonic)


class _HTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    # The default backlog of 5 drops SYNs when a client opens a pool of connections at
    # once, and each dropped one costs a 1 s retransmit.
    request_queue_size = 128

    def __init__(self, address: tuple[str, int], sim: SimServer) -> None:
        if ":" in address[0]:
            self.address_family = socket.AF_INET6
        self.sim = sim
        self.connections: set[socket.socket] = set()
        self.connections_lock = threading.Lock()
        super().__init__(address, _Handler)

    def handle_error(self, request: Any, client_address: Any) -> None:
        # Clients hang up mid-stream on purpose (size caps, cancelled downloads).
        error = sys.exc_info()[1]
        if isinstance(error, (ConnectionError, TimeoutError)):
            return
        super().handle_error(request, client_address)


class StopOnExit:
    """``with`` gives the object itself and calls its :meth:`stop` on the way out."""

    def stop(self) -> None:
        raise NotImplementedError

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()


class SimServer(StopOnExit):
    """The simulator as a server: start it, point a client at ``base_url``, stop it.

    Args:
        scenario: the tasks and their lifecycles; default ``Scenario(seed)``.
        host: address to bind; loopback by default (the token travels in clear).
        port: 0 picks a free port (see ``port`` / ``base_url`` after ``start()``).
        token: the only accepted bearer token; None accepts any non-empty one.
        faults: fault knobs, default all off.
        seed: seeds fault decisions and output file bytes.
        log_limit: how many requests ``request_log`` keeps (the oldest go first), so a
            simulator left running for hours does not grow without bound.
    """

    def __init__(
        self,
        scenario: Scenario | None = None,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        token: str | None = None,
        faults: Faults | None = None,
        seed: int = 0,
        log_limit: int = 10_000,
    ) -> None:
        self.scenario = scenario if scenario is not None else Scenario(seed)
        self.host = host
        self.port = port
        self.token = token
        self.faults = faults if faults is not None else Faults()
        self.seed = seed
        self.lying_content_length: int | None = None
        self.corrupt_outputs: set[str] = set()
        self.media = MediaStore(seed)
        self._httpd: _HTTPServer | None = None
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self._log: deque[LoggedRequest] = deque(maxlen=log_limit)
        self._task_counts: Counter[str] = Counter()
        self._post_counts: Counter[str] = Counter()
        self._api_requests = 0

    # -- lifecycle -------------------------------------------------------------------

    def start(self) -> str:
        """Bind, serve in a daemon thread, and return the base URL."""
        if self._httpd is not None:
            raise RuntimeError("SimServer already started")
        httpd = _HTTPServer((self.host, self.port), self)
        self.port = httpd.server_address[1]
        self._httpd = httpd
        # A short poll interval keeps stop() (and so every test teardown) quick.
        self._thread = threading.Thread(
            target=httpd.serve_forever,
            kwargs={"poll_interval": 0.05},
            name=f"siray-sim:{self.port}",
            daemon=True,
        )
        self._thread.start()
        return self.base_url

    def stop(self) -> None:
        """Stop serving and close every open connection, so no client hangs on one."""
        httpd, self._httpd = self._httpd, None
        if httpd is None:
            return
        httpd.shutdown()
        with httpd.connections_lock:
            open_connections = list(httpd.connections)
        for connection in open_connections:
            with contextlib.suppress(OSError):
                connection.shutdown(socket.SHUT_RDWR)
        httpd.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def __enter__(self) -> Self:
        if self._httpd is None:
            self.start()
        return self

    @property
    def running(self) -> bool:
        """Whether the server is serving."""
        return self._httpd is not None

    @property
    def base_url(self) -> str:
        """``http://host:port`` of the running server."""
        if self._httpd is None:
            raise RuntimeError("SimServer is not running; call start() first")
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    def url(self, path: str) -> str:
        """An absolute URL on this server."""
        return self.base_url + path

    # -- inspection ------------------------------------------------------------------

    @property
    def request_log(self) -> list[LoggedRequest]:
        """A snapshot of the requests received so far (the last ``log_limit``), oldest first."""
        with self._lock:
            return list(self._log)

    def clear_log(self) -> None:
        """Forget logged requests and per-task counts (not the fault sequence)."""
        with self._lock:
            self._log.clear()
            self._task_counts.clear()
            self._post_counts.clear()

    def requests_for(self, task_id: str) -> int:
        """How many ``/v1`` requests named this task ID (whatever they were answered)."""
        with self._lock:
            return self._task_counts[task_id]

    def posts_for(self, prompt: str) -> int:
        """How many submissions (POSTs to a submit path) carried this prompt, whatever
        they were answered: how a test proves a line was never sent twice."""
        with self._lock:
            return self._post_counts[prompt]

    @property
    def post_count(self) -> int:
        """Every submission received since start (or the last :meth:`clear_log`)."""
        with self._lock:
            return sum(self._post_counts.values())

    @property
    def api_request_count(self) -> int:
        """Every ``/v1`` request since start (it also numbers the fault draws)."""
        with self._lock:
            return self._api_requests

    # -- used by the handler ---------------------------------------------------------

    def _record(self, method: str, path: str, headers: dict[str, str]) -> None:
        with self._lock:
            self._log.append(LoggedRequest(method, path, headers))

    def _count_post(self, body: bytes) -> None:
        try:
            payload = json.loads(body)
        except (UnicodeDecodeError, json.JSONDecodeError, RecursionError):
            payload = None
        prompt = payload.get("prompt") if isinstance(payload, dict) else None
        with self._lock:
            self._post_counts[prompt if isinstance(prompt, str) else ""] += 1

    def _decide(self, task_id: str | None) -> Decision:
        with self._lock:
            self._api_requests += 1
            number = self._api_requests
            task_count = 0
            if task_id is not None:
                self._task_counts[task_id] += 1
                task_count = self._task_counts[task_id]
        return Decision.draw(self.seed, number, task_count)


class _Handler(BaseHTTPRequestHandler):
    """Answers one connection's requests (keep-alive) against the owning SimServer."""

    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # else each small keep-alive reply waits ~40 ms
    server_version = "siray-sim/1.0"
    # Buffer each reply so its headers and body leave in one send: every extra syscall
    # is a GIL hand-off, and with many connections those hand-offs dominate.
    # handle_one_request() flushes after each request.
    wbufsize = -1
    server: _HTTPServer

    def log_message(self, format: str, *args: Any) -> None:
        """Silence the default stderr access log."""

    def version_string(self) -> str:
        return self.server_version

    def setup(self) -> None:
        super().setup()
        with self.server.connections_lock:
            self.server.connections.add(self.connection)

    def finish(self) -> None:
        with self.server.connections_lock:
            self.server.connections.discard(self.connection)
        super().finish()

    def do_GET(self) -> None:
        self._dispatch("GET")

    def do_HEAD(self) -> None:
        self._dispatch("HEAD")

    def do_POST(self) -> None:
        self._dispatch("POST")

    # -- plumbing --------------------------------------------------------------------

    @property
    def sim(self) -> SimServer:
        return self.server.sim

    def _dispatch(self, method: str) -> None:
        headers = {name.lower(): value for name, value in self.headers.items()}
        self.sim._record(method, self.path, headers)
        body = self._read_body()
        path = urlsplit(self.path).path
        try:
            if path == "/v1" or path.startswith("/v1/"):
                self._api(method, path, body)
            elif path.startswith("/redirect/") and method in ("GET", "HEAD"):
                self._redirect(method, path)
            elif path.startswith("/files/") and method in ("GET", "HEAD"):
                self._file(method, path)
            elif path.startswith("/files-huge/") and method in ("GET", "HEAD"):
                self._huge(method, path)
            elif path.startswith("/files-hostile/") and method in ("GET", "HEAD"):
                self._hostile_image(method, path)
            else:
                self._not_found(method)
        except (ConnectionError, TimeoutError):
            self.close_connection = True

    def _read_body(self) -> bytes:
        length_header = self.headers.get("Content-Length")
        if length_header is None:
            if self.headers.get("Transfer-Encoding"):
                self.close_connection = True  # unsupported framing: do not reuse
            return b""
        try:
            length = int(length_header)
        except ValueError:
            self.close_connection = True
            return b""
        return self.rfile.read(length) if length > 0 else b""

    def _send(
        self,
        method: str,
        status: int,
        body: bytes,
        content_type: str,
        headers: dict[str, str] | None = None,
    ) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        if method != "HEAD":
            self.wfile.write(body)

    def _json(
        self, method: str, status: int, payload: Any, headers: dict[str, str] | None = None
    ) -> None:
        try:
            body = json.dumps(payload, ensure_ascii=False).encode("utf-8")
        except UnicodeEncodeError:  # a lone surrogate: JSON can still carry it escaped
            body = json.dumps(payload).encode("ascii")
        self._send(method, status, body, "application/json", headers)

    def _not_found(self, method: str) -> None:
        self._json(method, 404, error_body("not found", "invalid_request_error", "not_found"))

    def _base(self) -> str:
        # Bound to a wildcard address, output URLs follow the host the client used.
        if self.sim.host in _WILDCARD_HOSTS:
            host = self.headers.get("Host")
            if host:
                return f"http://{host}"
        return self.sim.base_url

    def _authorized(self) -> bool:
        scheme, _, credential = self.headers.get("Authorization", "").strip().partition(" ")
        credential = credential.strip()
        if scheme.lower() != "bearer" or not credential:
            return False
        token = self.sim.token
        return token is None or hmac.compare_digest(credential.encode(), token.encode())

    # -- /v1 ---------------------------------------------------------------------------

    def _api(self, method: str, path: str, body: bytes) -> None:
        query_kind: Kind | None = None
        task_id: str | None = None
        for kind, pattern in _QUERY_PATTERNS.items():
            match = pattern.fullmatch(path)
            if match:
                query_kind, task_id = kind, unquote(match.group(1))
                break
        if method == "POST" and path in SUBMIT_PATHS:
            self.sim._count_post(body)
        decision = self.sim._decide(task_id)
        faults = self.sim.faults
        if faults.latency > 0:
            time.sleep(faults.latency)
        if not self._authorized():
            payload = error_body("invalid token", "authentication_error", "invalid_api_key")
            self._json(method, 401, payload, {"WWW-Authenticate": "Bearer"})
            return
        is_poll = method in ("GET", "HEAD")
        if is_poll and decision.drop < faults.drop_rate:
            self.close_connection = True  # the client sees the connection end, no reply
            return
        if faults.rate_limit_every > 0 and decision.number % faults.rate_limit_every == 0:
            self._rate_limited(method)
            return
        if is_poll and task_id is not None and decision.task_count <= faults.fail_first:
            if faults.fail_first_with == "html":
                self._send(method, 200, GATEWAY_PAGE, "text/html")
            else:
                self._server_error(method, int(faults.fail_first_with))
            return
        if is_poll and decision.error < faults.error_rate:
            self._server_error(method, decision.error_status)
            return
        if is_poll and decision.nonjson < faults.nonjson_rate:
            self._send(method, 200, GATEWAY_PAGE, "text/html")
            return
        if task_id is not None and query_kind is not None and is_poll:
            self._query(method, query_kind, task_id, decision.rng)
        elif path in SUBMIT_PATHS and method == "POST":
            self._submit(method, SUBMIT_PATHS[path], body, decision)
        elif path == MODELS_PATH and is_poll:
            self._models(method)
        elif path in SUBMIT_PATHS or task_id is not None:
            payload = error_body("method not allowed", "invalid_request_error", "bad_method")
            self._json(method, 405, payload)
        else:
            self._not_found(method)

    def _rate_limited(self, method: str) -> None:
        retry_after = self.sim.faults.retry_after
        headers: dict[str, str] = {}
        if retry_after == "date":
            headers["Retry-After"] = formatdate(time.time() + 2, usegmt=True)
        elif retry_after == "past":
            headers["Retry-After"] = formatdate(time.time() - 3600, usegmt=True)
        elif retry_after is not None:
            headers["Retry-After"] = str(retry_after)
        payload = error_body("rate limit exceeded", "rate_limit_error", "rate_limit_exceeded")
        self._json(method, 429, payload, headers)

    def _server_error(self, method: str, status: int) -> None:
        if status == 502:
            self._send(method, 502, GATEWAY_PAGE, "text/html")
        elif status == 503:
            payload = error_body("service temporarily unavailable", "server_error", "overloaded")
            self._json(method, 503, payload)
        else:
            payload = error_body("internal server error", "server_error", "internal_error")
            self._json(method, 500, payload)

    def _query(self, method: str, kind: Kind, task_id: str, rng: random.Random) -> None:
        task = self.sim.scenario.get(task_id)
        if task is None or task.kind != kind:
            payload = error_body("task not found", "invalid_request_error", "task_not_found")
            self._json(method, 404, payload)
            return
        hostile = self.sim.faults.hostile_tasks.get(task_id)
        if hostile is not None and hostile.drip > 0:
            self._drip(hostile.drip)
            return
        state = task.state_at(self.sim.scenario.now())
        self._json(method, 200, render_task(task, state, self._base(), self.sim.faults, rng))

    def _drip(self, every: float) -> None:
        """Promise a big JSON body, then trickle it a byte at a time (until hung up on)."""
        self.close_connection = True
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", "1000000")
        self.end_headers()
        self.wfile.write(b"{")
        self.wfile.flush()
        for _ in range(999_999):
            time.sleep(every)
            if not self.sim.running:
                return
            self.wfile.write(b" ")
            self.wfile.flush()

    def _submit(self, method: str, kind: Kind, body: bytes, decision: Decision) -> None:
        try:
            payload = json.loads(body)
        except (UnicodeDecodeError, json.JSONDecodeError, RecursionError):
            payload = None
        if not isinstance(payload, dict):
            error = error_body(
                "request body must be a JSON object", "invalid_request_error", "invalid_json"
            )
            self._json(method, 400, error)
            return
        problem = submission_problem(kind, payload)
        if problem is not None:
            self._json(method, 400, error_body(problem, "invalid_request_error", "invalid_value"))
            return
        task = self.sim.scenario.submit(kind, payload)
        faults = self.sim.faults
        if decision.error < faults.ambiguous_rate:
            self._server_error(method, decision.error_status)  # created all the same
            return
        self._json(method, 200, accepted_answer(task.task_id, faults.submit_answer))

    def _models(self, method: str) -> None:
        items = [
            {"id": name, "object": "model", "model_name": title, "tag": tag}
            for name, title, tag in MODELS
        ]
        self._json(method, 200, {"object": "list", "data": items})

    # -- public files ------------------------------------------------------------------

    def _redirect(self, method: str, path: str) -> None:
        resolved = self.sim.scenario.resolve_output(unquote(path[len("/redirect/") :]))
        if resolved is None:
            self._not_found(method)
            return
        task, index = resolved
        location = f"{self._base()}/files/{quote(task.task_id, safe='')}/{index}"
        location += f".{EXTENSIONS[task.kind]}"
        self._send(method, 302, b"", "text/plain", {"Location": location})

    def _file(self, method: str, path: str) -> None:
        match = _FILE_PATTERN.fullmatch(path)
        task = self.sim.scenario.get(unquote(match.group(1))) if match else None
        if match is None or task is None or task.kind not in KINDS:
            self._not_found(method)
            return
        index = int(match.group(2))
        state = task.state_at(self.sim.scenario.now())
        if (
            state.status != SUCCESS
            or match.group(3) != EXTENSIONS[task.kind]
            or index >= len(task.output_tokens)
        ):
            self._not_found(method)
            return
        data = self.sim.media.get(task.task_id, task.kind, index)
        if task.task_id in self.sim.corrupt_outputs:
            data = corrupt(data)
        content_type = CONTENT_TYPES[task.kind]
        range_match = _RANGE_PATTERN.fullmatch(self.headers.get("Range", "").strip())
        if range_match:
            self._partial(method, data, content_type, range_match)
            return
        lie = self.sim.lying_content_length
        if lie is None:
            self._send(method, 200, data, content_type, {"Accept-Ranges": "bytes"})
            return
        self.send_response(200)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(lie))
        self.send_header("Connection", "close")
        self.end_headers()
        if method != "HEAD":
            self.wfile.write(data)
        self.close_connection = True

    def _partial(self, method: str, data: bytes, content_type: str, match: re.Match[str]) -> None:
        first = int(match.group(1))
        last = int(match.group(2)) if match.group(2) else len(data) - 1
        if first >= len(data) or last < first:
            self._send(method, 416, b"", content_type, {"Content-Range": f"bytes */{len(data)}"})
            return
        last = min(last, len(data) - 1)
        headers = {"Content-Range": f"bytes {first}-{last}/{len(data)}", "Accept-Ranges": "bytes"}
        self._send(method, 206, data[first : last + 1], content_type, headers)

    def _hostile_image(self, method: str, path: str) -> None:
        name = path[len("/files-hostile/") :].removesuffix(".png")
        found = hostile_image(name)
        if found is None:
            self._not_found(method)
            return
        self._send(method, 200, found[0], found[1])

    def _huge(self, method: str, path: str) -> None:
        match = _HUGE_PATTERN.fullmatch(path)
        if match is None:
            self._not_found(method)
            return
        size = int(match.group(1))
        content_type = _HUGE_TYPES[match.group(2) or "png"]
        claimed = parse_qs(urlsplit(self.path).query).get("length", [None])[0]
        self.send_response(200)
        self.send_header("Content-Type", content_type)
        if claimed is not None and claimed.isdigit():
            self.send_header("Content-Length", claimed)
            self.send_header("Connection", "close")
            self.close_connection = True
            chunked = False
        else:
            self.send_header("Transfer-Encoding", "chunked")
            chunked = True
        self.end_headers()
        if method == "HEAD":
            return
        zeros = bytes(_STREAM_CHUNK)
        remaining = size
        while remaining > 0:
            piece = zeros[: min(remaining, _STREAM_CHUNK)]
            if chunked:
                self.wfile.write(f"{len(piece):x}\r\n".encode() + piece + b"\r\n")
            else:
                self.wfile.write(piece)
            remaining -= len(piece)
        if chunked:
            self.wfile.write(b"0\r\n\r\n")
