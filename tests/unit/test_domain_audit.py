"""Audit chain: each entry hashes the one before; verification finds any tampering."""

from __future__ import annotations

from dataclasses import asdict, replace
from itertools import pairwise

from stripe2sf.domain.audit import (
    GENESIS_HASH,
    AuditRecord,
    OpOutcome,
    chain,
    chain_all,
    records_from_plan,
    verify_chain,
)
from stripe2sf.domain.cardguard import Refusal
from stripe2sf.domain.operations import Operation, Plan


def rec(i: int) -> AuditRecord:
    return AuditRecord(
        at=f"2026-01-01T00:00:{i:02d}Z",
        event_id=f"evt_{i}",
        action="upsert",
        outcome="ok",
        sobject="Account",
        external_id="cus_1",
        record_id="001A",
        fields=("Billing_Status__c",),
    )


def test_chain_links_and_verifies() -> None:
    entries = chain_all(None, [rec(i) for i in range(5)])
    assert entries[0].prev_hash == GENESIS_HASH and entries[0].seq == 1
    assert all(b.prev_hash == a.hash for a, b in pairwise(entries))
    assert verify_chain(entries).ok
    assert verify_chain(entries).checked == 5


def test_hash_is_deterministic() -> None:
    assert chain(None, rec(1)).hash == chain(None, rec(1)).hash
    assert chain(None, rec(1)).hash != chain(None, rec(2)).hash


def test_changed_entry_is_detected() -> None:
    entries = chain_all(None, [rec(i) for i in range(4)])
    entries[2] = replace(entries[2], record=replace(entries[2].record, outcome="error"))
    check = verify_chain(entries)
    assert not check.ok and check.first_bad_seq == 3 and "hash" in (check.reason or "")


def test_removed_or_reordered_entry_is_detected() -> None:
    entries = chain_all(None, [rec(i) for i in range(4)])
    assert not verify_chain([entries[0], entries[2], entries[3]]).ok
    assert not verify_chain([entries[1], entries[0]]).ok


def test_rehashed_forgery_breaks_the_next_link() -> None:
    entries = chain_all(None, [rec(i) for i in range(3)])
    forged = chain(entries[0], replace(entries[1].record, error="hidden"))
    check = verify_chain([entries[0], forged, entries[2]])
    assert not check.ok and check.first_bad_seq == 3


def test_rows_from_the_store_verify_too() -> None:
    entries = chain_all(None, [rec(i) for i in range(3)])
    rows = [e.to_dict() for e in entries]
    assert verify_chain(rows).ok
    rows[1]["fields"] = ["Name"]
    assert not verify_chain(rows).ok


def test_records_from_plan_cover_writes_refusals_and_skips() -> None:
    plan = Plan(
        "evt_1",
        "charge.succeeded",
        operations=(
            Operation(
                "payment",
                "upsert",
                "Stripe_Payment__c",
                "Stripe_Charge_Id__c",
                "ch_1",
                {"Amount__c": 1},
            ),
            Operation(
                "account", "upsert", "Account", "Stripe_Customer_Id__c", "cus_1", {"Name": "A"}
            ),
        ),
        refusals=(
            Refusal("Stripe_Payment__c", "Note__c", "card number in value", "[REDACTED]", "ch_1"),
        ),
        skipped=("nothing else",),
    )
    records = records_from_plan(
        plan,
        {"payment": OpOutcome(True, "a01X"), "account": OpOutcome(False, error="DUPLICATE")},
        at="2026-01-01T00:00:00Z",
        customer_id="cus_1",
    )
    assert [(r.action, r.outcome) for r in records] == [
        ("upsert", "ok"),
        ("upsert", "error"),
        ("refused", "refused"),
        ("skipped", "skipped"),
    ]
    assert records[0].record_id == "a01X" and records[0].fields == ("Amount__c",)
    assert records[1].error == "DUPLICATE"
    assert "[REDACTED]" in (records[2].error or "")
    assert verify_chain(chain_all(None, records)).ok


def test_record_to_dict_has_every_field_and_matches_asdict() -> None:
    record = AuditRecord(
        at="2024-01-01T00:00:00+00:00",
        event_id="evt_1",
        action="upsert",
        outcome="ok",
        sobject="Account",
        external_id="cus_1",
        record_id="001",
        fields=("Name", "Email"),
        error=None,
        customer_id="cus_1",
    )
    expected = asdict(record)
    expected["fields"] = ["Name", "Email"]
    assert record.to_dict() == expected
