"""How much of what a server sends is read, kept and shown: every cap, in one place.

A server can answer anything (issue: a 94 MB answer took 444 MB of memory and was written
into watchlist.json; a 10 MB fail reason froze the details view). Each cap cuts with a
visible marker ("… (N more characters)", "… N more outputs"), never silently.
"""

from __future__ import annotations

from typing import Final

MAX_ANSWER_BYTES: Final = 1024 * 1024
"""Bytes read from one API answer; a longer body is abandoned as a bad answer."""

MAX_RAW_JSON: Final = 64 * 1024
"""Characters of the answer's ``data`` object kept verbatim (for the details view and the
watchlist); a bigger one is replaced by its parsed, capped fields and a note."""

MAX_FAIL_REASON: Final = 10_000
"""Characters of a fail reason kept, marker included."""

MAX_MESSAGE: Final = 500
"""Characters of an answer's ``message`` kept, marker included."""

MAX_ERROR: Final = 300
"""Characters of a poll error kept in the watchlist."""

MAX_LABEL: Final = 200
"""Characters of a user's label."""

MAX_STATUS: Final = 64
"""Characters of a status word (or ``action``) the server invented."""

MAX_QUOTED: Final = 200
"""Characters of a server's message quoted inside one of our error messages."""

MAX_OUTPUTS: Final = 1000
"""Output URLs kept per task; the number dropped is kept so the UI can say so."""

DETAILS_OUTPUT_PAGE: Final = 10
"""Output rows the details view builds at once (each is a row of buttons)."""

DETAILS_RAW_LINES: Final = 60
"""Lines of the pretty-printed raw answer the details view shows (then "… N more lines")."""

DETAILS_RAW_LINE_CHARS: Final = 200
"""Characters of one line of that raw answer (a long string is one line)."""

MAX_REQUEST_TEXT: Final = 20_000
"""Characters of a stored request's prompt or image URL (a watchlist entry stays small)."""

MAX_INPUT_IMAGE_BYTES: Final = 10 * 1024 * 1024
"""Bytes of a local ``--image`` file sent as a data URL; a bigger one is refused before
any request (base64 makes it a third larger still)."""
