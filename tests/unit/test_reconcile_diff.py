"""The reconciliation diff without servers: each kind of drift, totals, and the renderings."""

from __future__ import annotations

from typing import Any

from stripe2sf.domain.config import default_config, from_mapping
from stripe2sf.domain.reconcile.drift import (
    SalesforceSide,
    StripeSide,
    contact_review_key,
    diff,
    review_plan,
    soql_queries,
    unlisted_customers,
)

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
                "Status__c": "Succeeded",
                "Amount_Refunded__c": 0.0,
            },
            {
                "Id": "a02",
                "Stripe_Charge_Id__c": "ch_2",
                "Amount__c": 500,
                "Currency__c": "JPY",
                "Paid_At__c": "2026-05-28T20:26:40.000+0000",
                "Status__c": "Succeeded",
                "Amount_Refunded__c": 0,
            },
            {
                "Id": "a03",
                "Stripe_Charge_Id__c": "ch_3",
                "Amount__c": 7.0,
                "Currency__c": "USD",
                "Paid_At__c": "2026-05-28T20:26:40.000+0000",
                "Status__c": "Failed",
                "Amount_Refunded__c": 0,
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
        "customers with a card": 0,
        "deleted customers": 0,
        "emails of linked Contacts": 0,
        "succeeded charges": 2,
        "failed charges": 1,
        "disputes": 0,
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
                "Status__c": "Succeeded",
            },
            sf_side().payments[2],
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
    assert csv_text.count("payment_missing") == 3  # the failed charge's record too
    page = report.to_html()
    assert "&lt;now&gt;" in page and "<now>" not in page
    assert "difference(s) found" in page and "ch_2" in page


def _payment(charge: str, **fields: Any) -> dict[str, Any]:
    return {
        "Id": f"a_{charge}",
        "Stripe_Charge_Id__c": charge,
        "Currency__c": "USD",
        "Paid_At__c": "2026-05-28T20:26:40.000+0000",
        **fields,
    }


def _charge(charge: str, **fields: Any) -> dict[str, Any]:
    return {
        "id": charge,
        "customer": "cus_a",
        "amount": 1000,
        "currency": "usd",
        "status": "succeeded",
        "created": DAY,
        **fields,
    }


def test_payment_status_refunded_amount_and_disputes_are_compared() -> None:
    stripe = stripe_side()
    stripe.charges = [
        _charge("ch_ok"),
        _charge("ch_refunded", amount_refunded=1000, refunded=True),
        _charge("ch_partial", amount_refunded=250),
        _charge("ch_disputed", disputed=True),
        _charge("ch_failed", status="failed"),
        _charge("ch_pending", status="pending"),  # nothing written yet: not compared
    ]
    stripe.disputes = [
        {"id": "dp_1", "charge": "ch_disputed", "amount": 1000, "currency": "usd"},
        # closed: no work to do, its Case is not required (a backfilled history has none)
        {"id": "dp_old", "charge": "ch_ok", "status": "lost", "amount": 1, "currency": "usd"},
    ]
    # what a payment_intent.succeeded applied out of order leaves: all "Succeeded, refunded 0"
    sf = sf_side(
        payments=[
            _payment(c, Amount__c=10, Status__c="Succeeded", Amount_Refunded__c=0)
            for c in ("ch_ok", "ch_refunded", "ch_partial", "ch_disputed", "ch_failed")
        ]
    )
    report = diff(stripe, sf, default_config())
    got = {(d.kind, d.stripe_id): (d.expected, d.actual) for d in report.items}
    assert got == {
        ("payment_status", "ch_refunded"): ("Refunded", "Succeeded"),
        ("payment_refunded", "ch_refunded"): ("10.00 USD", "0.00 USD"),
        ("payment_status", "ch_partial"): ("Partially Refunded", "Succeeded"),
        ("payment_refunded", "ch_partial"): ("2.50 USD", "0.00 USD"),
        ("payment_status", "ch_disputed"): ("Disputed", "Succeeded"),
        ("dispute_missing", "dp_1"): ("a Case for the dispute on ch_disputed", "none"),
        ("payment_status", "ch_failed"): ("Failed", "Succeeded"),
    }, report.to_csv()
    fixes = {d.fix_object for d in report.fixable()}
    assert fixes == {
        "charges:ch_refunded",
        "charges:ch_partial",
        "charges:ch_disputed",
        "charges:ch_failed",
        "disputes:dp_1",
    }
    assert report.checked["failed charges"] == 1 and report.checked["disputes"] == 2
    # the daily total counts succeeded charges only; the failed one's amount is not in it
    assert [(t.currency, str(t.stripe), str(t.salesforce)) for t in report.totals] == [
        ("USD", "40.00", "40.00")
    ]

    repaired = sf_side(
        payments=[
            _payment("ch_ok", Amount__c=10, Status__c="Succeeded", Amount_Refunded__c=0),
            _payment("ch_refunded", Amount__c=10, Status__c="Refunded", Amount_Refunded__c=10),
            _payment(
                "ch_partial", Amount__c=10, Status__c="Partially Refunded", Amount_Refunded__c=2.5
            ),
            _payment("ch_disputed", Amount__c=10, Status__c="Disputed", Amount_Refunded__c=0),
            _payment("ch_failed", Amount__c=10, Status__c="Failed", Amount_Refunded__c=0),
        ],
        disputes=[{"Id": "500d", "Stripe_Dedupe_Key__c": "dispute:dp_1"}],
    )
    assert diff(stripe, repaired, default_config()).clean


