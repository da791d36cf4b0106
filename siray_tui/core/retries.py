"""Resubmissions and the tasks they retry, linked both ways from the watchlist.

Only the new task stores the link (``TaskRequest.retry_of``): the old one may have been
added by another process, or removed and brought back, and writing to it too would be
one more thing to keep in step. "Retried as" is worked out from the watchlist instead.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable

from siray_tui.core.models import WatchedTask
from siray_tui.core.submission import Submission


def retried_as(task_id: str, tasks: Iterable[WatchedTask]) -> list[str]:
    """The IDs of the tasks whose stored request retries ``task_id``, in watchlist order."""
    return [
        task.task_id
        for task in tasks
        if task.request is not None and task.request.retry_of == task_id
    ]


def as_retry(submission: Submission, task_id: str) -> Submission:
    """``submission``, its stored request marked as a retry of ``task_id``."""
    request = dataclasses.replace(submission.request, retry_of=task_id)
    return dataclasses.replace(submission, request=request)


__all__ = ["as_retry", "retried_as"]
