"""Backfill decisions without servers: objects order, pacing, retries, synthetic events,
estimate, budget refusal, and how a run ends."""

from __future__ import annotations

import pytest

from stripe2sf.domain.backfill.plan import (
    PHASES,
    BackfillOptionError,
    Pacer,
    Tally,
    check_budget,
    default_rate,
    estimate,
    event_type_for,
    object_digest,
    parse_objects,
    stripe_retry_delay,
    synthetic_event,
    verdict,
    write_strategy,
)
from stripe2sf.domain.flows.planner import plan


def test_objects_are_put_parents_first_and_unknown_ones_refused() -> None:
    assert parse_objects(None) == PHASES
    assert parse_objects("invoices, charges,customers") == ("customers", "charges", "invoices")
    with pytest.raises(BackfillOptionError, match="refunds"):
        parse_objects("customers,refunds")


def test_default_rate_is_20_live_and_10_test() -> None:
    assert default_rate("sk_live_abc") == 20.0
    assert default_rate("rk_live_abc") == 20.0
    assert default_rate("sk_test_abc") == 10.0
    assert default_rate(None) == 10.0


def test_pacer_spaces_requests_and_holds_after_a_429() -> None:
    pacer = Pacer(rate=10)
    assert pacer.wait(100.0) == 0
    pacer.taken(100.0)
    assert pacer.wait(100.0) == pytest.approx(0.1)
    pacer.taken(100.1)
    pacer.hold(100.1, 5)
    assert pacer.wait(100.2) == pytest.approx(4.9)


def test_stripe_retries_honour_retry_after_then_back_off_then_give_up() -> None:
    assert stripe_retry_delay(1, 7.0) == 7.0
    assert [stripe_retry_delay(n, None) for n in range(1, 6)] == [1, 2, 4, 8, 16]
    assert stripe_retry_delay(6, None) is None


def test_each_object_becomes_the_event_its_state_implies() -> None:
    assert event_type_for("customers", {"id": "cus_1"})[0] == "customer.updated"
    assert event_type_for("charges", {"status": "succeeded"})[0] == "charge.succeeded"
    refunded = {"status": "succeeded", "amount_refunded": 100}
    assert event_type_for("charges", refunded)[0] == "charge.refunded"
    assert event_type_for("charges", {"status": "failed"})[0] == "charge.failed"
    assert event_type_for("charges", {"status": "pending"})[0] is None
    assert event_type_for("invoices", {"status": "paid"})[0] == "invoice.paid"
    failed = {"status": "open", "attempt_count": 2, "amount_remaining": 500}
    assert event_type_for("invoices", failed)[0] == "invoice.payment_failed"
    assert event_type_for("invoices", {"status": "draft"})[0] is None
    assert event_type_for("invoices", {"status": "void", "attempt_count": 1})[0] is None


def test_a_synthetic_event_plans_like_the_live_one() -> None:
    charge = {
        "id": "ch_1",
        "object": "charge",
        "customer": "cus_1",
        "amount": 1500,
        "currency": "jpy",
        "status": "succeeded",
        "paid": True,
        "created": 1_700_000_000,
    }
    doc = synthetic_event("charges", charge, as_of=1_800_000_000)
    assert doc is not None and doc["created"] == 1_800_000_000
    assert doc["id"] == "backfill:ch_1"
    result = plan(doc)
    [payment] = [op for op in result.operations if op.sobject == "Stripe_Payment__c"]
    assert payment.key_value == "ch_1" and payment.fields["Amount__c"] == 1500
    assert result.ledger_updates["ch_1"] == 1_800_000_000


def test_digest_ignores_volatile_fields_only() -> None:
    a = {"id": "in_1", "status": "open", "next_payment_attempt": 1}
    assert object_digest(a) == object_digest({**a, "next_payment_attempt": 2})
    assert object_digest(a) != object_digest({**a, "status": "paid"})


def test_estimate_uses_bulk_above_the_threshold_and_collections_below() -> None:
    assert write_strategy(1999, 2000) == "collections"
    assert write_strategy(2000, 2000) == "bulk"
    est = estimate(
        {"customers": 100_000, "charges": 300_000, "subscriptions": 100_000},
        bulk_threshold=2000,
        job_size=50_000,
        read_calls=4,
    )
    by = {p.phase: p for p in est.phases}
    assert [p.phase for p in est.phases] == ["customers", "subscriptions", "charges"]
    assert by["customers"].records == 200_000 and by["customers"].jobs == 4
    assert by["charges"].jobs == 6 and by["charges"].strategy == "bulk"
    assert est.total_records == 600_000
    assert est.total_calls == est.write_calls + 4 < 300
    small = estimate({"customers": 10}, bulk_threshold=2000)
    assert small.phases[0].strategy == "collections" and small.phases[0].calls == 1


def test_budget_refuses_more_than_the_allowed_share_of_what_remains() -> None:
    ok = check_budget(100, remaining=1000, max_share=0.5)
    assert ok.ok and ok.allowed == 500
    refused = check_budget(600, remaining=1000, max_share=0.5)
    assert not refused.ok and "refused" in refused.message and "600" in refused.message
    assert check_budget(10**9, remaining=None, max_share=0.5).ok


def test_a_run_that_stopped_or_left_a_phase_never_succeeds() -> None:
    tallies = {"customers": Tally(created=2)}
    assert verdict("rate limited", tallies, ["customers"], ["customers"]).status == "stopped"
    unfinished = verdict(None, tallies, ["customers"], ["customers", "charges"])
    assert unfinished.status == "stopped" and unfinished.exit_code != 0
    failed = verdict(None, {"customers": Tally(failed=1)}, ["customers"], ["customers"])
    assert failed.status == "completed_with_failures" and failed.exit_code == 1
    assert verdict(None, tallies, ["customers"], ["customers"]).exit_code == 0
