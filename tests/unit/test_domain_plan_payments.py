"""Payments flow: linking, matching, creating, currency-aware amounts, refunds, disputes."""

from __future__ import annotations

from dataclasses import replace
from decimal import Decimal

from stripe2sf.domain.config import from_toml_text
from stripe2sf.domain.context import LookupKind
from stripe2sf.domain.operations import RecordRef
from tests.unit.test_domain_support import (
    FakeOrg,
    account_row,
    charge,
    contact_row,
    customer,
    envelope,
    ops_by_id,
    run,
)


def test_linked_account_gets_only_the_payment_with_external_id_refs() -> None:
    org = FakeOrg(accounts=[account_row()], contacts=[contact_row(customer_id="cus_1")])
    p = run(envelope("charge.succeeded", charge()), org)
    assert [op.op_id for op in p.operations] == ["payment"]
    pay = p.operations[0]
    assert pay.action == "upsert"
    assert (pay.sobject, pay.key_field, pay.key_value) == (
        "Stripe_Payment__c",
        "Stripe_Charge_Id__c",
        "ch_1",
    )
    assert pay.fields["Amount__c"] == Decimal("19.99")
    assert pay.fields["Currency__c"] == "USD"
    assert pay.fields["Status__c"] == "Succeeded"
    assert pay.fields["Card_Brand__c"] == "visa"
    assert pay.fields["Card_Last4__c"] == "4242"
    assert pay.fields["Paid_At__c"].endswith("Z")
    assert pay.refs["Account__c"] == RecordRef("Account", "Stripe_Customer_Id__c", "cus_1")
    assert pay.refs["Contact__c"] == RecordRef("Contact", "Stripe_Customer_Id__c", "cus_1")
    assert p.ledger_updates == {"ch_1": 1_750_000_000}


def test_jpy_has_no_cents_and_kwd_has_three_decimals() -> None:
    org = FakeOrg(accounts=[account_row()])
    jpy = run(envelope("charge.succeeded", charge(amount=5000, currency="jpy")), org)
    assert jpy.operations[0].fields["Amount__c"] == Decimal(5000)
    kwd = run(envelope("charge.succeeded", charge(amount=12340, currency="kwd")), org)
    assert kwd.operations[0].fields["Amount__c"] == Decimal("12.340")


def test_existing_contact_is_linked_not_duplicated() -> None:
    org = FakeOrg(stripe={"cus_1": customer()}, contacts=[contact_row()])
    p = run(envelope("charge.succeeded", charge()), org)
    ops = ops_by_id(p)
    assert set(ops) == {"link_account", "link_contact", "payment"}
    link_contact = ops["link_contact"]
    assert (link_contact.action, link_contact.key_field, link_contact.key_value) == (
        "update",
        "Id",
        "003A",
    )
    assert link_contact.fields == {"Stripe_Customer_Id__c": "cus_1"}
    assert ops["link_account"].key_value == "001A"
    assert ops["link_account"].fields == {"Stripe_Customer_Id__c": "cus_1"}
    assert set(ops["payment"].depends_on) == {"link_account", "link_contact"}
    # no create-only field (Name) is written to an existing record
    assert "Name" not in ops["link_account"].fields


def test_email_match_is_case_insensitive_and_exact() -> None:
    org = FakeOrg(
        stripe={"cus_1": customer(email="ADA@example.COM")},
        contacts=[
            contact_row(email="ada@example.com"),
            contact_row("003B", email="ada@example.co"),
        ],
    )
    ops = ops_by_id(run(envelope("charge.succeeded", charge()), org))
    assert ops["link_contact"].key_value == "003A"


def test_new_customer_creates_one_account_and_one_contact() -> None:
    org = FakeOrg(stripe={"cus_1": customer()})
    p = run(envelope("charge.succeeded", charge()), org)
    ops = ops_by_id(p)
    assert set(ops) == {"account", "contact", "payment"}
    acc, con = ops["account"], ops["contact"]
    assert (acc.action, acc.key_field, acc.key_value) == (
        "upsert",
        "Stripe_Customer_Id__c",
        "cus_1",
    )
    assert acc.fields["Name"] == "Ada Lovelace"
    assert con.fields == {"Email": "Ada@Example.com", "FirstName": "Ada", "LastName": "Lovelace"}
    assert con.refs["AccountId"] == RecordRef("Account", "Stripe_Customer_Id__c", "cus_1")
    assert con.depends_on == ("account",)


