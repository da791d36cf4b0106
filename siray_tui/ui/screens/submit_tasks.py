"""SubmitTasks: the dashboard's ``n`` (new task) and ``N`` (resubmit the selected task),
and the stats screen's ``N`` (resubmit a failure group, see
:mod:`~siray_tui.ui.screens.resubmit_group`).

The form (:class:`~siray_tui.ui.screens.new_task.NewTaskScreen`) only edits; sending is
this screen's worker, which outlives the form: money is at stake, so a submission in
flight when the form is closed must still end in a row (accepted) or a notification
(not). :meth:`WatchSession.submit <siray_tui.core.session.WatchSession.submit>` saves
the new task before it returns, and the row is added here at once, as ``a`` does.

The DashboardScreen derives from this class; it provides the settings and the session.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Sequence

from textual.widgets.data_table import RowDoesNotExist

from siray_tui.config import Settings
from siray_tui.core.catalog import CatalogCache, CatalogResult, load_catalog
from siray_tui.core.clock import Clock
from siray_tui.core.errors import SirayError, StoreError
from siray_tui.core.models import TaskRequest
from siray_tui.core.submission import Outcome, Sender, Submission
from siray_tui.core.text import first_line
from siray_tui.ui.screens.new_task import RATE_LIMITED, NewTaskScreen, outcome_line
from siray_tui.ui.screens.resubmit_group import (
    ConfirmResubmit,
    ResubmitPlan,
    Tally,
    plan_resubmit,
)
from siray_tui.ui.screens.stats import StatsScreen
from siray_tui.ui.screens.watchlist_edits import WatchlistEdits


def read_catalog(settings: Settings, clock: Clock) -> CatalogResult:
    """The models list (cached for a day), for a worker thread: it runs its own event
    loop and client, so the cache's file reads and fsync never hold up the screen.

    Raises:
        SirayError: no token, the token refused, or no list and none cached.
    """

    async def load() -> CatalogResult:
        async with settings.make_client(clock) as client:
            return await load_catalog(client, CatalogCache(settings.cache_dir), clock)

    return asyncio.run(load())


class SubmitTasks(WatchlistEdits):
    """``n`` and ``N`` (a base of DashboardScreen)."""

    settings: Settings
    _catalog: CatalogResult | None = None
    _group_sending: bool = False
    _uncertain: frozenset[str] = frozenset()
    """Failed tasks whose group resubmission was uncertain in this run: never resent
    by a group again (the new task may exist and be paid for)."""

    async def catalog(self) -> CatalogResult:
        """The models list, loaded once per run (in a thread), for every form."""
        if self._catalog is None:
            self._catalog = await asyncio.to_thread(read_catalog, self.settings, self.clock)
        return self._catalog

    def _form(
        self, initial: TaskRequest | None = None, retry_of: str = "", label: str = ""
    ) -> NewTaskScreen:
        return NewTaskScreen(
            self.send,
            catalog=self.catalog if self.session.client is not None else None,
            initial=initial,
            retry_of=retry_of,
            label=label,
            problem=self.session.token_problem,
            now=self.clock.now(),
        )

    def action_new_task(self) -> None:
        if self._ready():
            self.app.push_screen(self._form())

    def action_resubmit(self) -> None:
        task = self._selected()
        if task is None:
            return
        if task.request is None:
            self.notify(
                f"{task.task_id} was added by ID, so there is no stored request to resubmit",
                severity="warning",
                markup=False,
            )
            return
        self.app.push_screen(
            self._form(initial=task.request, retry_of=task.task_id, label=task.label)
        )

    def send(self, form: NewTaskScreen, submission: Submission) -> None:
        """Send ``submission`` in a worker of this screen (see the module docstring)."""
        self.run_worker(self._submit(form, submission), group="submit", exit_on_error=False)

    async def _submit(self, form: NewTaskScreen, submission: Submission) -> None:
        client = self.session.client
        # One try: a 429 is reported at once (nothing was created), not waited out
        # behind a form that seems to hang.
        sender = Sender(client, self.clock, rate=self.settings.rate, tries=1) if client else None
        try:
            sent, task = await self.session.submit(submission, sender=sender)
        except StoreError as exc:  # created, not saved: say so loudly, with the ID
            self.notify(first_line(str(exc), 300), severity="error", timeout=60, markup=False)
            form.failed(str(exc))
            return
        except SirayError as exc:
            self._not_submitted(form, str(exc))
            return
        if task is None:
            self._not_submitted(form, outcome_line(sent))
            return
        self.table.add_tasks([task])
        with contextlib.suppress(RowDoesNotExist):  # filtered out: the row is not shown
            self.table.move_cursor(row=self.table.get_row_index(task.task_id), animate=False)
        self.refresh_summary()
        self.notify(f"Submitted {task.task_id}", markup=False)
        if self.app.screen is form:
            form.dismiss(None)

    # -- a failure group (the stats screen's N) ------------------------------------------

    def resubmit_ids(self, ids: Sequence[str], reason: str) -> None:
        """Resubmit the tasks ``ids`` (a failure group) that have a stored request,
        after a confirmation that says how many will be sent and how many cannot be."""
        if not self._ready():
            return
        if self.session.client is None:
            problem = self.session.token_problem or "no API client"
            self.notify(first_line(problem, 300), severity="error", markup=False)
            return
        if self._group_sending:
            self.notify("A group is still being resubmitted: wait for it", severity="warning")
            return
        plan = plan_resubmit(ids, self.table.tasks, self._uncertain)
        if not plan.sends:
            why = "; ".join(f"{n} {text}" for n, text in plan.skipped()) or "no tasks"
            self.notify(f"Nothing to resubmit: {why}", severity="warning", markup=False)
            return

        def answered(confirmed: bool | None) -> None:
            if confirmed and not self._group_sending:
                self._group_sending = True
                self.run_worker(self._resubmit_all(plan), group="submit", exit_on_error=False)

        self.app.push_screen(ConfirmResubmit(plan, reason), answered)

    async def _resubmit_all(self, plan: ResubmitPlan) -> None:
        """Send the plan one task at a time; each accepted task gets its row at once,
        and one notification sums up at the end. Stops when the token is refused or
        the watchlist cannot be written (every further task would fail the same way,
        the second one after being paid for)."""
        try:
            tally = await self._send_plan(plan)
        finally:
            self._group_sending = False
        self._uncertain |= frozenset(tally.uncertain)
        if isinstance(self.app.screen, StatsScreen):  # still on it: count the new tasks in
            self.app.screen.recount()
        self.notify(
            tally.summary(),
            severity=tally.severity,
            timeout=10 if tally.severity == "information" else 60,
            markup=False,
        )

    async def _send_plan(self, plan: ResubmitPlan) -> Tally:
        client = self.session.client
        tally = Tally(len(plan.sends))
        if client is None:  # checked before asking; the token cannot come back meanwhile
            tally.stopped = "no API client"
            return tally
        # Unlike the form's, this sender waits out a 429 (which created nothing): no form
        # seems to hang behind it, and sending the rest at once would only meet more.
        sender = Sender(client, self.clock, rate=self.settings.rate)
        for old_id, submission in plan.sends:
            try:
                sent, task = await self.session.submit(submission, sender=sender)
            except StoreError as exc:  # created, not saved: the message names the new ID
                tally.unsaved += 1
                tally.stopped = first_line(str(exc), 300)
                return tally
            except SirayError as exc:
                tally.stopped = first_line(str(exc), 300)
                return tally
            if task is not None:
                tally.accepted.append(task.task_id)
                self.table.add_tasks([task])
                self.refresh_summary()
                continue
            match sent.outcome:
                case Outcome.AUTH:
                    tally.stopped = f"the API rejected the token ({sent.error})"
                    return tally
                case Outcome.REJECTED if not sent.error.startswith(RATE_LIMITED):
                    tally.rejected += 1
                    tally.first_rejection = tally.first_rejection or sent.error
                case Outcome.NOT_SENT | Outcome.RATE_LIMITED | Outcome.REJECTED:
                    tally.not_sent += 1
                    tally.first_not_sent = tally.first_not_sent or sent.error
                case _:
                    tally.uncertain.append(old_id)
        return tally

    def _not_submitted(self, form: NewTaskScreen, message: str) -> None:
        form.failed(message)
        if self.app.screen is not form:  # the form was closed meanwhile
            self.notify(first_line(message, 300), severity="error", timeout=30, markup=False)


__all__ = ["SubmitTasks", "read_catalog"]
