"""Events of one charge in every order, and subjects Stripe does not know (404).

Stripe's `created` has a one-second resolution: `charge.succeeded`, `payment_intent.succeeded`,
`charge.refunded` and `charge.dispute.created` of one charge often share it and arrive in any
order. Whatever the order, the payment record ends in the charge's newest state: each event
refetches the charge, and the Stripe state it reads is modelled as the oldest it can be (only
the changes whose events were delivered so far have happened).
"""

from __future__ import annotations

from itertools import permutations
from typing import Any

import pytest

from stripe2sf.domain.config import SyncConfig, from_mapping
from stripe2sf.domain.context import Lookup, LookupKind
from stripe2sf.domain.events import parse_event
from stripe2sf.domain.flows.lookups import context_for
from stripe2sf.domain.flows.planner import plan
from stripe2sf.domain.operations import Plan
from tests.unit.test_domain_support import (
    T0,
    FakeOrg,
    account_row,
    charge,
    customer,
    envelope,
    invoice,
    run,
    subscription,
)

PI = {
    "id": "pi_1",
    "object": "payment_intent",
    "status": "succeeded",
    "amount_received": 1999,
    "currency": "usd",
    "customer": "cus_1",
    "latest_charge": "ch_1",
    "created": T0 - 5,
}


def dispute(status: str = "needs_response") -> dict[str, Any]:
    return {
        "id": "dp_1",
        "object": "dispute",
        "amount": 1999,
        "currency": "usd",
        "charge": "ch_1",
        "reason": "fraudulent",
        "status": status,
        "evidence_details": {"due_by": T0 + 7 * 86400},
    }


# Stripe's state after each change: 0 paid, 1 partly refunded, 2 disputed.
STATES: list[dict[str, dict[str, Any]]] = [
    {"ch_1": charge()},
    {"ch_1": charge(amount_refunded=500)},
    {"ch_1": charge(amount_refunded=500, disputed=True), "dp_1": dispute()},
]


def events(seconds: list[int]) -> list[tuple[int, dict[str, Any]]]:
    """(the change that made it, the event); change i happened at T0 + seconds[i]."""
    return [
        (0, envelope("charge.succeeded", charge(), created=T0 + seconds[0], event_id="evt_cs")),
        (0, envelope("payment_intent.succeeded", PI, created=T0 + seconds[0], event_id="evt_pi")),
        (
            1,
            envelope(
                "charge.refunded",
                charge(amount_refunded=500),
                created=T0 + seconds[1],
                event_id="evt_cr",
            ),
        ),
        (
            2,
            envelope(
                "charge.dispute.created", dispute(), created=T0 + seconds[2], event_id="evt_dp"
            ),
        ),
    ]


def apply(plan: Plan, store: dict[tuple[str, str], dict[str, Any]], ledger: dict[str, int]) -> None:
    """A toy Salesforce (upserts merge fields) and the ledger's never-backwards raise."""
    for op in plan.operations:
        store.setdefault((op.sobject, op.key_value), {}).update(op.fields)
    for key, ts in plan.ledger_updates.items():
        ledger[key] = max(ts, ledger.get(key, 0))


def deliver(
    order: list[tuple[int, dict[str, Any]]], states: list[dict[str, dict[str, Any]]] = STATES
) -> dict[tuple[str, str], dict[str, Any]]:
    store: dict[tuple[str, str], dict[str, Any]] = {}
    ledger: dict[str, int] = {}
    happened = 0
    for change, raw in order:
        happened = max(happened, change)  # an event is delivered after its change happened
        org = FakeOrg(accounts=[account_row()], ledger=dict(ledger), stripe=states[happened])
        apply(run(raw, org), store, ledger)
    return store


ORDERS = list(permutations(range(4)))


@pytest.mark.parametrize("seconds", [[0, 0, 0], [0, 1, 2], [0, 0, 1]], ids=str)
@pytest.mark.parametrize("order", ORDERS, ids=str)
def test_newest_charge_state_wins_whatever_the_delivery_order(
    order: tuple[int, ...], seconds: list[int]
) -> None:
    evs = events(seconds)
    delivered = [evs[i] for i in order]
    # Stripe delivers some twice, hours later (the same event, the same `created`)
    delivered += [evs[0], evs[1]]
    store = deliver(delivered)
    payment = store[("Stripe_Payment__c", "ch_1")]
    assert payment["Status__c"] == "Partially Refunded"
    assert payment["Amount_Refunded__c"] * 100 == 500
    assert ("Case", "dispute:dp_1") in store


def test_disputed_charge_without_refund_ends_disputed_in_any_order() -> None:
    states = [STATES[0], STATES[0], {"ch_1": charge(disputed=True), "dp_1": dispute()}]
    evs = [e for e in events([0, 0, 0]) if e[1]["type"] != "charge.refunded"]
    for order in permutations(evs):
        store = deliver(list(order), states)
        payment = store[("Stripe_Payment__c", "ch_1")]
        assert (payment["Status__c"], payment["Amount_Refunded__c"]) == ("Disputed", 0)


