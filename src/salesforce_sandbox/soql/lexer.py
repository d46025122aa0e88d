"""SOQL tokens with their column, for Salesforce-style error messages."""

from __future__ import annotations

import re
from typing import Any, NamedTuple

from salesforce_sandbox.errors import SalesforceError

KEYWORDS = frozenset(
    {
        "SELECT",
        "FROM",
        "WHERE",
        "AND",
        "OR",
        "NOT",
        "IN",
        "LIKE",
        "GROUP",
        "BY",
        "ORDER",
        "ASC",
        "DESC",
        "NULLS",
        "FIRST",
        "LAST",
        "LIMIT",
        "OFFSET",
        "FOR",
        "TRUE",
        "FALSE",
        "NULL",
        "INCLUDES",
        "EXCLUDES",
        "HAVING",
        "WITH",
        "USING",
        "TYPEOF",
    }
)

_TOKEN_RE = re.compile(
    r"""
    (?P<ws>\s+)
  | (?P<datetime>\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d+)?(?:Z|[+-]\d{2}:?\d{2}))
  | (?P<date>\d{4}-\d{2}-\d{2})(?![\w:])
  | (?P<number>[-+]?(?:\d+\.\d*|\.\d+|\d+))
  | (?P<ident>[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)*)
  | (?P<string>')
  | (?P<op><=|>=|!=|<>|=|<|>)
  | (?P<punct>[(),:])
    """,
    re.VERBOSE,
)

_ESCAPES = {
    "n": "\n",
    "N": "\n",
    "r": "\r",
    "R": "\r",
    "t": "\t",
    "T": "\t",
    "b": "\b",
    "B": "\b",
    "f": "\f",
    "F": "\f",
    '"': '"',
    "'": "'",
    "\\": "\\",
}


class Token(NamedTuple):  # immutable, and cheaper to build than a frozen dataclass
    kind: str  # ident, keyword, string, number, date, datetime, op, punct, eof
    value: Any
    text: str
    col: int  # 1-based

    def is_kw(self, *names: str) -> bool:
        return self.kind == "keyword" and self.value in names


def query_error(
    soql: str, col: int, message: str, code: str = "MALFORMED_QUERY"
) -> SalesforceError:
    pointer = " " * (col - 1) + "^"
    return SalesforceError(code, f"\n{soql}\n{pointer}\nERROR at Row:1:Column:{col}\n{message}")


_PLAIN_RE = re.compile(r"[^'\\]+")


def _read_string(soql: str, start: int) -> tuple[str, int, bool]:
    """Read a quoted string from ``start`` (after the quote); returns text, end, had_like_escape."""
    out: list[str] = []
    i = start
    like_escape = False
    size = len(soql)
    while i < size:
        plain = _PLAIN_RE.match(soql, i)  # a run without quotes or backslashes, in one step
        if plain is not None:
            out.append(plain.group())
            i = plain.end()
            if i >= size:
                break
        ch = soql[i]
        if ch == "'":
            return "".join(out), i + 1, like_escape
        if ch == "\\":
            if i + 1 >= size:
                break
            nxt = soql[i + 1]
            if nxt in _ESCAPES:
                out.append(_ESCAPES[nxt])
            elif nxt in "%_":
                out.append("\\" + nxt)
                like_escape = True
            elif nxt == "u" and i + 5 < len(soql):
                out.append(chr(int(soql[i + 2 : i + 6], 16)))
                i += 4
            else:
                raise query_error(soql, i + 1, f"Invalid string literal '\\{nxt}'")
            i += 2
    raise query_error(soql, start, "unexpected end of string literal")


def tokenize(soql: str) -> list[Token]:
    tokens: list[Token] = []
    append = tokens.append
    match_at = _TOKEN_RE.match
    size = len(soql)
    pos = 0
    while pos < size:
        match = match_at(soql, pos)
        if match is None:
            raise query_error(soql, pos + 1, f"unexpected token: '{soql[pos]}'")
        kind = match.lastgroup or ""
        if kind == "ws":
            pos = match.end()
            continue
        text = match.group(kind)
        col = pos + 1
        if kind == "string":
            value, end, like_escape = _read_string(soql, pos + 1)
            append(Token("string", (value, like_escape), soql[pos:end], col))
            pos = end
            continue
        if kind == "ident" and "." not in text and text.upper() in KEYWORDS:
            append(Token("keyword", text.upper(), text, col))
        elif kind == "number":
            number: float | int = float(text) if "." in text else int(text)
            append(Token("number", number, text, col))
        else:
            append(Token(kind, text, text, col))
        pos = match.end()
    append(Token("eof", None, "", size + 1))
    return tokens
