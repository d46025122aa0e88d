"""Salesforce actions, pure: which changes may act, the subject read from the record, and
the steps with their idempotency keys, resumed from any point."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from stripe2sf.domain.actions.config import ActionsConfig
from stripe2sf.domain.actions.steps import (
    Done,
    Failure,
    LinkAccount,
    StripeCall,
    kept,
    key_for,
    next_step,
    readable_stripe_error,
)
from stripe2sf.domain.actions.subjects import (
    Skip,
    Subject,
    may_act,
    opportunity_soql,
    opportunity_subject,
    request_subject,
)
from stripe2sf.domain.capture.change import IDEMPOTENCY_PREFIX, SalesforceChange

ON = ActionsConfig(enabled=True)
OPP = "006000000000001AAA"
ACCT = "001000000000001AAA"


def change(entity: str = "Opportunity", kind: str = "updated", **fields: Any) -> SalesforceChange:
    return SalesforceChange(
        entity=entity,
        change=kind,  # type: ignore[arg-type]
        record_id=OPP,
        fields=fields,
        changed=tuple(fields),
        commit_ts_ms=1_700_000_000_000,
        source="cdc",
        position="t:1",
    )


def opp_row(**over: Any) -> dict[str, Any]:
    row: dict[str, Any] = {
        "Id": OPP,
        "StageName": "Closed Won",
        "AccountId": ACCT,
        "Account": {"Name": "Acme", "Stripe_Customer_Id__c": None},
        "Stripe_Price_Id__c": "price_1",
        "Stripe_Invoice_Id__c": None,
    }
    row.update(over)
    return row


def subject(config: ActionsConfig = ON, **over: Any) -> Subject:
    found = opportunity_subject(opp_row(**over), config)
    assert isinstance(found, Subject)
    return found


def test_may_act_reads_only_the_change() -> None:
    assert may_act(change(StageName="Closed Won"), ON)
    assert may_act(change(Stripe_Price_Id__c="price_2"), ON)  # stage unknown: read it
    assert not may_act(change(StageName="Closed Won"), ActionsConfig())  # off by default
    assert not may_act(change(StageName="Prospecting"), ON)
    assert not may_act(change(Description="x"), ON)  # nor our own write-back of results
    assert not may_act(change(Stripe_Status__c="Invoice sent"), ON)
    assert not may_act(change(kind="deleted", StageName="Closed Won"), ON)
    assert may_act(change("Stripe_Request__c", "created", Price_Id__c="price_1"), ON)
    assert not may_act(change("Stripe_Request__c", "updated", Price_Id__c="p"), ON)
    assert not may_act(change("Contact", StageName="Closed Won"), ON)


def test_subject_from_the_opportunity_and_its_skips() -> None:
    s = subject()
    assert (s.account_id, s.account_name, s.customer_id, s.price_id) == (
        ACCT,
        "Acme",
        None,
        "price_1",
    )
    assert s.scope == f"opp-{OPP}" and s.problem is None
    assert isinstance(opportunity_subject(opp_row(StageName="Prospecting"), ON), Skip)
    done = opportunity_subject(opp_row(Stripe_Invoice_Id__c="in_1"), ON)
    assert isinstance(done, Skip) and "already done" in done.reason
    assert subject(Stripe_Price_Id__c=None).problem == (
        "no Stripe price: set Stripe_Price_Id__c to the id of a Stripe price (price_...)"
    )
    assert "not a Stripe price id" in str(subject(Stripe_Price_Id__c="gold").problem)
    assert "no Account" in str(subject(AccountId=None).problem)
    links = ActionsConfig(enabled=True, kind="payment_link")
    assert subject(links, AccountId=None).problem is None  # a link needs no customer
    assert "Stripe_Price_Id__c" in opportunity_soql(ON, OPP)
    with pytest.raises(ValueError):
        opportunity_soql(ON, "006' OR Name != '")


def test_request_subject() -> None:
    row = {
        "Id": "a00000000000001AAA",
        "Account__c": None,
        "Opportunity__c": OPP,
        "Opportunity__r": {
            "AccountId": ACCT,
            "Account": {"Name": "Acme", "Stripe_Customer_Id__c": "cus_1"},
        },
        "Action__c": "Payment Link",
        "Price_Id__c": "price_9",
        "Quantity__c": 3.0,
        "Status__c": None,
    }
    s = request_subject(row, ON)
    assert isinstance(s, Subject)
    assert (s.kind, s.account_id, s.customer_id, s.quantity) == ("payment_link", ACCT, "cus_1", 3)
    assert s.scope == "req-a00000000000001AAA"
    assert "expected one of" in str(request_subject({**row, "Action__c": "refund"}, ON).problem)  # type: ignore[union-attr]
    assert "whole number" in str(request_subject({**row, "Quantity__c": 1.5}, ON).problem)  # type: ignore[union-attr]
    assert isinstance(request_subject({**row, "Status__c": "Error"}, ON), Skip)
    assert isinstance(request_subject({**row, "Stripe_Payment_Link_Url__c": "https://x"}, ON), Skip)


def test_config_refuses_bad_values() -> None:
    with pytest.raises(ValidationError):
        ActionsConfig(kind="refund")  # type: ignore[arg-type]
    with pytest.raises(ValidationError):
        ActionsConfig(price_field="Stripe Price")


PRICE = {"price": {"id": "price_1", "active": True, "type": "one_time", "recurring": False}}


def run_to_end(
    s: Subject, config: ActionsConfig = ON, email: str | None = "a@b.example"
) -> tuple[list[StripeCall], Done | Failure, dict[str, Any]]:
    """Drive `next_step` with made-up Stripe answers; every call and the end."""
    progress: dict[str, Any] = {}
    calls: list[StripeCall] = []
    answers = {
        "price": {
            "id": s.price_id,
            "object": "price",
            "type": "recurring" if s.kind == "subscription" else "one_time",
            "recurring": {"interval": "month"} if s.kind == "subscription" else None,
        },
        "customer": {"id": "cus_new", "object": "customer", "email": "a@b.example"},
        "invoice": {"id": "in_1", "object": "invoice", "status": "draft"},
        "invoiceitem": {"id": "ii_1", "object": "invoiceitem"},
        "draft_items": {"object": "list", "data": []},
        "finalize": {
            "id": "in_1",
            "status": "open",
            "hosted_invoice_url": "https://invoice.stripe.com/i/1",
        },
        "send": {
            "id": "in_1",
            "status": "open",
            "hosted_invoice_url": "https://invoice.stripe.com/i/1",
        },
        "subscription": {
            "id": "sub_1",
            "status": "active",
            "latest_invoice": {
                "id": "in_9",
                "hosted_invoice_url": "https://invoice.stripe.com/i/9",
            },
        },
        "payment_link": {"id": "plink_1", "url": "https://buy.stripe.com/test_1"},
    }
    for _ in range(20):
        step = next_step(s, progress, config, email=email)
        if isinstance(step, StripeCall):
            calls.append(step)
            progress[step.step] = kept(step.step, answers[step.step.split("-")[0]])
        elif isinstance(step, LinkAccount):
            assert (step.account_id, step.customer_id) == (ACCT, "cus_new")
            progress["link"] = {"account_id": step.account_id}
        else:
            return calls, step, progress
    raise AssertionError("no end")


def test_invoice_steps_keys_and_results() -> None:
    calls, end, progress = run_to_end(subject())
    assert [c.step for c in calls] == [
        "price",
        "customer",
        "invoice",
        "draft_items",
        "invoiceitem-price_1-1",
        "finalize",
        "send",
    ]
    assert "link" in progress  # the Account is linked right after the customer is made
    posts = [c for c in calls if c.method == "post"]
    assert all(
        c.idempotency_key and c.idempotency_key.startswith(IDEMPOTENCY_PREFIX) for c in posts
    )
    assert posts[0].idempotency_key == f"stripe2sf-acct-{ACCT}-customer"  # one per Account
    assert posts[1].idempotency_key == f"stripe2sf-opp-{OPP}-invoice"
    assert posts[1].params["collection_method"] == "send_invoice"
    assert posts[1].params["days_until_due"] == 30
    assert posts[2].params["invoice"] == "in_1" and posts[2].params["price"] == "price_1"
    assert posts[2].idempotency_key == f"stripe2sf-opp-{OPP}-invoiceitem-price_1-1"
    assert calls[0].idempotency_key is None  # reads carry none
    assert end == Done(
        {
            "customer_id": "cus_new",
            "error": "",
            "status": "Invoice sent",
            "invoice_id": "in_1",
            "invoice_url": "https://invoice.stripe.com/i/1",
        }
    )


def test_resumes_after_the_last_step_done_and_a_linked_account_makes_no_customer() -> None:
    s = subject()
    _, _, progress = run_to_end(s)
    partial = {k: progress[k] for k in ("price", "customer", "link", "invoice")}
    step = next_step(s, partial, ON)
    assert isinstance(step, StripeCall) and step.step == "draft_items"  # read the draft first
    assert step.params == {"invoice": "in_1", "limit": 100}


def test_the_drafts_items_are_kept_dropped_or_added() -> None:
    s = subject()
    _, _, progress = run_to_end(s)
    base = {k: progress[k] for k in ("price", "customer", "link", "invoice")}

    def listed(*items: tuple[str, str, int]) -> dict[str, Any]:
        answer = {
            "data": [
                {"id": i, "pricing": {"price_details": {"price": p}}, "quantity": q}
                for i, p, q in items
            ]
        }
        return {**base, "draft_items": kept("draft_items", answer)}

    # an item a try that died made is on the draft: kept, not made again
    step = next_step(s, listed(("ii_1", "price_1", 1)), ON)
    assert isinstance(step, StripeCall) and step.step == "finalize"
    # the price changed meanwhile: the old item is deleted, the new one added
    changed = listed(("ii_old", "price_0", 1))
    drop = next_step(s, changed, ON)
    assert drop == StripeCall("drop-ii_old", "delete", "/v1/invoiceitems/ii_old")
    add = next_step(s, {**changed, "drop-ii_old": {"id": "ii_old"}}, ON)
    # its key names the price, quantity and the items deleted so far (-d1): a line edited
    # back to an earlier value is a new request, not Stripe's answer of the deleted item
    assert isinstance(add, StripeCall) and add.step == "invoiceitem-price_1-1-d1"
    assert add.idempotency_key == f"stripe2sf-opp-{OPP}-invoiceitem-price_1-1-d1"
    # an older API version names the price as an object
    old = {
        **base,
        "draft_items": kept(
            "draft_items", {"data": [{"id": "ii_2", "price": {"id": "price_1"}, "quantity": 1}]}
        ),
    }
    step = next_step(s, old, ON)
    assert isinstance(step, StripeCall) and step.step == "finalize"
    linked = subject(Account={"Name": "Acme", "Stripe_Customer_Id__c": "cus_old"})
    calls, end, _ = run_to_end(linked, email=None)
    assert "customer" not in [c.step for c in calls]
    assert isinstance(end, Done) and end.results["customer_id"] == "cus_old"


def test_generation_gives_new_keys_to_steps_not_done() -> None:
    s = subject()
    assert key_for(s, "invoice", 0) == f"stripe2sf-opp-{OPP}-invoice"
    assert key_for(s, "invoice", 2) == f"stripe2sf-opp-{OPP}-invoice-g2"


def test_subscription_and_payment_link_steps() -> None:
    sub = subject(
        ActionsConfig(enabled=True, kind="subscription", subscription_collection="send_invoice")
    )
    calls, end, _ = run_to_end(
        sub,
        ActionsConfig(enabled=True, kind="subscription", subscription_collection="send_invoice"),
    )
    assert [c.step for c in calls] == ["price", "customer", "subscription"]
    assert calls[-1].params["days_until_due"] == 30
    assert calls[-1].params["expand"] == ["latest_invoice"]
    assert isinstance(end, Done)
    assert (end.results["status"], end.results["invoice_id"]) == ("Subscription active", "in_9")
    links = ActionsConfig(enabled=True, kind="payment_link")
    calls, end, _ = run_to_end(subject(links, AccountId=None), links, email=None)
    assert [c.step for c in calls] == ["price", "payment_link"]
    assert calls[-1].params["line_items"] == [{"price": "price_1", "quantity": 1}]
    assert (
        isinstance(end, Done) and end.results["payment_link_url"] == "https://buy.stripe.com/test_1"
    )


def test_failures_are_sentences() -> None:
    s = subject()
    missing = next_step(s, {"price": {"id": "price_1", "missing": True}}, ON)
    assert missing == Failure("Stripe has no price 'price_1': check Stripe_Price_Id__c")
    recurring = next_step(
        s, {"price": {"id": "price_1", "type": "recurring", "recurring": True}}, ON
    )
    assert isinstance(recurring, Failure) and "one-time prices" in recurring.reason
    archived = next_step(s, {"price": {"id": "price_1", "active": False}}, ON)
    assert isinstance(archived, Failure) and "archived" in archived.reason
    no_email = next_step(s, PRICE, ON, email=None)
    assert isinstance(no_email, Failure) and "no Contact with an email" in no_email.reason
    call = StripeCall("subscription", "post", "/v1/subscriptions", {}, "stripe2sf-x")
    card = readable_stripe_error(
        call,
        s,
        code="resource_missing",
        param=None,
        customer_id="cus_1",
        message="This customer has no attached payment source or default payment method.",
    )
    assert card.startswith("the Stripe customer cus_1 has no card or default payment method")
    item = StripeCall("invoiceitem", "post", "/v1/invoiceitems", {}, "stripe2sf-x")
    unknown = readable_stripe_error(
        item, s, code="resource_missing", param="price", message="No such price"
    )
    assert unknown == "Stripe has no price 'price_1': check Stripe_Price_Id__c"
    other = readable_stripe_error(
        item, s, code="parameter_invalid", param="quantity", message="Bad"
    )
    assert other == "Stripe refused to create the invoice item: Bad"
