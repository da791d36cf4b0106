"""The Siray API simulator: task lifecycles, output files and an HTTP server for them.

Standard library only (no Textual, httpx or core import) so tests, the demo and the
benchmarks can run it anywhere, and so it can never share a bug with the client it tests.

Typical use::

    with SimServer(Scenario(seed=1), token="t") as sim:
        task = sim.scenario.add_task("image", queue_s=1, run_s=2)
        client_base_url = sim.base_url
"""

from __future__ import annotations

from siray_tui.sim.faults import HOSTILE_TEXTS, HOSTILE_URLS, Faults, HostileAnswer
from siray_tui.sim.media import CONTENT_TYPES, EXTENSIONS, GLB_MAGIC, PNG_SIGNATURE, MediaStore
from siray_tui.sim.scenario import (
    FAIL_REASONS,
    FAILURE,
    FINAL_STATUSES,
    IN_PROGRESS,
    MODELS,
    NOT_START,
    QUEUED,
    STATUS_ORDER,
    SUBMITTED,
    SUCCESS,
    FailReason,
    Kind,
    ManualClock,
    Outcome,
    Scenario,
    SimState,
    SimTask,
    default_model,
    model_kind,
    submission_problem,
    tag_kind,
)
from siray_tui.sim.server import LoggedRequest, SimServer, api_path

__all__ = [
    "CONTENT_TYPES",
    "EXTENSIONS",
    "FAILURE",
    "FAIL_REASONS",
    "FINAL_STATUSES",
    "GLB_MAGIC",
    "HOSTILE_TEXTS",
    "HOSTILE_URLS",
    "IN_PROGRESS",
    "MODELS",
    "NOT_START",
    "PNG_SIGNATURE",
    "QUEUED",
    "STATUS_ORDER",
    "SUBMITTED",
    "SUCCESS",
    "FailReason",
    "Faults",
    "HostileAnswer",
    "Kind",
    "LoggedRequest",
    "ManualClock",
    "MediaStore",
    "Outcome",
    "Scenario",
    "SimServer",
    "SimState",
    "SimTask",
    "api_path",
    "default_model",
    "model_kind",
    "submission_problem",
    "tag_kind",
]
