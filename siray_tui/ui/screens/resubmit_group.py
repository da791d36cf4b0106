"""Resubmitting a failure group (``N`` in the stats screen): what can be sent, the
confirmation, and the one-line account of what happened.

Money is at stake, so nothing is sent before the user confirms a dialog that says how
many tasks will be sent, how many of the group cannot be and why, and that it spends
credits. Each task is rebuilt from its stored request exactly as ``N`` pre-fills the
form (input images given as URLs go back in; a local file was kept only as its size and
hash, so such a task cannot be sent again unchanged and is left out). A task already
retried by a watched task is left out too: sending it again would pay twice for one
failure.

The sending itself is the dashboard's worker (:class:`~siray_tui.ui.screens.submit_tasks.
SubmitTasks`); this module only plans, asks and sums up.

| Key | Action |
| --- | --- |
| ``y`` | send (the Resubmit button) |
| ``escape`` / ``n`` | cancel: nothing is sent (the Cancel button, focused first) |
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import ClassVar, Final

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.content import Content
from textual.notifications import SeverityLevel
from textual.screen import ModalScreen
from textual.widgets import Button, Static

from siray_tui.core.errors import InputError
from siray_tui.core.models import WatchedTask
from siray_tui.core.report import plural
from siray_tui.core.retries import as_retry
from siray_tui.core.submission import Submission, build_submission
from siray_tui.core.text import first_line
from siray_tui.ui.screens.new_task import COST_LINE, ERROR_LIMIT, request_params

SHOWN_IDS: Final = 5
"""Task IDs named in a notification at most (the rest are counted)."""


@dataclass
class ResubmitPlan:
    """A failure group sorted into what can be sent again and what cannot.

    Attributes:
        sends: (the failed task's ID, its request rebuilt as a retry of it), in group order.
        by_id: tasks added by ID: no stored request.
        files: tasks whose input files were not kept (only their size and hash).
        unusable: tasks whose stored request cannot be sent (e.g. no kind).
        retried: tasks already retried by a watched task.
        uncertain: tasks whose resubmission in this run had an uncertain outcome (the
            new task may exist and be paid for: only the user, one by one, resends).
    """

    sends: list[tuple[str, Submission]] = field(default_factory=list)
    by_id: list[str] = field(default_factory=list)
    files: list[str] = field(default_factory=list)
    unusable: list[str] = field(default_factory=list)
    retried: list[str] = field(default_factory=list)
    uncertain: list[str] = field(default_factory=list)

    def skipped(self) -> list[tuple[int, str]]:
        """How many are left out, and why, for each reason that applies."""
        reasons = [
            (len(self.by_id), "added by ID: no stored request"),
            (len(self.files), "their input files were not kept, only size and hash"),
            (len(self.unusable), "their stored request cannot be sent as it is"),
            (len(self.retried), "already retried: the retry is watched"),
            (
                len(self.uncertain),
                "resubmitted earlier with an uncertain outcome (may exist): use N on each",
            ),
        ]
        return [(count, why) for count, why in reasons if count]


def plan_resubmit(
    ids: Iterable[str],
    tasks: Mapping[str, WatchedTask],
    uncertain: frozenset[str] = frozenset(),
) -> ResubmitPlan:
    """Sort the tasks ``ids`` (those still in ``tasks``) into a :class:`ResubmitPlan`.

    Args:
        ids: the group's task IDs.
        tasks: every watched task by ID (to find the requests and the retries).
        uncertain: IDs whose earlier resubmission had an uncertain outcome.
    """
    retried = {
        task.request.retry_of
        for task in tasks.values()
        if task.request is not None and task.request.retry_of
    }
    plan = ResubmitPlan()
    for task_id in ids:
        task = tasks.get(task_id)
        if task is None:
            continue
        request = task.request
        if request is None:
            plan.by_id.append(task_id)
            continue
        if task_id in retried:
            plan.retried.append(task_id)
            continue
        if task_id in uncertain:
            plan.uncertain.append(task_id)
            continue
        params, note = request_params(request)
        if note:
            plan.files.append(task_id)
            continue
        try:
            submission = build_submission(
                request.kind, request.model, request.prompt, params, label=task.label
            )
        except InputError:
            plan.unusable.append(task_id)
            continue
        plan.sends.append((task_id, as_retry(submission, task_id)))
    return plan


def _ids(ids: list[str]) -> str:
    more = f" and {len(ids) - SHOWN_IDS} more" if len(ids) > SHOWN_IDS else ""
    return ", ".join(ids[:SHOWN_IDS]) + more


@dataclass
class Tally:
    """What came of a group resubmission, for :meth:`summary`.

    Attributes:
        total: the tasks there were to send.
        accepted: the new tasks' IDs.
        rejected: how many the API rejected (nothing created).
        first_rejection: the API's message for the first of them (one cleaned line).
        uncertain: the failed tasks whose resubmission may or may not have created a task.
        not_sent: how many certainly created nothing (no connection, still rate limited).
        first_not_sent: why the first of them was not sent.
        unsaved: tasks created but not saved to the watchlist (``stopped`` names it).
        stopped: why sending stopped early (the token refused, the watchlist not
            written), or empty.
    """

    total: int
    accepted: list[str] = field(default_factory=list)
    rejected: int = 0
    first_rejection: str = ""
    uncertain: list[str] = field(default_factory=list)
    not_sent: int = 0
    first_not_sent: str = ""
    unsaved: int = 0
    stopped: str = ""

    @property
    def done(self) -> int:
        """How many have an outcome (whatever it was)."""
        return (
            len(self.accepted) + self.rejected + len(self.uncertain) + self.not_sent + self.unsaved
        )

    def summary(self) -> str:
        """One notification's text: accepted, rejected (with the first message),
        uncertain (with their IDs: check the account), not sent, and why it stopped."""
        parts = [f"Resubmitted {len(self.accepted)} of {plural(self.total, 'task')}"]
        if self.rejected:
            message = first_line(self.first_rejection, ERROR_LIMIT) or "no details"
            parts.append(f"{self.rejected} rejected by the API (first: {message})")
        if self.uncertain:
            parts.append(
                f"{len(self.uncertain)} uncertain: may have been created (and charged), "
                f"not resent; check the account before sending again: {_ids(self.uncertain)}"
            )
        if self.not_sent:
            message = first_line(self.first_not_sent, ERROR_LIMIT) or "no details"
            parts.append(f"{self.not_sent} not sent, nothing created ({message})")
        if self.stopped:
            left = self.total - self.done
            parts.append(f"stopped: {self.stopped}; {left} not sent")
        return ". ".join(parts)

    @property
    def severity(self) -> SeverityLevel:
        """An error when a task may exist unseen or sending stopped; a warning when
        some were not accepted."""
        if self.stopped or self.uncertain:
            return "error"
        return "warning" if len(self.accepted) < self.total else "information"


class ConfirmResubmit(ModalScreen[bool]):
    """Asks before a group is resubmitted; dismisses with True only when confirmed.

    Args:
        plan: what would be sent and what not.
        reason: the group's normalised reason (shown literally).
    """

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("y", "confirm", "Resubmit"),
        Binding("escape,n", "cancel", "Cancel"),
    ]

    def __init__(self, plan: ResubmitPlan, reason: str) -> None:
        super().__init__()
        self.plan = plan
        self.reason = reason

    def compose(self) -> ComposeResult:
        count = len(self.plan.sends)
        with Vertical(id="resubmit-dialog"):
            yield Static(
                Content.assemble((f"Resubmit {plural(count, 'failed task')}?", "bold")),
                id="resubmit-title",
            )
            yield Static(
                Content.assemble(
                    ("group: ", "dim"),
                    first_line(self.reason, ERROR_LIMIT),  # literal
                ),
                id="resubmit-group",
            )
            lines = [
                f"{plural(count, 'task')} will be sent again, each with its stored request, "
                "as a new task linked to the one it retries."
            ]
            lines += [f"{n} cannot be: {why}." for n, why in self.plan.skipped()]
            yield Static("\n".join(lines), id="resubmit-counts", markup=False)
            yield Static(Content.assemble((COST_LINE, "bold $warning")), id="resubmit-cost")
            with Horizontal(id="resubmit-buttons"):
                yield Button(f"Resubmit {count}", variant="warning", id="resubmit-ok")
                yield Button("Cancel", id="resubmit-cancel")
                yield Static(
                    Content.assemble(("y", "bold"), " resubmit   ", ("escape", "bold"), " cancel"),
                    id="resubmit-keys",
                )

    def on_mount(self) -> None:
        # an enter pressed out of habit cancels: sending must be chosen
        self.query_one("#resubmit-cancel", Button).focus()

    @on(Button.Pressed, "#resubmit-ok")
    def action_confirm(self) -> None:
        self.dismiss(True)

    @on(Button.Pressed, "#resubmit-cancel")
    def action_cancel(self) -> None:
        self.dismiss(False)


__all__ = ["ConfirmResubmit", "ResubmitPlan", "Tally", "plan_resubmit"]
