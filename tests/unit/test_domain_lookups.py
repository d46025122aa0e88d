"""Which lookups an event needs, in what order, and the SOQL they carry."""

from __future__ import annotations

import pytest

from stripe2sf.domain import soql
from stripe2sf.domain.config import SyncConfig, from_toml_text
from stripe2sf.domain.context import Lookup, LookupKind, PlanContext
from stripe2sf.domain.events import parse_event
from stripe2sf.domain.flows.lookups import lookups_needed
from tests.unit.test_domain_support import (
    FakeOrg,
    charge,
    contact_row,
    customer,
    envelope,
    gather,
    invoice,
    subscription,
)


def kinds(lookups: tuple[Lookup, ...]) -> set[LookupKind]:
    return {lk.kind for lk in lookups}


def test_ledger_first_then_salesforce_records() -> None:
    view = parse_event(envelope("charge.succeeded", charge()))
    first = lookups_needed(view, SyncConfig(), PlanContext())
    assert first == (Lookup(LookupKind.LEDGER, "ch_1"), Lookup(LookupKind.LINKED, "cus_1"))
    ctx = PlanContext().with_result(first[0], None)
    second = lookups_needed(view, SyncConfig(), ctx)
    # a charge is never final: refetched, along with the linked records
    assert Lookup(LookupKind.STRIPE_REFETCH, "charge:ch_1") in second
    assert kinds(second) == {
        LookupKind.STRIPE_REFETCH,
        LookupKind.SF_ACCOUNT_BY_CUSTOMER,
        LookupKind.SF_CONTACT_BY_CUSTOMER,
    }
    account = next(lk for lk in second if lk.kind == LookupKind.SF_ACCOUNT_BY_CUSTOMER)
    assert account.soql is not None and "Stripe_Customer_Id__c = 'cus_1'" in account.soql


def test_late_event_costs_no_api_call() -> None:
    org = FakeOrg(ledger={"ch_1": 2_000_000_000})
    gather(parse_event(envelope("charge.succeeded", charge())), SyncConfig(), org)
    assert all(lk.is_local for lk in org.asked)  # the ledger (and the links): no API call


def test_unlinked_customer_leads_to_customer_fetch_then_email_search() -> None:
    org = FakeOrg(stripe={"cus_1": customer()}, contacts=[contact_row()])
    gather(parse_event(envelope("charge.succeeded", charge())), SyncConfig(), org)
    order = [lk.kind for lk in org.asked]
    assert order.index(LookupKind.STRIPE_CUSTOMER) < order.index(LookupKind.SF_CONTACTS_BY_EMAIL)
    email_lookup = next(lk for lk in org.asked if lk.kind == LookupKind.SF_CONTACTS_BY_EMAIL)
    assert email_lookup.key == "ada@example.com"


def test_linked_customer_needs_no_stripe_customer() -> None:
    from tests.unit.test_domain_support import account_row

    org = FakeOrg(accounts=[account_row()])
    gather(parse_event(envelope("charge.succeeded", charge())), SyncConfig(), org)
    assert LookupKind.STRIPE_CUSTOMER not in {lk.kind for lk in org.asked}


def test_subscription_needs_list_and_product_and_refetch() -> None:
    org = FakeOrg()
    gather(
        parse_event(envelope("customer.subscription.updated", subscription())), SyncConfig(), org
    )
    asked = {lk.kind for lk in org.asked}
    assert {
        LookupKind.STRIPE_SUBSCRIPTIONS,
        LookupKind.STRIPE_PRODUCT,
        LookupKind.STRIPE_REFETCH,
    } <= asked


def test_final_objects_are_not_refetched_and_never_policy() -> None:
    view = parse_event(envelope("customer.subscription.deleted", subscription(status="canceled")))
    read = PlanContext().with_result(Lookup(LookupKind.LEDGER, "sub_1"), None)
    assert LookupKind.STRIPE_REFETCH not in kinds(lookups_needed(view, SyncConfig(), read))
    never = from_toml_text('[sync]\nrefetch = "never"\n')
    live = parse_event(envelope("customer.subscription.updated", subscription()))
    assert LookupKind.STRIPE_REFETCH not in kinds(lookups_needed(live, never, read))


def test_invoice_paid_asks_for_open_dunning_records() -> None:
    view = parse_event(envelope("invoice.paid", invoice(status="paid")))
    ctx = PlanContext().with_result(Lookup(LookupKind.LEDGER, "in_1"), None)
    needed = lookups_needed(view, SyncConfig(), ctx)
    dunning = next(lk for lk in needed if lk.kind == LookupKind.SF_OPEN_DUNNING)
    assert (
        dunning.soql is not None
        and "FROM Task" in dunning.soql
        and "IsClosed = false" in dunning.soql
    )


def test_unhandled_event_needs_nothing() -> None:
    view = parse_event(envelope("coupon.created", {"id": "co_1", "object": "coupon"}))
    assert lookups_needed(view, SyncConfig(), PlanContext()) == ()


def test_soql_literals_are_escaped() -> None:
    assert soql.quote("o'brien\\x") == "'o\\'brien\\\\x'"
    q = soql.contacts_by_email("Stripe_Customer_Id__c", "a'; DELETE--@x.com")
    assert "'a\\'; DELETE--@x.com'" in q
    with pytest.raises(ValueError):
        soql.quote("bad\nvalue")
    assert soql.like_contains("50%_off") == "'%50\\%\\_off%'"


def test_context_rejects_non_object_stripe_answers() -> None:
    with pytest.raises(TypeError):
        PlanContext().with_result(Lookup(LookupKind.STRIPE_CUSTOMER, "cus_1"), ["not", "a", "dict"])
