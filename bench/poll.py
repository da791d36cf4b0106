"""What the poll scheduler costs, against the simulator, in one run.

(a) Throughput: 1,000 tasks that are already final (one request each) polled by the
    Poller, against bare loops at the same concurrency: one shared ``httpx.AsyncClient``
    (GET + ``json()``), and ``SirayClient.get_task`` without a scheduler (which separates
    the scheduler's cost from the client's). The Poller's rate cap would otherwise be
    the bottleneck, so it runs with ``rate=100000``. Goal: Poller >= 0.8 x bare httpx.
(b) Requests per task over whole lifecycles (queue + run of 3 to 9 s, interval 1 s,
    jitter 10%), counted by the simulator. Goal: at most ceil(lifetime / interval) + 2.
(c) CPU time of this process over 10 s while its Poller watches 1,000 final tasks (loaded
    from a real watchlist file). Goal: about 0.

The simulator runs in a subprocess so that server and client do not share a GIL; it is
driven by JSON commands on its stdin. Throughput modes alternate over several rounds and
the median is reported, so one slow moment of the machine does not land on one mode.

Usage: ``.venv/bin/python bench/poll.py [--tasks 1000] [--concurrency 8] [--rounds 3]``
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import random
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import IO, Any

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from siray_tui.core.client import USER_AGENT, SirayClient  # noqa: E402
from siray_tui.core.models import TaskKind, WatchedTask  # noqa: E402
from siray_tui.core.poller import Poller, PollerEvent, PollPolicy, TaskUpdated  # noqa: E402
from siray_tui.core.secret import Secret  # noqa: E402
from siray_tui.core.store import WatchlistStore  # noqa: E402

TOKEN = "bench-token"

SERVER_SCRIPT = """
import json, sys, time
from siray_tui.sim import Scenario, SimServer
sim = SimServer(Scenario(11), host="127.0.0.1", port=0, seed=11)
sim.start()
print(json.dumps({"base_url": sim.base_url}), flush=True)
for line in sys.stdin:
    command = json.loads(line)
    name = command["command"]
    if name == "final":
        ids = [
            sim.scenario.add_task("image", created_at=time.time() - 10_000).task_id
            for _ in range(command["count"])
        ]
        answer = {"ids": ids}
    elif name == "lifecycles":
        tasks = [
            sim.scenario.add_task(
                kind, queue_s=queue, run_s=run, outcome=outcome
            )
            for kind, queue, run, outcome in command["tasks"]
        ]
        answer = {"ids": [t.task_id for t in tasks], "created": [t.created_at for t in tasks]}
    elif name == "requests":
        answer = {"counts": [sim.requests_for(i) for i in command["ids"]]}
    else:
        break
    print(json.dumps(answer), flush=True)
