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