def test_several_contacts_oldest_rule() -> None:
    cfg = from_toml_text('[matching]\nmultiple_contacts = "oldest"\n')
    org = FakeOrg(
        stripe={"cus_1": customer()},
        contacts=[
            contact_row("003NEW", created="2023-01-01T00:00:00.000+0000"),
            contact_row("003OLD", created="2019-01-01T00:00:00.000+0000", account_id="001B"),
        ],
    )
    ops = ops_by_id(run(envelope("charge.succeeded", charge()), org, cfg))
    assert ops["link_contact"].key_value == "003OLD"
    assert ops["link_account"].key_value == "001B"


def test_several_contacts_most_recently_active_rule() -> None:
    cfg = from_toml_text('[matching]\nmultiple_contacts = "most_recently_active"\n')
    org = FakeOrg(
        stripe={"cus_1": customer()},
        contacts=[
            contact_row("003X", last_activity="2024-01-01"),
            contact_row("003Y", last_activity="2025-06-01"),
            contact_row("003Z", last_activity=None),
        ],
    )
    ops = ops_by_id(run(envelope("charge.succeeded", charge()), org, cfg))
    assert ops["link_contact"].key_value == "003Y"


def test_several_contacts_review_queue_creates_a_task_and_links_nothing() -> None:
    cfg = from_toml_text('[matching]\nmultiple_contacts = "review"\nreview_owner_id = "005REV"\n')
    org = FakeOrg(stripe={"cus_1": customer()}, contacts=[contact_row(), contact_row("003B")])
    p = run(envelope("charge.succeeded", charge()), org, cfg)
    ops = ops_by_id(p)
    assert set(ops) == {"review", "payment"}
    review = ops["review"]
    assert (review.sobject, review.key_field, review.key_value) == (
        "Task",
        "Stripe_Dedupe_Key__c",
        "review:cus_1",
    )
    assert review.fields["OwnerId"] == "005REV"
    assert "003A" in review.fields["Description"] and "003B" in review.fields["Description"]
    assert ops["payment"].refs == {}
    assert any("review" in n for n in p.notes)
    assert LookupKind.SF_REVIEW_TASK in {lk.kind for lk in org.asked}


def test_existing_review_task_is_not_recreated() -> None:
    org = FakeOrg(
        stripe={"cus_1": customer()},
        contacts=[contact_row(), contact_row("003B")],
        dunning=[{"Id": "00T9", "Stripe_Dedupe_Key__c": "review:cus_1", "CreatedDate": None}],
    )
    p = run(envelope("charge.succeeded", charge()), org)
    assert [op.op_id for op in p.operations] == ["payment"]
    assert any("awaits review" in n for n in p.notes)


def test_domain_match_when_enabled_ignores_free_mail() -> None:
    cfg = from_toml_text("[matching]\nby_domain = true\n")
    org = FakeOrg(
        stripe={"cus_1": customer(email="ceo@acme.io")},
        accounts=[account_row("001ACME", customer_id=None, Website="https://www.acme.io/about")],
    )
    ops = ops_by_id(run(envelope("charge.succeeded", charge()), org, cfg))
    assert ops["link_account"].key_value == "001ACME"
    assert ops["contact"].refs["AccountId"].value == "cus_1"

    gmail = FakeOrg(
        stripe={"cus_1": customer(email="someone@gmail.com")},
        accounts=[account_row("001G", customer_id=None, Website="gmail.com")],
    )
    ops = ops_by_id(run(envelope("charge.succeeded", charge()), gmail, cfg))
    assert "link_account" not in ops and "account" in ops


def test_charge_refunded_updates_amount_and_status() -> None:
    org = FakeOrg(accounts=[account_row()])
    p = run(envelope("charge.refunded", charge(amount_refunded=999, refunded=False)), org)
    pay = p.operations[0]
    assert pay.fields["Amount_Refunded__c"] == Decimal("9.99")
    assert pay.fields["Status__c"] == "Partially Refunded"
    full = run(envelope("charge.refunded", charge(amount_refunded=1999, refunded=True)), org)
    assert full.operations[0].fields["Status__c"] == "Refunded"


