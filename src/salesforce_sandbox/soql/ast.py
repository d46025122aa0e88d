"""SOQL syntax tree."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass
class FieldRef:
    path: list[str]
    col: int


@dataclass
class Aggregate:
    func: str  # COUNT, COUNT_DISTINCT, SUM, AVG, MIN, MAX
    arg: FieldRef | None
    alias: str | None
    col: int


@dataclass
class DateLiteral:
    name: str
    n: int | None


@dataclass
class Literal:
    """A literal: str, int, float, bool, None, (kind, text) for dates, or a DateLiteral."""

    value: Any
    like_escape: bool = False


@dataclass
class Compare:
    field: FieldRef
    op: str  # = != < <= > >= LIKE IN NOTIN INCLUDES EXCLUDES
    values: list[Literal]
    subquery: Query | None = None


@dataclass
class BoolOp:
    op: str  # AND, OR
    items: list[Cond]


@dataclass
class Not:
    item: Cond


Cond = Compare | BoolOp | Not


@dataclass
class OrderItem:
    field: FieldRef | Aggregate
    desc: bool = False
    nulls_last: bool | None = None


@dataclass
class Query:
    items: list[FieldRef | Aggregate | Query]
    sobject: str
    sobject_col: int
    where: Cond | None = None
    group_by: list[FieldRef] = field(default_factory=list)
    order_by: list[OrderItem] = field(default_factory=list)
    limit: int | None = None
    offset: int | None = None
    count_only: bool = False
    text: str = ""
