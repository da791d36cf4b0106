"""The command line: global options, one sub-command per job, exit statuses of README.md.

Parsing and dispatch only; each command lives in a small module of this package. Textual is
imported only when the dashboard opens, so scripts calling ``add`` or ``wait`` stay fast.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Callable, Sequence
from typing import Any, Final, TextIO

from siray_tui import __version__
from siray_tui.config import LOG_LEVELS, Settings, load_settings, setup_logging
from siray_tui.core.errors import ConfigError, SirayError
from siray_tui.core.models import TaskKind
from siray_tui.core.notify import FLAG_EVENTS

EXIT_OK = 0
EXIT_USAGE = 2
_CHANGES_THE_WATCHLIST = frozenset({"add", "remove", "clear"})

_GLOBAL_EPILOG = """\
examples:
  siray-tui --demo                      try the dashboard with a built-in simulator
  export SIRAY_API_TOKEN=sk-...         then:
  siray-tui                             open the dashboard on your watchlist
  my-script | siray-tui add -           watch the task IDs a script prints
  siray-tui wait --timeout 600 --json   block until every watched task ends

environment: SIRAY_API_TOKEN (or SIRAY_API_KEY), SIRAY_BASE_URL, SIRAY_TUI_DATA_DIR,
SIRAY_TUI_CONFIG, SIRAY_TUI_INTERVAL, SIRAY_TUI_DOWNLOAD_DIR
"""


class _Formatter(argparse.RawDescriptionHelpFormatter):
    """Keeps the hand-wrapped examples in epilogs as written."""


def _global_options(parser: argparse.ArgumentParser, *, suppress: bool) -> None:
    """Global options, accepted before or after the command name.

    On sub-parsers their default is SUPPRESS so a value given before the command is not
    reset by the sub-parser's default.
    """
    default: Any = argparse.SUPPRESS if suppress else None
    group = parser.add_argument_group("global options")
    group.add_argument("--base-url", metavar="URL", default=default, help="API base URL")
    group.add_argument("--data-dir", metavar="DIR", default=default, help="watchlist folder")
    group.add_argument("--config", metavar="FILE", default=default, help="config.toml to read")
    group.add_argument(
        "--interval",
        metavar="S",
        default=default,
        help="seconds between polls of every kind (1 or more)",
    )
    group.add_argument("--concurrency", metavar="N", default=default, help="requests in flight")
    group.add_argument("--rate", metavar="R", default=default, help="requests per second")
    group.add_argument(
        "--request-deadline",
        metavar="S",
        default=default,
        help="seconds one API request may take in all, body included (default 30)",
    )
    group.add_argument("--download-dir", metavar="DIR", default=default, help="output folder")
    group.add_argument(
        "--insecure",
        action="store_true",
        default=default,
        help="allow a plain-http base URL to a non-loopback host",
    )
    group.add_argument(
        "--auto-download",
        action="store_true",
        default=default,
        help="download outputs when a task succeeds",
    )
    group.add_argument(
        "--notify",
        action="store_const",
        const=FLAG_EVENTS,
        default=default,
        help="desktop notifications (dashboard and wait): a failure, and all done",
    )
    group.add_argument("--log-level", choices=LOG_LEVELS, default=default, help="debug log level")
    group.add_argument(
        "--demo",
        action="store_true",
        default=default,
        help="use the built-in simulator and a throw-away watchlist (no token needed)",
    )


_Arg = tuple[str, dict[str, Any]]
"""One argument of a command: its name and ``add_argument``'s keywords."""


def _arg(name: str, **options: Any) -> _Arg:
    return name, options


def _ids(nargs: str) -> _Arg:
    return _arg("ids", nargs=nargs, metavar="ID")


def _switch(name: str, help_text: str) -> _Arg:
    return _arg(name, action="store_true", help=help_text)


_JSON_LINES: Final = _switch("--json", "one JSON object per line")


def _add_command(
    commands: argparse._SubParsersAction[argparse.ArgumentParser],
    name: str,
    help_text: str,
    examples: str,
    *arguments: _Arg,
) -> argparse.ArgumentParser:
    parser = commands.add_parser(
        name,
        help=help_text,
        description=help_text,
        epilog="examples:\n" + examples,
        formatter_class=_Formatter,
    )
    _global_options(parser, suppress=True)
    for argument, options in arguments:
        parser.add_argument(argument, **options)
    return parser


