"""Formula evaluation over one record (pure: parent records come from a callback).

Blank fields are blanks, as validation rules treat them: a blank number or date makes
arithmetic and comparisons blank, a blank text is the empty string, and a blank condition
neither fires a rule nor takes an ``IF``'s first branch. ``AND``/``OR``/``NOT`` follow
three-valued logic. Runtime errors (division by zero, ``VALUE("x")``) make the result blank.
"""

from __future__ import annotations

import datetime as dt
import functools
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from salesforce_sandbox import clock
from salesforce_sandbox.formula.compiler import FieldRef, Formula
from salesforce_sandbox.formula.parser import Binary, Call, Literal, Name, Node, Unary

Record = Mapping[str, Any]


class _Blank(Exception):
    """A runtime error: the whole formula is blank."""


@dataclass
class Env:
    """What a formula sees: the record as it would be saved, the record before (None on
    insert), and a way to read a parent record by Id."""

    record: Record
    prior: Record | None = None
    parent: Callable[[str], Record | None] = lambda _id: None
    now: dt.datetime | None = None

    @property
    def is_new(self) -> bool:
        return self.prior is None


def evaluate(formula: Formula, env: Env) -> Any:
    """The formula's value for ``env`` (None: blank)."""
    if env.now is None:
        env.now = clock.now()
    try:
        return _Evaluator(formula, env).value(formula.tree)
    except _Blank:
        return None


def _typed(raw: Any, kind: str) -> Any:
    if raw is None:
        return None
    if kind == "Date" and isinstance(raw, str):
        try:
            return dt.date.fromisoformat(raw[:10])
        except ValueError:
            return None
    if kind == "DateTime" and isinstance(raw, str):
        return clock.parse_datetime(raw)
    return raw


def number_text(value: float | int) -> str:
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


@functools.lru_cache(maxsize=256)
def _pattern(text: str) -> re.Pattern[str]:
    return re.compile(text)


