"""Group operations into as few Salesforce API calls as possible. Pure: returns call
descriptions (method, path, body) that the executor sends in order.

Rules (Salesforce limits, see reference/facts.md):
- operations are layered by `depends_on`; a layer is only sent after the previous one;
- within a layer, writes of one sObject type keyed by one field form an sObject
  Collections request (<= 200 records; upsert by external id is one type per call;
  updates by Id may mix types);
- all requests of a small plan travel in one Composite request (<= 25 subrequests, counted
  as one API call), in layer order; more subrequests -> several Composite calls;
- a lone request is sent directly, without the Composite wrapper;
- at or above `bulk_threshold` records (default 2,000) upserts go to Bulk API 2.0 ingest
  jobs, one per (layer, sObject, key field), as CSV;
- `graph=True` instead sends each plan as one Composite Graph (all-or-nothing per event;
  <= 75 graphs and <= 500 nodes per payload).
Two operations writing the same record in the same layer are merged (a Collections
request refuses a duplicated external id); the merged record answers for both op ids.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Literal
from urllib.parse import quote

from stripe2sf.domain.operations import Operation, Plan, json_value, relationship_name

CallKind = Literal[
    "record_upsert",
    "record_update",
    "collection_upsert",
    "collection_update",
    "composite",
    "graph",
    "bulk_ingest",
]
MAX_COLLECTION = 200
MAX_COMPOSITE = 25
MAX_GRAPHS = 75
MAX_GRAPH_NODES = 500
DEFAULT_API_VERSION = "v60.0"


@dataclass(frozen=True)
class SalesforceCall:
    """One HTTP request. `record_op_ids[i]` are the op ids answered by the i-th record
    (or, for Composite, by the i-th subrequest; for Bulk, the i-th CSV row)."""

    kind: CallKind
    method: str
    path: str
    body: Any
    record_op_ids: tuple[tuple[str, ...], ...]
    csv_data: str | None = None
    subrequests: tuple[SalesforceCall, ...] = field(default=())

    @property
    def op_ids(self) -> tuple[str, ...]:
        return tuple(i for ids in self.record_op_ids for i in ids)

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "kind": self.kind,
            "method": self.method,
            "path": self.path,
            "body": self.body,
            "record_op_ids": [list(x) for x in self.record_op_ids],
        }
        if self.csv_data is not None:
            out["csv_data"] = self.csv_data
        return out


def namespaced(plan: Plan, prefix: str) -> tuple[Operation, ...]:
    """A plan's operations with op ids made unique across plans (`prefix/op_id`)."""
    return tuple(
        replace(
            op,
            op_id=f"{prefix}/{op.op_id}",
            depends_on=tuple(f"{prefix}/{d}" for d in op.depends_on),
        )
        for op in plan.operations
    )


def layers(operations: Sequence[Operation]) -> list[list[Operation]]:
    """Operations grouped so that each only depends on operations of earlier layers."""
    by_id = {op.op_id: op for op in operations}
    depth: dict[str, int] = {}

    def level(op: Operation, seen: frozenset[str]) -> int:
        if op.op_id in depth:
            return depth[op.op_id]
        if op.op_id in seen:
            raise ValueError(f"dependency cycle through {op.op_id}")
        deps = [by_id[d] for d in op.depends_on if d in by_id]
        value = 1 + max((level(d, seen | {op.op_id}) for d in deps), default=-1)
        depth[op.op_id] = value
        return value

    out: list[list[Operation]] = []
    for op in operations:
        n = level(op, frozenset())
        while len(out) <= n:
            out.append([])
        out[n].append(op)
    return out


@dataclass
class _Record:
    op: Operation
    op_ids: list[str]


def _merge_same_record(ops: Sequence[Operation]) -> list[_Record]:
    merged: dict[tuple[str, str, str], _Record] = {}
    for op in ops:
        key = (op.sobject, op.key_field, op.key_value)
        if key in merged:
            rec = merged[key]
            rec.op = replace(
                rec.op, fields={**rec.op.fields, **op.fields}, refs={**rec.op.refs, **op.refs}
            )
            rec.op_ids.append(op.op_id)
        else:
            merged[key] = _Record(op, [op.op_id])
    return list(merged.values())


def _groups(layer: Sequence[Operation]) -> list[list[_Record]]:
    """Records of a layer grouped into request-sized groups."""
    records = _merge_same_record(layer)
    grouped: dict[tuple[str, str, str], list[_Record]] = {}
    for rec in records:
        op = rec.op
        gkey = (op.action, op.sobject if op.action == "upsert" else "*", op.key_field)
        grouped.setdefault(gkey, []).append(rec)
    out: list[list[_Record]] = []
    for recs in grouped.values():
        for i in range(0, len(recs), MAX_COLLECTION):
            out.append(recs[i : i + MAX_COLLECTION])
    return out


def _request(group: list[_Record], base: str) -> SalesforceCall:
    ids = tuple(tuple(r.op_ids) for r in group)
    first = group[0].op
    key = quote(first.key_value, safe="")
    if len(group) == 1:
        body = first.record(with_type=False)
        body.pop(first.key_field, None)
        if first.action == "upsert":
            path = f"{base}/sobjects/{first.sobject}/{first.key_field}/{key}"
            return SalesforceCall("record_upsert", "PATCH", path, body, ids)
        path = f"{base}/sobjects/{first.sobject}/{key}"
        return SalesforceCall("record_update", "PATCH", path, body, ids)
    records = [r.op.record() for r in group]
    payload = {"allOrNone": False, "records": records}
    if first.action == "upsert":
        path = f"{base}/composite/sobjects/{first.sobject}/{first.key_field}"
        return SalesforceCall("collection_upsert", "PATCH", path, payload, ids)
    return SalesforceCall("collection_update", "PATCH", f"{base}/composite/sobjects", payload, ids)


