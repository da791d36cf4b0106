"""A token that cannot leak by being printed."""

from __future__ import annotations

from typing import Final


class Secret:
    """Holds the API token; ``repr`` and ``str`` never show it.

    Tracebacks, debug logs and f-strings all go through ``repr``/``str``, so keeping the
    value behind :meth:`reveal` means the only way to send it anywhere is on purpose.
    """

    __slots__ = ("_value",)
    _MASK: Final = "Secret('********')"

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        """The token itself: call only where it is sent to the API."""
        return self._value

    def __repr__(self) -> str:
        return self._MASK

    __str__ = __repr__

    def __format__(self, format_spec: str) -> str:
        return self._MASK

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other._value == self._value

    def __hash__(self) -> int:
        return hash(("Secret", self._value))

    def __bool__(self) -> bool:
        return bool(self._value)

    def __reduce__(self) -> tuple[object, ...]:
        raise TypeError("a Secret is not picklable")

    def problem(self) -> str | None:
        """Why this token cannot go into an ``Authorization`` header, or None if it can.

        A CR, LF or NUL in a header value is refused by the HTTP library with an error
        that quotes the whole header, token included, so such a token is turned away
        before any request, with a reason that never shows it.
        """
        value = self._value
        if any(ord(char) < 0x20 or ord(char) == 0x7F for char in value):
            return (
                "contains a control character (CR, LF, NUL or another): "
                "was it pasted with a line break?"
            )
        if not value.isascii():
            return "contains a non-ASCII character"
        return None

    def redact(self, text: str) -> str:
        """``text`` with every occurrence of the token replaced by ``********``."""
        return text.replace(self._value, "********") if self._value else text
