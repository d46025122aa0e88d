"""Tamper-evident audit trail: pure hashing of append-only entries.

Each entry's hash is SHA-256 over the previous entry's hash and the entry's canonical JSON
(sorted keys, no whitespace), so changing, removing or reordering any entry breaks every
hash after it. The store persists entries; `verify_chain` re-computes the chain.

A chain alone cannot see its newest entries deleted: what remains is a valid, shorter chain.
So the store keeps an anchor apart from the entries (`AuditHead`: the count and the newest
hash, updated in the same transaction as every append) and `verify_chain(..., head=...)`
checks that the chain ends exactly there: entries deleted at the end, at the start or in the
middle are each reported with how many and which.

    prev = None
    for record in records_from_plan(plan, outcomes, at=now_iso):
        prev = chain(prev, record)          # AuditEntry with seq, prev_hash, hash
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from stripe2sf.domain.operations import Plan

if TYPE_CHECKING:
    from stripe2sf.domain.matching.duplicates import DuplicateReport

GENESIS_HASH = "0" * 64


@dataclass(frozen=True)
class AuditRecord:
    """What happened: one Salesforce write, refusal or skip."""

    at: str
    event_id: str | None
    action: str  # upsert | update | refused | skipped
    outcome: str  # ok | error | refused | skipped
    sobject: str | None = None
    external_id: str | None = None
    record_id: str | None = None
    fields: tuple[str, ...] = ()
    error: str | None = None
    customer_id: str | None = None

    def to_dict(self) -> dict[str, Any]:
        # spelled out rather than `dataclasses.asdict` (which deep-copies every value): the
        # audit trail hashes and stores one of these per record, millions in a backfill
        return {
            "at": self.at,
            "event_id": self.event_id,
            "action": self.action,
            "outcome": self.outcome,
            "sobject": self.sobject,
            "external_id": self.external_id,
            "record_id": self.record_id,
            "fields": list(self.fields),
            "error": self.error,
            "customer_id": self.customer_id,
        }


@dataclass(frozen=True)
class AuditEntry:
    seq: int
    prev_hash: str
    hash: str
    record: AuditRecord

    def to_dict(self) -> dict[str, Any]:
        return {
            "seq": self.seq,
            "prev_hash": self.prev_hash,
            "hash": self.hash,
            **self.record.to_dict(),
        }


def canonical(record: AuditRecord, seq: int) -> bytes:
    payload = {"seq": seq, **record.to_dict()}
    return json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def entry_hash(prev_hash: str, record: AuditRecord, seq: int) -> str:
    digest = hashlib.sha256()
    digest.update(prev_hash.encode("ascii"))
    digest.update(b"\n")
    digest.update(canonical(record, seq))
    return digest.hexdigest()


def chain(prev: AuditEntry | None, record: AuditRecord) -> AuditEntry:
    """The entry that follows `prev` (None: the first entry of the trail)."""
    seq = prev.seq + 1 if prev else 1
    prev_hash = prev.hash if prev else GENESIS_HASH
    return AuditEntry(seq, prev_hash, entry_hash(prev_hash, record, seq), record)


def chain_all(prev: AuditEntry | None, records: Iterable[AuditRecord]) -> list[AuditEntry]:
    out: list[AuditEntry] = []
    for record in records:
        prev = chain(prev, record)
        out.append(prev)
    return out


@dataclass(frozen=True)
class ChainCheck:
    ok: bool
    checked: int
    first_bad_seq: int | None = None
    reason: str | None = None
    missing: int = 0  # entries found deleted (at the end, start or in a gap)
    anchor: AuditHead | None = None  # the anchor checked against, when there was one


@dataclass(frozen=True)
class AuditHead:
    """The anchor kept apart from the entries: how many there are and the newest hash."""

    seq: int
    hash: str


def _span(first: int, last: int) -> str:
    return f"entry {first}" if first == last else f"entries {first} to {last}"


def entry_from_dict(row: Mapping[str, Any]) -> AuditEntry:
    """Rebuild an entry from a stored row (the keys of `AuditEntry.to_dict`)."""
    fields = row.get("fields") or ()
    if isinstance(fields, str):
        fields = json.loads(fields)
    record = AuditRecord(
        at=str(row["at"]),
        event_id=row.get("event_id"),
        action=str(row["action"]),
        outcome=str(row["outcome"]),
        sobject=row.get("sobject"),
        external_id=row.get("external_id"),
        record_id=row.get("record_id"),
        fields=tuple(fields),
        error=row.get("error"),
        customer_id=row.get("customer_id"),
    )
    return AuditEntry(int(row["seq"]), str(row["prev_hash"]), str(row["hash"]), record)


def verify_chain(
    entries: Iterable[AuditEntry | Mapping[str, Any]],
    *,
    start_hash: str = GENESIS_HASH,
    head: AuditHead | None = None,
) -> ChainCheck:
    """Check sequence numbers, links and hashes, in order; the first break is reported.

    With `head` (the anchor), the chain must also end exactly at the anchor's entry: newest
    entries deleted (or appended behind stripe2sf's back) are reported too."""
    prev_hash = start_hash
    expected_seq: int | None = 1 if start_hash == GENESIS_HASH else None
    checked = 0
    for item in entries:
        entry = item if isinstance(item, AuditEntry) else entry_from_dict(item)
        if expected_seq is not None and entry.seq > expected_seq:
            gap = entry.seq - expected_seq
            where = "at the start" if expected_seq == 1 else "in the middle"
            return ChainCheck(
                False,
                checked,
                expected_seq,
                f"{_span(expected_seq, entry.seq - 1)} missing (deleted {where} of the trail)",
                missing=gap,
            )
        if expected_seq is not None and entry.seq != expected_seq:
            return ChainCheck(False, checked, entry.seq, f"expected seq {expected_seq}")
        if entry.prev_hash != prev_hash:
            return ChainCheck(False, checked, entry.seq, "prev_hash does not match previous entry")
        if entry_hash(entry.prev_hash, entry.record, entry.seq) != entry.hash:
            return ChainCheck(False, checked, entry.seq, "hash does not match entry content")
        prev_hash = entry.hash
        expected_seq = entry.seq + 1
        checked += 1
    if head is None:
        return ChainCheck(True, checked)
    return _against(head, checked, (expected_seq or 1) - 1, prev_hash)


def _against(head: AuditHead, checked: int, last: int, last_hash: str) -> ChainCheck:
    """A sound chain of `checked` entries ending at `last` against its anchor."""
    if last < head.seq:
        return ChainCheck(
            False,
            checked,
            last + 1,
            f"the newest {head.seq - last} entries ({_span(last + 1, head.seq)}) are missing: "
            f"the trail ends at entry {last} but its anchor records {head.seq} (deleted at "
            "the end of the trail)",
            missing=head.seq - last,
            anchor=head,
        )
    if last > head.seq:
        return ChainCheck(
            False,
            checked,
            head.seq + 1,
            f"{_span(head.seq + 1, last)} follow the anchor's last entry {head.seq}: added "
            "outside stripe2sf",
            anchor=head,
        )
    if last > 0 and last_hash != head.hash:
        return ChainCheck(
            False,
            checked,
            last,
            f"entry {last} is not the one the anchor records: the end of the trail was replaced",
            anchor=head,
        )
    return ChainCheck(True, checked, anchor=head)


@dataclass(frozen=True)
class OpOutcome:
    """What Salesforce answered for one operation."""

    ok: bool
    record_id: str | None = None
    error: str | None = None
    code: str | None = None  # Salesforce errorCode / statusCode, e.g. UNABLE_TO_LOCK_ROW
    created: bool | None = None
    duplicates: DuplicateReport | None = None  # DUPLICATES_DETECTED: the rule and its matches


def records_from_plan(
    plan: Plan,
    outcomes: Mapping[str, OpOutcome],
    *,
    at: str,
    customer_id: str | None = None,
) -> list[AuditRecord]:
    """One record per operation (with its outcome), per refusal and per skip reason."""
    out: list[AuditRecord] = []
    for op in plan.operations:
        result = outcomes.get(op.op_id)
        outcome = "ok" if result and result.ok else "error"
        error = None if result and result.ok else (result.error if result else "not executed")
        out.append(
            AuditRecord(
                at=at,
                event_id=plan.event_id,
                action=op.action,
                outcome=outcome,
                sobject=op.sobject,
                external_id=op.key_value,
                record_id=result.record_id if result else None,
                fields=op.field_names,
                error=error,
                customer_id=customer_id,
            )
        )
    for r in plan.refusals:
        out.append(
            AuditRecord(
                at=at,
                event_id=plan.event_id,
                action="refused",
                outcome="refused",
                sobject=r.sobject,
                external_id=r.external_id,
                fields=(r.field,),
                error=f"{r.reason}: {r.value}",
                customer_id=customer_id,
            )
        )
    for reason in plan.skipped:
        out.append(
            AuditRecord(
                at=at,
                event_id=plan.event_id,
                action="skipped",
                outcome="skipped",
                error=reason,
                customer_id=customer_id,
            )
        )
    return out
