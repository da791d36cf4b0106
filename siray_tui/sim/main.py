"""The ``simulate`` command: run the simulator as a foreground server until Ctrl-C.

Kept apart from the server so the CLI module only needs two functions: one to declare
the options on its sub-parser and one to run.
"""

from __future__ import annotations

import argparse
import ipaddress
import signal
import sys
import threading
from collections.abc import Callable
from types import FrameType
from typing import TypeVar

from siray_tui.sim.faults import Faults
from siray_tui.sim.scenario import Scenario, default_model
from siray_tui.sim.server import SimServer, api_path

DEFAULT_PORT = 8765
N = TypeVar("N", int, float)


def _float_range(text: str) -> tuple[float, float]:
    """Parse ``MIN,MAX`` (or a single number for a fixed duration)."""
    parts = [part.strip() for part in text.split(",")]
    try:
        values = [float(part) for part in parts]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected MIN,MAX seconds, got {text!r}") from None
    if len(values) == 1:
        values *= 2
    if len(values) != 2 or values[0] < 0 or values[1] < values[0]:
        raise argparse.ArgumentTypeError(f"expected 0 <= MIN <= MAX, got {text!r}")
    return values[0], values[1]


def _in_range(
    text: str, parse: Callable[[str], N], low: N, high: N, unparsable: str, outside: str
) -> N:
    """``parse(text)`` if it lies within [low, high], else an error naming the value.

    ``unparsable`` and ``outside`` are formats with ``{text}`` (and ``{value}``).
    """
    try:
        value = parse(text)
    except ValueError:
        raise argparse.ArgumentTypeError(unparsable.format(text=text)) from None
    if not low <= value <= high:
        raise argparse.ArgumentTypeError(outside.format(text=text, value=value))
    return value


def _fraction(text: str) -> float:
    expected = "expected a number from 0 to 1, got {text!r}"
    return _in_range(text, float, 0.0, 1.0, expected, expected)


def _retry_after(text: str) -> float | str | None:
    """``none`` (header absent), a number of seconds, ``date``, or any string verbatim."""
    if text.strip().lower() in ("", "none"):
        return None
    try:
        value = float(text)
    except ValueError:
        return text
    return int(value) if value.is_integer() else value


def _port(text: str) -> int:
    """A TCP port, 0 to 65535 (0 picks a free one)."""
    return _in_range(
        text, int, 0, 65535, "not a port number: {text!r}", "port must be 0 to 65535, not {value}"
    )


def add_simulate_arguments(parser: argparse.ArgumentParser) -> None:
    """Declare the ``simulate`` options on ``parser``."""
    parser.add_argument("--port", type=_port, default=DEFAULT_PORT, help="0 picks a free port")
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (loopback)")
    parser.add_argument("--seed", type=int, default=0, help="makes runs reproducible")
    parser.add_argument(
        "--token", default=None, help="the only bearer token accepted (default: any)"
    )
    parser.add_argument(
        "--error-rate", type=_fraction, default=0.0, help="fraction of polls answered 5xx"
    )
    parser.add_argument(
        "--rate-limit-every", type=int, default=0, metavar="N", help="every Nth request: 429"
    )
    parser.add_argument(
        "--retry-after",
        type=_retry_after,
        default=None,
        metavar="SECONDS|date|none",
        help="Retry-After on 429 answers (default: absent)",
    )
    parser.add_argument(
        "--latency", type=float, default=0.0, help="seconds added before each answer"
    )
    parser.add_argument(
        "--nonjson-rate", type=_fraction, default=0.0, help="fraction of polls given HTML"
    )
    parser.add_argument(
        "--drop-rate", type=_fraction, default=0.0, help="fraction of polls hung up on"
    )
    parser.add_argument(
        "--ambiguous-rate",
        type=_fraction,
        default=0.0,
        help="fraction of submissions answered 5xx after the task was created",
    )
    parser.add_argument(
        "--hostile", action="store_true", help="escape sequences, markup, odd URLs in text"
    )
    parser.add_argument(
        "--quirky", action="store_true", help="vary payload shapes as the real API does"
    )
    parser.add_argument(
        "--queue-seconds", type=_float_range, default=(2.0, 10.0), metavar="MIN,MAX"
    )
    parser.add_argument("--run-seconds", type=_float_range, default=(5.0, 30.0), metavar="MIN,MAX")
    parser.add_argument("--failure-rate", type=_fraction, default=0.2)
    parser.add_argument("--demo-tasks", type=int, default=0, metavar="N", help="pre-create N tasks")


