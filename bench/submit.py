"""Submissions per second of ``submit --file`` against a bare httpx POST loop.

Runs the simulator in a subprocess (so server and client do not share a GIL), then in one
process and one run measures, for the same 1,000-line batch and concurrency:

* ``bare httpx POST loop``: one shared AsyncClient, POST + ``json()``, nothing else;
* ``our client alone``: the same loop through :meth:`SirayClient.submit` (no journal, no
  watchlist), to tell what the client saves from what the batch costs;
* ``submit --file (journal)``: :func:`siray_tui.cli.submit.run_submit_file` at
  ``--rate 1000``, end to end: the file read, local checks, a journal record before every
  POST (append + fsync) and after it (append, synced with the next), the watchlist written
  in groups, the summary.

Each round runs every mode once, in an order that rotates, with a fresh file (so nothing
is skipped) and a fresh data directory. On a shared machine the speed of a whole round
drifts by a factor of two, so the verdict is the median over rounds of each round's own
ratio (modes measured seconds apart); the ratio of the medians is printed too. Also prints
the journal's own cost per line (a ``sent`` record, fsynced, and an ``accepted`` one).

Usage: ``.venv/bin/python bench/submit.py [--lines 1000] [--concurrency 8] [--rounds 7]``
"""

from __future__ import annotations

import argparse
import asyncio
import io
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from siray_tui.cli.submit import run_submit_file  # noqa: E402
from siray_tui.config import Settings  # noqa: E402
from siray_tui.core.client import SirayClient  # noqa: E402
from siray_tui.core.journal import Journal  # noqa: E402
from siray_tui.core.models import TaskKind  # noqa: E402
from siray_tui.core.secret import Secret  # noqa: E402

TOKEN = "bench-token"
MODEL = "bytedance/seedream-4.5-t2i"
PATH = "/v1/images/generations/async"
SERVER_SCRIPT = """
import json, sys
from siray_tui.sim import Scenario, SimServer
sim = SimServer(Scenario(7), host="127.0.0.1", port=0, seed=7, log_limit=100)
sim.start()
print(json.dumps({"base_url": sim.base_url}), flush=True)
sys.stdin.read()
sim.stop()
"""


def body(round_number: int, line: int) -> dict[str, object]:
    return {"model": MODEL, "prompt": f"round {round_number} line {line}", "kind": "image"}


async def bare_loop(base_url: str, lines: int, concurrency: int, round_number: int) -> float:
    """Submissions per second of a plain POST loop."""
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    headers = {"Authorization": f"Bearer {TOKEN}"}
    queue = list(range(lines))
    async with httpx.AsyncClient(base_url=base_url, limits=limits, headers=headers) as client:

        async def worker() -> None:
            while queue:
                line = queue.pop()
                payload = body(round_number, line)
                payload.pop("kind")
                response = await client.post(PATH, json=payload)
                assert response.json()["data"]["task_id"]

        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
    return lines / (time.perf_counter() - started)


async def client_loop(base_url: str, lines: int, concurrency: int, round_number: int) -> float:
    """Submissions per second of the bare loop's work through our client."""
    queue = list(range(lines))
    async with SirayClient(base_url, Secret(TOKEN), max_connections=concurrency) as client:

        async def worker() -> None:
            while queue:
                payload = body(round_number, queue.pop())
                payload.pop("kind")
                assert await client.submit(TaskKind.IMAGE, payload)

        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
    return lines / (time.perf_counter() - started)


async def our_batch(
    base_url: str, lines: int, concurrency: int, round_number: int, folder: Path
) -> float:
    """Submissions per second of ``submit --file`` (journal and watchlist included)."""
    jobs = folder / f"jobs-{round_number}.jsonl"
    jobs.write_text("".join(json.dumps(body(round_number, n)) + "\n" for n in range(lines)))
    settings = Settings(
        base_url=base_url,
        token=Secret(TOKEN),
        data_dir=folder / f"data-{round_number}",
        cache_dir=folder / "cache",
        rate=1000.0,
        concurrency=concurrency,
    )
    out, err = io.StringIO(), io.StringIO()
    started = time.perf_counter()
    code = await run_submit_file(
        settings,
        str(jobs),
        dry_run=False,
        resend_uncertain=False,
        json_output=True,
        stdin=io.StringIO(""),
        out=out,
        err=err,
    )
    elapsed = time.perf_counter() - started
    assert code == 0, err.getvalue()
    assert out.getvalue().count('"accepted"') == lines
    return lines / elapsed


