"""NewTaskScreen: submit one task from the dashboard (``n``), or resubmit one (``N``).

The form builds the same :class:`~siray_tui.core.submission.Submission` as ``siray-tui
submit`` and shows, literally, the JSON body that will be sent, with a line saying that
submitting spends credits. Extra parameters are a JSON object, checked as you type:
while they do not parse, a one-line error says why and Submit is disabled.

The model is picked from the account's models (the catalog, loaded off the event loop
by the dashboard), filtered by what is typed; any text is accepted too, so the form
works offline or without a list. Picking a listed model sets the kind to its tag's.

The form does not send anything itself: it hands the submission to the dashboard, whose
worker outlives the form (a submission in flight when the form is closed still gets its
row, or its error as a notification). The dashboard answers with :meth:`failed` (a
one-line error; everything typed stays) or closes the form when the task is accepted.

| Key | Action |
| --- | --- |
| ``ctrl+s`` | submit |
| ``down`` | (in the model box) go to the list of models |
| ``escape`` | cancel |
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from typing import Any, ClassVar, Final

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, VerticalScroll
from textual.content import Content
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Label, OptionList, Select, Static, TextArea
from textual.widgets.option_list import Option

from siray_tui.core.catalog import Catalog, CatalogResult, ModelInfo
from siray_tui.core.errors import AuthError, InputError, SirayError
from siray_tui.core.models import TaskKind, TaskRequest
from siray_tui.core.report import format_ago
from siray_tui.core.retries import as_retry
from siray_tui.core.submission import IMAGE_FIELDS, Outcome, Sent, Submission, build_submission
from siray_tui.core.text import clean_text, first_line
from siray_tui.ui.request_view import literal_json

CatalogLoader = Callable[[], Awaitable[CatalogResult]]
"""Loads the models list (may raise a SirayError: offline with no cache, no token)."""
Send = Callable[["NewTaskScreen", Submission], None]
"""Starts sending a submission on behalf of a form (the dashboard's worker)."""

SHOWN_MODELS: Final = 50
"""Models listed at most under the model box; typing narrows them."""
COST_LINE: Final = "Submitting spends credits on your Siray account."
ERROR_LIMIT: Final = 300
RATE_LIMITED: Final = "still rate limited"
"""How :class:`~siray_tui.core.submission.Sender` words a 429 it stopped retrying."""


def parse_params(text: str) -> dict[str, Any]:
    """The extra parameters typed: a JSON object (empty text is ``{}``).

    Raises:
        InputError: one line saying what is wrong and where.
    """
    if not text.strip():
        return {}
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise InputError(f"params: {exc.msg} (line {exc.lineno}, column {exc.colno})") from None
    except (ValueError, RecursionError):
        raise InputError("params: not valid JSON") from None
    if not isinstance(value, dict):
        raise InputError(
            f'params must be a JSON object {{"key": value}}, not {type(value).__name__}'
        )
    return value


def outcome_line(sent: Sent) -> str:
    """One line for a submission that was not accepted: what happened, and whether a
    task may exist (money is at stake: an uncertain one must not be sent again blindly)."""
    error = first_line(sent.error, ERROR_LIMIT) or "no details"
    limited = sent.outcome is Outcome.RATE_LIMITED or error.startswith(RATE_LIMITED)
    match sent.outcome:
        case _ if limited:
            error = error.removeprefix(RATE_LIMITED).lstrip(": ")
            return f"Rate limited by the API, nothing was created ({error}): try again later"
        case Outcome.REJECTED:
            return f"Rejected by the API: {error}"
        case Outcome.AUTH:
            return f"The API rejected the token ({error}): check SIRAY_API_TOKEN"
        case Outcome.NOT_SENT:
            return f"Not sent, nothing was created: {error}"
        case _:
            return (
                f"Uncertain: {error}. The task may have been created (and charged); it is not "
                "resent automatically: check the account before submitting again."
            )


def request_params(request: TaskRequest) -> tuple[dict[str, Any], str]:
    """The params to pre-fill for a resubmission, and a note on what cannot be resent.

    Input images given as URLs go back in as ``image``/``images``; a local file was kept
    only as its name, size and hash, so it is named in the note instead.
    """
    params = dict(request.params)
    urls = [image.url for image in request.images if image.url]
    files = [image for image in request.images if not image.url]
    if len(urls) == 1 and not files:
        params[IMAGE_FIELDS[0]] = urls[0]
    elif urls:
        params[IMAGE_FIELDS[1]] = urls
    note = ""
    if files:
        names = ", ".join(f"{image.name} ({image.size:,} bytes)" for image in files[:3])
        note = f"Input files are not kept, only their size and hash: add {names} again as URLs."
    return params, note


def _option(info: ModelInfo) -> Option:
    # the kind first, in a fixed width: a long ID or name wraps after what matters
    name = f"  {info.name}" if info.name else ""
    prompt = Content.assemble((f"{info.kind.value:<6}", "italic"), info.id, (name, "dim"))
    return Option(prompt, id=info.id)


class ModelInput(Input):
    """The model box: ``down`` goes to the list of models under it (the dialog's scroll
    container would take the key otherwise)."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("down", "screen.to_models", "Models", show=False)
    ]


class NewTaskScreen(ModalScreen[None]):
    """The new-task form. See the module docstring.

    Args:
        send: starts sending a submission (the dashboard's worker); the answer comes
            back through :meth:`failed`, or the form is closed.
        catalog: loads the models list; None: free text only (no list to load).
        initial: a stored request to start from (``N``), editable.
        retry_of: the task ID the new task retries (``N``), or empty.
        label: the label to start with.
        problem: why submitting cannot work now (no token), shown at once.
        now: wall-clock time, for the age of an offline list.
    """

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("ctrl+s", "submit", "Submit", priority=True),
        Binding("escape", "cancel", "Cancel"),
    ]

    def __init__(
        self,
        send: Send,
        *,
        catalog: CatalogLoader | None = None,
        initial: TaskRequest | None = None,
        retry_of: str = "",
        label: str = "",
        problem: str | None = None,
        now: float = 0.0,
    ) -> None:
        super().__init__()
        self._now = now
        self._send = send
        self._load_catalog = catalog
        self.initial = initial
        self.retry_of = retry_of
        self._label = label
        self._problem = problem
        self.catalog: Catalog | None = None
        self.sending = False
        """Whether a submission from this form is in flight (Submit stays disabled)."""

    def compose(self) -> ComposeResult:
        initial = self.initial
        params, note = request_params(initial) if initial else ({}, "")
        title = f"Resubmit {self.retry_of}" if self.retry_of else "New task"
        kind = initial.kind if initial else TaskKind.IMAGE
        with VerticalScroll(id="new-dialog"):
            yield Static(Content.assemble((title, "bold")), id="new-title")
            with Horizontal(classes="new-row"):
                yield Label("Kind", classes="new-label")
                yield Select(
                    [(k.value, k) for k in TaskKind.concrete()],
                    value=kind,
                    allow_blank=False,
                    id="new-kind",
                )
                yield Label("Model", classes="new-label")
                yield ModelInput(
                    initial.model if initial else "",
                    placeholder="type to filter, or any model ID",
                    id="new-model",
                )
            yield OptionList(id="new-models")
            yield Static("", id="new-catalog", markup=False)
            yield Label("Prompt")
            yield TextArea(initial.prompt if initial else "", id="new-prompt", soft_wrap=True)
            yield Label('Extra parameters (a JSON object, e.g. {"size": "1024x1024"})')
            yield TextArea(
                json.dumps(params, ensure_ascii=False) if params else "",
                id="new-params",
                soft_wrap=True,
            )
            yield Static("", id="new-params-error", markup=False)
            with Horizontal(classes="new-row"):
                yield Label("Label", classes="new-label")
                yield Input(self._label, placeholder="optional", id="new-label")
            if note:
                yield Static(Content.assemble((note, "$warning")), id="new-note")
            yield Static(Content.assemble(("Will send", "bold")), classes="new-section")
            yield Static("", id="new-preview", markup=False)
            yield Static(Content.assemble((COST_LINE, "bold $warning")), id="new-cost")
            yield Static("", id="new-error", markup=False)
            with Horizontal(id="new-buttons"):
                yield Button("Submit", variant="primary", id="new-ok")
                yield Button("Cancel", id="new-cancel")
                yield Static(
                    Content.assemble(
                        ("ctrl+s", "bold"), " submit   ", ("escape", "bold"), " cancel"
                    ),
                    id="new-keys",
                )

    def on_mount(self) -> None:
        self._filter_models()  # hidden until there is a list
        self._refresh_form()
        if self._problem:
            self.failed(self._problem)
        focus = "#new-prompt" if self.initial else "#new-model"
        self.query_one(focus).focus()
        if self._load_catalog is None:
            self._show_catalog_status("no models list: type a model ID")
        else:
            self._show_catalog_status("loading the models list…")
            self._fetch_catalog()

    # -- the models list -------------------------------------------------------------

    @work(group="catalog", exit_on_error=False)
    async def _fetch_catalog(self) -> None:
        assert self._load_catalog is not None
        try:
            result = await self._load_catalog()
        except AuthError as exc:
            self._show_catalog_status(f"no models list (the API rejected the token: {exc})")
            return
        except SirayError as exc:
            self._show_catalog_status(f"no models list ({exc}): type a model ID")
            return
        self.catalog = result.catalog
        count = len(result.catalog.models)
        status = f"{count} models"
        if result.offline is not None:
            age = format_ago(result.catalog.fetched_at, self._now)
            status += f", offline ({result.offline}): the list cached {age}"
        self._show_catalog_status(status)
        self._filter_models()

    def _show_catalog_status(self, text: str) -> None:
        self.query_one("#new-catalog", Static).update(
            Content.assemble((first_line(text, ERROR_LIMIT), "dim"))
        )

    def _filter_models(self) -> None:
        box = self.query_one("#new-models", OptionList)
        catalog = self.catalog
        if catalog is None:
            box.display = False
            return
        typed = self.query_one("#new-model", Input).value.strip().lower()
        found = [
            info
            for info in catalog.models
            if typed in info.id.lower() or typed in info.name.lower()
        ]
        exact = len(found) == 1 and found[0].id == self.query_one("#new-model", Input).value
        box.display = bool(found) and not exact
        box.set_options([_option(info) for info in found[:SHOWN_MODELS]])

    @on(Input.Changed, "#new-model")
    def _model_typed(self) -> None:
        self._filter_models()
        model = self.query_one("#new-model", Input).value.strip()
        kind = self.catalog.kind_of(model) if self.catalog else None
        if kind is not None:
            self.query_one("#new-kind", Select).value = kind
        self._refresh_form()

    @on(OptionList.OptionSelected, "#new-models")
    def _model_picked(self, event: OptionList.OptionSelected) -> None:
        if event.option.id:
            self.query_one("#new-model", Input).value = event.option.id
            self.query_one("#new-prompt", TextArea).focus()

    def action_to_models(self) -> None:
        box = self.query_one("#new-models", OptionList)
        if box.display:
            box.focus()
            if box.highlighted is None and box.option_count:
                box.highlighted = 0

    # -- the form as it stands ---------------------------------------------------------

    def submission(self) -> Submission:
        """What the form would send now.

        Raises:
            InputError: the params are not a JSON object, or no model is named.
        """
        kind = self.query_one("#new-kind", Select).value
        params = parse_params(self.query_one("#new-params", TextArea).text)
        submission = build_submission(
            kind if isinstance(kind, TaskKind) else TaskKind.IMAGE,
            self.query_one("#new-model", Input).value.strip(),
            self.query_one("#new-prompt", TextArea).text,
            params,
            label=self.query_one("#new-label", Input).value,
        )
        return as_retry(submission, self.retry_of) if self.retry_of else submission

    @on(TextArea.Changed)
    @on(Input.Changed, "#new-label")
    @on(Select.Changed)
    def _refresh_form(self) -> None:
        """Check the params, show the body that would be sent, enable Submit or not."""
        problem = ""
        try:
            parse_params(self.query_one("#new-params", TextArea).text)
        except InputError as exc:
            problem = str(exc)
        self.query_one("#new-params-error", Static).update(
            Content.assemble((first_line(problem, ERROR_LIMIT), "$error"))
        )
        preview = self.query_one("#new-preview", Static)
        try:
            submission = self.submission()
        except InputError as exc:
            preview.update(Content.assemble((first_line(str(exc), ERROR_LIMIT), "dim")))
            ready = False
        else:
            endpoint = f"POST to the {submission.kind.value} endpoint:\n"
            preview.update(Content.assemble((endpoint, "dim"), literal_json(submission.body)))
            ready = True
        self.query_one("#new-ok", Button).disabled = not ready or self.sending

    # -- sending ---------------------------------------------------------------------

    @on(Button.Pressed, "#new-ok")
    def action_submit(self) -> None:
        if self.sending:
            return
        try:
            submission = self.submission()
        except InputError as exc:
            self.failed(str(exc))
            return
        self.sending = True
        self.query_one("#new-ok", Button).disabled = True
        self.query_one("#new-error", Static).update(
            Content.assemble(("Sending… (closing the form does not stop it)", "dim"))
        )
        self._send(self, submission)

    def failed(self, message: str) -> None:
        """Show why the submission did not go through (one line); everything typed stays."""
        self.sending = False
        if not self.is_mounted:
            return
        self.query_one("#new-error", Static).update(
            Content.assemble((first_line(clean_text(message), ERROR_LIMIT), "bold $error"))
        )
        self._refresh_form()

    @on(Button.Pressed, "#new-cancel")
    def action_cancel(self) -> None:
        self.dismiss(None)


__all__ = [
    "COST_LINE",
    "CatalogLoader",
    "NewTaskScreen",
    "Send",
    "outcome_line",
    "parse_params",
    "request_params",
]
