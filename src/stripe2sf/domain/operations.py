"""Salesforce operations as plain values, and the plan that holds them.

An `Operation` is one record write: an upsert keyed by an External ID field (the rule), or
an update keyed by `Id` (only to *link* a record found by matching, which has no external
id yet). Lookup fields point at other records through `RecordRef`s, which Salesforce
resolves by external id, so a plan never needs a Salesforce Id it does not already know.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, Literal

from stripe2sf.domain.flows.cardguard import Refusal

Action = Literal["upsert", "update"]
POLYMORPHIC = frozenset({"WhatId", "WhoId"})


@dataclass(frozen=True, slots=True)
class RecordRef:
    """Another record, named by an external id field (or `Id`) and its value."""

    sobject: str
    field: str
    value: str

    def __str__(self) -> str:
        return f"{self.sobject}[{self.field}={self.value}]"


def relationship_name(lookup_field: str) -> str:
    """`Account__c` -> `Account__r`, `AccountId` -> `Account`, `WhatId` -> `What`."""
    if lookup_field.endswith("__c"):
        return lookup_field[:-3] + "__r"
    if lookup_field.endswith("Id"):
        return lookup_field[:-2]
    raise ValueError(f"{lookup_field} is not a lookup field name")


def render_ref(lookup_field: str, ref: RecordRef) -> tuple[str, Any]:
    """The (key, value) that sets a lookup in a Salesforce JSON record body."""
    if ref.field == "Id":
        return lookup_field, ref.value
    body: dict[str, Any] = {ref.field: ref.value}
    if lookup_field in POLYMORPHIC:
        body = {"attributes": {"type": ref.sobject}, **body}
    return relationship_name(lookup_field), body


def json_value(value: Any) -> Any:
    """Decimals become JSON numbers (shortest exact float form), everything else as is."""
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    return value


@dataclass(frozen=True, slots=True)  # slots: a backfill holds tens of thousands at once
class Operation:
    """One write. `op_id` is unique within a plan; `depends_on` lists op_ids to apply first."""

    op_id: str
    action: Action
    sobject: str
    key_field: str
    key_value: str
    fields: Mapping[str, Any] = field(default_factory=dict)
    refs: Mapping[str, RecordRef] = field(default_factory=dict)
    depends_on: tuple[str, ...] = ()
    reason: str = ""

    @property
    def ref(self) -> RecordRef:
        """A reference to the record this operation writes."""
        return RecordRef(self.sobject, self.key_field, self.key_value)

    @property
    def field_names(self) -> tuple[str, ...]:
        return tuple(sorted([*self.fields, *self.refs]))

    def record(self, *, with_type: bool = True) -> dict[str, Any]:
        """The Salesforce JSON body of this record (key field included)."""
        body: dict[str, Any] = {"attributes": {"type": self.sobject}} if with_type else {}
        body[self.key_field] = self.key_value
        for name, value in self.fields.items():
            body[name] = json_value(value)
        for name, ref in self.refs.items():
            key, value = render_ref(name, ref)
            body[key] = value
        return body

    def to_dict(self) -> dict[str, Any]:
        return {
            "op_id": self.op_id,
            "action": self.action,
            "sobject": self.sobject,
            "key_field": self.key_field,
            "key_value": self.key_value,
            "fields": {k: json_value(v) for k, v in self.fields.items()},
            "refs": {
                k: {"sobject": r.sobject, "field": r.field, "value": r.value}
                for k, r in self.refs.items()
            },
            "depends_on": list(self.depends_on),
            "reason": self.reason,
        }


@dataclass(frozen=True)
class Plan:
    """Everything one event does to Salesforce, decided without I/O.

    `ledger_updates` (Stripe object id -> Stripe timestamp) is what the record step stores
    once the operations succeeded; `skipped` says why an event changes nothing;
    `assumptions` lists lookups that were not done and what was assumed instead.
    """

    event_id: str
    event_type: str
    operations: tuple[Operation, ...] = ()
    customer_id: str | None = None
    refusals: tuple[Refusal, ...] = ()
    ledger_updates: Mapping[str, int] = field(default_factory=dict)
    skipped: tuple[str, ...] = ()
    notes: tuple[str, ...] = ()
    assumptions: tuple[str, ...] = ()

    @property
    def is_empty(self) -> bool:
        return not self.operations

    def to_dict(self) -> dict[str, Any]:
        return {
            "event_id": self.event_id,
            "event_type": self.event_type,
            "customer_id": self.customer_id,
            "operations": [op.to_dict() for op in self.operations],
            "refusals": [r.to_dict() for r in self.refusals],
            "ledger_updates": dict(self.ledger_updates),
            "skipped": list(self.skipped),
            "notes": list(self.notes),
            "assumptions": list(self.assumptions),
        }

    def to_json(self, *, indent: int | None = 2) -> str:
        return json.dumps(self.to_dict(), indent=indent, sort_keys=False, default=str)

    def render(self) -> str:
        """The human-readable plan `stripe2sf plan EVENT.json` prints."""
        lines = [f"Plan for {self.event_type} ({self.event_id})"]
        if self.customer_id:
            lines[0] += f", Stripe customer {self.customer_id}"
        if not self.operations:
            lines.append("  no Salesforce writes")
        for i, op in enumerate(self.operations, 1):
            verb = "UPSERT" if op.action == "upsert" else "UPDATE"
            lines.append(f"  {i}. {verb} {op.sobject} by {op.key_field} = {op.key_value}")
            if op.reason:
                lines.append(f"       why: {op.reason}")
            for name, value in op.fields.items():
                lines.append(f"       {name} = {json.dumps(json_value(value), default=str)}")
            for name, ref in op.refs.items():
                lines.append(f"       {name} -> {ref}")
            if op.depends_on:
                lines.append(f"       after: {', '.join(op.depends_on)}")
        for r in self.refusals:
            lines.append(f"  REFUSED {r.sobject}.{r.field}: {r.reason} ({r.value})")
        for s in self.skipped:
            lines.append(f"  skipped: {s}")
        for n in self.notes:
            lines.append(f"  note: {n}")
        for a in self.assumptions:
            lines.append(f"  assumed: {a}")
        return "\n".join(lines)