def test_charge_failed_records_failed_status() -> None:
    org = FakeOrg(accounts=[account_row()])
    c = charge(status="failed", paid=False, failure_message="Your card was declined.")
    pay = run(envelope("charge.failed", c), org).operations[0]
    assert pay.fields["Status__c"] == "Failed"
    assert pay.fields["Failure_Message__c"] == "Your card was declined."


def test_payment_intent_uses_charge_id_as_key_so_it_merges_with_charge_event() -> None:
    org = FakeOrg(accounts=[account_row()])
    pi = {
        "id": "pi_1",
        "object": "payment_intent",
        "status": "succeeded",
        "amount_received": 1999,
        "currency": "usd",
        "customer": "cus_1",
        "latest_charge": "ch_1",
        "created": 1_750_000_000,
    }
    p = run(envelope("payment_intent.succeeded", pi), replace(org, stripe={"ch_1": charge()}))
    assert p.operations[0].key_value == "ch_1"
    old = {**pi, "latest_charge": None, "charges": {"object": "list", "data": [charge()]}}
    p_old = run(envelope("payment_intent.succeeded", old, api_version="2020-08-27"), org)
    assert p_old.operations[0].key_value == "ch_1"
    assert p_old.operations[0].fields["Card_Last4__c"] == "4242"


def test_old_api_charge_card_from_source() -> None:
    c = charge(
        payment_method_details=None, source={"object": "card", "brand": "Visa", "last4": "1881"}
    )
    org = FakeOrg(accounts=[account_row()])
    pay = run(envelope("charge.succeeded", c, api_version="2016-07-06"), org).operations[0]
    assert (pay.fields["Card_Brand__c"], pay.fields["Card_Last4__c"]) == ("Visa", "1881")


def test_dispute_opens_a_case_for_the_account_owner() -> None:
    org = FakeOrg(stripe={"ch_1": charge()}, accounts=[account_row(owner="005BOSS")])
    dispute = {
        "id": "dp_1",
        "object": "dispute",
        "amount": 1999,
        "currency": "usd",
        "charge": "ch_1",
        "reason": "fraudulent",
        "status": "needs_response",
        "evidence_details": {"due_by": 1_750_500_000},
    }
    p = run(envelope("charge.dispute.created", dispute), org)
    case = ops_by_id(p)["dispute_case"]
    assert (case.sobject, case.key_value) == ("Case", "dispute:dp_1")
    assert case.fields["OwnerId"] == "005BOSS"
    assert case.fields["Priority"] == "High"
    assert "19.99 USD" in case.fields["Subject"]
    assert case.refs["AccountId"].value == "cus_1"
    payment = ops_by_id(p)["payment"]
    assert payment.fields["Status__c"] == "Disputed"
    assert p.ledger_updates.keys() == {"dp_1", "ch_1"}


def test_late_event_is_skipped() -> None:
    org = FakeOrg(accounts=[account_row()], ledger={"ch_1": 1_750_000_100})
    p = run(envelope("charge.succeeded", charge(), created=1_750_000_000), org)
    assert p.operations == ()
    assert "late event" in p.skipped[0]


def test_same_timestamp_is_applied_again_idempotently() -> None:
    org = FakeOrg(accounts=[account_row()], ledger={"ch_1": 1_750_000_000})
    a = run(envelope("charge.succeeded", charge(), created=1_750_000_000), org)
    b = run(envelope("charge.succeeded", charge(), created=1_750_000_000), org)
    assert a.operations == b.operations and len(a.operations) == 1


def test_smuggled_card_number_in_metadata_never_leaves() -> None:
    cfg = from_toml_text(
        '[[mappings]]\nsource = "charge.metadata.note"\ntarget = "Stripe_Payment__c.Note__c"\n'
    )
    org = FakeOrg(accounts=[account_row()])
    c = charge(metadata={"note": "card 4242 4242 4242 4242 exp 12/30"})
    p = run(envelope("charge.succeeded", c), org, cfg)
    assert "Note__c" not in p.operations[0].fields
    assert p.refusals and p.refusals[0].field == "Note__c"
    assert "4242 4242" not in p.to_json()
    assert "[REDACTED]" in p.refusals[0].value


