"""The details screen's "Request" section: what siray-tui sent to create a task, and
the resubmissions that link it to other tasks (both ways).

Literal like the rest of the details: a :class:`~textual.content.Content` of cleaned
strings, and the params as JSON with anything unprintable escaped.
"""

from __future__ import annotations

import json
from collections.abc import Sequence

from textual.content import Content

from siray_tui.core.models import InputImage, WatchedTask
from siray_tui.core.text import clean_text

Part = tuple[str, str] | str


def literal_json(body: object) -> str:
    """``body`` as indented JSON that is safe to show: anything unprintable (escape
    sequences, C1 controls, bidi overrides) written as a ``\\uXXXX`` escape, so the text
    shown is still exactly the JSON sent."""
    text = json.dumps(body, indent=2, ensure_ascii=False)
    return "".join(ch if ch.isprintable() or ch == "\n" else f"\\u{ord(ch):04x}" for ch in text)


def _image(index: int, image: InputImage) -> str:
    if image.url:
        return f"{index}. {clean_text(image.url)}"
    return f"{index}. {clean_text(image.name)}  {image.size:,} bytes  sha256 {image.sha256}"


def request_content(task: WatchedTask, retried_as: Sequence[str] = ()) -> Content:
    """The stored request of ``task`` (kind, model, prompt, params, images as size and
    hash), ``retry of`` when it resubmits another task, and ``retried as`` for the
    tasks that resubmit it."""
    request = task.request
    rows: list[tuple[str, Part]] = []
    if request is None:
        rows.append(("request", ("none stored: added by ID, so N cannot resubmit it", "dim")))
    else:
        rows += [("kind", request.kind.value), ("model", clean_text(request.model))]
        if request.retry_of:
            rows.append(("retry of", request.retry_of))
    if retried_as:
        rows.append(("retried as", ", ".join(retried_as)))
    if request is not None:
        prompt = clean_text(request.prompt, multiline=True)
        rows.append(("prompt", prompt.replace("\n", "\n" + " " * 14) if prompt else "-"))
        params = literal_json(dict(request.params)) if request.params else "-"
        rows.append(("params", params.replace("\n", "\n" + " " * 14)))
        images = "\n".join(_image(i, image) for i, image in enumerate(request.images, 1))
        rows.append(("images", images.replace("\n", "\n" + " " * 14) if images else "-"))
    parts: list[Part] = []
    for name, value in rows:
        parts += ["\n" if parts else "", (f"{name:>12}  ", "dim"), value]
    return Content.assemble(*parts)


__all__ = ["literal_json", "request_content"]
