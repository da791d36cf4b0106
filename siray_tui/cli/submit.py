"""``siray-tui submit``: one task (``--model``/``--prompt``) or a JSONL batch (``--file``).

Exit statuses (README.md): 0 accepted (every line, now or before); 1 rejected by the API
(any line); 2 usage, config or auth (the token refused: stop at once), or a file that
cannot be read; 4 uncertain: the task may exist, so it is not sent again by itself
(4 wins over the others, because money may be spent).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Final, TextIO

from siray_tui.cli.models import fetch_catalog
from siray_tui.cli.output import print_json_lines, report_warnings
from siray_tui.config import Settings
from siray_tui.core.batch import (
    ACCEPTED,
    REJECTED,
    SKIPPED,
    UNCERTAIN,
    Batch,
    BatchLine,
    KindOf,
    LineResult,
    build_line,
    parse_lines,
    plan,
)
from siray_tui.core.catalog import Catalog, CatalogUnavailableError
from siray_tui.core.clock import Clock, SystemClock
from siray_tui.core.errors import AuthError, SirayError
from siray_tui.core.journal import Journal, JournalBusyError, LineRecord, journal_path
from siray_tui.core.models import TaskKind
from siray_tui.core.report import plural
from siray_tui.core.session import WatchSession
from siray_tui.core.submission import Outcome, Sender, build_submission, parse_param
from siray_tui.core.text import clean_text, first_line

EXIT_OK: Final = 0
EXIT_REJECTED: Final = 1
EXIT_ERROR: Final = 2
EXIT_UNCERTAIN: Final = 4
_UNCERTAIN_HINT: Final = (
    "the outcome is unknown: the task may exist (and cost credits); check before submitting again"
)


def _fail(err: TextIO, message: str) -> int:
    err.write(f"siray-tui: error: {first_line(message, 400)}\n")
    err.flush()
    return EXIT_ERROR


def _auth(err: TextIO, message: str) -> int:
    return _fail(err, f"the API rejected the token ({message}): check SIRAY_API_TOKEN")


@dataclass(frozen=True)
class OneTask:
    """What ``submit --model ... --prompt ...`` was given."""

    model: str
    prompt: str
    kind: TaskKind | None
    params: Sequence[str]
    images: Sequence[str]
    label: str


async def _catalog(settings: Settings, clock: Clock, err: TextIO) -> Catalog | None:
    try:
        return (await fetch_catalog(settings, clock, err)).catalog
    except (AuthError, CatalogUnavailableError) as exc:
        err.write(f"siray-tui: warning: no models list ({first_line(str(exc), 200)})\n")
        return None


async def run_submit_one(
    settings: Settings,
    task: OneTask,
    *,
    json_output: bool,
    out: TextIO,
    err: TextIO,
    clock: Clock | None = None,
) -> tuple[int, str | None]:
    """Submit one task; returns the exit status and the new task's ID (for ``--wait``).

    The task is on the watchlist before its ID is printed.
    """
    clock = clock or SystemClock()
    if settings.token_problem is not None:
        return _fail(err, settings.token_problem), None
    try:
        params = dict(parse_param(text) for text in task.params)
    except SirayError as exc:
        return _fail(err, str(exc)), None
    kind = task.kind
    if kind is None:
        catalog = await _catalog(settings, clock, err)
        kind = catalog.kind_of(task.model) if catalog else None
        if kind is None:
            model = clean_text(task.model)[:80]
            return _fail(
                err, f"cannot tell the kind of model {model!r}: pass --kind image, video or 3d"
            ), None
    try:
        submission = build_submission(
            kind, task.model, task.prompt, params, task.images, task.label
        )
    except SirayError as exc:  # before any request: a bad image, an empty model
        return _fail(err, str(exc)), None
    session = WatchSession(settings, clock=clock)
    try:
        sent, watched = await session.submit(submission)
    except SirayError as exc:
        return _fail(err, str(exc)), None
    finally:
        report_warnings(session.store, err)
        await session.aclose()
    if watched is not None:
        if json_output:
            print_json_lines([watched], clock.now(), out)
        else:
            out.write(watched.task_id + "\n")
            out.flush()
        return EXIT_OK, watched.task_id
    if sent.outcome is Outcome.AUTH:
        return _auth(err, sent.error), None
    if sent.outcome is Outcome.UNCERTAIN:
        err.write(f"siray-tui: uncertain: {sent.error}; {_UNCERTAIN_HINT}\n")
        return EXIT_UNCERTAIN, None
    if sent.outcome is Outcome.NOT_SENT:
        return _fail(err, f"not sent: {sent.error}"), None
    err.write(f"siray-tui: rejected: {first_line(sent.error, 400)}\n")
    return EXIT_REJECTED, None


def _read_source(source: str, stdin: TextIO) -> tuple[str, Path | None]:
    """The batch's text and its file (None for stdin).

    Raises:
        OSError: the file cannot be read.
        UnicodeDecodeError: it is not UTF-8.
    """
    if source == "-":
        return stdin.read(), None
    path = Path(source).expanduser()
    return path.read_bytes().decode("utf-8"), path


def _dry_run(
    lines: list[BatchLine], settled: list[LineResult], kind_of: KindOf, out: TextIO
) -> int:
    """Print what would be sent (JSON, escapes shown as escapes) and what would not."""
    results = {result.line: result for result in settled}
    problems = any(result.status == REJECTED for result in settled)
    for line in lines:
        shown: dict[str, object]
        if line.number in results:
            shown = results[line.number].to_json()
        else:
            built = build_line(line, kind_of)
            if isinstance(built, str):
                problems = True
                shown = LineResult(line.number, REJECTED, error=built).to_json()
            else:
                shown = {"line": line.number, "status": "would send", "kind": built.kind.value}
                shown["body"] = dict(built.body)
        out.write(json.dumps(shown, ensure_ascii=True) + "\n")
    out.flush()
    return EXIT_REJECTED if problems else EXIT_OK


async def run_submit_file(
    settings: Settings,
    source: str,
    *,
    dry_run: bool,
    resend_uncertain: bool,
    json_output: bool,
    stdin: TextIO,
    out: TextIO,
    err: TextIO,
    clock: Clock | None = None,
) -> int:
    """Submit every line of a JSONL file (see :mod:`siray_tui.core.batch`)."""
    clock = clock or SystemClock()
    try:
        text, path = _read_source(source, stdin)
    except OSError as exc:
        reason = (exc.strerror or str(exc)).lower()
        return _fail(err, f"cannot read {clean_text(source)[:200]}: {reason}")
    except UnicodeDecodeError:
        return _fail(err, f"cannot read {clean_text(source)[:200]}: not UTF-8 text")
    lines = parse_lines(text)
    if not lines:
        return _fail(err, f"{clean_text(source)[:200]} holds no lines to submit")
    if settings.token_problem is not None and not dry_run:
        return _fail(err, settings.token_problem)
    where = str(path.resolve()) if path else "stdin"
    journal = Journal(
        journal_path(settings.data_dir, path, text.encode("utf-8", "surrogatepass")), where
    )
    try:
        if not dry_run:
            journal.lock()
        states = journal.read()
    except JournalBusyError as exc:
        journal.close()
        return _fail(err, str(exc))
    except OSError as exc:
        journal.close()
        return _fail(err, f"cannot read the journal {journal.path}: {exc.strerror or exc}")
    try:
        return await _send_lines(
            settings,
            journal,
            lines,
            states,
            dry_run=dry_run,
            resend_uncertain=resend_uncertain,
            json_output=json_output,
            out=out,
            err=err,
            clock=clock,
        )
    finally:
        journal.close()


async def _send_lines(
    settings: Settings,
    journal: Journal,
    lines: list[BatchLine],
    states: Mapping[str, LineRecord],
    *,
    dry_run: bool,
    resend_uncertain: bool,
    json_output: bool,
    out: TextIO,
    err: TextIO,
    clock: Clock,
) -> int:
    """The rest of :func:`run_submit_file`, with the journal read (and held)."""
    to_send, settled = plan(lines, states, resend_uncertain=resend_uncertain)

    catalog: Catalog | None = None
    needs_kind = any(not isinstance(line.job, str) and line.job.kind is None for line in to_send)
    if needs_kind and settings.token_problem is None:
        catalog = await _catalog(settings, clock, err)
    results: list[LineResult] = []

    def report(result: LineResult) -> None:
        results.append(result)
        if json_output:
            out.write(json.dumps(result.to_json(), ensure_ascii=False) + "\n")
        elif result.status in (ACCEPTED, SKIPPED):
            out.write(f"line {result.line}: {result.status} {result.task_id}\n")
        out.flush()

    kind_of: KindOf = catalog.kind_of if catalog else (lambda model: None)
    if dry_run:
        return _dry_run(lines, settled, kind_of, out)

    session = WatchSession(settings, clock=clock)
    assert session.client is not None  # the token problem was refused above
    batch = Batch(
        journal=journal,
        sender=Sender(session.client, clock, rate=settings.rate),
        store=session.store,
        kind_of=kind_of,
        concurrency=settings.concurrency,
        now=clock.now,
        on_result=report,
    )
    try:
        for result in settled:
            report(result)
        try:
            await batch.reconcile(lines, states)
        except SirayError as exc:
            err.write(f"siray-tui: warning: {first_line(str(exc), 300)}\n")
        try:
            await batch.run(to_send)
        except OSError as exc:  # the journal: no line is sent without its record
            batch.stopped = f"cannot write the journal {journal.path}: {exc.strerror or exc}"
    finally:
        report_warnings(session.store, err)
        await session.aclose()
    return _summary(results, batch, err)


def _summary(results: list[LineResult], batch: Batch, err: TextIO) -> int:
    by_status: dict[str, list[LineResult]] = {}
    for result in sorted(results, key=lambda r: r.line):
        by_status.setdefault(result.status, []).append(result)
    counts = ", ".join(
        f"{len(by_status[status])} {status}"
        for status in (ACCEPTED, SKIPPED, REJECTED, UNCERTAIN)
        if by_status.get(status)
    )
    err.write(f"siray-tui: {plural(len(results), 'line')}: {counts}\n")
    for status in (REJECTED, UNCERTAIN):
        for result in by_status.get(status, []):
            err.write(
                f"siray-tui: line {result.line}: {status}: {first_line(result.error or '', 300)}\n"
            )
    for problem in batch.store_errors:
        err.write(f"siray-tui: warning: not saved to the watchlist: {first_line(problem, 300)}\n")
    if by_status.get(UNCERTAIN):
        err.write(
            "siray-tui: uncertain lines may have created tasks; they are not sent again "
            "unless you rerun with --resend-uncertain\n"
        )
    if batch.stopped is not None:
        err.write(f"siray-tui: error: stopped sending: {first_line(batch.stopped, 300)}\n")
    err.flush()
    if by_status.get(UNCERTAIN):
        return EXIT_UNCERTAIN
    if batch.stopped is not None:
        return EXIT_ERROR
    if by_status.get(REJECTED):
        return EXIT_REJECTED
    return EXIT_OK


__all__ = ["OneTask", "run_submit_file", "run_submit_one"]
