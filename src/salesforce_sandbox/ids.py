"""Salesforce record ids: 15/18-character forms, key prefixes, generation.

Pure: no I/O. An id is ``prefix(3) + "000" + base62 counter(9)`` plus the 3-character
case-safe suffix, e.g. ``001000000000001AAA``.
"""

from __future__ import annotations

import re

BASE62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
_SUFFIX_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZ012345"
_ID_RE = re.compile(r"^[a-zA-Z0-9]{15}(?:[A-Z0-5]{3})?$")


def suffix(id15: str) -> str:
    """The 3-character case-safe suffix of a 15-character id."""
    out = ""
    for chunk in range(3):
        bits = 0
        for i, ch in enumerate(id15[chunk * 5 : chunk * 5 + 5]):
            if "A" <= ch <= "Z":
                bits |= 1 << i
        out += _SUFFIX_ALPHABET[bits]
    return out


def to18(value: str) -> str:
    """Return the 18-character form of a 15- or 18-character id."""
    if len(value) == 15:
        return value + suffix(value)
    return value


def looks_like_id(value: str) -> bool:
    """True when ``value`` has the shape of a 15- or 18-character id."""
    if not _ID_RE.match(value):
        return False
    return len(value) == 15 or suffix(value[:15]) == value[15:]


def normalize(value: str) -> str | None:
    """18-character id, or None when ``value`` is not an id."""
    if not looks_like_id(value):
        return None
    return to18(value[:15])


ORG_ID_15 = "00D000000000001"
ORG_ID = to18(ORG_ID_15)


def encode_counter(number: int, width: int = 9) -> str:
    digits = []
    while number:
        number, rem = divmod(number, 62)
        digits.append(BASE62[rem])
    text = "".join(reversed(digits)) or "0"
    if len(text) > width:
        raise ValueError("id counter overflow")
    return text.rjust(width, "0")


def decode_counter(text: str) -> int:
    number = 0
    for ch in text:
        number = number * 62 + BASE62.index(ch)
    return number


def make_id(prefix: str, number: int) -> str:
    """Build the 18-character id number ``number`` for key prefix ``prefix``."""
    return to18(prefix + "000" + encode_counter(number))


def counter_of(id18: str) -> int:
    return decode_counter(id18[6:15])


def custom_prefix(index: int) -> str:
    """Key prefix of the ``index``-th custom object: a00, a01, ..., a0z, a10, ..."""
    return "a" + encode_counter(index, 2)


class IdGenerator:
    """Hands out increasing ids per key prefix, starting after ``seed(prefix)``."""

    def __init__(self) -> None:
        self._next: dict[str, int] = {}

    def known(self, prefix: str) -> bool:
        return prefix in self._next

    def start_after(self, prefix: str, last: int) -> None:
        self._next[prefix] = max(self._next.get(prefix, 1), last + 1)

    def new(self, prefix: str) -> str:
        number = self._next.get(prefix, 1)
        self._next[prefix] = number + 1
        return make_id(prefix, number)

    def reset(self) -> None:
        self._next.clear()