class _Evaluator:
    def __init__(self, formula: Formula, env: Env) -> None:
        self.formula = formula
        self.env = env

    def type(self, node: Node) -> str:
        return self.formula.types.get(node, "Null")

    def field(self, ref: FieldRef, record: Record | None) -> Any:
        current = record
        for step in ref.steps:
            parent_id = current.get(step) if current is not None else None
            current = self.env.parent(str(parent_id)) if parent_id else None
        raw = current.get(ref.field) if current is not None else None
        return _typed(raw, ref.type)

    def value(self, node: Node) -> Any:
        if isinstance(node, Literal):
            return node.value
        if isinstance(node, Name):
            return self.field(self.formula.refs[node.path], self.env.record)
        if isinstance(node, Unary):
            operand = self.value(node.operand)
            if operand is None:
                return None
            return -operand if node.op == "-" else not operand
        if isinstance(node, Binary):
            return self.binary(node)
        return self.call(node)

    def text(self, node: Node) -> str:
        found = self.value(node)
        return "" if found is None else str(found)

    # operators --------------------------------------------------------------------------------
    def binary(self, node: Binary) -> Any:
        op = node.op
        if op == "&&":
            return _and([lambda: self.value(node.left), lambda: self.value(node.right)])
        if op == "||":
            return _or([lambda: self.value(node.left), lambda: self.value(node.right)])
        if op == "&":
            return self.text(node.left) + self.text(node.right)
        left, right = self.value(node.left), self.value(node.right)
        texts = self.type(node.left) in ("Text", "Null") and self.type(node.right) in (
            "Text",
            "Null",
        )
        if op in ("=", "==", "!=", "<>", "<", "<=", ">", ">="):
            if texts:
                left, right = left or "", right or ""
            elif left is None or right is None:
                return None
            return _compare(op, left, right)
        if op == "+" and texts:
            return (left or "") + (right or "")
        if left is None or right is None:
            return None
        return self.arithmetic(op, left, right)

    def arithmetic(self, op: str, left: Any, right: Any) -> Any:
        if op == "+":
            if isinstance(left, dt.date | dt.datetime):
                return _shift(left, right)
            if isinstance(right, dt.date | dt.datetime):
                return _shift(right, left)
            return left + right
        if op == "-":
            if isinstance(left, dt.datetime) and isinstance(right, dt.datetime):
                return (left - right).total_seconds() / 86400
            if isinstance(left, dt.date) and isinstance(right, dt.date):
                return (left - right).days
            if isinstance(left, dt.date | dt.datetime):
                return _shift(left, -right)
            return left - right
        if op == "*":
            return left * right
        if op == "/":
            if right == 0:
                raise _Blank
            return left / right
        try:
            return float(left) ** float(right)
        except (OverflowError, ZeroDivisionError):
            raise _Blank from None

    # functions --------------------------------------------------------------------------------
    def call(self, node: Call) -> Any:
        name, args = node.name, node.args
        handler = getattr(self, "fn_" + name.lower())
        return handler(args)

    def fn_and(self, args: tuple[Node, ...]) -> Any:
        return _and([functools.partial(self.value, a) for a in args])

    def fn_or(self, args: tuple[Node, ...]) -> Any:
        return _or([functools.partial(self.value, a) for a in args])

    def fn_not(self, args: tuple[Node, ...]) -> Any:
        found = self.value(args[0])
        return None if found is None else not found

    def fn_if(self, args: tuple[Node, ...]) -> Any:
        return self.value(args[1] if self.value(args[0]) is True else args[2])

    def fn_case(self, args: tuple[Node, ...]) -> Any:
        subject = self.value(args[0])
        if self.type(args[0]) in ("Text", "Picklist"):
            subject = subject or ""
        for i in range(1, len(args) - 1, 2):
            candidate = self.value(args[i])
            if self.type(args[i]) == "Text":
                candidate = candidate or ""
            if candidate == subject:
                return self.value(args[i + 1])
        return self.value(args[-1])

    def fn_isblank(self, args: tuple[Node, ...]) -> Any:
        return self.value(args[0]) in (None, "")

    def fn_isnull(self, args: tuple[Node, ...]) -> Any:
        if self.type(args[0]) == "Text":  # text is never null, as Salesforce documents
            return False
        return self.value(args[0]) in (None, "")

    def fn_blankvalue(self, args: tuple[Node, ...]) -> Any:
        found = self.value(args[0])
        return self.value(args[1]) if found in (None, "") else found

    def fn_nullvalue(self, args: tuple[Node, ...]) -> Any:
        return self.fn_blankvalue(args)

    def fn_ispickval(self, args: tuple[Node, ...]) -> Any:
        return self.text(args[0]) == self.text(args[1])

    def fn_includes(self, args: tuple[Node, ...]) -> Any:
        wanted = self.text(args[1])
        return bool(wanted) and wanted in self.text(args[0]).split(";")

    def fn_len(self, args: tuple[Node, ...]) -> Any:
        return len(self.text(args[0]))

    def fn_regex(self, args: tuple[Node, ...]) -> Any:
        try:
            pattern = _pattern(self.text(args[1]))
        except re.error:
            raise _Blank from None
        return pattern.fullmatch(self.text(args[0])) is not None

    def fn_text(self, args: tuple[Node, ...]) -> Any:
        found = self.value(args[0])
        if found is None:
            return ""
        if isinstance(found, dt.datetime):
            return found.astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M:%SZ")
        if isinstance(found, dt.date):
            return found.isoformat()
        if isinstance(found, int | float) and not isinstance(found, bool):
            return number_text(found)
        return str(found)

    def fn_value(self, args: tuple[Node, ...]) -> Any:
        text = self.text(args[0]).strip()
        if not text:
            return None
        try:
            number = float(text)
        except ValueError:
            raise _Blank from None
        return int(number) if number.is_integer() else number

    def fn_isnumber(self, args: tuple[Node, ...]) -> Any:
        try:
            float(self.text(args[0]).strip())
        except ValueError:
            return False
        return True

    def fn_begins(self, args: tuple[Node, ...]) -> Any:
        return self.text(args[0]).startswith(self.text(args[1]))

    def fn_contains(self, args: tuple[Node, ...]) -> Any:
        return self.text(args[1]) in self.text(args[0])

    def fn_lower(self, args: tuple[Node, ...]) -> Any:
        return self.text(args[0]).lower()

    def fn_upper(self, args: tuple[Node, ...]) -> Any:
        return self.text(args[0]).upper()

    def fn_trim(self, args: tuple[Node, ...]) -> Any:
        return self.text(args[0]).strip()

    def fn_left(self, args: tuple[Node, ...]) -> Any:
        count = self.value(args[1])
        return self.text(args[0])[: max(0, int(count))] if count is not None else None

    def fn_right(self, args: tuple[Node, ...]) -> Any:
        count = self.value(args[1])
        if count is None:
            return None
        text = self.text(args[0])
        return text[len(text) - max(0, int(count)) :] if count > 0 else ""

    def fn_abs(self, args: tuple[Node, ...]) -> Any:
        found = self.value(args[0])
        return None if found is None else abs(found)

    def fn_isnew(self, args: tuple[Node, ...]) -> Any:
        return self.env.is_new

    def fn_ischanged(self, args: tuple[Node, ...]) -> Any:
        if self.env.prior is None:
            return False
        node = args[0]
        assert isinstance(node, Name)
        ref = self.formula.refs[node.path]
        return self.field(ref, self.env.prior) != self.field(ref, self.env.record)

    def fn_priorvalue(self, args: tuple[Node, ...]) -> Any:
        node = args[0]
        assert isinstance(node, Name)
        ref = self.formula.refs[node.path]
        return self.field(ref, self.env.prior if self.env.prior is not None else self.env.record)

    def fn_today(self, args: tuple[Node, ...]) -> Any:
        assert self.env.now is not None
        return self.env.now.date()

    def fn_now(self, args: tuple[Node, ...]) -> Any:
        return self.env.now


def _and(parts: list[Callable[[], Any]]) -> bool | None:
    blank = False
    for part in parts:
        found = part()
        if found is False:
            return False
        if found is None:
            blank = True
    return None if blank else True


def _or(parts: list[Callable[[], Any]]) -> bool | None:
    blank = False
    for part in parts:
        found = part()
        if found is True:
            return True
        if found is None:
            blank = True
    return None if blank else False


def _compare(op: str, left: Any, right: Any) -> bool:
    if isinstance(left, dt.datetime) != isinstance(right, dt.datetime):
        raise _Blank
    if op in ("=", "=="):
        return bool(left == right)
    if op in ("!=", "<>"):
        return bool(left != right)
    if op == "<":
        return bool(left < right)
    if op == "<=":
        return bool(left <= right)
    if op == ">":
        return bool(left > right)
    return bool(left >= right)


def _shift(when: dt.date | dt.datetime, days: Any) -> dt.date | dt.datetime:
    if isinstance(when, dt.datetime):
        return when + dt.timedelta(days=float(days))
    return when + dt.timedelta(days=int(days))