def test_a_failed_charge_without_its_record_and_a_doubled_record_are_found() -> None:
    stripe = stripe_side()
    stripe.charges = [_charge("ch_failed", status="failed"), _charge("ch_ok")]
    sf = sf_side(
        payments=[
            _payment("ch_ok", Amount__c=10, Status__c="Succeeded"),
            {**_payment("ch_ok", Amount__c=10, Status__c="Succeeded"), "Id": "a_other"},
        ]
    )
    report = diff(stripe, sf, default_config())
    by = {d.kind: d for d in report.items if d.kind.startswith("payment")}
    assert set(by) == {"payment_missing", "payment_duplicated"}
    assert by["payment_missing"].stripe_id == "ch_failed"
    assert by["payment_missing"].fix_object == "charges:ch_failed"
    assert not by["payment_duplicated"].fixable  # a person decides which record is real
    assert by["payment_duplicated"].salesforce_id == "a_ch_ok, a_other"


def test_refunded_amount_and_disputes_are_not_checked_when_not_mapped_or_off() -> None:
    config = from_mapping(
        {
            "replace_default_mappings": True,
            "mappings": [
                {
                    "source": "charge.amount",
                    "target": "Stripe_Payment__c.Amount__c",
                    "transform": "money",
                },
                {
                    "source": "charge.currency",
                    "target": "Stripe_Payment__c.Currency__c",
                    "transform": "upper",
                },
            ],
            "disputes": {"enabled": False},
        }
    )
    queries = soql_queries(config)
    assert "Amount_Refunded__c" not in queries["payments"] and "disputes" not in queries
    assert "Card_Last4__c" not in queries["accounts"]
    stripe = stripe_side()
    stripe.charges = [_charge("ch_refunded", amount_refunded=1000, refunded=True)]
    stripe.disputes = [{"id": "dp_1", "charge": "ch_refunded", "amount": 1, "currency": "usd"}]
    sf = sf_side(payments=[_payment("ch_refunded", Amount__c=10)])
    kinds = set(diff(stripe, sf, config).counts())
    assert not kinds & {"payment_refunded", "dispute_missing", "payment_status"}


def _with_card(customer: str, last4: str = "4242") -> dict[str, Any]:
    return {
        "id": customer,
        "invoice_settings": {
            "default_payment_method": {
                "id": f"pm_{customer}",
                "object": "payment_method",
                "type": "card",
                "customer": customer,
                "card": {"brand": "visa", "last4": last4, "exp_month": 12, "exp_year": 2030},
            }
        },
    }