def build_server(args: argparse.Namespace) -> SimServer:
    """A not-yet-started SimServer configured from parsed ``simulate`` options."""
    scenario = Scenario(
        args.seed,
        queue_seconds=args.queue_seconds,
        run_seconds=args.run_seconds,
        failure_rate=args.failure_rate,
    )
    faults = Faults(
        error_rate=args.error_rate,
        rate_limit_every=max(args.rate_limit_every, 0),
        retry_after=args.retry_after,
        latency=max(args.latency, 0.0),
        nonjson_rate=args.nonjson_rate,
        drop_rate=args.drop_rate,
        ambiguous_rate=args.ambiguous_rate,
        hostile=args.hostile,
        quirky=args.quirky,
    )
    return SimServer(
        scenario, host=args.host, port=args.port, token=args.token, faults=faults, seed=args.seed
    )


def is_loopback(host: str) -> bool:
    """Whether ``host`` only listens on this machine."""
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def _banner(server: SimServer, token_given: bool) -> str:
    base = server.base_url
    token_note = (
        "the token you passed with --token"
        if token_given
        else "any non-empty token is accepted, e.g. sim"
    )
    # Double quotes so a shell expands $SIRAY_API_TOKEN: the token itself is never printed.
    token_env = "$SIRAY_API_TOKEN" if token_given else "sim"
    submit = (
        f'curl -s -H "Authorization: Bearer {token_env}" '
        "-H 'Content-Type: application/json' "
        f"""-d '{{"model": "{default_model("image")}", "prompt": "a red fox"}}' """
        f"{base}{api_path('image')}"
    )
    return "\n".join(
        (
            f"Simulator listening on {base}",
            f"Use: SIRAY_BASE_URL={base} SIRAY_API_TOKEN=... siray-tui "
            f"(or siray-tui --base-url {base}); token: {token_note}",
            f"Try: {submit}",
            f"     then GET {base}{api_path('image')}/TASK_ID with the same header",
            "Press Ctrl-C to stop.",
        )
    )


def run_simulate(args: argparse.Namespace) -> int:
    """Serve until interrupted (Ctrl-C or SIGTERM); 0 on a clean stop, 1 if unable to bind."""
    if not is_loopback(args.host):
        print(
            f"warning: --host {args.host} is not a loopback address; the simulator has no "
            "real security and anyone who can reach it can use it",
            file=sys.stderr,
        )
    server = build_server(args)
    stopped = threading.Event()
    previous = None
    if threading.current_thread() is threading.main_thread():
        # Installed before the banner, so a SIGTERM sent as soon as it appears is clean.

        def on_sigterm(signum: int, frame: FrameType | None) -> None:
            stopped.set()

        previous = signal.signal(signal.SIGTERM, on_sigterm)
    try:
        try:
            server.start()
        except OSError as error:
            print(f"error: cannot listen on {args.host}:{args.port}: {error}", file=sys.stderr)
            return 1
        demo = server.scenario.add_demo_tasks(args.demo_tasks) if args.demo_tasks > 0 else []
        print(_banner(server, args.token is not None), flush=True)
        if demo:
            print("Demo task IDs: " + " ".join(task.task_id for task in demo), flush=True)
        while not stopped.wait(0.5):
            pass
    except KeyboardInterrupt:
        pass
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)
        server.stop()
    print("Simulator stopped.", file=sys.stderr)
    return 0