def build_parser() -> argparse.ArgumentParser:
    """The whole command line; ``--help`` works for every command, each with examples."""
    parser = argparse.ArgumentParser(
        prog="siray-tui",
        description="Watch Siray AI image and video generation tasks: a live dashboard "
        "and a headless CLI.",
        epilog=_GLOBAL_EPILOG,
        formatter_class=_Formatter,
    )
    parser.add_argument("--version", action="version", version=f"siray-tui {__version__}")
    _global_options(parser, suppress=False)
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")

    _add_command(commands, "ui", "open the dashboard (the default)", "  siray-tui ui\n")

    add = _add_command(
        commands,
        "add",
        "add task IDs to the watchlist (from arguments, or stdin with -)",
        "  siray-tui add image_a8813a4b4c9 video_69196faf\n"
        "  generate.py | siray-tui add - --kind video --label 'night batch'\n"
        "  curl -s https://api.siray.ai/v1/images/generations/async -d @job.json ... \\\n"
        "    | siray-tui add -          (the API's JSON answer works as it is)\n",
    )
    add.add_argument(
        "ids",
        nargs="*",
        metavar="ID",
        help="task IDs, or - to read stdin: bare IDs, or JSON objects (their task_id,"
        " data.task_id or id), one per line or in an array",
    )
    add.add_argument(
        "--kind",
        choices=[k.value for k in TaskKind],
        default="auto",
        help=(
            "which endpoint to query (auto: the one an image_/video_/3d_ prefix hints"
            " at, else image; then each other once)"
        ),
    )
    add.add_argument("--label", default="", help="a label shown instead of the ID")

    _add_command(
        commands,
        "remove",
        "remove task IDs from the watchlist",
        "  siray-tui remove image_a8813a4b4c9\n",
        _ids("+"),
    )
    _add_command(
        commands,
        "clear",
        "remove every finished (SUCCESS or FAILURE) task",
        "  siray-tui clear --finished\n",
        _switch("--finished", "required: what to clear"),
    )
    _add_command(
        commands,
        "list",
        "show the watchlist with the last known states (no network)",
        "  siray-tui list\n  siray-tui list --json | jq .status\n",
        _JSON_LINES,
    )
    _add_command(
        commands,
        "status",
        "query tasks now, store and print their states",
        "  siray-tui status image_a8813a4b4c9 --json\n",
        _ids("+"),
        _JSON_LINES,
    )
    _add_command(
        commands,
        "wait",
        "poll until every task is final (the whole unfinished watchlist without IDs)",
        "  siray-tui wait --timeout 900\n  siray-tui wait video_69196faf --json\n",
        _ids("*"),
        _arg("--timeout", type=float, metavar="S", help="give up after S seconds"),
        _switch("--json", "a JSON line per task as it ends"),
    )
    _add_command(
        commands,
        "download",
        "download the outputs of SUCCESS tasks",
        "  siray-tui download image_a8813a4b4c9 --dir ./renders\n",
        _ids("+"),
        _arg("--dir", metavar="D", help="folder (default: the download dir)"),
    )
    export = _add_command(
        commands,
        "export",
        "write the watchlist (or some statuses of it) as CSV, JSON or NDJSON (no network)",
        "  siray-tui export -o tasks.csv\n"
        "  siray-tui export --format ndjson --status FAILURE | jq .fail_reason\n",
        _arg("--format", choices=("csv", "json", "ndjson"), default="csv", help="(default csv)"),
        _arg(
            "--status",
            action="append",
            metavar="S",
            help="only tasks in status S (SUCCESS, FAILURE, IN_PROGRESS...); repeatable",
        ),
    )
    export.add_argument(
        "-o", "--output", metavar="FILE", help="write FILE (atomically) instead of stdout"
    )

    _add_submit_commands(commands)

    simulate = _add_command(
        commands,
        "simulate",
        "run the built-in API simulator as a server and print the URL to use",
        "  siray-tui simulate --port 8765 --error-rate 0.1\n",
    )
    from siray_tui.sim.main import add_simulate_arguments

    add_simulate_arguments(simulate)
    return parser