def journal_cost(folder: Path, lines: int) -> float:
    """Microseconds per line for its two records (the ``sent`` one fsynced), alone."""
    journal = Journal(folder / "alone.jsonl", "bench")
    started = time.perf_counter()
    for n in range(lines):
        journal.record(f"key{n}", n, "sent", sync=True)
        journal.record(f"key{n}", n, "accepted", task_id=f"image_{n}", sync=False)
    elapsed = time.perf_counter() - started
    journal.close()
    return elapsed / lines * 1e6


async def one_run(
    mode: str, base_url: str, args: argparse.Namespace, n: int, folder: Path
) -> float:
    """Submissions per second of one mode in round ``n`` (each mode its own prompts)."""
    if mode == "bare":
        return await bare_loop(base_url, args.lines, args.concurrency, n)
    if mode == "client":
        return await client_loop(base_url, args.lines, args.concurrency, n + 500)
    return await our_batch(base_url, args.lines, args.concurrency, n + 1000, folder)


def per_round(numerator: list[float], denominator: list[float]) -> list[float]:
    """Each round's own ratio, sorted."""
    return sorted(a / b for a, b in zip(numerator, denominator, strict=True))


async def measure(base_url: str, args: argparse.Namespace) -> None:
    """Every mode once per round, in a rotating order; then the medians and ratios."""
    modes = ["bare", "client", "batch"]
    rates: dict[str, list[float]] = {mode: [] for mode in modes}
    with tempfile.TemporaryDirectory() as temp:
        folder = Path(temp)
        for n in range(args.rounds):
            for mode in modes[n % 3 :] + modes[: n % 3]:
                rates[mode].append(await one_run(mode, base_url, args, n, folder))
        per_line = statistics.median(journal_cost(folder, 200) for _ in range(3))
    medians = {mode: statistics.median(values) for mode, values in rates.items()}
    client = per_round(rates["client"], rates["bare"])
    batch = per_round(rates["batch"], rates["bare"])
    own_cost = statistics.median(per_round(rates["batch"], rates["client"]))
    verdict = statistics.median(batch)
    print(f"{args.lines} lines, concurrency {args.concurrency}, {args.rounds} rounds")
    print(f"  bare httpx POST loop       {medians['bare']:8.0f} submissions/s (median)")
    print(f"  our client alone           {medians['client']:8.0f} submissions/s")
    print(f"  submit --file (journal)    {medians['batch']:8.0f} submissions/s")
    print(
        f"  our client / bare          {statistics.median(client):8.2f}"
        f"  (rounds {client[0]:.2f}-{client[-1]:.2f})"
    )
    print(f"  submit --file / client     {own_cost:8.2f}  (what the batch and its journal cost)")
    print(
        f"  submit --file / bare       {verdict:8.2f}  (rounds {batch[0]:.2f}-{batch[-1]:.2f};"
        f" ratio of medians {medians['batch'] / medians['bare']:.2f})"
        f"  goal >= 0.80: {'met' if verdict >= 0.80 else 'MISSED'}"
    )
    print(f"  journal alone              {per_line:8.0f} µs per line (2 records, 1 fsync)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lines", type=int, default=1000)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--rounds", type=int, default=7)
    args = parser.parse_args()
    server = subprocess.Popen(
        [sys.executable, "-c", SERVER_SCRIPT],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        cwd=ROOT,
    )
    try:
        assert server.stdout is not None
        asyncio.run(measure(json.loads(server.stdout.readline())["base_url"], args))
    finally:
        assert server.stdin is not None
        server.stdin.close()
        server.wait(timeout=10)


if __name__ == "__main__":
    main()
