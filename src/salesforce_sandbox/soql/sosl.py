"""SOSL syntax: the search term and the statement around it (pure).

    FIND {term} [IN ALL|NAME|EMAIL|PHONE|SIDEBAR FIELDS]
        [RETURNING Obj [(field, ... [WHERE ...] [ORDER BY ...] [LIMIT n] [OFFSET n])], ...]
        [WITH name [= value] | WITH name(...)]... [LIMIT n] [UPDATE TRACKING|VIEWSTAT]

The term is words and "quoted phrases" joined by AND, OR, AND NOT (no operator means AND) and
parentheses; ``*`` matches any characters and ``?`` one, inside a word; ``\\`` escapes. The
part after the term is read with the SOQL lexer and parser (each RETURNING object becomes a
SOQL ``Query`` the engine runs), over the statement with the term blanked out so that error
columns still point into the statement as written.

Errors: MALFORMED_SEARCH (``ERROR at Row:1:Column:N`` like SOQL's), INVALID_SEARCH for a term
shorter than two characters.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Iterator
from dataclasses import dataclass, field

from salesforce_sandbox.errors import SalesforceError
from salesforce_sandbox.soql import ast
from salesforce_sandbox.soql.lexer import query_error
from salesforce_sandbox.soql.parser import _Parser

SCOPES = ("ALL", "NAME", "EMAIL", "PHONE", "SIDEBAR")
DEFAULT_LIMIT = 2000
_PIECE = re.compile(r"[\w*?]+")
_RESERVED = frozenset("{|!^~[]")  # to be escaped with a backslash inside a term
_NOT_TERM_TEXT = re.compile(r"[\s*?\"()\\]")


@dataclass(frozen=True)
class Phrase:
    """Words that must follow each other in one field; each word may hold ``*`` and ``?``."""

    words: tuple[str, ...]


@dataclass(frozen=True)
class AnyOf:
    items: tuple[Term, ...]


@dataclass(frozen=True)
class AllOf:
    items: tuple[Term, ...]


@dataclass(frozen=True)
class Excluding:
    """``keep AND NOT drop``."""

    keep: Term
    drop: Term


Term = Phrase | AnyOf | AllOf | Excluding


@dataclass
class Search:
    """A parsed search. ``targets`` None means every searchable object, Id only."""

    term: Term
    term_text: str
    scope: str = "ALL"
    targets: list[ast.Query] | None = None
    limit: int = DEFAULT_LIMIT
    text: str = ""  # the statement as written, for error messages
    masked: str = ""  # the statement with the term blanked (what the SOQL parts were read from)
    options: dict[str, object] = field(default_factory=dict)


def malformed(text: str, col: int, message: str) -> SalesforceError:
    """MALFORMED_SEARCH at 1-based ``col``: SOSL errors count columns from 0 (SOQL's from 1)."""
    return query_error(text, col - 1, message, "MALFORMED_SEARCH")


_SOQL_POSITION = re.compile(r"\n( *)\^\nERROR at Row:(\d+):Column:(\d+)\n")


def _soql_to_sosl_position(message: str) -> str:
    def shift(found: re.Match[str]) -> str:
        pad, row, col = found.group(1), found.group(2), int(found.group(3))
        return f"\n{pad[1:]}^\nERROR at Row:{row}:Column:{max(col - 1, 0)}\n"

    return _SOQL_POSITION.sub(shift, message, count=1)


def short_term(term_text: str) -> SalesforceError:
    return SalesforceError(
        "INVALID_SEARCH", f"search term must be longer than one character: {term_text}"
    )


# the term ---------------------------------------------------------------------------------
@dataclass(frozen=True)
class _Tok:
    kind: str  # word, phrase, (, ), AND, OR, NOT
    text: str
    col: int  # 1-based, in the statement


def _term_tokens(term: str, statement: str, start_col: int) -> list[_Tok]:
    """Tokens of ``term``; ``start_col`` is the statement column of its first character."""
    out: list[_Tok] = []
    i = 0
    size = len(term)
    while i < size:
        ch = term[i]
        col = start_col + i
        if ch.isspace():
            i += 1
            continue
        if ch in "()":
            out.append(_Tok(ch, ch, col))
            i += 1
            continue
        if ch == '"':
            j = i + 1
            chars: list[str] = []
            while j < size and term[j] != '"':
                if term[j] == "\\" and j + 1 < size:
                    j += 1
                chars.append(term[j])
                j += 1
            if j >= size:
                raise malformed(statement, col, "mismatched character '<EOF>' expecting '\"'")
            out.append(_Tok("phrase", "".join(chars), col))
            i = j + 1
            continue
        chars = []
        while i < size and not term[i].isspace() and term[i] not in '()"':
            if term[i] == "\\" and i + 1 < size:
                i += 1
            elif term[i] in _RESERVED:
                raise malformed(
                    statement, start_col + i, f"mismatched character '{term[i]}' expecting '}}'"
                )
            chars.append(term[i])
            i += 1
        word = "".join(chars)
        upper = word.upper()
        out.append(_Tok(upper if upper in ("AND", "OR", "NOT") else "word", word, col))
    return out


class _TermParser:
    def __init__(self, tokens: list[_Tok], statement: str, end_col: int) -> None:
        self.tokens = tokens
        self.statement = statement
        self.end_col = end_col
        self.pos = 0

    def peek(self) -> _Tok | None:
        return self.tokens[self.pos] if self.pos < len(self.tokens) else None

    def fail(self, tok: _Tok | None) -> SalesforceError:
        if tok is None:
            return malformed(self.statement, self.end_col, "unexpected token: '}'")
        return malformed(self.statement, tok.col, f"unexpected token: '{tok.text}'")

    def parse(self) -> Term:
        term = self.either()
        if self.peek() is not None:
            raise self.fail(self.peek())
        return term

    def either(self) -> Term:
        items = [self.both()]
        while (tok := self.peek()) is not None and tok.kind == "OR":
            self.pos += 1
            items.append(self.both())
        return items[0] if len(items) == 1 else AnyOf(tuple(items))

    def both(self) -> Term:
        current = self.unit()
        while (tok := self.peek()) is not None and tok.kind not in ("OR", ")"):
            if tok.kind == "AND":
                self.pos += 1
                nxt = self.peek()
                if nxt is not None and nxt.kind == "NOT":
                    self.pos += 1
                    current = Excluding(current, self.unit())
                    continue
            current = AllOf((current, self.unit()))
        return current

    def unit(self) -> Term:
        tok = self.peek()
        if tok is None or tok.kind in ("AND", "OR", "NOT", ")"):
            raise self.fail(tok)
        self.pos += 1
        if tok.kind == "(":
            inner = self.either()
            close = self.peek()
            if close is None or close.kind != ")":
                raise self.fail(close)
            self.pos += 1
            return inner
        return Phrase(tuple(_PIECE.findall(tok.text.lower())))


def parse_term(term: str, statement: str = "", start_col: int = 1) -> Term:
    """Parse a search term (the text between the braces, or a parameterized search's ``q``)."""
    statement = statement or term
    if len(_NOT_TERM_TEXT.sub("", term)) < 2:
        raise short_term(term.strip())
    tokens = _term_tokens(term, statement, start_col)
    return _TermParser(tokens, statement, start_col + len(term)).parse()


def _term_span(sosl: str) -> tuple[int, int]:
    """(index of ``{``, index of the closing ``}``) of the statement's term."""
    find = re.match(r"\s*FIND\b\s*", sosl, re.IGNORECASE)
    if find is None:
        col = len(sosl) - len(sosl.lstrip()) + 1
        raise malformed(sosl, col, "unexpected token: FIND expected")
    start = find.end()
    if start >= len(sosl) or sosl[start] != "{":
        raise malformed(
            sosl, start + 1, "No search term found. The search term must be enclosed in braces."
        )
    i = start + 1
    while i < len(sosl):
        if sosl[i] == "\\":
            i += 2
            continue
        if sosl[i] == "}":
            return start, i
        i += 1
    raise malformed(sosl, len(sosl) + 1, "mismatched character '<EOF>' expecting '}'")


# the statement ----------------------------------------------------------------------------
class _SearchParser(_Parser):
    """The SOQL parser, taught the clauses after the term."""

    def statement(self, search: Search) -> None:
        self.advance()  # FIND (the term is blanked)
        if self.tok.is_kw("IN"):
            self.advance()
            scope = self.tok
            if scope.kind != "ident" or scope.value.upper() not in SCOPES:
                raise self.search_token()
            self.advance()
            if self.tok.kind != "ident" or self.tok.value.upper() != "FIELDS":
                raise self.search_token()
            self.advance()
            search.scope = "ALL" if scope.value.upper() == "SIDEBAR" else scope.value.upper()
        if self.tok.kind == "ident" and self.tok.value.upper() == "RETURNING":
            self.advance()
            search.targets = [self.target()]
            while self.at_punct(","):
                self.advance()
                search.targets.append(self.target())
        while self.tok.is_kw("WITH"):
            self.advance()
            self.with_clause(search)
        if self.tok.is_kw("LIMIT"):
            self.advance()
            search.limit = self.integer()
        if self.tok.kind == "ident" and self.tok.value.upper() == "UPDATE":
            self.advance()
            if self.tok.kind != "ident" or self.tok.value.upper() not in ("TRACKING", "VIEWSTAT"):
                raise self.search_token()
            self.advance()
        if self.tok.kind != "eof":
            raise self.fail()

    def search_token(self) -> SalesforceError:
        tok = self.tok
        if tok.kind == "eof":
            return malformed(self.soql, tok.col, "unexpected token: <EOF>")
        return malformed(self.soql, tok.col, f"Malformed search token: {tok.text}")

    def target(self) -> ast.Query:
        name = self.tok
        if name.kind != "ident" or "." in name.value:
            raise self.fail()
        self.advance()
        query = ast.Query([], name.value, name.col, text=self.soql)
        if not self.at_punct("("):
            query.items = [ast.FieldRef(["Id"], name.col)]
            return query
        self.advance()
        query.items.append(self.field_ref())
        while self.at_punct(","):
            self.advance()
            query.items.append(self.field_ref())
        if self.tok.is_kw("WHERE"):
            self.advance()
            query.where = self.condition()
        self.order_limit_offset(query)
        self.expect_punct(")")
        return query

    def with_clause(self, search: Search) -> None:
        """``WITH name [= value]`` or ``WITH name(...)``: accepted and kept, not acted on."""
        name = self.tok
        if name.kind not in ("ident", "keyword"):
            raise self.search_token()
        self.advance()
        value: object = True
        if self.tok.kind == "op" and self.tok.value == "=":
            self.advance()
            value = self.value().value
        elif self.at_punct("("):
            depth = 0
            while True:
                if self.at_punct("("):
                    depth += 1
                elif self.at_punct(")"):
                    depth -= 1
                elif self.tok.kind == "eof":
                    raise self.fail()
                self.advance()
                if depth == 0:
                    break
        search.options[name.text.upper()] = value


def parse_search(sosl: str) -> Search:
    """Parse a SOSL statement; raises MALFORMED_SEARCH or INVALID_SEARCH."""
    text = sosl.strip()
    open_at, close_at = _term_span(text)
    term_text = text[open_at + 1 : close_at]
    term = parse_term(term_text, text, open_at + 2)
    masked = text[:open_at] + " " * (close_at - open_at + 1) + text[close_at + 1 :]
    search = Search(term, term_text, text=text, masked=masked)
    with search_errors(search):
        _SearchParser(masked).statement(search)
    return search


@contextlib.contextmanager
def search_errors(search: Search) -> Iterator[None]:
    """Errors raised while reading or binding a search's SOQL parts: MALFORMED_QUERY becomes
    MALFORMED_SEARCH, and messages show the statement as written (not the blanked one)."""
    try:
        yield
    except SalesforceError as error:
        if search.masked and search.masked in error.message:
            error.message = error.message.replace(search.masked, search.text, 1)
        if error.code == "MALFORMED_QUERY":
            error.code = "MALFORMED_SEARCH"
            error.message = _soql_to_sosl_position(error.message)
        error.args = (f"{error.code}: {error.message}",)
        raise
