"""Bind a parsed SOQL query to the schema: canonical names, typed comparison values.

Raises INVALID_TYPE (unknown object), INVALID_FIELD (unknown field or relationship, wrongly
typed filter value) and MALFORMED_QUERY.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass, field
from typing import Any

from salesforce_sandbox import clock, ids
from salesforce_sandbox.schema.model import FieldDef, ObjectDef, Schema
from salesforce_sandbox.soql import ast
from salesforce_sandbox.soql.dates import date_range
from salesforce_sandbox.soql.lexer import query_error

_FIELD_HINT = (
    "If you are attempting to use a custom field, be sure to append the '__c' after the custom "
    "field name. Please reference your WSDL or the describe call for the appropriate names."
)
_REL_HINT = (
    "If you are attempting to use a custom relationship, be sure to append the '__r' after the "
    "custom relationship name. Please reference your WSDL or the describe call for the "
    "appropriate names."
)
_TYPE_HINT = (
    "If you are attempting to use a custom object, be sure to append the '__c' after the entity "
    "name. Please reference your WSDL or the describe call for the appropriate names."
)


@dataclass
class Path:
    """A field reached from the query's object through zero or more lookups."""

    rel_fields: list[str]
    rel_names: list[str]
    field: FieldDef
    name: str

    @property
    def direct(self) -> bool:
        return not self.rel_fields

    @property
    def dotted(self) -> str:
        return ".".join([*self.rel_names, self.name])


@dataclass
class Range:
    start: str
    end: str


@dataclass
class BCompare:
    path: Path
    op: str
    values: list[Any]
    like: re.Pattern[str] | None = None
    sub: BoundQuery | None = None


@dataclass
class BBool:
    op: str
    items: list[BCond]


@dataclass
class BNot:
    item: BCond


BCond = BCompare | BBool | BNot


@dataclass
class BAggregate:
    func: str
    path: Path | None
    output: str


@dataclass
class BChild:
    query: BoundQuery
    relationship: str
    lookup: FieldDef


@dataclass
class BOrder:
    path: Path | None
    output: str | None
    desc: bool
    nulls_last: bool


@dataclass
class BoundQuery:
    obj: ObjectDef
    fields: list[Path | BAggregate | BChild]
    where: BCond | None
    group_by: list[Path]
    order_by: list[BOrder]
    limit: int | None
    offset: int | None
    count_only: bool
    aggregate: bool
    text: str = ""
    semijoin_field: Path | None = field(default=None)


