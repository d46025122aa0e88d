"""Merge a batch's plans into one list of operations, leaving out unchanged writes (pure).

Every event is planned alone (`planner.plan`); their operations are namespaced (`e<i>/<op>`)
and sent together (`batching.batch` then merges writes of one record and groups the rest into
Collections / Composite / Bulk calls). A write is left out when every value it sets equals
what stripe2sf's last write to that record set (`written`: record key -> field -> hash): so
`payment_intent.succeeded` does not rewrite the payment `charge.succeeded` wrote, and a
dunning Task is not rewritten unchanged on every attempt. Outcomes are then mapped back to
each event's own op ids; an operation left out answers `UNCHANGED` (ok).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace

from stripe2sf.domain.audit import AuditRecord, OpOutcome
from stripe2sf.domain.batch.calls import namespaced
from stripe2sf.domain.context import FieldNames, LookupKind, PlanContext
from stripe2sf.domain.operations import Operation, Plan, json_value

UNCHANGED = "UNCHANGED"


def record_key(op: Operation) -> str:
    """The Salesforce record an operation writes, as `written_records` names it."""
    return f"{op.sobject}|{op.key_field}|{op.key_value}"


def _hash(value: object) -> str:
    text = json.dumps(value, sort_keys=True, default=str, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def field_hashes(op: Operation) -> dict[str, str]:
    """Each value the operation sets (lookups as `ref:<field>`), hashed."""
    out = {name: _hash(json_value(value)) for name, value in op.fields.items()}
    out.update({f"ref:{name}": _hash(str(ref)) for name, ref in op.refs.items()})
    return out


def is_unchanged(op: Operation, written: Mapping[str, Mapping[str, str]]) -> bool:
    last = written.get(record_key(op))
    if last is None:
        return False
    return all(last.get(name) == value for name, value in field_hashes(op).items())


def customer_record_key(sobject: str, customer_id: str, names: FieldNames) -> str:
    """The key of the customer's own Account or Contact (written by its customer id)."""
    return f"{sobject}|{names.customer_id}|{customer_id}"


def absent_records(ctx: PlanContext, customer_id: str | None, names: FieldNames) -> set[str]:
    """Record keys of the customer's Account and Contact that Salesforce has just answered
    are not there (deleted, merged away since stripe2sf wrote them): a write to them is never
    "unchanged", whatever was last written, or a record deleted in Salesforce would never
    come back (and the writes that refer to it by external id would fail)."""
    if not customer_id:
        return set()
    out = set()
    for kind, sobject in (
        (LookupKind.SF_ACCOUNT_BY_CUSTOMER, "Account"),
        (LookupKind.SF_CONTACT_BY_CUSTOMER, "Contact"),
    ):
        if ctx.has(kind, customer_id) and not ctx.get(kind, customer_id):
            out.add(customer_record_key(sobject, customer_id, names))
    return out


@dataclass(frozen=True)
class Merged:
    operations: tuple[Operation, ...]  # namespaced, to send
    unchanged: frozenset[str]  # namespaced op ids left out


def prefix(index: int) -> str:
    return f"e{index}"


def merge(plans: Sequence[tuple[int, Plan]], written: Mapping[str, Mapping[str, str]]) -> Merged:
    """The operations of all `plans` (event index, plan), in order, without unchanged writes."""
    ops: list[Operation] = []
    left_out: set[str] = set()
    for index, plan in plans:
        for op in namespaced(plan, prefix(index)):
            if is_unchanged(op, written):
                left_out.add(op.op_id)
            else:
                ops.append(op)
    return Merged(tuple(ops), frozenset(left_out))


def outcomes_of(
    index: int, plan: Plan, outcomes: Mapping[str, OpOutcome], merged: Merged
) -> dict[str, OpOutcome]:
    """One event's outcomes under its own op ids, in plan order."""
    out: dict[str, OpOutcome] = {}
    for op in plan.operations:
        nid = f"{prefix(index)}/{op.op_id}"
        if nid in merged.unchanged:
            out[op.op_id] = OpOutcome(ok=True, code=UNCHANGED)
        elif nid in outcomes:
            out[op.op_id] = outcomes[nid]
    return out


def written_by(
    operations: Sequence[Operation], outcomes: Mapping[str, OpOutcome]
) -> dict[str, dict[str, str]]:
    """What the successful writes set, per record (later writes of a record over earlier)."""
    out: dict[str, dict[str, str]] = {}
    for op in operations:
        outcome = outcomes.get(op.op_id)
        if outcome is not None and outcome.ok:
            key = record_key(op)
            out[key] = {**out.get(key, {}), **field_hashes(op)}
    return out


def mark_unchanged(
    records: Sequence[AuditRecord], plan: Plan, outcomes: Mapping[str, OpOutcome]
) -> list[AuditRecord]:
    """Audit records with the writes left out shown as `unchanged` (nothing was sent)."""
    left_out = {
        op.op_id for op in plan.operations if (o := outcomes.get(op.op_id)) and o.code == UNCHANGED
    }
    if not left_out:
        return list(records)
    out: list[AuditRecord] = []
    ops = iter(plan.operations)
    for record in records:
        if record.action in ("upsert", "update"):
            op = next(ops)
            if op.op_id in left_out:
                record = replace(record, outcome="unchanged", error=None)
        out.append(record)
    return out
