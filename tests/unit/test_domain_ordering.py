"""Properties: whatever the delivery order and duplicates, Salesforce ends in the state of
the newest Stripe event, and re-planning is deterministic (idempotent upserts)."""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from stripe2sf.domain.config import SUBSCRIPTION_STATUS_VALUES, from_toml_text
from stripe2sf.domain.operations import Plan
from tests.unit.test_domain_support import (
    T0,
    FakeOrg,
    account_row,
    charge,
    envelope,
    run,
    subscription,
)

NO_REFETCH = from_toml_text('[sync]\nrefetch = "never"\n')
STATUSES = sorted(SUBSCRIPTION_STATUS_VALUES)


def apply(plan: Plan, store: dict[tuple[str, str], dict[str, Any]], ledger: dict[str, int]) -> None:
    """A toy Salesforce: upsert/update merge fields into the record keyed by its key."""
    for op in plan.operations:
        store.setdefault((op.sobject, op.key_value), {}).update(op.fields)
    for key, ts in plan.ledger_updates.items():
        ledger[key] = max(ts, ledger.get(key, 0))


@settings(max_examples=60, deadline=None)
@given(
    statuses=st.lists(st.sampled_from(STATUSES), min_size=1, max_size=6),
    data=st.data(),
)
def test_newest_subscription_event_wins_in_any_order(statuses: list[str], data: Any) -> None:
    events = [
        envelope(
            "customer.subscription.updated",
            subscription(status=s),
            created=T0 + i,
            event_id=f"evt_{i}",
        )
        for i, s in enumerate(statuses)
    ]
    deliveries = data.draw(st.permutations(events + data.draw(st.lists(st.sampled_from(events)))))
    store: dict[tuple[str, str], dict[str, Any]] = {}
    ledger: dict[str, int] = {}
    for raw in deliveries:
        org = FakeOrg(accounts=[account_row()], ledger=dict(ledger))
        apply(run(raw, org, NO_REFETCH), store, ledger)
    expected = SUBSCRIPTION_STATUS_VALUES[statuses[-1]]
    assert store[("Account", "cus_1")]["Subscription_Status__c"] == expected


@settings(max_examples=30, deadline=None)
@given(refunds=st.lists(st.integers(min_value=0, max_value=1999), min_size=1, max_size=5))
def test_charge_refunds_in_any_order_end_at_newest(refunds: list[int]) -> None:
    refunds = sorted(refunds)  # Stripe refunded amounts only grow
    events = [
        envelope("charge.refunded", charge(amount_refunded=r), created=T0 + i)
        for i, r in enumerate(refunds)
    ]
    store: dict[tuple[str, str], dict[str, Any]] = {}
    ledger: dict[str, int] = {}
    for raw in reversed(events):
        org = FakeOrg(accounts=[account_row()], ledger=dict(ledger))
        apply(run(raw, org), store, ledger)
    payment = store[("Stripe_Payment__c", "ch_1")]
    assert payment["Amount_Refunded__c"] * 100 == refunds[-1]


def test_planning_is_deterministic() -> None:
    org = FakeOrg(accounts=[account_row()])
    raw = envelope(
        "invoice.payment_failed",
        {
            "id": "in_9",
            "object": "invoice",
            "customer": "cus_1",
            "amount_due": 100,
            "currency": "eur",
            "attempt_count": 2,
        },
    )
    assert run(raw, org).to_json() == run(raw, org).to_json()
