"""parse_retry_after: delta-seconds and HTTP dates, capped at 120 s; garbage gives None."""

from __future__ import annotations

from email.utils import formatdate

import pytest

from siray_tui.core.client import RETRY_AFTER_CAP, parse_retry_after

NOW = 1_763_274_672.0  # a whole second, so an HTTP date (1 s resolution) is exact


def http_date(at: float) -> str:
    return formatdate(at, usegmt=True)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("7", 7.0),
        ("2.5", 2.5),
        ("0.5", 0.5),
        ("0", 0.0),
        ("120", 120.0),
        (" 7 ", 7.0),
        ("121", 120.0),
        ("99999", 120.0),
        ("1e10", 120.0),
        ("-1", None),
        ("-0.5", None),
        ("inf", None),
        ("-inf", None),
        ("Infinity", None),
        ("nan", None),
        ("NaN", None),
        ("1e400", None),
        ("", None),
        ("   ", None),
        (None, None),
        ("soon", None),
        ("7 seconds", None),
        ("0x10", None),
        ("Mon, 99 Foo 2025 99:99:99 GMT", None),
        ("Sun, 16 Nov 2025", None),
        ("Fri, 31 Dec 99999 23:59:59 GMT", None),
    ],
)
def test_parse_retry_after(value: str | None, expected: float | None) -> None:
    assert parse_retry_after(value, now=NOW) == expected


@pytest.mark.parametrize(
    ("offset", "expected"),
    [
        (30, 30.0),
        (1, 1.0),
        (0, 0.0),
        (120, 120.0),
        (121, 120.0),
        (-30, 0.0),
        (-86_400 * 365, 0.0),
        (86_400 * 365 * 10, 120.0),
    ],
)
def test_http_date(offset: int, expected: float) -> None:
    assert parse_retry_after(http_date(NOW + offset), now=NOW) == expected


def test_http_date_is_relative_to_now() -> None:
    header = http_date(NOW + 60)
    assert parse_retry_after(header, now=NOW) == 60.0
    assert parse_retry_after(header, now=NOW + 45) == 15.0
    assert parse_retry_after(header, now=NOW + 90) == 0.0


@pytest.mark.parametrize(
    "header",
    [
        "Sun, 16 Nov 2025 06:31:42 GMT",  # IMF-fixdate, the preferred form
        "Sunday, 16-Nov-25 06:31:42 GMT",  # obsolete RFC 850 form
        "Sun Nov 16 06:31:42 2025",  # obsolete asctime form (always GMT, no zone written)
    ],
)
def test_http_date_forms(header: str) -> None:
    """RFC 9110 section 5.6.7: "A recipient that parses a timestamp value in an HTTP field
    MUST accept all three HTTP-date formats"; all three are GMT by definition."""
    assert parse_retry_after(header, now=NOW) == 30.0


def test_cap_is_120_seconds() -> None:
    assert RETRY_AFTER_CAP == 120.0
