"""Two Stripe customers with one email: neither writes into the other's records.

The first customer of an email (the one holding its claim, or linked to its Contact) keeps
the Contact; the second gets an Account of its own, no Contact, and a review Task naming the
first. Existing unlinked Contacts still match the first customer as before.
"""

from __future__ import annotations

from stripe2sf.domain.config import SyncConfig
from stripe2sf.domain.context import LookupKind
from stripe2sf.domain.events import parse_event
from stripe2sf.domain.flows.planner import plan
from stripe2sf.domain.operations import Plan, RecordRef
from tests.unit.test_domain_support import (
    FakeOrg,
    account_row,
    charge,
    contact_row,
    customer,
    envelope,
    gather,
    ops_by_id,
    payment_method,
    run,
)


def _first_customers_contact() -> dict[str, object]:
    row = contact_row("003A", email="pat@shared.example", customer_id="cus_A")
    row["Account"] = {"Stripe_Customer_Id__c": "cus_A"}
    return row


def _untouched(p: Plan, *ids: str) -> bool:
    return all(op.key_value not in ids for op in p.operations)


def test_second_customer_gets_its_own_account_and_no_contact() -> None:
    org = FakeOrg(
        stripe={"cus_B": customer(id="cus_B", email="Pat@Shared.example", name="Pat Two")},
        accounts=[account_row("001A", customer_id="cus_A")],
        contacts=[_first_customers_contact()],
        claims={"pat@shared.example": "cus_A"},
    )
    p = run(envelope("charge.succeeded", charge(customer="cus_B")), org)
    ops = ops_by_id(p)
    assert set(ops) == {"account", "review", "payment"}
    account = ops["account"]
    assert (account.action, account.key_field, account.key_value) == (
        "upsert",
        "Stripe_Customer_Id__c",
        "cus_B",
    )
    assert account.fields["Name"] == "Pat Two"
    review = ops["review"]
    assert review.key_value == "review:cus_B"
    assert "cus_A" in review.fields["Description"] and "003A" in review.fields["Description"]
    pay_refs = ops["payment"].refs
    assert pay_refs["Account__c"] == RecordRef("Account", "Stripe_Customer_Id__c", "cus_B")
    assert "Contact__c" not in pay_refs
    assert _untouched(p, "001A", "003A", "cus_A")
    assert LookupKind.SF_REVIEW_TASK in {lk.kind for lk in org.asked}


def test_contact_linked_to_another_customer_is_not_a_match_even_without_a_claim() -> None:
    # linked before claims existed: the Salesforce link alone says whose it is
    org = FakeOrg(
        stripe={"cus_B": customer(id="cus_B", email="pat@shared.example")},
        contacts=[_first_customers_contact()],
    )
    p = run(envelope("customer.created", customer(id="cus_B", email="pat@shared.example")), org)
    ops = ops_by_id(p)
    assert set(ops) == {"account", "review"}
    assert _untouched(p, "001A", "003A")
    assert org.claims == {"pat@shared.example": "cus_B"}


def test_claim_of_another_customer_wins_before_its_contact_exists() -> None:
    # cus_A claimed the email and its Contact is not written yet (another worker): no Contact
    # exists in Salesforce, and cus_B must still not create a second one
    org = FakeOrg(claims={"pat@shared.example": "cus_A"})
    p = run(envelope("customer.created", customer(id="cus_B", email="PAT@shared.example")), org)
    ops = ops_by_id(p)
    assert set(ops) == {"account", "review"}
    assert "cus_A" in ops["review"].fields["Subject"]


def test_claim_of_another_customer_keeps_a_sales_contact_for_the_first() -> None:
    org = FakeOrg(
        contacts=[contact_row("003S", email="pat@shared.example", account_id=None)],
        claims={"pat@shared.example": "cus_A"},
    )
    p = run(envelope("customer.created", customer(id="cus_B", email="pat@shared.example")), org)
    assert set(ops_by_id(p)) == {"account", "review"}
    assert _untouched(p, "003S")


def test_first_customer_claims_the_email_and_links_the_sales_contact() -> None:
    org = FakeOrg(contacts=[contact_row("003S", email="pat@shared.example")])
    p = run(envelope("customer.created", customer(id="cus_A", email="Pat@Shared.example")), org)
    ops = ops_by_id(p)
    assert ops["link_contact"].key_value == "003S"
    assert org.claims == {"pat@shared.example": "cus_A"}


def test_two_new_customers_planned_at_once_create_one_contact() -> None:
    # Both lanes hydrate before either writes (two workers): the claim decides.
    org = FakeOrg()
    config = SyncConfig()
    views = [
        parse_event(
            envelope("customer.created", customer(id=cid, email=email), event_id=f"evt_{cid}")
        )
        for cid, email in (("cus_A", "pat@shared.example"), ("cus_B", "Pat@Shared.Example"))
    ]
    contexts = [gather(view, config, org) for view in views]
    plans = [plan(view, ctx, config) for view, ctx in zip(views, contexts, strict=True)]
    contacts = [op for p in plans for op in p.operations if op.sobject == "Contact"]
    assert [op.key_value for op in contacts] == ["cus_A"]
    assert {op.key_value for p in plans for op in p.operations if op.sobject == "Account"} == {
        "cus_A",
        "cus_B",
    }


