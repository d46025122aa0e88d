"""Audit chain: each entry hashes the one before; verification finds any tampering."""

from __future__ import annotations

from dataclasses import asdict, replace
from itertools import pairwise

from stripe2sf.domain.audit import (
    GENESIS_HASH,
    AuditHead,
    AuditRecord,
    OpOutcome,
    chain,
    chain_all,
    records_from_plan,
    verify_chain,
)
from stripe2sf.domain.flows.cardguard import Refusal
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


def test_newest_entries_deleted_are_found_against_the_anchor() -> None:
    entries = chain_all(None, [rec(i) for i in range(6)])
    head = AuditHead(entries[-1].seq, entries[-1].hash)
    assert verify_chain(entries, head=head).ok
    # what remains after deleting the newest two is a sound chain: only the anchor tells
    assert verify_chain(entries[:4]).ok
    check = verify_chain(entries[:4], head=head)
    assert not check.ok and check.first_bad_seq == 5 and check.missing == 2
    assert check.checked == 4
    assert check.reason is not None
    assert "newest 2 entries (entries 5 to 6) are missing" in check.reason
    assert "deleted at the end" in check.reason
    everything = verify_chain([], head=head)
    assert not everything.ok and everything.missing == 6 and everything.first_bad_seq == 1


def test_deleted_at_the_start_or_in_the_middle_says_which_entries() -> None:
    entries = chain_all(None, [rec(i) for i in range(6)])
    head = AuditHead(entries[-1].seq, entries[-1].hash)
    middle = verify_chain([*entries[:2], *entries[4:]], head=head)
    assert (middle.ok, middle.first_bad_seq, middle.missing) == (False, 3, 2)
    assert "entries 3 to 4 missing (deleted in the middle" in (middle.reason or "")
    start = verify_chain(entries[1:], head=head)
    assert (start.ok, start.first_bad_seq, start.missing) == (False, 1, 1)
    assert "entry 1 missing (deleted at the start" in (start.reason or "")


def test_a_replaced_or_extended_end_does_not_match_the_anchor() -> None:
    entries = chain_all(None, [rec(i) for i in range(4)])
    head = AuditHead(entries[-1].seq, entries[-1].hash)
    rewritten = [*entries[:3], chain(entries[2], replace(rec(3), outcome="error"))]
    assert verify_chain(rewritten).ok  # re-hashed: sound as a chain
    check = verify_chain(rewritten, head=head)
    assert not check.ok and check.first_bad_seq == 4 and "replaced" in (check.reason or "")
    longer = [*entries, chain(entries[-1], rec(9))]
    extra = verify_chain(longer, head=head)
    assert not extra.ok and extra.first_bad_seq == 5 and "outside stripe2sf" in (extra.reason or "")
    empty = verify_chain([], head=AuditHead(0, GENESIS_HASH))
    assert empty.ok and empty.checked == 0


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
