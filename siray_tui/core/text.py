"""Sanitising text from the server, and deciding which server URLs we may touch.

Everything the API sends (status, fail_reason, message, outputs) is untrusted. A terminal
obeys escape sequences (OSC 52 writes the clipboard, OSC 0 retitles the window, CSI moves
the cursor), and Textual would parse ``[...]`` as markup, so server text is cleaned here
once and displayed literally by the UI.
"""

from __future__ import annotations

import ipaddress
import re
import socket
import unicodedata
from urllib.parse import urlsplit

from siray_tui.core.errors import UnsafeUrlError

# ESC-introduced sequences: CSI (ESC [ ... final), OSC (ESC ] ... BEL or ST), other two-byte
# escapes, plus their 8-bit C1 forms (0x9b CSI, 0x9d OSC).
_ESCAPE_SEQUENCE = re.compile(
    r"""
    (?:\x1b\[|\x9b)[0-?]*[ -/]*[@-~]             # CSI
    | (?:\x1b[\]PX^_]|[\x9d\x90\x98\x9e\x9f])      # OSC, DCS, SOS, PM, APC ...
      [^\x07\x1b\x9c]*(?:\x07|\x1b\\|\x9c)?       # ... up to BEL or ST (or the end)
    | \x1b[ -/]*[0-~]?                            # any other ESC sequence, or a lone ESC
    """,
    re.VERBOSE,
)
# C0 controls except TAB and LF, DEL and C1 controls. Format characters (bidi marks,
# overrides and isolates, zero-width spaces) are handled by _drop_unprintable.
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")
_CONTROL_ONE_LINE = re.compile(r"[\x00-\x1f\x7f-\x9f]")
REPLACEMENT = "\ufffd"
_JOINERS = frozenset("\u200c\u200d")  # zero width non-joiner and joiner


def _drop_unprintable(text: str, *, multiline: bool) -> str:
    """Remove what ``str.isprintable`` flags and a terminal must not get.

    Format characters (category Cf: bidi overrides, isolates and marks such as U+061C,
    zero-width spaces, U+FEFF) can make a line read differently from what it holds
    (Trojan Source). A lone surrogate (category Cs, from JSON's ``"\\ud800"`` or a
    surrogate-escaped argument) cannot be encoded as UTF-8 and would crash every print,
    so it becomes U+FFFD. Line and paragraph separators become a line feed (multiline)
    or a space. Other non-printables (no-break spaces, private use, unassigned code
    points) are harmless and kept.
    """
    if text.isprintable():
        return text
    kept: list[str] = []
    last = len(text) - 1
    for index, char in enumerate(text):
        if char.isprintable() or char == "\n" or char == " ":
            kept.append(char)
            continue
        category = unicodedata.category(char)
        if category == "Cs":
            kept.append(REPLACEMENT)
        elif category in ("Zl", "Zp"):
            kept.append("\n" if multiline else " ")
        elif category == "Cf":
            # A joiner between two non-ASCII characters builds an emoji sequence or shapes
            # a script (Persian, Indic); anywhere else it only hides something.
            if (
                char in _JOINERS
                and 0 < index < last
                and not text[index - 1].isascii()
                and not text[index + 1].isascii()
            ):
                kept.append(char)
        elif category != "Cc":
            kept.append(char)
    return "".join(kept)


def clean_text(value: object, *, multiline: bool = False) -> str:
    """Return ``value`` as text with every escape sequence and control character removed.

    Args:
        value: anything; non-strings are converted with ``str`` so a number in a text
            field still shows.
        multiline: keep line feeds and tabs (for the details view); otherwise every
            control character, newlines included, is dropped or turned into a space.
    """
    text = value if isinstance(value, str) else ("" if value is None else str(value))
    text = _ESCAPE_SEQUENCE.sub("", text)
    if multiline:
        text = text.replace("\r\n", "\n").replace("\r", "\n")
        return _drop_unprintable(_CONTROL.sub("", text).expandtabs(4), multiline=True)
    text = text.replace("\t", " ").replace("\r\n", " ").replace("\n", " ").replace("\r", " ")
    return _drop_unprintable(_CONTROL_ONE_LINE.sub("", text), multiline=False)


