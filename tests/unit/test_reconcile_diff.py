"""The reconciliation diff without servers: each kind of drift, totals, and the renderings."""

from __future__ import annotations

from typing import Any

from stripe2sf.domain.config import default_config
from stripe2sf.domain.reconcile import SalesforceSide, StripeSide, diff

DAY = 1_780_000_000


def stripe_side() -> StripeSide:
    return StripeSide(
        customers=[{"id": "cus_a"}, {"id": "cus_b"}, {"id": "cus_c"}],
        subscriptions=[
            {"id": "sub_a", "customer": "cus_a", "status": "active", "created": DAY},
            {"id": "sub_b", "customer": "cus_b", "status": "past_due", "created": DAY},
        ],
        charges=[
            {
                "id": "ch_1",
                "customer": "cus_a",
                "amount": 1000,
                "currency": "usd",
                "status": "succeeded",
                "created": DAY,
            },
            {
                "id": "ch_2",
                "customer": "cus_b",
                "amount": 500,
                "currency": "jpy",
                "status": "succeeded",
                "created": DAY,
            },
            {
                "id": "ch_3",
                "customer": "cus_b",
                "amount": 700,
                "currency": "usd",
                "status": "failed",
                "created": DAY,
            },
        ],
        invoices=[
            {
                "id": "in_open",
                "customer": "cus_b",
                "status": "open",
                "attempt_count": 1,
                "amount_remaining": 500,
            },
            {"id": "in_paid", "customer": "cus_a", "status": "paid"},
        ],
    )


def sf_side(**changes: Any) -> SalesforceSide:
    side = SalesforceSide(
        accounts=[
            {"Id": "001a", "Stripe_Customer_Id__c": "cus_a", "Subscription_Status__c": "Active"},
            {"Id": "001b", "Stripe_Customer_Id__c": "cus_b", "Subscription_Status__c": "Past Due"},
            {"Id": "001c", "Stripe_Customer_Id__c": "cus_c", "Subscription_Status__c": None},
        ],
        payments=[
            {
                "Id": "a01",
                "Stripe_Charge_Id__c": "ch_1",
                "Amount__c": 10.0,
                "Currency__c": "USD",
                "Paid_At__c": "2026-05-28T20:26:40.000+0000",
            },
            {
                "Id": "a02",
                "Stripe_Charge_Id__c": "ch_2",
                "Amount__c": 500,
                "Currency__c": "JPY",
                "Paid_At__c": "2026-05-28T20:26:40.000+0000",
            },
        ],
        dunning=[{"Id": "00T1", "Stripe_Dedupe_Key__c": "in_open:1", "IsClosed": False}],
        reviews=[],
    )
    for name, value in changes.items():
        setattr(side, name, value)
    return side


def test_two_systems_in_step_have_no_drift() -> None:
    report = diff(stripe_side(), sf_side(), default_config(), at="now")
    assert report.clean, report.to_csv()
    assert report.checked == {
        "customers": 3,
        "customers with subscriptions": 2,
        "succeeded charges": 2,
        "invoices": 2,
    }
    assert {(t.currency, str(t.stripe)) for t in report.totals} == {
        ("USD", "10.00"),
        ("JPY", "500"),
    }


def test_each_kind_of_drift_is_found_with_what_repairs_it() -> None:
    sf = sf_side(
        accounts=[
            {"Id": "001a", "Stripe_Customer_Id__c": "cus_a", "Subscription_Status__c": "Canceled"},
            {"Id": "001b1", "Stripe_Customer_Id__c": "cus_b", "Subscription_Status__c": "Past Due"},
            {"Id": "001b2", "Stripe_Customer_Id__c": "cus_b", "Subscription_Status__c": "Past Due"},
        ],
        payments=[
            {
                "Id": "a01",
                "Stripe_Charge_Id__c": "ch_1",
                "Amount__c": 1000,
                "Currency__c": "USD",
                "Paid_At__c": "2026-05-28T20:26:40.000+0000",
            },
        ],
        dunning=[{"Id": "00T9", "Stripe_Dedupe_Key__c": "in_paid:1", "IsClosed": False}],
    )
    report = diff(stripe_side(), sf, default_config())
    by = {d.kind: d for d in report.items}
    assert set(by) == {
        "account_missing",
        "account_duplicated",
        "subscription_status",
        "payment_mismatch",
        "payment_missing",
        "daily_total",
        "dunning_missing",
        "dunning_stale",
    }
    assert by["account_missing"].fix_object == "customers:cus_c"
    assert not by["account_duplicated"].fixable  # a person decides which Account stays
    assert (by["subscription_status"].expected, by["subscription_status"].actual) == (
        "Active",
        "Canceled",
    )
    assert by["payment_mismatch"].expected == "10.00 USD"
    assert by["payment_missing"].fix_object == "charges:ch_2"
    assert by["dunning_missing"].fix_object == "invoices:in_open"
    assert by["dunning_stale"].fix_object == "invoices:in_paid"
    assert not by["daily_total"].fixable
    assert len(report.fixable()) == 6


def test_a_customer_waiting_for_review_is_listed_but_is_not_drift() -> None:
    sf = sf_side(
        accounts=[a for a in sf_side().accounts if a["Stripe_Customer_Id__c"] != "cus_c"],
        reviews=[{"Id": "00T2", "Stripe_Dedupe_Key__c": "review:cus_c"}],
    )
    report = diff(stripe_side(), sf, default_config())
    assert report.clean and report.counts() == {"in_review": 1}


def test_renderings_escape_and_carry_every_item() -> None:
    sf = sf_side(payments=[])
    report = diff(stripe_side(), sf, default_config(), at="2026-11-27 <now>")
    csv_text = report.to_csv()
    assert csv_text.splitlines()[0].startswith("kind,stripe_id")
    assert csv_text.count("payment_missing") == 2
    page = report.to_html()
    assert "&lt;now&gt;" in page and "<now>" not in page
    assert "difference(s) found" in page and "ch_2" in page
