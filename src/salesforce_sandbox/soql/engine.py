"""Evaluate a bound SOQL query over a ``RecordSource`` and shape the JSON records."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any, Protocol

from salesforce_sandbox.schema.model import FieldDef, Schema
from salesforce_sandbox.soql.binder import (
    BAggregate,
    BBool,
    BChild,
    BCompare,
    BCond,
    BNot,
    BoundQuery,
    Path,
    Range,
)

Record = dict[str, Any]


class RecordSource(Protocol):
    """Where records come from (the store, or a dict in unit tests)."""

    def scan(self, sobject: str, include_deleted: bool) -> Iterable[Record]: ...

    def by_ids(self, sobject: str, ids: list[str], include_deleted: bool) -> Iterable[Record]: ...

    def by_key(
        self, sobject: str, field: str, keys: list[str], include_deleted: bool
    ) -> Iterable[Record]: ...

    def get(self, record_id: str) -> Record | None: ...


@dataclass
class QueryResult:
    total_size: int
    records: list[Record]


class _Run:
    def __init__(self, schema: Schema, source: RecordSource, version: str, deleted: bool) -> None:
        self.schema = schema
        self.source = source
        self.version = version
        self.deleted = deleted
        self.parents: dict[str, Record | None] = {}
        self.semijoins: dict[int, set[Any]] = {}
        self._rates: dict[str, float] | None = None

    # values ---------------------------------------------------------------------------------
    def parent(self, record_id: Any) -> Record | None:
        if not record_id:
            return None
        key = str(record_id)
        if key not in self.parents:
            self.parents[key] = self.source.get(key)
        return self.parents[key]

    def raw(self, record: Record, path: Path) -> Any:
        current = self.holder(record, path)
        return None if current is None else current.get(path.name)

    def holder(self, record: Record, path: Path) -> Record | None:
        """The record ``path``'s field belongs to (``record`` or a parent)."""
        current: Record | None = record
        for rel in path.rel_fields:
            if current is None:
                return None
            current = self.parent(current.get(rel))
        return current

    def rates(self) -> dict[str, float]:
        """ISO code -> conversion rate from the corporate currency (multi-currency orgs;
        empty otherwise)."""
        if self._rates is None:
            self._rates = {}
            if self.schema.get("CurrencyType") is not None:
                for row in self.source.scan("CurrencyType", False):
                    self._rates[str(row.get("IsoCode"))] = float(row.get("ConversionRate") or 1)
        return self._rates

    # filtering ------------------------------------------------------------------------------
    def matches(self, record: Record, cond: BCond) -> bool:
        if isinstance(cond, BBool):
            if cond.op == "AND":
                return all(self.matches(record, c) for c in cond.items)
            return any(self.matches(record, c) for c in cond.items)
        if isinstance(cond, BNot):
            return not self.matches(record, cond.item)
        return self.compare(record, cond)

    def compare(self, record: Record, cond: BCompare) -> bool:
        value = _comparable(cond.path.field, self.raw(record, cond.path))
        op = cond.op
        if cond.sub is not None:
            found = value in self.semijoin(cond.sub)
            return found if op == "IN" else not found
        if op == "LIKE":
            return (
                value is not None
                and cond.like is not None
                and bool(cond.like.fullmatch(str(self.raw(record, cond.path))))
            )
        if op in ("IN", "NOTIN"):
            hit = any(_equals(value, v) for v in cond.values)
            return hit if op == "IN" else not hit
        if op in ("INCLUDES", "EXCLUDES"):
            chosen = {p.strip().lower() for p in str(value or "").split(";") if p.strip()}
            hit = any({p.strip().lower() for p in str(v).split(";")} <= chosen for v in cond.values)
            return hit if op == "INCLUDES" else not hit
        target = cond.values[0]
        if op == "=":
            return _equals(value, target)
        if op == "!=":
            return not _equals(value, target)
        if value is None or target is None:
            return False
        if isinstance(target, Range):
            if op == "<":
                return bool(value < target.start)
            if op == "<=":
                return bool(value < target.end)
            if op == ">":
                return bool(value >= target.end)
            return bool(value >= target.start)
        try:
            if op == "<":
                return bool(value < target)
            if op == "<=":
                return bool(value <= target)
            if op == ">":
                return bool(value > target)
            return bool(value >= target)
        except TypeError:
            return False

    def semijoin(self, sub: BoundQuery) -> set[Any]:
        key = id(sub)
        if key not in self.semijoins:
            assert sub.semijoin_field is not None
            inner = _Run(self.schema, self.source, self.version, False)
            rows = inner.rows(sub)
            self.semijoins[key] = {
                _comparable(sub.semijoin_field.field, inner.raw(r, sub.semijoin_field))
                for r in rows
            }
        return self.semijoins[key]

    # selection ------------------------------------------------------------------------------
    def candidates(self, query: BoundQuery) -> Iterable[Record]:
        name = query.obj.name
        for cond in _conjuncts(query.where):
            if not isinstance(cond, BCompare) or cond.sub is not None:
                continue
            if not cond.path.direct or cond.op not in ("=", "IN"):
                continue
            values = [v for v in cond.values if v is not None and not isinstance(v, Range)]
            if len(values) != len(cond.values):
                continue
            definition = cond.path.field
            if definition.type == "id":
                return self.source.by_ids(name, [str(v) for v in values], self.deleted)
            if definition.keyed:
                keys = [definition.normalize_key(v) for v in values]
                return self.source.by_key(name, definition.name, keys, self.deleted)
        return self.source.scan(name, self.deleted)

    def rows(self, query: BoundQuery) -> list[Record]:
        rows = self.candidates(query)
        where = query.where
        if where is None:
            return list(rows)
        return [r for r in rows if self.matches(r, where)]

    def order(self, rows: list[Record], query: BoundQuery) -> list[Record]:
        for item in reversed(query.order_by):
            path = item.path

            def key(
                record: Record, path: Path | None = path, output: str | None = item.output
            ) -> Any:
                if path is None:
                    return _sortable(record.get(output or ""))
                return _sortable(self.raw(record, path))

            keyed = [(key(r), r) for r in rows]
            nulls = [r for k, r in keyed if k is None]
            values = [(k, r) for k, r in keyed if k is not None]
            values.sort(key=lambda pair: pair[0], reverse=item.desc)
            ordered = [r for _, r in values]
            rows = ordered + nulls if item.nulls_last else nulls + ordered
        return rows

    # shaping --------------------------------------------------------------------------------
    def attributes(self, record: Record) -> dict[str, str]:
        obj = self.schema.of_id(str(record.get("Id", "")))
        kind = obj.name if obj else "Unknown"
        return {
            "type": kind,
            "url": f"/services/data/v{self.version}/sobjects/{kind}/{record.get('Id')}",
        }

    def shape(self, record: Record, query: BoundQuery) -> Record:
        out: Record = {"attributes": self.attributes(record)}
        for item in query.fields:
            if isinstance(item, Path):
                self.put(out, record, item)
            elif isinstance(item, BChild):
                out[item.relationship] = self.children(record, item)
        return out

    def put(self, out: Record, record: Record, path: Path) -> None:
        container = out
        current: Record | None = record
        for rel_field, rel_name in zip(path.rel_fields, path.rel_names, strict=True):
            parent = self.parent(current.get(rel_field)) if current is not None else None
            if rel_name not in container:
                container[rel_name] = (
                    None if parent is None else {"attributes": self.attributes(parent)}
                )
            nested = container[rel_name]
            if nested is None:
                return
            container = nested
            current = parent
        if current is not None:
            container[path.name] = current.get(path.name)

    def children(self, record: Record, child: BChild) -> Record | None:
        sub = child.query
        parent_id = record.get("Id")
        rows = [
            r
            for r in self.source.by_key(sub.obj.name, child.lookup.name, [str(parent_id)], False)
            if sub.where is None or self.matches(r, sub.where)
        ]
        rows = self.order(rows, sub)
        rows = _window(rows, sub.offset, sub.limit)
        if not rows:
            return None
        return {
            "totalSize": len(rows),
            "done": True,
            "records": [self.shape(r, sub) for r in rows],
        }

    def aggregate(self, rows: list[Record], query: BoundQuery) -> list[Record]:
        groups: dict[tuple[Any, ...], list[Record]] = {}
        for record in rows:
            key = tuple(_group_key(self.raw(record, g)) for g in query.group_by)
            groups.setdefault(key, []).append(record)
        if not query.group_by and not groups:
            groups[()] = []
        out = []
        for members in groups.values():
            result: Record = {"attributes": {"type": "AggregateResult"}}
            for item in query.fields:
                if isinstance(item, Path):
                    result[item.name] = self.raw(members[0], item) if members else None
                elif isinstance(item, BAggregate):
                    result[item.output] = self.compute(item, members, bool(query.group_by))
            out.append(result)
        return out

    def compute(self, item: BAggregate, members: list[Record], grouped: bool = False) -> Any:
        if item.path is None:
            return len(members)
        values = [v for v in (self.raw(r, item.path) for r in members) if v is not None]
        if item.func == "COUNT":
            return len(values)
        if item.func == "COUNT_DISTINCT":
            return len({_group_key(v) for v in values})
        if not values:
            return None
        # multi-currency: amounts a grouped aggregate answers are in the corporate currency
        corporate = grouped and item.path.field.type == "currency" and bool(self.rates())
        if corporate:
            values = self.in_corporate(members, item.path)
        if item.func == "SUM":
            result = sum(values)
        elif item.func == "AVG":
            result = sum(values) / len(values)
        elif item.func == "MIN":
            result = min(values)
        else:
            result = max(values)
        return round(result, item.path.field.scale) if corporate else result

    def in_corporate(self, members: list[Record], path: Path) -> list[Any]:
        """Each member's amount converted from its record's CurrencyIsoCode."""
        rates = self.rates()
        out = []
        for record in members:
            holder = self.holder(record, path)
            value = holder.get(path.name) if holder is not None else None
            if value is not None and holder is not None:
                out.append(value / rates.get(str(holder.get("CurrencyIsoCode")), 1.0))
        return out