def first_line(value: object, limit: int = 200) -> str:
    """The first non-empty line of ``value``, cleaned and cut to ``limit`` characters."""
    for line in clean_text(value, multiline=True).split("\n"):
        line = line.strip()
        if line:
            return line if len(line) <= limit else line[: limit - 1] + "…"
    return ""


def is_loopback_host(host: str) -> bool:
    """True for ``localhost``, 127.0.0.0/8 and ::1."""
    host = host.strip("[]").lower()
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


# The address classes an output URL must not point at (cloud metadata at 169.254.169.254,
# the user's router, services on their machine), checked in this order.
_NON_PUBLIC = (
    ("is_loopback", "loopback"),
    ("is_unspecified", "unspecified"),
    ("is_link_local", "link-local"),
    ("is_multicast", "multicast"),
    ("is_private", "private"),
    ("is_reserved", "reserved"),
)


def host_scope(host: str) -> str | None:
    """What kind of non-public address ``host`` names, or None for a public one.

    Only what can be told without DNS: ``localhost`` names, and IP literals, also in the
    numeric forms a resolver accepts without DNS (``2852039166``, ``0xa9.0xfe.43518``)
    and IPv4 mapped into IPv6. Any other host name gives None: it is not resolved here.

    Returns:
        ``loopback``, ``unspecified``, ``link-local``, ``multicast``, ``private``,
        ``reserved`` (any other address that is not global), or None.
    """
    name = host.strip("[]").lower().rstrip(".")
    if name == "localhost" or name.endswith(".localhost"):
        return "loopback"
    address: ipaddress.IPv4Address | ipaddress.IPv6Address
    try:
        address = ipaddress.ip_address(name)
    except ValueError:
        try:
            address = ipaddress.IPv4Address(socket.inet_aton(name))  # parsing only, no DNS
        except (OSError, ValueError):
            return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    for attribute, scope in _NON_PUBLIC:
        if getattr(address, attribute):
            return scope
    return None if address.is_global else "reserved"


def check_url(
    url: object, *, allow_loopback_http: bool = False, allow_scope: str | None = None
) -> str:
    """Return ``url`` if it is safe to open or fetch, else raise :class:`UnsafeUrlError`.

    Safe means ``https`` with a host, or (only when ``allow_loopback_http``, as in tests
    and the demo) plain ``http`` to a loopback host. Anything with control characters,
    white space, a leading ``-`` (it could become a command-line option of a browser),
    credentials, or another scheme (``file:``, ``javascript:``, ``data:``) is refused.
    So is a host that :func:`host_scope` finds non-public (a private, link-local,
    loopback... address or a ``localhost`` name), before any connection or DNS lookup,
    unless it is loopback and ``allow_loopback_http``, or of the kind ``allow_scope``
    names (the base URL's own, e.g. ``private`` for an API on 10.0.0.5).

    Raises:
        UnsafeUrlError: with a message that names the problem, safe to show.
    """
    if not isinstance(url, str) or not url:
        raise UnsafeUrlError("refused URL: empty or not text")
    shown = clean_text(url)[:120]
    # isprintable() is False for every control, format character (bidi, zero-width),
    # surrogate and white space but the plain space, which is checked on its own.
    if not url.isprintable() or " " in url:
        raise UnsafeUrlError(f"refused URL with white space or control characters: {shown!r}")
    if url.startswith("-"):
        raise UnsafeUrlError(f"refused URL starting with '-': {shown!r}")
    try:
        parts = urlsplit(url)
        host = parts.hostname or ""
        _ = parts.port  # raises ValueError on a malformed port
    except ValueError:
        raise UnsafeUrlError(f"refused malformed URL: {shown!r}") from None
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https"):  # first, so the message names the real problem
        raise UnsafeUrlError(f"refused URL scheme {scheme or '(none)'!r}: {shown!r}")
    if not host:
        raise UnsafeUrlError(f"refused URL without a host: {shown!r}")
    if parts.username is not None or parts.password is not None:
        raise UnsafeUrlError(f"refused URL with credentials: {shown!r}")
    scope = host_scope(host)
    if (
        scope is not None
        and scope != allow_scope
        and not (scope == "loopback" and allow_loopback_http)
    ):
        raise UnsafeUrlError(f"refused URL to a {scope} address: {shown!r}")
    if scheme == "http" and not (allow_loopback_http and is_loopback_host(host)):
        raise UnsafeUrlError(f"refused plain http URL (only https is allowed): {shown!r}")
    return url