def test_existing_review_task_is_left_as_the_person_keeps_it() -> None:
    org = FakeOrg(
        contacts=[_first_customers_contact()],
        dunning=[{"Id": "00T9", "Stripe_Dedupe_Key__c": "review:cus_B", "CreatedDate": None}],
    )
    p = run(envelope("customer.created", customer(id="cus_B", email="pat@shared.example")), org)
    assert set(ops_by_id(p)) == {"account"}


def test_linked_account_without_contact_creates_none_for_another_customers_email() -> None:
    # cus_B took the shared-email path earlier: its Account is linked, it has no Contact
    org = FakeOrg(
        accounts=[account_row("001B", customer_id="cus_B")],
        contacts=[_first_customers_contact()],
        claims={"pat@shared.example": "cus_A"},
    )
    p = run(envelope("customer.updated", customer(id="cus_B", email="pat@shared.example")), org)
    assert all(op.sobject != "Contact" for op in p.operations)
    assert any("belongs to cus_A" in n for n in p.notes)


def test_linked_account_without_contact_links_a_free_contact_of_its_email() -> None:
    org = FakeOrg(
        accounts=[account_row("001B", customer_id="cus_B")],
        contacts=[contact_row("003S", email="pat@shared.example", account_id=None)],
    )
    p = run(envelope("customer.updated", customer(id="cus_B", email="pat@shared.example")), org)
    link = ops_by_id(p)["link_contact"]
    assert (link.action, link.key_field, link.key_value) == ("update", "Id", "003S")
    assert link.fields["Stripe_Customer_Id__c"] == "cus_B"


def test_linked_account_without_any_contact_of_its_email_gets_a_full_contact() -> None:
    org = FakeOrg(accounts=[account_row("001B", customer_id="cus_B")])
    p = run(envelope("customer.updated", customer(id="cus_B", email="pat@shared.example")), org)
    contact = ops_by_id(p)["contact"]
    assert contact.action == "upsert" and contact.fields["LastName"] == "Lovelace"


def test_own_contact_under_another_customers_account_gets_an_account_of_its_own() -> None:
    row = contact_row("003B", email="pat@shared.example", customer_id="cus_B")
    row["Account"] = {"Stripe_Customer_Id__c": "cus_A"}
    org = FakeOrg(stripe={"cus_B": customer(id="cus_B")}, contacts=[row])
    p = run(envelope("charge.succeeded", charge(customer="cus_B")), org)
    ops = ops_by_id(p)
    assert ops["account"].key_value == "cus_B" and ops["account"].key_field != "Id"
    assert ops["payment"].refs["Account__c"] == RecordRef(
        "Account", "Stripe_Customer_Id__c", "cus_B"
    )
    assert "AccountId" not in ops["link_contact"].refs
    assert _untouched(p, "001A")


def test_two_contacts_with_the_email_are_never_guessed_between_even_if_one_is_taken() -> None:
    """The demo's shared inbox: one Contact of the email sits under another customer's Account,
    the other is free. Linking the free one would be a guess (and claim its Account): review."""
    taken = _first_customers_contact()
    free = contact_row("003B", email="pat@shared.example", account_id="001B")
    org = FakeOrg(
        stripe={"cus_B": customer(id="cus_B", email="pat@shared.example")},
        accounts=[account_row("001A", customer_id="cus_A"), account_row("001B")],
        contacts=[taken, free],
    )
    p = run(envelope("customer.created", customer(id="cus_B", email="pat@shared.example")), org)
    ops = ops_by_id(p)
    assert "review" in ops and "link_contact" not in ops and "link_account" not in ops
    assert _untouched(p, "001A", "003A", "001B", "003B")


def test_account_created_after_review_shows_the_card_on_file() -> None:
    # The card events came while the customer was in review (no Account, nothing written);
    # when a later event gives it an Account of its own, the card is on it from the start.
    org = FakeOrg(
        stripe={
            "cus_B": customer(
                id="cus_B",
                email="pat@shared.example",
                invoice_settings={"default_payment_method": "pm_1"},
            ),
            "pm_1": payment_method(),
        },
        accounts=[account_row("001A", customer_id="cus_A")],
        contacts=[_first_customers_contact()],
        claims={"pat@shared.example": "cus_A"},
    )
    p = run(envelope("charge.succeeded", charge(customer="cus_B")), org)
    account = ops_by_id(p)["account"]
    assert account.fields["Card_Last4__c"] == "4444"
    assert account.fields["Card_Brand__c"] == "mastercard"
    assert LookupKind.STRIPE_PAYMENT_METHOD in {lk.kind for lk in org.asked}


def test_linked_account_is_not_given_the_card_again() -> None:
    # once linked, the card follows the card events only (no read per event)
    org = FakeOrg(
        stripe={
            "cus_B": customer(id="cus_B", invoice_settings={"default_payment_method": "pm_1"}),
            "pm_1": payment_method(),
        },
        accounts=[account_row("001B", customer_id="cus_B")],
    )
    p = run(envelope("charge.succeeded", charge(customer="cus_B")), org)
    assert all("Card_Last4__c" not in op.fields for op in p.operations if op.sobject == "Account")
    assert LookupKind.STRIPE_PAYMENT_METHOD not in {lk.kind for lk in org.asked}