def test_old_event_added_after_newer_ones_is_skipped_without_a_stripe_call() -> None:
    # catch-up stores a charge.succeeded of an earlier second after the refund was applied
    org = FakeOrg(accounts=[account_row()], ledger={"ch_1": T0 + 5}, stripe=STATES[1])
    p = run(envelope("charge.succeeded", charge(), created=T0), org)
    assert p.operations == () and "late event" in p.skipped[0]
    assert all(lk.is_local for lk in org.asked)  # the ledger (and the links): no API call


def test_same_second_event_after_a_write_is_applied_again_from_a_fresh_read() -> None:
    org = FakeOrg(accounts=[account_row()], ledger={"ch_1": T0}, stripe=STATES[1])
    p = run(envelope("charge.succeeded", charge(), created=T0), org)
    [payment] = p.operations
    assert payment.fields["Status__c"] == "Partially Refunded"  # not the payload's Succeeded
    assert "read from Stripe now" in payment.reason


def test_dispute_is_refetched_with_its_charge_in_one_get_and_the_case_shows_its_status() -> None:
    org = FakeOrg(
        accounts=[account_row()],
        stripe={"ch_1": charge(disputed=True), "dp_1": dispute(status="lost")},
    )
    p = run(envelope("charge.dispute.created", dispute()), org)
    stripe_reads = [lk for lk in org.asked if lk.is_stripe]
    assert stripe_reads == [Lookup(LookupKind.STRIPE_REFETCH, "dispute:dp_1")]
    case = next(op for op in p.operations if op.sobject == "Case")
    assert "status: lost" in case.fields["Description"]
    payment = next(op for op in p.operations if op.sobject == "Stripe_Payment__c")
    assert payment.fields["Status__c"] == "Disputed"


def test_payment_events_cost_one_stripe_get_each() -> None:
    # PI is of API basil and later (no `invoice` key): its payment's first write also asks
    # which invoice it paid, along with the refetch; once written, one read
    for raw in [e for _, e in events([0, 0, 0])]:
        for written in (False, True):
            org = FakeOrg(
                accounts=[account_row()],
                stripe=STATES[2],
                ledger={"ch_1": T0 - 100} if written else {},
            )
            run(raw, org)
            reads = [lk for lk in org.asked if lk.is_stripe]
            asks = raw["type"] == "payment_intent.succeeded" and not written
            assert len(reads) == 1 + asks, (raw["type"], written, reads)


# ---- 404: Stripe does not know the subject --------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "unknown"),
    [
        (envelope("invoice.payment_failed", invoice(id="in_doesnotexist")), "in_doesnotexist"),
        (
            envelope("customer.subscription.updated", subscription(sub_id="sub_doesnotexist")),
            "sub_doesnotexist",
        ),
        (envelope("charge.succeeded", charge(id="ch_doesnotexist")), "ch_doesnotexist"),
        (envelope("charge.refunded", charge(id="ch_doesnotexist")), "ch_doesnotexist"),
        (envelope("payment_intent.succeeded", {**PI, "latest_charge": "ch_doesnotexist"}), "ch_"),
        (envelope("charge.dispute.created", {**dispute(), "id": "dp_doesnotexist"}), "dp_"),
        (envelope("customer.updated", customer(id="cus_doesnotexist")), "cus_doesnotexist"),
    ],
    ids=lambda v: v if isinstance(v, str) else v["type"],
)
def test_subject_unknown_to_stripe_writes_nothing_and_says_why(
    raw: dict[str, Any], unknown: str
) -> None:
    org = FakeOrg(
        stripe={"cus_1": customer()},
        missing={"in_doesnotexist", "sub_doesnotexist", "ch_doesnotexist", "dp_doesnotexist"}
        | {"cus_doesnotexist"},
    )
    p = run(raw, org)
    assert p.operations == ()
    assert len(p.skipped) == 1 and "404" in p.skipped[0] and unknown in p.skipped[0]
    assert "nothing written" in p.skipped[0]
    # decided once the refetch answered: nothing is read after it (no customer fetch, no
    # email search, no email claim), only what was asked along with it
    assert {lk.kind for lk in org.asked} <= {
        LookupKind.LEDGER,
        LookupKind.LINKED,
        LookupKind.STRIPE_REFETCH,
        LookupKind.STRIPE_PAYMENT_INVOICE,  # a basil payment intent's, asked with its refetch
        LookupKind.SF_ACCOUNT_BY_CUSTOMER,
        LookupKind.SF_CONTACT_BY_CUSTOMER,
        LookupKind.STRIPE_SUBSCRIPTIONS,  # a subscription's siblings, read with its refetch
        LookupKind.STRIPE_PRODUCT,
    }