sim.stop()
"""


class Simulator:
    """The simulator in a child process, and the commands it understands."""

    def __init__(self) -> None:
        self._process = subprocess.Popen(
            [sys.executable, "-c", SERVER_SCRIPT],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            cwd=ROOT,
        )
        self.base_url: str = self._read()["base_url"]

    def _read(self) -> dict[str, Any]:
        stdout: IO[str] | None = self._process.stdout
        assert stdout is not None
        answer: dict[str, Any] = json.loads(stdout.readline())
        return answer

    def ask(self, **command: Any) -> dict[str, Any]:
        stdin = self._process.stdin
        assert stdin is not None
        stdin.write(json.dumps(command) + "\n")
        stdin.flush()
        return self._read()

    def close(self) -> None:
        if self._process.stdin is not None:
            self._process.stdin.close()
        self._process.wait(timeout=10)


# -- (a) throughput ----------------------------------------------------------------------


async def bare_httpx(base_url: str, ids: list[str], concurrency: int) -> tuple[float, float]:
    """Requests per second of a plain worker loop on one shared httpx.AsyncClient."""
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    headers = {"Authorization": f"Bearer {TOKEN}", "User-Agent": USER_AGENT}
    async with httpx.AsyncClient(base_url=base_url, limits=limits, headers=headers) as client:
        queue = list(ids)

        async def worker() -> None:
            while queue:
                task_id = queue.pop()
                response = await client.get(f"/v1/images/generations/async/{task_id}")
                response.raise_for_status()
                response.json()

        return await _timed(worker, len(ids), concurrency)


async def bare_client(base_url: str, ids: list[str], concurrency: int) -> tuple[float, float]:
    """Requests per second of the same worker loop on SirayClient.get_task."""
    async with SirayClient(base_url, Secret(TOKEN), max_connections=concurrency) as client:
        queue = list(ids)

        async def worker() -> None:
            while queue:
                await client.get_task(queue.pop(), TaskKind.IMAGE)

        return await _timed(worker, len(ids), concurrency)


async def _timed(
    worker: Callable[[], Coroutine[Any, Any, None]], total: int, concurrency: int
) -> tuple[float, float]:
    started, cpu = time.perf_counter(), time.process_time()
    async with asyncio.TaskGroup() as group:
        for _ in range(concurrency):
            group.create_task(worker())
    return _rates(total, started, cpu)


def _rates(total: int, started: float, cpu: float) -> tuple[float, float]:
    """Requests per second (wall clock) and this process's CPU microseconds per request.

    The server runs in another process, so the CPU figure is the client's own cost; it
    is steadier than the wall clock when other work shares the machine.
    """
    wall = time.perf_counter() - started
    return total / wall, (time.process_time() - cpu) / total * 1e6


async def poller(base_url: str, ids: list[str], concurrency: int) -> tuple[float, float]:
    """Requests per second of the Poller polling every task once (rate cap lifted)."""
    policy = PollPolicy(concurrency=concurrency, rate=100_000.0)
    async with SirayClient(base_url, Secret(TOKEN), max_connections=concurrency) as client:
        done = asyncio.Event()
        answered = 0

        def on_event(event: PollerEvent) -> None:
            nonlocal answered
            if isinstance(event, TaskUpdated):
                answered += 1
                if answered == len(ids):
                    done.set()

        engine = Poller(client, policy=policy, on_event=on_event)
        runner = asyncio.create_task(engine.run())
        started, cpu = time.perf_counter(), time.process_time()
        engine.add(WatchedTask(task_id, kind=TaskKind.IMAGE) for task_id in ids)
        await done.wait()
        result = _rates(len(ids), started, cpu)
        engine.stop()
        await runner
        return result


# -- (b) requests per lifecycle ----------------------------------------------------------


async def lifecycles(sim: Simulator, count: int) -> dict[str, float]:
    """Poll ``count`` fresh tasks to the end; compare their request counts with the goal."""
    rng = random.Random(5)
    specs = [
        (
            "image" if i % 2 else "video",
            rng.uniform(1.0, 3.0),
            rng.uniform(2.0, 6.0),
            "failure" if i % 5 == 0 else "success",
        )
        for i in range(count)
    ]
    interval = 1.0
    answer = sim.ask(command="lifecycles", tasks=specs)
    ids: list[str] = answer["ids"]
    # Rate 100/s: the default 10/s cap would stretch 40 tasks' 1 s interval to 4 s.
    policy = PollPolicy(interval=interval, concurrency=8, rate=100.0)
    async with SirayClient(sim.base_url, Secret(TOKEN)) as client:
        done = asyncio.Event()
        ended: set[str] = set()

        def on_event(event: PollerEvent) -> None:
            if isinstance(event, TaskUpdated) and event.task.is_final:
                ended.add(event.task.task_id)
                if len(ended) == len(ids):
                    done.set()

        engine = Poller(client, policy=policy, on_event=on_event, rng=random.Random(3))
        engine.add(WatchedTask(task_id, kind=TaskKind.AUTO) for task_id in ids)
        runner = asyncio.create_task(engine.run())
        await asyncio.wait_for(done.wait(), 60)
        engine.stop()
        await runner
    counts: list[int] = sim.ask(command="requests", ids=ids)["counts"]
    lifetimes = [queue + run for _, queue, run, _ in specs]
    # A rejected failure never runs: its life ends at the end of its queue time.
    goals = [math.ceil(life / interval) + 2 for life in lifetimes]
    excess = [n - goal for n, goal in zip(counts, goals, strict=True)]
    return {
        "tasks": len(ids),
        "requests": sum(counts),
        "mean_per_task": statistics.fmean(counts),
        "max_per_task": max(counts),
        "mean_goal": statistics.fmean(goals),
        "over_goal": sum(1 for e in excess if e > 0),
        "worst_excess": max(excess),
        "mean_slack": statistics.fmean(goal - n for n, goal in zip(counts, goals, strict=True)),
    }


# -- (c) idle CPU ------------------------------------------------------------------------


async def idle_cpu(sim: Simulator, ids: list[str], seconds: float) -> tuple[float, int]:
    """CPU seconds this process uses while a Poller holds only final tasks."""
    with tempfile.TemporaryDirectory() as directory:
        store = WatchlistStore(Path(directory))
        store.add(ids, kind=TaskKind.IMAGE)
        async with SirayClient(sim.base_url, Secret(TOKEN)) as client:
            # Make them final in the file the way a real session would: poll them once.
            answered = asyncio.Event()

            def on_event(event: PollerEvent) -> None:
                if isinstance(event, TaskUpdated) and not first.stats.polling:
                    answered.set()

            first = Poller(
                client, policy=PollPolicy(rate=100_000.0), store=store, on_event=on_event
            )
            first.add(store.load().tasks.values())
            runner = asyncio.create_task(first.run())
            await answered.wait()
            first.stop()
            await runner  # and its final write to the watchlist

            tasks = list(store.load().tasks.values())
            assert all(task.is_final for task in tasks)
            engine = Poller(client, store=store)
            engine.add(tasks)
            runner = asyncio.create_task(engine.run())
            await asyncio.sleep(0.2)  # let it settle into its idle wait
            before = _cpu()
            await asyncio.sleep(seconds)
            used = _cpu() - before
            requests = engine.stats.requests_total
            engine.stop()
            await runner
    return used, requests


def _cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


# -- main --------------------------------------------------------------------------------


def row(name: str, result: str, goal: str = "", verdict: str = "") -> str:
    return f"{name:<56} {result:>20}  {goal:<30} {verdict}".rstrip()


async def main(args: argparse.Namespace) -> None:
    sim = Simulator()
    try:
        ids: list[str] = sim.ask(command="final", count=args.tasks)["ids"]
        modes = {"bare httpx": bare_httpx, "bare SirayClient": bare_client, "Poller": poller}
        for mode in modes.values():  # warm-up: connections, imports, caches
            await mode(sim.base_url, ids[:200], args.concurrency)
        rates: dict[str, list[float]] = {name: [] for name in modes}
        cpus: dict[str, list[float]] = {name: [] for name in modes}
        ratios: list[float] = []
        scheduler_ratios: list[float] = []
        names = list(modes)
        for round_number in range(args.rounds):
            # Rotate the order so no mode always runs first (cold) or last (warm).
            shift = round_number % len(names)
            for name in names[shift:] + names[:shift]:
                mode = modes[name]
                rate, cpu_per_request = await mode(sim.base_url, ids, args.concurrency)
                rates[name].append(rate)
                cpus[name].append(cpu_per_request)
            # Modes of one round run back to back: their ratio suffers least from noise.
            ratios.append(rates["Poller"][-1] / rates["bare httpx"][-1])
            scheduler_ratios.append(rates["Poller"][-1] / rates["bare SirayClient"][-1])
        cycles = await lifecycles(sim, args.lifecycles)
        idle, idle_requests = await idle_cpu(sim, ids, args.idle_seconds)
    finally:
        sim.close()

    ratio = statistics.median(ratios)
    n = args.concurrency
    print(
        f"bench/poll.py: {args.tasks} final tasks, {n} in flight, {args.rounds} rounds "
        f"(medians); simulator in a subprocess; Python {sys.version.split()[0]}"
    )
    print(row("measure", "result", "goal", "verdict"))
    print("-" * 112)
    for name, label in (
        ("bare httpx", "bare httpx.AsyncClient loop"),
        ("bare SirayClient", "bare SirayClient.get_task loop"),
        ("Poller", "Poller (rate cap lifted to 100000/s)"),
    ):
        speed = statistics.median(rates[name])
        cost = statistics.median(cpus[name])
        print(row(f"(a) {label}", f"{speed:,.0f} req/s", f"client CPU {cost:,.0f} us/req"))
    print(row("(a) Poller / bare httpx", f"{ratio:.2f}", ">= 0.80", _verdict(ratio >= 0.8)))
    print(
        row(
            "(a) Poller / bare SirayClient (the scheduler alone)",
            f"{statistics.median(scheduler_ratios):.2f}",
            f"rounds: {' '.join(f'{r:.2f}' for r in ratios)} (vs httpx)",
        )
    )
    print(
        row(
            f"(b) requests/task, {cycles['tasks']:.0f} lifecycles of 3-9 s, interval 1 s",
            f"mean {cycles['mean_per_task']:.2f}, max {cycles['max_per_task']:.0f}",
            f"<= ceil(life/1s)+2 (mean {cycles['mean_goal']:.1f})",
            _verdict(cycles["over_goal"] == 0, f"x{cycles['over_goal']:.0f}"),
        )
    )
    print(
        row(
            "(b) tasks over their goal; mean slack; worst task vs goal",
            f"{cycles['over_goal']:.0f}; {cycles['mean_slack']:.2f}; {cycles['worst_excess']:+.0f}",
        )
    )
    share = idle / args.idle_seconds * 100
    print(
        row(
            f"(c) CPU over {args.idle_seconds:g} s, {args.tasks} final tasks watched",
            f"{idle * 1000:.1f} ms ({share:.3f}%)",
            "about 0",
            _verdict(share < 0.5),
        )
    )
    print(row("(c) requests sent meanwhile", f"{idle_requests}", "0", _verdict(not idle_requests)))


def _verdict(ok: bool, detail: str = "") -> str:
    return "ok" if ok else f"MISSED {detail}".strip()


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--tasks", type=int, default=1000)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--lifecycles", type=int, default=40)
    parser.add_argument("--idle-seconds", type=float, default=10.0)
    return parser.parse_args()


if __name__ == "__main__":
    asyncio.run(main(parse_args()))