def _conjuncts(cond: BCond | None) -> Iterator[BCond]:
    if cond is None:
        return
    if isinstance(cond, BBool) and cond.op == "AND":
        for item in cond.items:
            yield from _conjuncts(item)
    else:
        yield cond


def _comparable(definition: FieldDef, value: Any) -> Any:
    if value is None:
        return None
    if isinstance(value, str) and definition.is_text and not definition.case_sensitive:
        return value.lower()
    if isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    return value


def _equals(value: Any, target: Any) -> bool:
    if isinstance(target, Range):
        return value is not None and target.start <= value < target.end
    return bool(value == target)


def _sortable(value: Any) -> Any:
    if isinstance(value, str):
        return value.lower()
    if isinstance(value, bool):
        return int(value)
    return value


def _group_key(value: Any) -> Any:
    return value.lower() if isinstance(value, str) else value


def _window(rows: list[Record], offset: int | None, limit: int | None) -> list[Record]:
    start = offset or 0
    if limit is None:
        return rows[start:]
    return rows[start : start + limit]


def execute(
    query: BoundQuery,
    source: RecordSource,
    schema: Schema,
    version: str = "59.0",
    include_deleted: bool = False,
) -> QueryResult:
    """Run ``query``; COUNT() queries give ``totalSize`` and no records."""
    run = _Run(schema, source, version, include_deleted)
    rows = run.rows(query)
    if query.count_only:
        return QueryResult(len(_window(rows, query.offset, query.limit)), [])
    if query.aggregate:
        grouped = run.aggregate(rows, query)
        grouped = run.order(grouped, query)
        grouped = _window(grouped, query.offset, query.limit)
        return QueryResult(len(grouped), grouped)
    rows = run.order(rows, query)
    rows = _window(rows, query.offset, query.limit)
    return QueryResult(len(rows), [run.shape(r, query) for r in rows])


def execute_raw(
    query: BoundQuery,
    source: RecordSource,
    schema: Schema,
    include_deleted: bool = False,
) -> tuple[list[Record], _Run]:
    """Matching stored records in order (Bulk API query jobs flatten them themselves)."""
    run = _Run(schema, source, "59.0", include_deleted)
    rows = run.order(run.rows(query), query)
    return _window(rows, query.offset, query.limit), run