def _add_submit_commands(
    commands: argparse._SubParsersAction[argparse.ArgumentParser],
) -> None:
    """``submit`` (one task, or a JSONL file) and ``models``."""
    kinds = [kind.value for kind in TaskKind.concrete()]
    _add_command(
        commands,
        "submit",
        "submit one task, or every line of a JSONL file; new tasks join the watchlist",
        "  siray-tui submit --model bytedance/seedream-4.5-t2i --prompt 'a red fox' \\\n"
        "    --param size=2048x2048 --param seed=7 --wait\n"
        "  siray-tui submit --model alibaba/wan-2.6-i2v --prompt 'it runs' --image fox.png\n"
        "  siray-tui submit --file jobs.jsonl --rate 5 && siray-tui wait\n"
        '  (each line: {"model": ..., "prompt": ..., "kind"?, "params"?, "label"?})\n',
        _arg("--model", metavar="M", help="the model ID (see: siray-tui models)"),
        _arg("--prompt", metavar="P", help="the prompt"),
        _arg("--kind", choices=kinds, help="the endpoint (default: the model's kind)"),
        _arg(
            "--param",
            action="append",
            default=[],
            metavar="KEY=VALUE",
            help="a request field; VALUE is JSON when it parses (seed=7), else a string",
        ),
        _arg(
            "--image",
            action="append",
            default=[],
            metavar="PATH|URL",
            help="an input image: a local file (sent as a data URL, 10 MiB at most) or a URL",
        ),
        _arg("--label", default="", help="a label shown instead of the ID"),
        _switch("--wait", "then wait for the task like the wait command"),
        _arg("--timeout", type=float, metavar="S", help="with --wait: give up after S seconds"),
        _switch("--json", "one JSON object per task (per line with --file)"),
        _arg(
            "--file", metavar="JOBS.jsonl", help="submit every line of a JSONL file (- for stdin)"
        ),
        _switch("--dry-run", "with --file: print what would be sent, send nothing"),
        _switch(
            "--resend-uncertain",
            "with --file: send again the lines whose outcome is unknown (they may exist)",
        ),
    )
    _add_command(
        commands,
        "models",
        "the models the account can use, by kind (cached for a day)",
        "  siray-tui models\n  siray-tui models --kind video --json\n",
        _arg("--kind", choices=kinds, help="only this kind"),
        _switch("--json", "one JSON object per model"),
        _switch("--refresh", "fetch the list again even if the cached one is recent"),
    )


