"""Formula syntax trees and the parser (pure).

Precedence, lowest first (as Salesforce documents it): ``||``; ``&&``; comparisons
(``= == != <> < <= > >=``); ``+ - &``; ``* /``; ``^``; unary ``- + !``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from salesforce_sandbox.formula.lexer import FormulaError, Token, tokens


@dataclass(frozen=True)
class Literal:
    value: Any
    type: str  # Text, Number, Boolean, Null


@dataclass(frozen=True)
class Name:
    """A field reference as written (``Billing_Status__c``, ``RecordType.DeveloperName``)."""

    path: str


@dataclass(frozen=True)
class Call:
    name: str  # upper case
    args: tuple[Node, ...]


@dataclass(frozen=True)
class Binary:
    op: str
    left: Node
    right: Node


@dataclass(frozen=True)
class Unary:
    op: str  # "-" or "!"
    operand: Node


Node = Literal | Name | Call | Binary | Unary

_LEVELS: tuple[frozenset[str], ...] = (
    frozenset({"||"}),
    frozenset({"&&"}),
    frozenset({"=", "==", "!=", "<>", "<", "<=", ">", ">="}),
    frozenset({"+", "-", "&"}),
    frozenset({"*", "/"}),
    frozenset({"^"}),
)


def parse(text: str) -> Node:
    """The tree of ``text``; FormulaError with Salesforce's syntax-error text."""
    if not text.strip():
        raise FormulaError("Syntax error. The formula is empty")
    parser = _Parser(tokens(text))
    node = parser.expression(0)
    token = parser.peek
    if token.kind == ")":
        raise FormulaError("Syntax error. Extra ')'")
    if token.kind == ",":
        raise FormulaError("Syntax error. Extra ','")
    if token.kind != "end":
        raise FormulaError(f"Syntax error. Found '{token.text}'")
    return node


class _Parser:
    def __init__(self, items: list[Token]) -> None:
        self.items = items
        self.at = 0
        self.depth = 0

    @property
    def peek(self) -> Token:
        return self.items[self.at]

    def take(self) -> Token:
        token = self.items[self.at]
        self.at += 1
        return token

    def expression(self, level: int) -> Node:
        if level == len(_LEVELS):
            return self.unary()
        node = self.expression(level + 1)
        while self.peek.kind == "op" and self.peek.text in _LEVELS[level]:
            op = self.take().text
            node = Binary(op, node, self.expression(level + 1))
        return node

    def unary(self) -> Node:
        token = self.peek
        if token.kind == "op" and token.text in ("-", "+", "!"):
            self.take()
            operand = self.unary()
            return operand if token.text == "+" else Unary(token.text, operand)
        return self.primary()

    def primary(self) -> Node:
        token = self.take()
        if token.kind == "number":
            return Literal(token.value, "Number")
        if token.kind == "string":
            return Literal(token.value, "Text")
        if token.kind == "(":
            self.depth += 1
            node = self.expression(0)
            self.close()
            return node
        if token.kind == "name":
            if self.peek.kind == "(":
                self.take()
                self.depth += 1
                return Call(token.text.upper(), self.arguments())
            upper = token.text.upper()
            if upper in ("TRUE", "FALSE"):
                return Literal(upper == "TRUE", "Boolean")
            if upper == "NULL":
                return Literal(None, "Null")
            return Name(token.text)
        if token.kind == "end":
            raise FormulaError(
                "Syntax error. Missing ')'" if self.depth else "Syntax error. Missing an operand"
            )
        if token.kind == ",":
            raise FormulaError("Syntax error. Extra ','")
        raise FormulaError(f"Syntax error. Found '{token.text}'")

    def arguments(self) -> tuple[Node, ...]:
        args: list[Node] = []
        if self.peek.kind == ")":
            self.close()
            return ()
        while True:
            if self.peek.kind in (",", ")"):
                raise FormulaError("Syntax error. Extra ','")
            args.append(self.expression(0))
            if self.peek.kind == ",":
                self.take()
                continue
            self.close()
            return tuple(args)

    def close(self) -> None:
        token = self.take()
        if token.kind != ")":
            if token.kind == "end":
                raise FormulaError("Syntax error. Missing ')'")
            raise FormulaError(f"Syntax error. Found '{token.text}'")
        self.depth -= 1