def test_planner_given_a_none_refetch_plans_nothing() -> None:
    view = parse_event(envelope("invoice.payment_failed", invoice()))
    config = SyncConfig()
    ctx = context_for(config).with_results(
        {
            Lookup(LookupKind.LEDGER, "in_1"): None,
            Lookup(LookupKind.STRIPE_REFETCH, "invoice:in_1"): None,
            Lookup(LookupKind.SF_ACCOUNT_BY_CUSTOMER, "cus_1"): [account_row()],
            Lookup(LookupKind.SF_CONTACT_BY_CUSTOMER, "cus_1"): [],
        }
    )
    p = plan(view, ctx, config)
    assert p.operations == () and "Stripe does not know invoice in_1 (404)" in p.skipped[0]
    assert p.ledger_updates == {}


def test_unknown_customer_of_a_known_object_writes_nothing() -> None:
    # a charge Stripe knows but whose customer it answers 404 for: no Account named after it
    org = FakeOrg(stripe={"ch_1": charge(customer="cus_gone")}, missing={"cus_gone"})
    p = run(envelope("charge.succeeded", charge(customer="cus_gone")), org)
    assert p.operations == () and "customer cus_gone (404)" in p.skipped[0]


def test_deleted_customer_is_not_a_404() -> None:
    stub = {"id": "cus_1", "object": "customer", "deleted": True}
    # customer.deleted is final: not refetched, the deletion is marked on the linked Account
    gone = run(envelope("customer.deleted", customer()), FakeOrg(accounts=[account_row()]))
    assert not any("404" in s for s in gone.skipped)
    assert any(op.sobject == "Account" for op in gone.operations)
    # an older customer.updated planned after the deletion reads the stub, not a 404
    later = run(
        envelope("customer.updated", customer()),
        FakeOrg(accounts=[account_row()], stripe={"cus_1": stub}),
    )
    assert not any("404" in s for s in later.skipped)


# ---- the invoice of a payment, API 2025-03-31.basil and later --------------------------------


def basil_charge(**kw: Any) -> dict[str, Any]:
    """A charge as API basil and later write it: no `invoice` key at all."""
    return {k: v for k, v in charge(**kw).items() if k != "invoice"}


def test_a_basil_payments_first_write_names_the_invoice_stripe_says_it_paid() -> None:
    org = FakeOrg(accounts=[account_row()], payment_invoices={"pi_1": "in_1"})
    p = run(envelope("charge.succeeded", basil_charge()), org)
    assert Lookup(LookupKind.STRIPE_PAYMENT_INVOICE, "pi_1") in org.asked
    payment = next(op for op in p.operations if op.sobject == "Stripe_Payment__c")
    assert payment.fields["Invoice_Id__c"] == "in_1"


def test_a_written_payment_is_not_asked_again_and_keeps_its_invoice() -> None:
    org = FakeOrg(
        accounts=[account_row()], ledger={"ch_1": T0 - 100}, payment_invoices={"pi_1": "in_1"}
    )
    p = run(envelope("charge.refunded", basil_charge(amount_refunded=500, refunded=False)), org)
    assert all(lk.kind != LookupKind.STRIPE_PAYMENT_INVOICE for lk in org.asked)
    payment = next(op for op in p.operations if op.sobject == "Stripe_Payment__c")
    assert "Invoice_Id__c" not in payment.fields  # left as the first write made it


def test_a_payment_of_no_invoice_asks_once_and_writes_none() -> None:
    org = FakeOrg(accounts=[account_row()])
    p = run(envelope("charge.succeeded", basil_charge()), org)
    assert Lookup(LookupKind.STRIPE_PAYMENT_INVOICE, "pi_1") in org.asked
    payment = next(op for op in p.operations if op.sobject == "Stripe_Payment__c")
    assert "Invoice_Id__c" not in payment.fields


def test_an_older_charge_says_its_invoice_itself() -> None:
    for named in (None, "in_9"):
        org = FakeOrg(accounts=[account_row()], payment_invoices={"pi_1": "in_1"})
        p = run(envelope("charge.succeeded", charge(invoice=named)), org)
        assert all(lk.kind != LookupKind.STRIPE_PAYMENT_INVOICE for lk in org.asked)
        payment = next(op for op in p.operations if op.sobject == "Stripe_Payment__c")
        assert payment.fields.get("Invoice_Id__c") == named


def test_without_the_invoice_mapping_nothing_is_asked() -> None:
    amount_only = [{"source": "charge.amount", "target": "Stripe_Payment__c.Amount__c"}]
    config = from_mapping({"replace_default_mappings": True, "mappings": amount_only})
    org = FakeOrg(accounts=[account_row()], payment_invoices={"pi_1": "in_1"})
    run(envelope("charge.succeeded", basil_charge()), org, config)
    assert all(lk.kind != LookupKind.STRIPE_PAYMENT_INVOICE for lk in org.asked)
