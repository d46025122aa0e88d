"""Subscriptions flow: status picklist, the several-subscriptions rule, MRR, versions."""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from stripe2sf.domain.config import from_toml_text
from stripe2sf.domain.flows.subscription_summary import summarize
from stripe2sf.domain.operations import Plan
from stripe2sf.domain.stripe_views import subscription_view
from tests.unit.test_domain_support import (
    FakeOrg,
    account_row,
    customer,
    envelope,
    ops_by_id,
    run,
    subscription,
)

ORDER = (
    "past_due",
    "unpaid",
    "active",
    "trialing",
    "paused",
    "incomplete",
    "incomplete_expired",
    "canceled",
)


def _account_fields(p: Plan) -> Mapping[str, Any]:
    ops = [op for op in p.operations if op.sobject == "Account"]
    assert len(ops) == 1
    return ops[0].fields


def test_active_subscription_sets_status_plan_quantity_mrr() -> None:
    org = FakeOrg(
        stripe={"prod_1": {"id": "prod_1", "object": "product", "name": "Pro"}},
        accounts=[account_row()],
    )
    sub = subscription()
    org.stripe["sub_1"] = sub
    p = run(envelope("customer.subscription.created", sub), org)
    fields = _account_fields(p)
    assert fields["Subscription_Status__c"] == "Active"
    assert fields["Subscription_Plan__c"] == "Pro"
    assert fields["Subscription_Quantity__c"] == 2
    assert fields["MRR__c"] == Decimal("100.00")
    assert fields["Cancel_At_Period_End__c"] is False
    assert fields["Current_Period_End__c"] == "2025-07-15"
    assert p.operations[0].key_field == "Stripe_Customer_Id__c"


def test_period_end_read_from_items_after_2025_and_top_level_before() -> None:
    new = subscription_view(subscription(new_shape=True))
    old = subscription_view(subscription(new_shape=False))
    assert new.current_period_end == old.current_period_end is not None


def test_yearly_price_mrr_is_divided_by_twelve() -> None:
    view = subscription_view(subscription(unit_amount=120000, quantity=1, interval="year"))
    assert view.mrr == Decimal("100")


def test_trialing_and_canceled_have_no_mrr() -> None:
    assert subscription_view(subscription(status="trialing")).mrr == 0
    assert subscription_view(subscription(status="canceled")).mrr == 0


def test_most_important_status_wins_with_several_subscriptions() -> None:
    subs = [
        subscription_view(subscription(sub_id="sub_a", status="active")),
        subscription_view(subscription(sub_id="sub_b", status="past_due")),
        subscription_view(subscription(sub_id="sub_c", status="canceled")),
    ]
    summary = summarize(subs, ORDER)
    assert summary is not None
    assert summary.status == "past_due"
    assert summary.primary.id == "sub_b"
    assert summary.mrr == Decimal("200.00")  # active + past_due both bill


def test_canceling_one_of_two_keeps_account_active() -> None:
    other = subscription(sub_id="sub_2", status="active")
    canceled = subscription(status="canceled")
    org = FakeOrg(stripe={"sub_1": canceled, "sub_2": other}, accounts=[account_row()])
    p = run(envelope("customer.subscription.deleted", canceled), org)
    assert _account_fields(p)["Subscription_Status__c"] == "Active"


def test_updated_after_deleted_does_not_revive() -> None:
    canceled = subscription(status="canceled")
    org = FakeOrg(
        stripe={"sub_1": canceled}, accounts=[account_row()], ledger={"sub_1": 1_750_000_200}
    )
    late = run(
        envelope(
            "customer.subscription.updated", subscription(status="active"), created=1_750_000_100
        ),
        org,
    )
    assert late.operations == ()
    assert "late event" in late.skipped[0]


def test_refetched_object_wins_over_stale_payload() -> None:
    # ledger empty (first sync) but Stripe now says canceled: refetch makes it Canceled
    org = FakeOrg(stripe={"sub_1": subscription(status="canceled")}, accounts=[account_row()])
    p = run(envelope("customer.subscription.updated", subscription(status="active")), org)
    assert _account_fields(p)["Subscription_Status__c"] == "Canceled"


def test_every_stripe_status_maps_to_the_picklist() -> None:
    expected = {
        "active": "Active",
        "trialing": "Trialing",
        "past_due": "Past Due",
        "unpaid": "Unpaid",
        "canceled": "Canceled",
        "incomplete": "Incomplete",
        "paused": "Paused",
        "incomplete_expired": "Canceled",
    }
    for status, label in expected.items():
        org = FakeOrg(accounts=[account_row()])
        p = run(envelope("customer.subscription.updated", subscription(status=status)), org)
        assert _account_fields(p)["Subscription_Status__c"] == label, status


def test_per_subscription_records_when_enabled() -> None:
    cfg = from_toml_text("[subscriptions]\nper_subscription_records = true\n")
    org = FakeOrg(accounts=[account_row()])
    ops = ops_by_id(run(envelope("customer.subscription.updated", subscription()), org, cfg))
    rec = ops["subscription"]
    assert (rec.sobject, rec.key_field, rec.key_value) == (
        "Stripe_Subscription__c",
        "Stripe_Subscription_Id__c",
        "sub_1",
    )
    assert rec.refs["Account__c"].value == "cus_1"
    assert rec.fields["Subscription_Status__c"] == "Active"


def test_subscription_for_unknown_customer_creates_the_account() -> None:
    org = FakeOrg(stripe={"cus_1": customer()})
    ops = ops_by_id(run(envelope("customer.subscription.created", subscription()), org))
    assert ops["account"].fields["Subscription_Status__c"] == "Active"
    assert ops["account"].fields["Name"] == "Ada Lovelace"
    assert "contact" in ops


def test_expanded_product_name_is_used_without_lookup() -> None:
    org = FakeOrg(accounts=[account_row()])
    sub = subscription(product={"id": "prod_9", "object": "product", "name": "Enterprise"})
    p = run(envelope("customer.subscription.updated", sub), org)
    assert _account_fields(p)["Subscription_Plan__c"] == "Enterprise"
    assert not any(lk.kind.value == "stripe.product" for lk in org.asked)


def test_mrr_is_rounded_to_the_currency_unit() -> None:
    view = subscription_view(subscription(unit_amount=10000, quantity=1, interval="year"))
    assert view.mrr == Decimal("8.33")
    weekly = subscription_view(subscription(unit_amount=1000, quantity=1, interval="week"))
    assert weekly.mrr == Decimal("43.33")  # 10 * 52 / 12
