"""clean_text strips what a terminal would obey; check_url refuses what we must not open."""

from __future__ import annotations

import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from siray_tui.core.errors import UnsafeUrlError
from siray_tui.core.text import check_url, clean_text, first_line, is_loopback_host

ESC = "\x1b"
FORBIDDEN_ONE_LINE = re.compile(r"[\x00-\x1f\x7f-\x9f]")
FORBIDDEN_MULTILINE = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        # CSI
        ("\x1b[31mred\x1b[0m", "red"),
        ("a\x1b[2Jb", "ab"),
        ("a\x1b[?1049hb", "ab"),
        ("a\x1b[1;31;40mb", "ab"),
        # OSC, BEL-terminated and ST-terminated
        ("a\x1b]0;title\x07b", "ab"),
        ("a\x1b]52;c;ZXZpbA==\x07b", "ab"),
        ("a\x1b]8;;https://evil.example\x1b\\link\x1b]8;;\x1b\\b", "alinkb"),
        ("a\x1b]0;title\x1b\\b", "ab"),
        # OSC unterminated: everything to the end is the sequence
        ("a\x1b]52;c;ZXZpbA==", "a"),
        # 8-bit C1 forms
        ("a\x9b31mb", "ab"),
        ("a\x9d0;title\x07b", "ab"),
        ("a\x9d0;title\x9cb", "ab"),
        # lone ESC, two-byte escapes
        ("a\x1b", "a"),
        ("\x1b", ""),
        ("a\x1bcb", "ab"),  # RIS (full reset)
        ("a\x1b7b\x1b8", "ab"),  # save / restore cursor
        # C0, DEL, C1 controls
        ("a\x00b", "ab"),
        ("a\x7fb", "ab"),
        ("a\x07b", "ab"),
        ("a\x08b", "ab"),
        ("a\x85b", "ab"),
        # bidi overrides and isolates
        ("bidi \u202eevil.exe\u202c", "bidi evil.exe"),
        ("a\u2066b\u2069c", "abc"),
        ("a\u200fb\u200ec", "abc"),
        # kept: ordinary unicode and markup, literally
        ("café", "café"),
        ("日本語のテキスト", "日本語のテキスト"),
        ("done 🎉", "done 🎉"),
        ("family 👨\u200d👩\u200d👧", "family 👨\u200d👩\u200d👧"),
        ("[/x]", "[/x]"),
        ("[@click=app.quit]x[/]", "[@click=app.quit]x[/]"),
        ("[bold red]not markup[/bold red]", "[bold red]not markup[/bold red]"),
        ("", ""),
    ],
)
def test_clean_text(raw: str, expected: str) -> None:
    assert clean_text(raw) == expected
    assert clean_text(raw, multiline=True) == expected


@pytest.mark.parametrize(("raw", "expected"), [(None, ""), (42, "42"), (2.5, "2.5")])
def test_clean_text_of_non_strings(raw: object, expected: str) -> None:
    assert clean_text(raw) == expected


def test_multiline_keeps_line_feeds() -> None:
    raw = "first\nsecond\r\nthird\rfourth"
    assert clean_text(raw, multiline=True) == "first\nsecond\nthird\nfourth"


def test_one_line_turns_line_breaks_into_spaces() -> None:
    assert clean_text("first\nsecond\r\nthird\tfourth") == "first second third fourth"
    assert "\u2028" not in clean_text("a\u2028b")


def test_multiline_has_no_escape_left() -> None:
    raw = "GPU OOM\n\x1b[31mred\x1b]0;t\x07\n[/x]\x00"
    assert clean_text(raw, multiline=True) == "GPU OOM\nred\n[/x]"


def test_first_line() -> None:
    assert first_line("\n\n  \x1b[1mhello\x1b[0m  \nworld") == "hello"
    assert first_line("") == ""
    assert first_line("x" * 300, limit=10) == "x" * 9 + "…"


FRAGMENTS = st.text(
    alphabet=st.characters(codec=None, min_codepoint=0, max_codepoint=0x2FFF), max_size=8
) | st.sampled_from(
    ["\x1b", "\x1b[", "\x1b]", "\x1b]52;c;", "\x07", "\x9b", "\x9d", "\x9c", "\\", "\n", "\r"]
)


@settings(max_examples=300, deadline=None)
@given(text=st.lists(FRAGMENTS, max_size=12).map("".join))
def test_clean_text_never_outputs_control_characters(text: str) -> None:
    one_line = clean_text(text)
    assert not FORBIDDEN_ONE_LINE.search(one_line), repr(one_line)
    multi = clean_text(text, multiline=True)
    assert not FORBIDDEN_MULTILINE.search(multi), repr(multi)
    for bidi in "\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069":
        assert bidi not in one_line and bidi not in multi
    # Cleaning is stable: a second pass changes nothing.
    assert clean_text(one_line) == one_line