def _check_submit(parser: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    """Usage errors of ``submit`` (exit 2 from argparse)."""
    one_task = ("--model", "--prompt", "--param", "--image", "--wait", "--label", "--kind")
    if args.file is not None:
        given = [name for name in one_task if getattr(args, name[2:])]
        if given:
            parser.error(f"submit --file takes the model and prompt from each line, not {given[0]}")
    else:
        if args.model is None or args.prompt is None:
            parser.error("submit needs --model and --prompt (or --file JOBS.jsonl)")
        for name in ("--dry-run", "--resend-uncertain"):
            if getattr(args, name[2:].replace("-", "_")):
                parser.error(f"{name} goes with --file")


def _flags(args: argparse.Namespace) -> dict[str, Any]:
    """The global options that were given, under their config.toml names."""
    names = (
        "base_url",
        "data_dir",
        "config",
        "interval",
        "concurrency",
        "rate",
        "request_deadline",
        "download_dir",
        "insecure",
        "auto_download",
        "notify",
        "log_level",
        "demo",
    )
    return {name: getattr(args, name) for name in names if getattr(args, name, None)}


def main(argv: Sequence[str] | None = None, *, stdin: TextIO | None = None) -> int:
    """Run the command line; returns the exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    command = args.command or "ui"
    if command == "simulate":
        from siray_tui.sim.main import run_simulate

        return run_simulate(args)
    if command == "submit":
        _check_submit(parser, args)
    if command == "clear" and not args.finished:
        parser.error("clear needs --finished (it removes every SUCCESS and FAILURE task)")

    try:
        settings = load_settings(_flags(args))
    except ConfigError as exc:
        print(f"siray-tui: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    try:
        setup_logging(settings)
    except OSError as exc:  # the log is a help, not a reason to refuse the command
        reason = (exc.strerror or str(exc)).lower()
        print(f"siray-tui: warning: no log file ({exc.filename}: {reason})", file=sys.stderr)

    demo_stop: Callable[[], None] | None = None
    if settings.demo:
        from siray_tui.demo import THROWAWAY_NOTE, start_demo

        if command in _CHANGES_THE_WATCHLIST or (command == "download" and not args.dir):
            print(f"siray-tui: {THROWAWAY_NOTE}", file=sys.stderr)
        settings, demo_stop = _start_demo(start_demo, settings)
    try:
        return _dispatch(command, args, settings, stdin or sys.stdin)
    except SirayError as exc:
        print(f"siray-tui: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        return 130
    finally:
        if demo_stop is not None:
            demo_stop()


def _start_demo(start_demo: Any, settings: Settings) -> tuple[Settings, Callable[[], None]]:
    demo = start_demo(settings)
    return demo.settings, demo.stop


def _dispatch(command: str, args: argparse.Namespace, settings: Settings, stdin: TextIO) -> int:
    from siray_tui.cli import watchlist
    from siray_tui.cli.pipes import OutputGuard

    guard = OutputGuard(sys.stdout, sys.stderr)
    out, err = guard.out, guard.err
    if command == "ui":
        from siray_tui.ui import run_dashboard

        return run_dashboard(settings)
    if command == "add":
        return watchlist.add(settings, args.ids, TaskKind(args.kind), args.label, stdin, out, err)
    if command == "remove":
        return watchlist.remove(settings, args.ids, out, err)
    if command == "clear":
        return watchlist.clear_finished(settings, out, err)
    if command == "list":
        return watchlist.list_tasks(settings, args.json, out, err)
    if command == "status":
        from siray_tui.cli.polling import run_status

        return asyncio.run(
            guard.run(run_status(settings, args.ids, json_output=args.json, out=out, err=err))
        )
    if command == "wait":
        from siray_tui.cli.polling import run_wait

        return asyncio.run(
            guard.run(
                run_wait(
                    settings,
                    args.ids,
                    timeout=args.timeout,
                    json_output=args.json,
                    out=out,
                    err=err,
                )
            )
        )
    if command == "download":
        from siray_tui.cli.download import run_download

        return asyncio.run(guard.run(run_download(settings, args.ids, args.dir, out=out, err=err)))
    if command == "export":
        from siray_tui.cli.export import run_export

        return run_export(settings, args.format, args.output, args.status, out, err)
    if command == "models":
        from siray_tui.cli.models import run_models

        kind = TaskKind(args.kind) if args.kind else None
        return asyncio.run(
            guard.run(
                run_models(
                    settings,
                    kind=kind,
                    json_output=args.json,
                    refresh=args.refresh,
                    out=out,
                    err=err,
                )
            )
        )
    if command == "submit":
        return asyncio.run(guard.run(_submit(args, settings, stdin, out, err)))
    raise AssertionError(f"unhandled command {command}")


async def _submit(
    args: argparse.Namespace, settings: Settings, stdin: TextIO, out: TextIO, err: TextIO
) -> int:
    from siray_tui.cli import submit

    if args.file is not None:
        return await submit.run_submit_file(
            settings,
            args.file,
            dry_run=args.dry_run,
            resend_uncertain=args.resend_uncertain,
            json_output=args.json,
            stdin=stdin,
            out=out,
            err=err,
        )
    task = submit.OneTask(
        model=args.model,
        prompt=args.prompt,
        kind=TaskKind(args.kind) if args.kind else None,
        params=args.param,
        images=args.image,
        label=args.label,
    )
    # With --wait --json, stdout carries only wait's JSON line; the ID goes to stderr.
    code, task_id = await submit.run_submit_one(
        settings,
        task,
        json_output=args.json and not args.wait,
        out=err if args.wait and args.json else out,
        err=err,
    )
    if not args.wait or task_id is None:
        return code
    from siray_tui.cli.polling import run_wait

    return await run_wait(
        settings, [task_id], timeout=args.timeout, json_output=args.json, out=out, err=err
    )
