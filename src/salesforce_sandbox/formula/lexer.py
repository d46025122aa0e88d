"""Tokens of a Salesforce formula (pure).

Names may hold dots (``Account.Name``, ``RecordType.DeveloperName``) and start with ``$``
(``$User.Id``); strings are quoted with ``"`` or ``'`` and take backslash escapes; comments
are ``/* ... */``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

OPERATORS = ("&&", "||", "==", "!=", "<>", "<=", ">=", "+", "-", "*", "/", "^", "&", "=", "<", ">")
_ESCAPES = {"n": "\n", "t": "\t", "r": "\r", '"': '"', "'": "'", "\\": "\\"}


class FormulaError(Exception):
    """A formula that does not compile; ``str()`` is Salesforce's problem text."""


@dataclass(frozen=True)
class Token:
    kind: str  # number, string, name, op, "(", ")", ",", end
    text: str
    value: Any = None
    pos: int = 0


def tokens(text: str) -> list[Token]:
    out: list[Token] = []
    i, n = 0, len(text)
    while i < n:
        ch = text[i]
        if ch.isspace():
            i += 1
            continue
        if text.startswith("/*", i):
            end = text.find("*/", i + 2)
            if end < 0:
                raise FormulaError("Syntax error. Missing '*/'")
            i = end + 2
            continue
        if ch in "(),":
            out.append(Token(ch, ch, pos=i))
            i += 1
            continue
        if ch in "\"'":
            value, i = _string(text, i)
            out.append(Token("string", value, value, i))
            continue
        if ch.isdigit() or (ch == "." and i + 1 < n and text[i + 1].isdigit()):
            start = i
            while i < n and (text[i].isdigit() or text[i] == "."):
                i += 1
            raw = text[start:i]
            try:
                number = float(raw)
            except ValueError:
                raise FormulaError(f"Syntax error. Found '{raw}'") from None
            out.append(Token("number", raw, int(number) if number.is_integer() else number, start))
            continue
        if ch.isalpha() or ch in "_$":
            start = i
            while i < n and (text[i].isalnum() or text[i] in "_.$"):
                i += 1
            out.append(Token("name", text[start:i], pos=start))
            continue
        operator = next((op for op in OPERATORS if text.startswith(op, i)), None)
        if operator is None and ch == "!":
            operator = "!"
        if operator is None:
            raise FormulaError(f"Syntax error. Found '{ch}'")
        out.append(Token("op", operator, pos=i))
        i += len(operator)
    out.append(Token("end", "", pos=n))
    return out


def _string(text: str, start: int) -> tuple[str, int]:
    quote = text[start]
    i = start + 1
    parts: list[str] = []
    while i < len(text):
        ch = text[i]
        if ch == "\\" and i + 1 < len(text):
            parts.append(_ESCAPES.get(text[i + 1], text[i + 1]))
            i += 2
            continue
        if ch == quote:
            return "".join(parts), i + 1
        parts.append(ch)
        i += 1
    raise FormulaError(f"Syntax error. Missing '{quote}'")