def test_contact_under_another_customers_account_is_not_linked() -> None:
    # A Contact whose Account belongs to another Stripe customer is that customer's: this one
    # gets an Account of its own and writes nothing into the other's records.
    row = contact_row()
    row["Account"] = {"Stripe_Customer_Id__c": "cus_OTHER"}
    org = FakeOrg(stripe={"cus_1": customer()}, contacts=[row])
    p = run(envelope("charge.succeeded", charge()), org)
    ops = ops_by_id(p)
    assert set(ops) == {"account", "review", "payment"}
    assert ops["account"].key_value == "cus_1" and ops["account"].key_field != "Id"
    assert ops["payment"].refs["Account__c"] == RecordRef(
        "Account", "Stripe_Customer_Id__c", "cus_1"
    )
    assert "Contact__c" not in ops["payment"].refs
    assert "cus_OTHER" in ops["review"].fields["Description"]
    assert all(op.key_value not in ("001A", "003A") for op in p.operations)


def test_contact_linked_by_id_without_linked_account_reuses_the_contact() -> None:
    org = FakeOrg(contacts=[contact_row(customer_id="cus_1")])
    p = run(envelope("charge.succeeded", charge()), org)
    assert ops_by_id(p)["link_contact"].key_value == "003A"
    assert LookupKind.STRIPE_CUSTOMER not in {lk.kind for lk in org.asked}


def test_plan_names_the_customer_for_the_audit_trail() -> None:
    p = run(envelope("charge.succeeded", charge()), FakeOrg(accounts=[account_row()]))
    assert p.customer_id == "cus_1"
    assert '"customer_id": "cus_1"' in p.to_json()


def test_late_payment_intent_does_not_undo_a_refund() -> None:
    pi = {
        "id": "pi_1",
        "object": "payment_intent",
        "status": "succeeded",
        "amount_received": 1999,
        "currency": "usd",
        "customer": "cus_1",
        "latest_charge": "ch_1",
        "created": 1_750_000_000,
    }
    org = FakeOrg(accounts=[account_row()], ledger={"ch_1": 1_750_000_500})
    p = run(envelope("payment_intent.succeeded", pi, created=1_750_000_010), org)
    assert p.operations == () and "late event" in p.skipped[0]
    assert all(lk.is_local for lk in org.asked)  # the ledger (and the links): no GET
    payload_only = run(
        envelope("payment_intent.succeeded", pi),
        FakeOrg(accounts=[account_row()]),
        from_toml_text('[sync]\nrefetch = "never"\n'),
    )
    assert "Amount_Refunded__c" not in payload_only.operations[0].fields  # the intent cannot say
    refunded = charge(amount_refunded=500)
    fresh = run(
        envelope("payment_intent.succeeded", pi),
        FakeOrg(accounts=[account_row()], stripe={"ch_1": refunded}),
    )
    assert fresh.operations[0].fields["Amount_Refunded__c"] == Decimal("5.00")
    assert fresh.operations[0].fields["Status__c"] == "Partially Refunded"


def test_several_accounts_for_a_domain_follow_the_rule() -> None:
    accounts = [
        account_row(
            "001NEW",
            customer_id=None,
            Website="acme.io",
            CreatedDate="2024-01-01T00:00:00.000+0000",
        ),
        account_row(
            "001OLD",
            customer_id=None,
            Website="http://acme.io",
            CreatedDate="2018-01-01T00:00:00.000+0000",
        ),
    ]
    oldest = from_toml_text('[matching]\nby_domain = true\nmultiple_contacts = "oldest"\n')
    org = FakeOrg(stripe={"cus_1": customer(email="ceo@acme.io")}, accounts=accounts)
    ops = ops_by_id(run(envelope("charge.succeeded", charge()), org, oldest))
    assert ops["link_account"].key_value == "001OLD"
    review = from_toml_text("[matching]\nby_domain = true\n")
    org = FakeOrg(stripe={"cus_1": customer(email="ceo@acme.io")}, accounts=accounts)
    ops = ops_by_id(run(envelope("charge.succeeded", charge()), org, review))
    assert "review" in ops and "link_account" not in ops
    assert LookupKind.SF_REVIEW_TASK in {lk.kind for lk in org.asked}
