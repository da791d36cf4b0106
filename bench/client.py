"""How much SirayClient.get_task costs over a bare shared httpx.AsyncClient.

Runs the simulator in a subprocess (so server and client do not share a GIL), then in one
process and one run measures requests per second at a fixed concurrency for:

* ``bare httpx.AsyncClient``: one shared client with the same limits, GET + ``json()``;
* ``SirayClient.get_task``: the same URL through our client (ID check, auth header,
  error mapping, TaskState parsing);
* ``httpx client per request``: a new AsyncClient for every request, as the official SDK
  does, for contrast (fewer requests: it is slow).

Modes alternate over several rounds and the median round is reported, so a slow moment of
the machine does not land on one mode only.

Usage: ``.venv/bin/python bench/client.py [--requests 2000] [--concurrency 8] [--rounds 3]``
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from siray_tui.core.client import MAX_CONNECTIONS, USER_AGENT, SirayClient  # noqa: E402
from siray_tui.core.models import TaskKind, TaskStatus  # noqa: E402
from siray_tui.core.secret import Secret  # noqa: E402

TOKEN = "bench-token"
TIMEOUT = 15.0

SERVER_SCRIPT = """
import json, sys, time
from siray_tui.sim import Scenario, SimServer
sim = SimServer(Scenario(7), host="127.0.0.1", port=0, seed=7)
sim.start()
task = sim.scenario.add_task("image", created_at=time.time() - 10_000, outcome="success")
print(json.dumps({"base_url": sim.base_url, "task_id": task.task_id}), flush=True)
sys.stdin.read()  # serve until the parent closes our stdin
sim.stop()
"""

Request = Callable[[], Awaitable[None]]


async def run_concurrently(request: Request, total: int, concurrency: int) -> tuple[float, float]:
    """Issue ``total`` requests with ``concurrency`` workers.

    Returns requests per second (wall clock) and this process's CPU microseconds per
    request: the server runs in another process, so that is the client's own cost.
    """
    remaining = total

    async def worker() -> None:
        nonlocal remaining
        while remaining > 0:
            remaining -= 1
            await request()

    started, cpu_started = time.perf_counter(), time.process_time()
    async with asyncio.TaskGroup() as group:
        for _ in range(concurrency):
            group.create_task(worker())
    wall, cpu = time.perf_counter() - started, time.process_time() - cpu_started
    return total / wall, cpu / total * 1e6


def limits() -> httpx.Limits:
    return httpx.Limits(max_connections=MAX_CONNECTIONS, max_keepalive_connections=MAX_CONNECTIONS)


def client_kwargs(base_url: str) -> dict[str, object]:
    return {
        "base_url": base_url,
        "timeout": httpx.Timeout(TIMEOUT, connect=10.0),
        "follow_redirects": False,
        "headers": {
            "User-Agent": USER_AGENT,
            "Accept": "application/json",
            "Authorization": f"Bearer {TOKEN}",
        },
        "trust_env": False,
    }


async def bench(
    base_url: str, task_id: str, args: argparse.Namespace
) -> dict[str, list[tuple[float, float]]]:
    path = f"/v1/images/generations/async/{task_id}"
    results: dict[str, list[tuple[float, float]]] = {"bare": [], "siray": [], "per_request": []}

    async with (
        httpx.AsyncClient(limits=limits(), **client_kwargs(base_url)) as bare,  # type: ignore[arg-type]
        SirayClient(base_url, Secret(TOKEN), timeout=TIMEOUT) as siray,
    ):

        async def bare_request() -> None:
            response = await bare.get(path)
            response.raise_for_status()
            response.json()

        async def siray_request() -> None:
            state = await siray.get_task(task_id, TaskKind.IMAGE)
            assert state.status is TaskStatus.SUCCESS

        async def per_request() -> None:
            async with httpx.AsyncClient(limits=limits(), **client_kwargs(base_url)) as one:  # type: ignore[arg-type]
                response = await one.get(path)
                response.raise_for_status()
                response.json()

        # Warm both pools (connections open, code paths hot) before measuring.
        await run_concurrently(bare_request, args.warmup, args.concurrency)
        await run_concurrently(siray_request, args.warmup, args.concurrency)
        await run_concurrently(per_request, min(args.warmup, 20), args.concurrency)

        for _ in range(args.rounds):
            results["bare"].append(
                await run_concurrently(bare_request, args.requests, args.concurrency)
            )
            results["siray"].append(
                await run_concurrently(siray_request, args.requests, args.concurrency)
            )
            results["per_request"].append(
                await run_concurrently(per_request, args.per_request, args.concurrency)
            )
    return results


def start_server() -> tuple[subprocess.Popen[str], str, str]:
    process = subprocess.Popen(
        [sys.executable, "-c", SERVER_SCRIPT],
        cwd=ROOT,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert process.stdout is not None
    line = process.stdout.readline()
    if not line:
        process.kill()
        raise SystemExit("the simulator subprocess did not start")
    info = json.loads(line)
    return process, info["base_url"], info["task_id"]


def stop_server(process: subprocess.Popen[str]) -> None:
    if process.stdin is not None:
        process.stdin.close()
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=2000, help="per round, shared-pool modes")
    parser.add_argument(
        "--per-request", type=int, default=100, help="per round, client per request"
    )
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--warmup", type=int, default=200)
    args = parser.parse_args()

    process, base_url, task_id = start_server()
    try:
        results = asyncio.run(bench(base_url, task_id, args))
    finally:
        stop_server(process)

    rates = {mode: statistics.median(r for r, _ in values) for mode, values in results.items()}
    cpu = {mode: statistics.median(c for _, c in values) for mode, values in results.items()}
    rows = [
        ("bare", "bare httpx.AsyncClient (shared)", args.requests),
        ("siray", "SirayClient.get_task", args.requests),
        ("per_request", "httpx.AsyncClient per request", args.per_request),
    ]
    print(
        f"simulator in a subprocess at {base_url}; concurrency {args.concurrency}; "
        f"pool {MAX_CONNECTIONS} connections; median of {args.rounds} rounds; "
        f"Python {sys.version.split()[0]}, httpx {httpx.__version__}"
    )
    print(
        f"{'mode':<34}{'requests':>9}{'req/s':>8}{'vs bare':>9}"
        f"{'client CPU us/req':>19}{'vs bare':>9}"
    )
    for mode, name, count in rows:
        print(
            f"{name:<34}{count:>9}{rates[mode]:>8.0f}{rates[mode] / rates['bare']:>9.2f}"
            f"{cpu[mode]:>19.0f}{cpu[mode] / cpu['bare']:>9.2f}"
        )
    spread = {
        mode: f"{min(r for r, _ in values):.0f}-{max(r for r, _ in values):.0f}"
        for mode, values in results.items()
    }
    print(f"req/s range over rounds: {spread}")


if __name__ == "__main__":
    main()