# -- URLs --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "url",
    [
        "https://api.siray.ai/redirect/example-output",
        "https://cdn.example.com:8443/a/b.png?sig=abc&x=1#frag",
        "HTTPS://CDN.EXAMPLE.COM/x.mp4",
        "https://[2606:4700:4700::1111]/x.png",
        "https://8.8.8.8/x.png",
    ],
)
def test_https_urls_are_accepted(url: str) -> None:
    assert check_url(url) == url
    assert check_url(url, allow_loopback_http=True) == url


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:8765/files/x/0.png",
        "http://127.5.5.5/x",
        "http://[::1]:8765/x",
        "http://localhost/x",
        "http://LOCALHOST:80/x",
    ],
)
def test_loopback_http_only_when_allowed(url: str) -> None:
    assert check_url(url, allow_loopback_http=True) == url
    with pytest.raises(UnsafeUrlError):
        check_url(url)


# The reason each URL is refused for: a check deleted or reordered shows up as another
# reason (or none), even where a later check would still refuse the URL.
SCHEME = "refused URL scheme"
NO_HOST = "refused URL without a host"
SPACE = "refused URL with white space or control characters"
DASH = "refused URL starting with '-'"
CREDENTIALS = "refused URL with credentials"
PLAIN_HTTP = "refused plain http URL"
MALFORMED = "refused malformed URL"


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("file:///etc/passwd", SCHEME),
        ("FILE:///etc/passwd", SCHEME),
        ("file://localhost/etc/passwd", SCHEME),
        ("javascript:alert(1)", SCHEME),
        ("javascript://example.com/%0aalert(1)", SCHEME),
        ("data:text/html;base64,PHNjcmlwdD4=", SCHEME),
        ("//host/x", SCHEME),
        ("/rel", SCHEME),
        ("rel/x.png", SCHEME),
        ("-oProxy", DASH),
        ("-https://example.com/", DASH),
        (" https://example.com/", SPACE),
        ("https://example.com/ x.png", SPACE),
        ("https://example.com/\nx.png", SPACE),
        ("https://example.com/x.png\n", SPACE),
        ("https://example.com/\tx", SPACE),
        ("https://example.com/a\x1b]52;c;ZXZpbA==\x07.png", SPACE),
        ("https://example.com/\x1b[31m", SPACE),
        ("https://cdn.example.com/\u202egnp.exe", SPACE),
        ("https://example.com/\x00", SPACE),
        ("https:///nohost", NO_HOST),
        ("https://", NO_HOST),
        ("https:", NO_HOST),
        ("https://u:p@example.com/", CREDENTIALS),
        ("https://user@example.com/", CREDENTIALS),
        ("https://evil.com\\@good.com/", CREDENTIALS),
        ("http://evil.example.com", PLAIN_HTTP),
        ("http://evil.example.com/x.png", PLAIN_HTTP),
        ("http://127.0.0.1.nip.io/", PLAIN_HTTP),
        ("ftp://example.com/x.png", SCHEME),
        ("ws://example.com/x", SCHEME),
        ("https://example.com:99999/", MALFORMED),
        ("https://example.com:abc/", MALFORMED),
        ("https://[::1/", MALFORMED),
        ("", "refused URL: empty or not text"),
        ("mailto:a@example.com", SCHEME),
    ],
)
def test_unsafe_urls_are_refused(url: str, reason: str) -> None:
    for allow in (False, True):
        with pytest.raises(UnsafeUrlError) as caught:
            check_url(url, allow_loopback_http=allow)
        message = str(caught.value)
        assert message.startswith(reason)
        assert "\n" not in message
        assert "\r" not in message
        assert ESC not in message
        assert not FORBIDDEN_ONE_LINE.search(message)


@pytest.mark.parametrize("value", [None, 5, b"https://example.com/", ["https://example.com/"]])
def test_non_text_urls_are_refused(value: object) -> None:
    with pytest.raises(UnsafeUrlError):
        check_url(value)


def test_refusal_message_is_cut() -> None:
    with pytest.raises(UnsafeUrlError) as caught:
        check_url("ftp://example.com/" + "x" * 5000)
    assert len(str(caught.value)) < 300


@pytest.mark.parametrize(
    ("host", "expected"),
    [
        ("localhost", True),
        ("LOCALHOST", True),
        ("127.0.0.1", True),
        ("127.255.0.1", True),
        ("::1", True),
        ("[::1]", True),
        ("10.0.0.1", False),
        ("example.com", False),
        ("localhost.example.com", False),
        ("0.0.0.0", False),
    ],
)
def test_is_loopback_host(host: str, expected: bool) -> None:
    assert is_loopback_host(host) is expected
