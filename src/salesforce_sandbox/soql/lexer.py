"""SOQL tokens with their column, for Salesforce-style error messages."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

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


@dataclass(frozen=True)
class Token:
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


def _read_string(soql: str, start: int) -> tuple[str, int, bool]:
    """Read a quoted string from ``start`` (after the quote); returns text, end, had_like_escape."""
    out: list[str] = []
    i = start
    like_escape = False
    while i < len(soql):
        ch = soql[i]
        if ch == "'":
            return "".join(out), i + 1, like_escape
        if ch == "\\":
            if i + 1 >= len(soql):
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
            continue
        out.append(ch)
        i += 1
    raise query_error(soql, start, "unexpected end of string literal")


def tokenize(soql: str) -> list[Token]:
    tokens: list[Token] = []
    pos = 0
    while pos < len(soql):
        match = _TOKEN_RE.match(soql, pos)
        if match is None:
            raise query_error(soql, pos + 1, f"unexpected token: '{soql[pos]}'")
        kind = match.lastgroup or ""
        text = match.group(kind)
        col = pos + 1
        if kind == "ws":
            pos = match.end()
            continue
        if kind == "string":
            value, end, like_escape = _read_string(soql, pos + 1)
            tokens.append(Token("string", (value, like_escape), soql[pos:end], col))
            pos = end
            continue
        if kind == "ident" and "." not in text and text.upper() in KEYWORDS:
            tokens.append(Token("keyword", text.upper(), text, col))
        elif kind == "number":
            number: float | int = float(text) if any(c in text for c in ".") else int(text)
            tokens.append(Token("number", number, text, col))
        else:
            tokens.append(Token(kind, text, text, col))
        pos = match.end()
    tokens.append(Token("eof", None, "", len(soql) + 1))
    return tokens