def test_card_on_file_is_compared_with_the_default_card() -> None:
    stripe = stripe_side()
    stripe.customers = [_with_card("cus_a"), _with_card("cus_b"), {"id": "cus_c"}]
    card = {
        "Card_Brand__c": "visa",
        "Card_Last4__c": "4242",
        "Card_Exp_Month__c": 12.0,
        "Card_Exp_Year__c": 2030.0,
    }
    accounts = [{**a, **card} for a in sf_side().accounts]
    accounts[1] = {**accounts[1], "Card_Last4__c": "0005"}
    report = diff(stripe, sf_side(accounts=accounts), default_config())
    [item] = report.items
    assert (item.kind, item.customer_id, item.salesforce_id) == ("card_on_file", "cus_b", "001b")
    assert (item.expected, item.actual) == ("Card_Last4__c=4242", "Card_Last4__c=0005")
    assert item.fix_object == "payment_methods:pm_cus_b"
    assert report.checked["customers with a card"] == 2
    # a customer list read without expanding the default payment method checks nothing
    stripe.customers = [
        {"id": "cus_a", "invoice_settings": {"default_payment_method": "pm_1"}},
        {"id": "cus_b"},
        {"id": "cus_c"},
    ]
    assert diff(stripe, sf_side(accounts=accounts), default_config()).clean


def test_deleted_customers_must_be_marked_and_unknown_ones_are_listed() -> None:
    stripe = stripe_side()
    accounts = [
        *sf_side().accounts,
        {"Id": "001d", "Stripe_Customer_Id__c": "cus_gone", "Stripe_Customer_Deleted__c": False},
        {"Id": "001e", "Stripe_Customer_Id__c": "cus_marked", "Stripe_Customer_Deleted__c": True},
        {"Id": "001f", "Stripe_Customer_Id__c": "cus_unknown"},
    ]
    sf = sf_side(accounts=accounts)
    # only unlisted, unmarked customers are read one by one
    assert unlisted_customers(stripe, sf, default_config()) == ["cus_gone", "cus_unknown"]
    stripe.deleted_customers = ["cus_gone"]
    stripe.unknown_customers = ["cus_unknown"]
    report = diff(stripe, sf, default_config())
    by = {d.kind: d for d in report.items}
    assert set(by) == {"customer_deleted", "account_orphaned"}
    assert by["customer_deleted"].fix_object == "deleted_customers:cus_gone"
    assert by["customer_deleted"].salesforce_id == "001d"
    assert not by["account_orphaned"].is_drift and not by["account_orphaned"].fixable
    assert len(report.drift) == 1
    marked = [
        {**a, "Stripe_Customer_Deleted__c": True} if a["Id"] == "001d" else a for a in accounts
    ]
    assert diff(stripe, sf_side(accounts=marked), default_config()).drift == []


def test_duplicate_contacts_are_reported_and_get_one_review_task_never_a_delete() -> None:
    contacts = [
        {"Id": "003a", "Email": "Pat@Example.com", "Stripe_Customer_Id__c": "cus_a"},
        {"Id": "003b", "Email": "pat@example.com ", "Stripe_Customer_Id__c": "cus_b"},
        {"Id": "003c", "Email": "pat@example.com", "Stripe_Customer_Id__c": None},  # not ours
        {"Id": "003d", "Email": "solo@example.com", "Stripe_Customer_Id__c": "cus_c"},
    ]
    report = diff(stripe_side(), sf_side(contacts=contacts), default_config())
    [item] = report.drift
    assert item.kind == "contact_duplicated" and not item.fixable
    assert (item.stripe_id, item.customer_id, item.salesforce_id) == (
        "pat@example.com",
        "cus_a, cus_b",
        "003a, 003b",
    )
    assert item.review_key == contact_review_key("PAT@example.com")
    assert len(item.review_key or "") <= 255
    plan = review_plan(report, default_config())
    assert plan is not None
    [op] = plan.operations
    assert (op.sobject, op.action, op.key_value) == ("Task", "upsert", item.review_key)
    assert "003a, 003b" in str(op.fields["Description"])
    # once the Task exists, --fix opens no other; the duplicates stay in the report
    task = {"Id": "00Tr", "Stripe_Dedupe_Key__c": item.review_key, "IsClosed": False}
    again = diff(stripe_side(), sf_side(contacts=contacts, reviews=[task]), default_config())
    [still] = again.drift
    assert still.review_key is None and "review Task 00Tr open" in still.actual
    assert review_plan(again, default_config()) is None