def _composite(requests: list[SalesforceCall], base: str) -> SalesforceCall:
    subs = []
    for i, req in enumerate(requests):
        subs.append(
            {"method": req.method, "url": req.path, "referenceId": f"r{i}", "body": req.body}
        )
    body = {"allOrNone": False, "collateSubrequests": False, "compositeRequest": subs}
    return SalesforceCall(
        "composite",
        "POST",
        f"{base}/composite",
        body,
        tuple(req.op_ids for req in requests),
        subrequests=tuple(requests),
    )


def _bulk_header(op: Operation, name: str) -> str:
    ref = op.refs[name]
    if ref.field == "Id":
        return name
    rel = relationship_name(name)
    if name in ("WhatId", "WhoId"):
        return f"{ref.sobject}:{rel}.{ref.field}"
    return f"{rel}.{ref.field}"


def _bulk_job(group: list[_Record], base: str) -> SalesforceCall:
    first = group[0].op
    columns: list[str] = [first.key_field]
    ref_columns: dict[str, str] = {}
    for rec in group:
        for name in rec.op.fields:
            if name not in columns:
                columns.append(name)
        for name in rec.op.refs:
            header = _bulk_header(rec.op, name)
            if header not in columns:
                columns.append(header)
                ref_columns[header] = name
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(columns)
    for rec in group:
        row = []
        for col in columns:
            if col == first.key_field:
                row.append(rec.op.key_value)
            elif col in ref_columns:
                ref = rec.op.refs.get(ref_columns[col])
                row.append(ref.value if ref else "")
            else:
                value = json_value(rec.op.fields.get(col))
                row.append("#N/A" if value is None and col in rec.op.fields else _csv(value))
        writer.writerow(row)
    job: dict[str, Any] = {
        "object": first.sobject,
        "operation": "upsert" if first.action == "upsert" else "update",
        "contentType": "CSV",
        "lineEnding": "LF",
    }
    if first.action == "upsert":
        job["externalIdFieldName"] = first.key_field
    return SalesforceCall(
        "bulk_ingest",
        "POST",
        f"{base}/jobs/ingest",
        job,
        tuple(tuple(r.op_ids) for r in group),
        csv_data=buf.getvalue(),
    )


def _csv(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def batch(
    operations: Sequence[Operation],
    *,
    api_version: str = DEFAULT_API_VERSION,
    bulk_threshold: int = 2000,
) -> list[SalesforceCall]:
    """The calls that apply `operations`, to be sent in the returned order."""
    base = f"/services/data/{api_version}"
    if not operations:
        return []
    if len(operations) >= bulk_threshold:
        calls: list[SalesforceCall] = []
        for layer in layers(operations):
            records = _merge_same_record(layer)
            grouped: dict[tuple[str, str, str], list[_Record]] = {}
            for rec in records:
                op = rec.op
                grouped.setdefault((op.action, op.sobject, op.key_field), []).append(rec)
            calls.extend(_bulk_job(g, base) for g in grouped.values())
        return calls
    requests = [_request(g, base) for layer in layers(operations) for g in _groups(layer)]
    if len(requests) == 1:
        return requests
    return [
        _composite(requests[i : i + MAX_COMPOSITE], base)
        for i in range(0, len(requests), MAX_COMPOSITE)
    ]


def graph_batch(
    plans: Sequence[Plan], *, api_version: str = DEFAULT_API_VERSION
) -> list[SalesforceCall]:
    """Each plan as one Composite Graph: all of an event's writes succeed or none do."""
    base = f"/services/data/{api_version}"
    graphs: list[dict[str, Any]] = []
    graph_ids: list[tuple[str, ...]] = []
    calls: list[SalesforceCall] = []

    def flush() -> None:
        if graphs:
            calls.append(
                SalesforceCall(
                    "graph",
                    "POST",
                    f"{base}/composite/graph",
                    {"graphs": list(graphs)},
                    tuple(graph_ids),
                )
            )
            graphs.clear()
            graph_ids.clear()

    nodes_in_payload = 0
    for p_index, plan in enumerate(plans):
        ops = namespaced(plan, f"p{p_index}")
        reqs = [_request(g, base) for layer in layers(ops) for g in _groups(layer)]
        if not reqs:
            continue
        if len(reqs) > MAX_GRAPH_NODES:
            raise ValueError(f"plan {plan.event_id} has more than {MAX_GRAPH_NODES} nodes")
        if len(graphs) >= MAX_GRAPHS or nodes_in_payload + len(reqs) > MAX_GRAPH_NODES:
            flush()
            nodes_in_payload = 0
        nodes = [
            {"method": r.method, "url": r.path, "referenceId": f"n{i}", "body": r.body}
            for i, r in enumerate(reqs)
        ]
        graphs.append({"graphId": f"g{p_index}", "compositeRequest": nodes})
        graph_ids.append(tuple(i for r in reqs for i in r.op_ids))
        nodes_in_payload += len(reqs)
    flush()
    return calls