class _Binder:
    def __init__(self, schema: Schema, text: str, today: dt.date) -> None:
        self.schema = schema
        self.text = text
        self.today = today

    def error(self, col: int, message: str, code: str) -> Exception:
        return query_error(self.text, col, message, code)

    def object(self, name: str, col: int) -> ObjectDef:
        obj = self.schema.get(name)
        if obj is None:
            raise self.error(
                col, f"sObject type '{name}' is not supported. {_TYPE_HINT}", "INVALID_TYPE"
            )
        return obj

    def path(self, obj: ObjectDef, ref: ast.FieldRef) -> Path:
        parts = list(ref.path)
        if (
            len(parts) > 1
            and parts[0].lower() == obj.name.lower()
            and obj.by_relationship(parts[0]) is None
        ):
            parts = parts[1:]
        current = [obj]
        rel_fields: list[str] = []
        rel_names: list[str] = []
        for part in parts[:-1]:
            lookup = None
            for candidate in current:
                lookup = candidate.by_relationship(part)
                if lookup is not None:
                    break
            if lookup is None or not lookup.reference_to:
                raise self.error(
                    ref.col,
                    f"Didn't understand relationship '{part}' in field path. {_REL_HINT}",
                    "INVALID_FIELD",
                )
            rel_fields.append(lookup.name)
            rel_names.append(lookup.relationship_name or part)
            current = [o for o in (self.schema.get(t) for t in lookup.reference_to) if o]
        last = parts[-1]
        for candidate in current:
            definition = candidate.field(last)
            if definition is not None:
                return Path(rel_fields, rel_names, definition, definition.name)
        entity = current[0].name if current else obj.name
        raise self.error(
            ref.col,
            f"No such column '{last}' on entity '{entity}'. {_FIELD_HINT}",
            "INVALID_FIELD",
        )

    def query(self, query: ast.Query, obj: ObjectDef | None = None) -> BoundQuery:
        obj = obj or self.object(query.sobject, query.sobject_col)
        fields: list[Path | BAggregate | BChild] = []
        expr = 0
        aggregate = bool(query.group_by)
        for item in query.items:
            if isinstance(item, ast.FieldRef):
                fields.append(self.path(obj, item))
            elif isinstance(item, ast.Aggregate):
                if query.count_only:
                    continue
                aggregate = True
                path = self.path(obj, item.arg) if item.arg else None
                if item.alias:
                    output = item.alias
                else:
                    output = f"expr{expr}"
                    expr += 1
                fields.append(BAggregate(item.func, path, output))
            else:
                fields.append(self.child(obj, item))
        group_by = [self.path(obj, g) for g in query.group_by]
        if aggregate:
            grouped = {g.dotted.lower() for g in group_by}
            for bound_item in fields:
                if isinstance(bound_item, Path) and bound_item.dotted.lower() not in grouped:
                    raise self.error(
                        1,
                        f"Field must be grouped or aggregated: {bound_item.name}",
                        "MALFORMED_QUERY",
                    )
        order_by = []
        for order in query.order_by:
            nulls_last = order.desc if order.nulls_last is None else order.nulls_last
            if isinstance(order.field, ast.Aggregate):
                match = next(
                    (
                        f.output
                        for f in fields
                        if isinstance(f, BAggregate) and f.func == order.field.func
                    ),
                    None,
                )
                order_by.append(BOrder(None, match, order.desc, nulls_last))
            else:
                order_by.append(BOrder(self.path(obj, order.field), None, order.desc, nulls_last))
        where = self.cond(obj, query.where) if query.where is not None else None
        return BoundQuery(
            obj,
            fields,
            where,
            group_by,
            order_by,
            query.limit,
            query.offset,
            query.count_only,
            aggregate,
            self.text,
        )

    def child(self, parent: ObjectDef, sub: ast.Query) -> BChild:
        for child_obj, lookup in self.schema.child_relationships(parent.name):
            if (lookup.child_relationship or "").lower() == sub.sobject.lower():
                bound = self.query(sub, child_obj)
                return BChild(bound, lookup.child_relationship or sub.sobject, lookup)
        raise self.error(
            sub.sobject_col,
            f"Didn't understand relationship '{sub.sobject}' in FROM part of query call. "
            f"{_REL_HINT}",
            "INVALID_TYPE",
        )

    def cond(self, obj: ObjectDef, cond: ast.Cond) -> BCond:
        if isinstance(cond, ast.BoolOp):
            return BBool(cond.op, [self.cond(obj, c) for c in cond.items])
        if isinstance(cond, ast.Not):
            return BNot(self.cond(obj, cond.item))
        path = self.path(obj, cond.field)
        if cond.subquery is not None:
            sub = self.query(cond.subquery)
            selected = [f for f in sub.fields if isinstance(f, Path)]
            if len(selected) != 1:
                raise self.error(
                    cond.field.col, "semi join sub-selects must select one field", "MALFORMED_QUERY"
                )
            sub.semijoin_field = selected[0]
            return BCompare(path, cond.op, [], sub=sub)
        values = [self.value(path, lit, cond.field.col) for lit in cond.values]
        like = None
        if cond.op == "LIKE":
            raw = cond.values[0].value
            if not isinstance(raw, str):
                raise self.error(cond.field.col, "LIKE needs a string pattern", "MALFORMED_QUERY")
            like = like_pattern(raw)
        return BCompare(path, cond.op, values, like)

    def value(self, path: Path, lit: ast.Literal, col: int) -> Any:
        definition = path.field
        raw = lit.value
        kind = definition.type
        if raw is None:
            return None
        if isinstance(raw, ast.DateLiteral):
            span = date_range(raw.name, raw.n, self.today)
            if span is None or kind not in ("date", "datetime"):
                raise self.error(col, f"unexpected token: '{raw.name}'", "MALFORMED_QUERY")
            if kind == "date":
                return Range(span[0].isoformat(), span[1].isoformat())
            return Range(_day_start(span[0]), _day_start(span[1]))
        if isinstance(raw, tuple):
            tag, text = raw
            if kind == "date":
                parsed = clock.parse_date(text)
                return parsed.isoformat() if parsed else text
            if kind == "datetime":
                if tag == "date":
                    return _day_start(dt.date.fromisoformat(text))
                parsed_dt = clock.parse_datetime(text)
                return clock.format_datetime(parsed_dt) if parsed_dt else text
            return text.lower()
        if kind in ("id", "reference"):
            text = str(raw)
            normal = ids.normalize(text)
            if normal is None:
                if text == "":
                    return None
                raise self.error(col, f"invalid ID field: {text}", "INVALID_QUERY_FILTER_OPERATOR")
            return normal
        if definition.is_number:
            if isinstance(raw, (bool, str)):
                raise self.error(
                    col,
                    f"value of filter criterion for field '{definition.name}' must be of type "
                    f"{kind} and should not be enclosed in quotes",
                    "INVALID_FIELD",
                )
            return float(raw)
        if kind == "boolean":
            if not isinstance(raw, bool):
                raise self.error(
                    col,
                    f"value of filter criterion for field '{definition.name}' must be of type "
                    "boolean and should not be enclosed in quotes",
                    "INVALID_FIELD",
                )
            return raw
        if kind in ("date", "datetime"):
            if isinstance(raw, str):
                parsed_text = (
                    clock.parse_datetime(raw) if kind == "datetime" else clock.parse_date(raw)
                )
                if parsed_text is not None:
                    if isinstance(parsed_text, dt.datetime):
                        return clock.format_datetime(parsed_text)
                    return parsed_text.isoformat()
            raise self.error(
                col,
                f"value of filter criterion for field '{definition.name}' must be of type {kind} "
                "and should not be enclosed in quotes",
                "INVALID_FIELD",
            )
        text = raw if isinstance(raw, str) else str(raw)
        return text if definition.case_sensitive else text.lower()


def _day_start(day: dt.date) -> str:
    return clock.format_datetime(dt.datetime(day.year, day.month, day.day, tzinfo=dt.UTC))


def like_pattern(pattern: str) -> re.Pattern[str]:
    out = []
    i = 0
    while i < len(pattern):
        ch = pattern[i]
        if ch == "\\" and i + 1 < len(pattern) and pattern[i + 1] in "%_":
            out.append(re.escape(pattern[i + 1]))
            i += 2
            continue
        if ch == "%":
            out.append(".*")
        elif ch == "_":
            out.append(".")
        else:
            out.append(re.escape(ch))
        i += 1
    return re.compile("".join(out), re.IGNORECASE | re.DOTALL)


def bind(query: ast.Query, schema: Schema, today: dt.date | None = None) -> BoundQuery:
    """Resolve names and literal types of ``query`` against ``schema``."""
    return _Binder(schema, query.text, today or clock.now().date()).query(query)
