"""SummaryBar: counts per status, polling activity, latency percentiles and the view.

It renders a :class:`SummaryView` and nothing else: the dashboard computes the view from
its tasks and the poller's stats. Server text (the last error) is placed in the
:class:`~textual.content.Content` as plain text, so it is never parsed as markup.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, cast

from textual.content import Content
from textual.widgets import Static

if TYPE_CHECKING:
    from textual.css.styles import RulesMap

from siray_tui.core.columns import format_eta
from siray_tui.core.eta_summary import EtaSummary
from siray_tui.core.report import format_ago, format_duration, plural
from siray_tui.core.stats import Latency
from siray_tui.core.text import first_line
from siray_tui.ui.columns import split_status_filter, status_style
from siray_tui.ui.summary import TaskSummary

_SEP = ("  │  ", "dim")
_NBSP = "\u00a0"


@dataclass(frozen=True, slots=True)
class SummaryView:
    """Everything the bar shows.

    Attributes:
        tasks: counts and latencies over all tasks.
        loading: the watchlist is still being read.
        polling: tasks the poller is polling (not final).
        in_flight: requests waiting for an answer.
        request_rate: requests per second, recently.
        last_error: the latest poll error, cleaned, or None.
        last_error_at: when it happened (wall seconds), or None.
        paused: polling paused (by the user, or stopped on a bad token).
        running: whether a poller is running at all (no token: not).
        shown: rows passing the filters.
        query: the text filter.
        status_filter: the status filter name.
        group: what the ID-set filter shows (a failure group's reason), or empty.
        sort: the sort column and whether reversed.
        now: wall seconds, for "12s ago".
        offline: the base URL when the recent polls could not reach it, else None.
        retry_in: seconds until the next try while offline.
        eta: when the unfinished tasks should be done, and how many are stalled.
    """

    tasks: TaskSummary = field(default_factory=TaskSummary)
    loading: bool = False
    polling: int = 0
    in_flight: int = 0
    request_rate: float = 0.0
    last_error: str | None = None
    last_error_at: float | None = None
    paused: bool = False
    running: bool = False
    shown: int = 0
    query: str = ""
    status_filter: str = "all"
    group: str = ""
    sort: tuple[str, bool] = ("added", False)
    now: float = 0.0
    offline: str | None = None
    retry_in: float = 0.0
    eta: EtaSummary = field(default_factory=EtaSummary)


def _latency(name: str, latency: Latency) -> list[tuple[str, str] | str]:
    if latency.count == 0:
        return [(f"{name} ", "dim"), ("-", "dim")]
    return [
        (f"{name} p50 ", "dim"),
        format_duration(latency.median),
        (" p95 ", "dim"),
        format_duration(latency.p95),
    ]


def _eta(eta: EtaSummary, now: float) -> list[tuple[str, str] | str]:
    """``all done ~4m 10s p50 ~1m 05s  2 stalled``; nothing when nothing is known.

    No-break spaces inside each phrase: a narrow bar wraps between phrases, not in one.
    """
    parts: list[tuple[str, str] | str] = []
    if eta.last_at is not None and eta.median_at is not None:
        last = format_eta(max(0.0, eta.last_at - now)).replace(" ", _NBSP)
        median = format_eta(max(0.0, eta.median_at - now)).replace(" ", _NBSP)
        parts += [_SEP, (f"all{_NBSP}done{_NBSP}", "dim"), last]
        parts += [(f" p50{_NBSP}", "dim"), median]
    if eta.stalled:
        stalled = f"{len(eta.stalled)}{_NBSP}stalled"
        parts += ["  " if parts else _SEP, (stalled, "bold $warning")]
    return parts


def render_summary(view: SummaryView) -> Content:
    """The three lines of the bar as Content (server text stays literal)."""
    if view.loading:
        head: tuple[str, str] = ("reading the watchlist…", "bold")
    else:
        head = (f"{view.tasks.total} tasks", "bold")
    parts: list[tuple[str, str] | str] = [head]
    if view.tasks.counts:
        parts.append(_SEP)
        for index, (status, count) in enumerate(view.tasks.counts):
            if index:
                parts.append("  ")
            parts += [(str(count), "bold"), " ", (status, status_style(status))]
    parts.append("\n")

    if not view.running:
        parts += [("■ not polling", "bold $warning"), ("  unfinished ", "dim"), str(view.polling)]
    else:
        if view.paused:
            parts.append((" ⏸ PAUSED ", "bold reverse $warning"))
        elif view.offline:
            retry = (
                f"retrying in {format_duration(view.retry_in)}"
                if view.retry_in >= 1
                else "retrying now"
            )
            parts += [
                ("⚠ offline: ", "bold $error"),
                (f"{first_line(view.offline, 80)} unreachable", "$error"),
                f", {retry}",
            ]
        else:
            parts.append(("▶ live", "bold $success"))
        parts += [
            ("  polling ", "dim"),
            str(view.polling),
            ("  in flight ", "dim"),
            str(view.in_flight),
            ("  ", ""),
            f"{view.request_rate:.1f}",
            (" req/s", "dim"),
        ]
    parts += [
        _SEP,
        *_latency("queue", view.tasks.queue),
        _SEP,
        *_latency("run", view.tasks.run),
        *_eta(view.eta, view.now),
        "\n",
    ]

    if view.last_error:
        when = format_ago(view.last_error_at, view.now) if view.last_error_at else ""
        parts += [("last error ", "dim"), (first_line(view.last_error, 120), "$warning")]
        if when:
            parts.append((f" ({when})", "dim"))
    elif view.tasks.errored:
        count = view.tasks.errored
        parts.append((f"{plural(count, 'task')} with a poll error", "$warning"))
    else:
        parts.append(("no poll errors", "dim"))
    parts += [_SEP, ("showing ", "dim"), (f"{view.shown} of {view.tasks.total}", "bold")]
    if view.status_filter != "all":
        shown = ", ".join(split_status_filter(view.status_filter))
        parts += [("  status ", "dim"), (shown, "bold $accent")]
    if view.group:
        parts += [("  group ", "dim"), (first_line(view.group, 40), "bold $accent")]
    if view.query:
        parts += [("  filter ", "dim"), (repr(first_line(view.query, 40)), "bold $accent")]
    column, reverse = view.sort  # always shown: "added ▲" says why rows are in that order
    parts += [("  sort ", "dim"), (f"{column} {'▼' if reverse else '▲'}", "bold")]
    return Content.assemble(*parts)


class SummaryBar(Static):
    """Three lines over the table: what is where, how polling goes, what is shown."""

    DEFAULT_CSS = """
    SummaryBar {
        height: auto;
        padding: 0 1;
        background: $boost;
    }
    """

    def show(self, view: SummaryView) -> None:
        """Render ``view`` (skipped when nothing visible changed).

        The bar changes about once a second while polling (the request rate, the
        counts). A layout pass re-arranges the whole screen (~12 ms beside a 10,000-row
        table), so one is asked for only when the bar's height changes.
        """
        content = render_summary(view)
        last = getattr(self, "_last", None)
        if content == last:
            return
        self._last = content
        width = self.content_region.width
        rules = cast("RulesMap", self.styles)  # what Textual itself measures with
        same_height = (
            last is not None
            and width > 0
            and content.get_height(rules, width) == last.get_height(rules, width)
        )
        self.update(content, layout=not same_height)
