"""customer.* and payment methods: ownership, deletion marking, card on file."""

from __future__ import annotations

from stripe2sf.domain.backfill.plan import synthetic_event
from stripe2sf.domain.config import from_toml_text
from tests.unit.test_domain_support import (
    FakeOrg,
    account_row,
    contact_row,
    customer,
    envelope,
    ops_by_id,
    payment_method,
    run,
)


def test_customer_updated_writes_stripe_owned_fields_only() -> None:
    org = FakeOrg(accounts=[account_row()], contacts=[contact_row(customer_id="cus_1")])
    p = run(envelope("customer.updated", customer(email="new@example.com", name="Ada King")), org)
    ops = ops_by_id(p)
    # Account.Name and Contact First/LastName are create-only: never overwritten
    assert "account" not in ops or "Name" not in ops["account"].fields
    assert ops["contact"].fields == {"Email": "new@example.com"}
    # the linked Contact is updated by its Id: an upsert by external id could create a
    # Contact without LastName (REQUIRED_FIELD_MISSING) if the link moved meanwhile
    assert (ops["contact"].action, ops["contact"].key_field) == ("update", "Id")
    assert ops["contact"].key_value == "003A"


def test_customer_created_links_existing_contact() -> None:
    org = FakeOrg(contacts=[contact_row()])
    ops = ops_by_id(run(envelope("customer.created", customer()), org))
    assert ops["link_contact"].fields["Stripe_Customer_Id__c"] == "cus_1"
    assert ops["link_contact"].fields["Email"] == "Ada@Example.com"


def test_customer_deleted_is_marked_never_deleted() -> None:
    org = FakeOrg(accounts=[account_row()])
    p = run(envelope("customer.deleted", customer(deleted=True)), org)
    assert [op.action for op in p.operations] == ["upsert"]
    assert p.operations[0].fields == {"Stripe_Customer_Deleted__c": True}


def test_customer_updated_read_back_as_deleted_marks_it_never_unmarks() -> None:
    """The update of the second the customer was deleted, applied after the deletion: the
    refetch answers `deleted: true`, so the Account stays marked."""
    org = FakeOrg(
        accounts=[account_row()],
        contacts=[contact_row(customer_id="cus_1")],
        stripe={"cus_1": {"id": "cus_1", "object": "customer", "deleted": True}},
    )
    p = run(envelope("customer.updated", customer(email="late@example.com")), org)
    assert [op.fields for op in p.operations] == [{"Stripe_Customer_Deleted__c": True}]
    # never linked: a deleted customer gets no Account and no Contact created for it
    gone = {"cus_1": {"id": "cus_1", "object": "customer", "deleted": True}}
    p = run(envelope("customer.created", customer(email="late@example.com")), FakeOrg(stripe=gone))
    assert p.operations == ()


def test_customer_deleted_without_account_does_nothing() -> None:
    p = run(envelope("customer.deleted", customer(deleted=True)), FakeOrg())
    assert p.operations == ()
    assert p.skipped


def test_ownership_salesforce_field_is_never_written() -> None:
    cfg = from_toml_text('[ownership]\n"Contact.Email" = "salesforce"\n')
    org = FakeOrg(accounts=[account_row()], contacts=[contact_row(customer_id="cus_1")])
    p = run(envelope("customer.updated", customer(email="x@example.com")), org, cfg)
    for op in p.operations:
        assert "Email" not in op.fields


def test_default_card_goes_to_account() -> None:
    org = FakeOrg(
        stripe={"cus_1": customer(invoice_settings={"default_payment_method": "pm_1"})},
        accounts=[account_row()],
    )
    p = run(envelope("payment_method.attached", payment_method()), org)
    fields = p.operations[0].fields
    assert fields == {
        "Card_Brand__c": "mastercard",
        "Card_Last4__c": "4444",
        "Card_Exp_Month__c": 3,
        "Card_Exp_Year__c": 2029,
    }


def test_non_default_card_is_ignored() -> None:
    org = FakeOrg(
        stripe={"cus_1": customer(invoice_settings={"default_payment_method": "pm_other"})},
        accounts=[account_row()],
    )
    p = run(envelope("payment_method.updated", payment_method()), org)
    assert p.operations == ()


def test_default_payment_method_change_on_customer_updated() -> None:
    cust = customer(invoice_settings={"default_payment_method": "pm_1"})
    org = FakeOrg(stripe={"pm_1": payment_method()}, accounts=[account_row()])
    raw = envelope(
        "customer.updated", cust, previous={"invoice_settings": {"default_payment_method": None}}
    )
    p = run(raw, org)
    account = next(op for op in p.operations if op.sobject == "Account")
    assert account.fields["Card_Last4__c"] == "4444"


def test_non_card_payment_method_skipped() -> None:
    p = run(envelope("payment_method.attached", payment_method(type="sepa_debit", card=None)))
    assert p.operations == ()


def test_a_backfilled_customer_snapshot_writes_its_card_on_file() -> None:
    """The backfill lists customers with the default payment method expanded: the snapshot
    plans the card without reading it again (reconcile found every backfilled Account
    without its card)."""
    cust = customer(invoice_settings={"default_payment_method": payment_method()})
    doc = synthetic_event("customers", cust, 1_800_000_000)
    assert doc is not None
    org = FakeOrg(accounts=[account_row()])  # the payment method is not readable: not needed
    p = run(doc, org)
    account = next(op for op in p.operations if op.sobject == "Account")
    assert (account.fields["Card_Brand__c"], account.fields["Card_Last4__c"]) == (
        "mastercard",
        "4444",
    )
    plain = synthetic_event("customers", customer(), 1_800_000_000)
    assert plain is not None and "previous_attributes" not in plain["data"]
