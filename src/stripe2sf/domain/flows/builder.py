"""Accumulates one plan's operations; shared by the flow modules."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any, Literal

from stripe2sf.domain.config import SyncConfig
from stripe2sf.domain.context import PlanContext
from stripe2sf.domain.events import EventView
from stripe2sf.domain.flows.cardguard import Refusal, scan_fields
from stripe2sf.domain.flows.subjects import customer_id_for
from stripe2sf.domain.matching.resolve import CustomerWrites
from stripe2sf.domain.operations import Operation, Plan
from stripe2sf.domain.setup.schema import REQUIRED_ON_CREATE, fit_lengths


@dataclass
class PlanBuilder:
    event: EventView
    ctx: PlanContext
    config: SyncConfig
    operations: list[Operation] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    assumptions: list[str] = field(default_factory=list)
    ledger: dict[str, int] = field(default_factory=dict)

    def add(self, op: Operation) -> None:
        if any(o.op_id == op.op_id for o in self.operations):
            raise ValueError(f"duplicate op_id {op.op_id}")
        self.operations.append(op)

    def add_customer_writes(self, cw: CustomerWrites) -> None:
        for op in cw.operations:
            self.add(op)
        self.notes.extend(cw.notes)
        self.assumptions.extend(cw.assumptions)

    def touch(self, object_id: str | None) -> None:
        """Remember that `object_id` is now written from this event's Stripe timestamp."""
        if object_id:
            self.ledger[object_id] = max(self.event.created, self.ledger.get(object_id, 0))

    def merge_account_fields(self, cw: CustomerWrites, fields: dict[str, Any], why: str) -> None:
        """Add Account fields to the Account write already planned, else plan one."""
        if not fields:
            return
        for i, op in enumerate(self.operations):
            if op.sobject == "Account" and op.op_id in ("account", "link_account"):
                merged = {**op.fields, **fields}
                self.operations[i] = replace(op, fields=merged, reason=f"{op.reason}; {why}")
                return
        if cw.account_ref is None:
            self.notes.append(f"no Account for {self.event.customer_id}; not written: {why}")
            return
        ref = cw.account_ref
        action: Literal["upsert", "update"] = "update" if ref.field == "Id" else "upsert"
        self.add(
            Operation("account_update", action, "Account", ref.field, ref.value, fields, reason=why)
        )

    def build(self) -> Plan:
        """Final guard: Salesforce-owned fields and card data never leave in a plan, and
        values fit their fields (cut, or refused per field; `schema.fit_lengths`). Lengths
        first: a cut could leave a card number the whole value did not show."""
        refusals: list[Refusal] = []
        safe: list[Operation] = []
        limits = self.config.field_limits
        for op in self.operations:
            allowed: dict[str, Any] = {}
            for name, value in op.fields.items():
                if self.config.owner_of(op.sobject, name) == "salesforce":
                    self.notes.append(f"not written: {op.sobject}.{name} is owned by Salesforce")
                    continue
                allowed[name] = value
            fitting, too_long, cut = fit_lengths(op.sobject, allowed, limits, op.key_value)
            self.notes.extend(cut)
            refusals.extend(too_long)
            # an upsert may create the record: its required fields get a safe substitute
            required = REQUIRED_ON_CREATE.get(op.sobject, ()) if op.action == "upsert" else ()
            clean, refused = scan_fields(op.sobject, fitting, op.key_value, required)
            refusals.extend(refused)
            safe.append(replace(op, fields=clean))
        return Plan(
            event_id=self.event.id,
            event_type=self.event.type,
            customer_id=customer_id_for(self.event, self.ctx),
            operations=tuple(safe),
            refusals=tuple(refusals),
            ledger_updates=dict(self.ledger),
            skipped=tuple(self.skipped),
            notes=tuple(self.notes),
            assumptions=tuple(dict.fromkeys(self.assumptions)),
        )
