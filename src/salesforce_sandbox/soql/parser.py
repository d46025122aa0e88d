"""Recursive-descent parser for the SOQL subset (see soql/__init__ and the wire reference §6)."""

from __future__ import annotations

from salesforce_sandbox.soql.ast import (
    Aggregate,
    BoolOp,
    Compare,
    Cond,
    DateLiteral,
    FieldRef,
    Literal,
    Not,
    OrderItem,
    Query,
)
from salesforce_sandbox.soql.lexer import Token, query_error, tokenize

AGGREGATES = frozenset({"COUNT", "COUNT_DISTINCT", "SUM", "AVG", "MIN", "MAX"})
_COMPARE_OPS = frozenset({"=", "!=", "<>", "<", "<=", ">", ">="})


class _Parser:
    def __init__(self, soql: str) -> None:
        self.soql = soql
        self.tokens = tokenize(soql)
        self.pos = 0

    @property
    def tok(self) -> Token:
        return self.tokens[self.pos]

    def peek(self, offset: int = 1) -> Token:
        return self.tokens[min(self.pos + offset, len(self.tokens) - 1)]

    def advance(self) -> Token:
        token = self.tokens[self.pos]
        self.pos = min(self.pos + 1, len(self.tokens) - 1)
        return token

    def fail(self, token: Token | None = None) -> Exception:
        token = token or self.tok
        if token.kind == "eof":
            return query_error(self.soql, token.col, "unexpected token: <EOF>")
        return query_error(self.soql, token.col, f"unexpected token: '{token.text}'")

    def expect_kw(self, *names: str) -> Token:
        if not self.tok.is_kw(*names):
            raise self.fail()
        return self.advance()

    def expect_punct(self, text: str) -> Token:
        if self.tok.kind != "punct" or self.tok.value != text:
            raise self.fail()
        return self.advance()

    def at_punct(self, text: str) -> bool:
        return self.tok.kind == "punct" and self.tok.value == text

    # query ---------------------------------------------------------------------------------
    def query(self, nested: bool = False) -> Query:
        self.expect_kw("SELECT")
        items: list[FieldRef | Aggregate | Query] = []
        count_only = False
        while True:
            items.append(self.select_item())
            if not self.at_punct(","):
                break
            self.advance()
        for item in items:
            if isinstance(item, Aggregate) and item.func == "COUNT" and item.arg is None:
                if len(items) > 1:
                    raise query_error(
                        self.soql, item.col, "COUNT() cannot be combined with other fields"
                    )
                count_only = True
        self.expect_kw("FROM")
        from_tok = self.tok
        if from_tok.kind == "keyword" and from_tok.value in ("GROUP", "ORDER"):
            pass  # the Group and Order objects
        elif from_tok.kind != "ident":
            raise self.fail()
        self.advance()
        query = Query(items, from_tok.text, from_tok.col, count_only=count_only, text=self.soql)
        if self.tok.kind == "ident" and not nested:
            self.advance()  # object alias, ignored
        if self.tok.is_kw("USING"):
            raise self.fail()
        if self.tok.is_kw("WHERE"):
            self.advance()
            query.where = self.condition()
        if self.tok.is_kw("WITH"):
            self.advance()
            if self.tok.kind != "ident":
                raise self.fail()
            self.advance()
        if self.tok.is_kw("GROUP"):
            self.advance()
            self.expect_kw("BY")
            query.group_by.append(self.field_ref())
            while self.at_punct(","):
                self.advance()
                query.group_by.append(self.field_ref())
            if self.tok.is_kw("HAVING"):
                raise query_error(self.soql, self.tok.col, "HAVING is not supported here")
        self.order_limit_offset(query)
        if self.tok.is_kw("FOR"):
            self.advance()
            if self.tok.kind != "ident" or self.tok.value.upper() not in (
                "VIEW",
                "REFERENCE",
                "UPDATE",
            ):
                raise self.fail()
            self.advance()
        if not nested and self.tok.kind != "eof":
            raise self.fail()
        return query

    def integer(self) -> int:
        if self.tok.kind != "number" or not isinstance(self.tok.value, int) or self.tok.value < 0:
            raise self.fail()
        return int(self.advance().value)

    def select_item(self) -> FieldRef | Aggregate | Query:
        tok = self.tok
        if self.at_punct("("):
            self.advance()
            sub = self.query(nested=True)
            self.expect_punct(")")
            return sub
        if tok.kind == "ident" and tok.value.upper() in AGGREGATES and self.peek().value == "(":
            return self.aggregate()
        if tok.is_kw("TYPEOF"):
            raise query_error(self.soql, tok.col, "TYPEOF is not supported")
        return self.field_ref()

    def aggregate(self) -> Aggregate:
        name_tok = self.advance()
        self.expect_punct("(")
        arg = None
        if not self.at_punct(")"):
            arg = self.field_ref()
        self.expect_punct(")")
        alias = None
        if self.tok.kind == "ident" and "." not in self.tok.value:
            alias = self.advance().value
        return Aggregate(name_tok.value.upper(), arg, alias, name_tok.col)

    def field_ref(self) -> FieldRef:
        if self.tok.kind != "ident":
            raise self.fail()
        tok = self.advance()
        return FieldRef(tok.value.split("."), tok.col)

    def order_limit_offset(self, query: Query) -> None:
        """ORDER BY ..., LIMIT n, OFFSET n: the tail SOQL and SOSL's RETURNING share."""
        if self.tok.is_kw("ORDER"):
            self.advance()
            self.expect_kw("BY")
            query.order_by.append(self.order_item())
            while self.at_punct(","):
                self.advance()
                query.order_by.append(self.order_item())
        if self.tok.is_kw("LIMIT"):
            self.advance()
            query.limit = self.integer()
        if self.tok.is_kw("OFFSET"):
            self.advance()
            query.offset = self.integer()

    def order_item(self) -> OrderItem:
        if (
            self.tok.kind == "ident"
            and self.tok.value.upper() in AGGREGATES
            and self.peek().value == "("
        ):
            target: FieldRef | Aggregate = self.aggregate()
        else:
            target = self.field_ref()
        item = OrderItem(target)
        if self.tok.is_kw("ASC", "DESC"):
            item.desc = self.advance().value == "DESC"
        if self.tok.is_kw("NULLS"):
            self.advance()
            item.nulls_last = self.expect_kw("FIRST", "LAST").value == "LAST"
        return item

    # conditions ----------------------------------------------------------------------------
    def condition(self) -> Cond:
        items = [self.conjunction()]
        while self.tok.is_kw("OR"):
            self.advance()
            items.append(self.conjunction())
        return items[0] if len(items) == 1 else BoolOp("OR", items)

    def conjunction(self) -> Cond:
        items = [self.negation()]
        while self.tok.is_kw("AND"):
            self.advance()
            items.append(self.negation())
        return items[0] if len(items) == 1 else BoolOp("AND", items)

    def negation(self) -> Cond:
        if self.tok.is_kw("NOT"):
            self.advance()
            return Not(self.negation())
        if self.at_punct("("):
            self.advance()
            inner = self.condition()
            self.expect_punct(")")
            return inner
        return self.comparison()

    def comparison(self) -> Cond:
        ref = self.field_ref()
        tok = self.tok
        if tok.kind == "op":
            self.advance()
            op = "!=" if tok.value == "<>" else tok.value
            return Compare(ref, op, [self.value()])
        if tok.is_kw("LIKE"):
            self.advance()
            value = self.value()
            return Compare(ref, "LIKE", [value])
        negate = False
        if tok.is_kw("NOT"):
            self.advance()
            negate = True
            if not self.tok.is_kw("IN"):
                raise self.fail()
        if self.tok.is_kw("IN"):
            self.advance()
            op = "NOTIN" if negate else "IN"
            self.expect_punct("(")
            if self.tok.is_kw("SELECT"):
                sub = self.query(nested=True)
                self.expect_punct(")")
                return Compare(ref, op, [], subquery=sub)
            values = self.value_list()
            return Compare(ref, op, values)
        if self.tok.is_kw("INCLUDES", "EXCLUDES"):
            op = self.advance().value
            self.expect_punct("(")
            return Compare(ref, op, self.value_list())
        raise self.fail()

    def value_list(self) -> list[Literal]:
        values = [self.value()]
        while self.at_punct(","):
            self.advance()
            values.append(self.value())
        self.expect_punct(")")
        return values

    def value(self) -> Literal:
        tok = self.tok
        if tok.kind == "string":
            self.advance()
            text, like_escape = tok.value
            return Literal(text, like_escape)
        if tok.kind == "number":
            self.advance()
            return Literal(tok.value)
        if tok.kind in ("date", "datetime"):
            self.advance()
            return Literal((tok.kind, tok.value))
        if tok.is_kw("TRUE", "FALSE"):
            self.advance()
            return Literal(tok.value == "TRUE")
        if tok.is_kw("NULL"):
            self.advance()
            return Literal(None)
        if tok.kind == "ident" and "." not in tok.value:
            self.advance()
            name = tok.value.upper()
            n = None
            if self.at_punct(":"):
                self.advance()
                if self.tok.kind != "number":
                    raise self.fail()
                n = int(self.advance().value)
            return Literal(DateLiteral(name, n))
        raise self.fail()


def parse(soql: str) -> Query:
    """Parse a SOQL statement; raises ``SalesforceError(MALFORMED_QUERY)``."""
    return _Parser(soql.strip()).query()
