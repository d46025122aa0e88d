"""The Stripe requests of one action, one at a time, each done once (pure).

`next_step(subject, progress, ...)` looks at what is done (`progress`: step -> the parts of
Stripe's answer kept, `kept`) and answers the next thing to do:

    StripeCall    a Stripe request with its idempotency key
    LinkAccount   write the new customer's id on the Account (before anything else happens,
                  so the customer's own Stripe events find the Account, not a new one)
    Failure       a readable reason the action cannot be done (written back to the record)
    Done          the results to write back

    invoice        price -> customer -> link -> invoice -> (the draft's items read: one of
                   this price kept, others deleted) -> invoiceitem -> finalize -> send
    subscription   price -> customer -> link -> subscription
    payment_link   price -> payment_link            (a payment link needs no customer)

Every POST carries an idempotency key ``stripe2sf-<scope>-<step>`` (`Subject.scope`: one
action per Opportunity or request record; the customer ``stripe2sf-acct-<Account Id>-customer``,
one per Account, so two Opportunities of one new Account make one customer). A worker that
dies after Stripe answered sends the same request again and Stripe answers the same object;
the progress is stored after every answer (`store.actions`), so a retry after Stripe forgot
the key (24 hours) does not send it again. `generation` > 0 (the record was changed again
after an error was written back) gives the steps not yet done new keys: Stripe keeps a
refused request's answer under its key, and the retry must really be tried again.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from stripe2sf.domain.actions.config import ActionsConfig
from stripe2sf.domain.actions.subjects import (
    ERROR,
    INVOICE_SENT,
    LINK_CREATED,
    OPPORTUNITY,
    SUBSCRIPTION_ACTIVE,
    SUBSCRIPTION_INCOMPLETE,
    SUBSCRIPTION_TRIALING,
    Subject,
)
from stripe2sf.domain.capture.change import IDEMPOTENCY_PREFIX

Progress = Mapping[str, Mapping[str, Any]]


@dataclass(frozen=True)
class StripeCall:
    step: str
    method: str  # "get" | "post"
    path: str
    params: Mapping[str, Any] = field(default_factory=dict)
    idempotency_key: str | None = None


@dataclass(frozen=True)
class LinkAccount:
    account_id: str
    customer_id: str


@dataclass(frozen=True)
class Failure:
    reason: str


@dataclass(frozen=True)
class Done:
    results: Mapping[str, str]


Next = StripeCall | LinkAccount | Failure | Done


def key_for(subject: Subject, step: str, generation: int = 0) -> str:
    scope = f"acct-{subject.account_id}" if step == "customer" else subject.scope
    suffix = f"-g{generation}" if generation else ""
    return f"{IDEMPOTENCY_PREFIX}{scope}-{step}{suffix}"


def _metadata(subject: Subject) -> dict[str, str]:
    meta = {"stripe2sf_action": subject.scope}
    if subject.opportunity_id:
        meta["salesforce_opportunity_id"] = subject.opportunity_id
    if subject.sobject != OPPORTUNITY:
        meta["salesforce_request_id"] = subject.record_id
    if subject.account_id:
        meta["salesforce_account_id"] = subject.account_id
    return meta


def kept(step: str, answer: Mapping[str, Any]) -> dict[str, Any]:
    """What is remembered of a Stripe answer: ids, statuses and URLs, nothing personal."""
    out: dict[str, Any] = {k: answer.get(k) for k in ("id", "object", "status") if k in answer}
    if step.startswith("draft_items"):
        out["items"] = [
            {"id": i.get("id"), "price": _item_price(i), "quantity": i.get("quantity")}
            for i in answer.get("data") or []
        ]
    if step == "price":
        out.update(
            active=answer.get("active", True),
            type=answer.get("type"),
            recurring=bool(answer.get("recurring")),
            currency=answer.get("currency"),
        )
    for name in ("hosted_invoice_url", "url"):
        if answer.get(name):
            out[name] = answer[name]
    latest = answer.get("latest_invoice")
    if isinstance(latest, Mapping):
        out["latest_invoice"] = {
            "id": latest.get("id"),
            "hosted_invoice_url": latest.get("hosted_invoice_url"),
        }
    elif isinstance(latest, str):
        out["latest_invoice"] = {"id": latest}
    return out


def price_problem(subject: Subject, price: Mapping[str, Any] | None, field_name: str) -> str | None:
    """Why this price cannot be used for this action (None: it can)."""
    pid = subject.price_id
    if price is None or price.get("missing"):
        return f"Stripe has no price {pid!r}: check {field_name}"
    if not price.get("active", True):
        return f"the Stripe price {pid!r} is archived: use an active price"
    recurring = bool(price.get("recurring")) or price.get("type") == "recurring"
    if subject.kind == "invoice" and recurring:
        return (
            f"the Stripe price {pid!r} is recurring, and an invoice takes one-time prices: "
            "use a one-time price, or the action 'subscription'"
        )
    if subject.kind == "subscription" and not recurring:
        return f"the Stripe price {pid!r} is one-time: a subscription needs a recurring price"
    return None


def _subscription_status(status: str | None) -> str:
    if status == "active":
        return SUBSCRIPTION_ACTIVE
    if status == "trialing":
        return SUBSCRIPTION_TRIALING
    return SUBSCRIPTION_INCOMPLETE


def next_step(
    subject: Subject,
    progress: Progress,
    config: ActionsConfig,
    *,
    email: str | None = None,
    generation: int = 0,
    price_field: str = "Stripe_Price_Id__c",
) -> Next:
    """The next thing to do for `subject`, given what is done. `email`: the Account's
    Contact's, needed only to make a new customer."""
    if subject.problem:
        return Failure(subject.problem)
    params: dict[str, Any]
    key = lambda step: key_for(subject, step, generation)  # noqa: E731
    price = progress.get("price")
    if price is None or price.get("id") != subject.price_id:
        return StripeCall("price", "get", f"/v1/prices/{subject.price_id}")
    problem = price_problem(subject, price, price_field)
    if problem:
        return Failure(problem)
    meta = _metadata(subject)
    if subject.kind == "payment_link":
        link = progress.get("payment_link")
        if link is None:
            params = {
                "line_items": [{"price": subject.price_id, "quantity": subject.quantity}],
                "metadata": meta,
            }
            return StripeCall(
                "payment_link", "post", "/v1/payment_links", params, key("payment_link")
            )
        return Done(
            {
                "status": LINK_CREATED,
                "error": "",
                "payment_link_id": str(link.get("id") or ""),
                "payment_link_url": str(link.get("url") or ""),
            }
        )
    customer_id = subject.customer_id or (progress.get("customer") or {}).get("id")
    if customer_id is None:
        if not email:
            return Failure(
                "the Account has no Contact with an email, and a new Stripe customer needs "
                "one to receive invoices: add a Contact with an email to the Account"
            )
        params = {
            "name": subject.account_name or "",
            "email": email,
            "metadata": {"salesforce_account_id": subject.account_id or ""},
        }
        return StripeCall("customer", "post", "/v1/customers", params, key("customer"))
    if subject.customer_id is None and "link" not in progress and subject.account_id:
        return LinkAccount(subject.account_id, str(customer_id))
    base = {"customer_id": str(customer_id), "error": ""}
    if subject.kind == "subscription":
        sub = progress.get("subscription")
        if sub is None:
            params = {
                "customer": customer_id,
                "items": [{"price": subject.price_id, "quantity": subject.quantity}],
                "collection_method": config.subscription_collection,
                "metadata": meta,
                "expand": ["latest_invoice"],
            }
            if config.subscription_collection == "send_invoice":
                params["days_until_due"] = config.days_until_due
            return StripeCall(
                "subscription", "post", "/v1/subscriptions", params, key("subscription")
            )
        latest = sub.get("latest_invoice") or {}
        return Done(
            {
                **base,
                "status": _subscription_status(sub.get("status")),
                "subscription_id": str(sub.get("id") or ""),
                "invoice_id": str(latest.get("id") or ""),
                "invoice_url": str(latest.get("hosted_invoice_url") or ""),
            }
        )
    invoice = progress.get("invoice")
    if invoice is None:
        params = {
            "customer": customer_id,
            "collection_method": "send_invoice",
            "days_until_due": config.days_until_due,
            "pending_invoice_items_behavior": "exclude",
            "auto_advance": False,
            "metadata": meta,
        }
        return StripeCall("invoice", "post", "/v1/invoices", params, key("invoice"))
    invoice_id = str(invoice["id"])
    if "invoiceitem" not in progress and "finalize" not in progress:
        item = _draft_item(subject, invoice_id, progress, customer_id, meta, generation)
        if item is not None:
            return item
    if "finalize" not in progress:
        path = f"/v1/invoices/{invoice_id}/finalize"
        return StripeCall("finalize", "post", path, {}, key("finalize"))
    if "send" not in progress:
        return StripeCall("send", "post", f"/v1/invoices/{invoice_id}/send", {}, key("send"))
    url = progress["send"].get("hosted_invoice_url") or progress["finalize"].get(
        "hosted_invoice_url"
    )
    return Done(
        {**base, "status": INVOICE_SENT, "invoice_id": invoice_id, "invoice_url": url or ""}
    )


def _draft_item(
    subject: Subject,
    invoice_id: str,
    progress: Progress,
    customer_id: str,
    meta: Mapping[str, str],
    generation: int,
) -> StripeCall | None:
    """The draft invoice's item, made once: its items are read first (an item Stripe made
    for a try that died before storing it is on the draft already), one of this price and
    quantity is kept, others (the record's price changed meanwhile) deleted; then the item is
    added if none fits (None: the draft is right). The item's key names its price and
    quantity, so a changed price is a new request, not a refused one."""
    listed_step = "draft_items" + (f"-g{generation}" if generation else "")
    listed = progress.get(listed_step)
    if listed is None:
        params = {"invoice": invoice_id, "limit": 100}
        return StripeCall(listed_step, "get", "/v1/invoiceitems", params)
    fits = None
    for item in listed.get("items") or []:
        same = item.get("price") == subject.price_id and item.get("quantity") == subject.quantity
        if same and fits is None:
            fits = item
        elif f"drop-{item['id']}" not in progress:
            path = f"/v1/invoiceitems/{item['id']}"
            return StripeCall(f"drop-{item['id']}", "delete", path)
    if fits is not None:
        return None
    params = {
        "customer": customer_id,
        "invoice": invoice_id,
        "price": subject.price_id,
        "quantity": subject.quantity,
        "metadata": meta,
    }
    step = f"invoiceitem-{subject.price_id}-{subject.quantity}"
    return StripeCall(
        "invoiceitem", "post", "/v1/invoiceitems", params, key_for(subject, step, generation)
    )


def _item_price(item: Mapping[str, Any]) -> str | None:
    """An invoice item's price id (`pricing.price_details.price` since 2025-03-31.basil,
    `price.id` before)."""
    details = (item.get("pricing") or {}).get("price_details") or {}
    price = details.get("price") or item.get("price")
    if isinstance(price, Mapping):
        price = price.get("id")
    return str(price) if price else None


def failed_results(reason: str) -> dict[str, str]:
    """The write-back of an action that cannot be done."""
    return {"status": ERROR, "error": reason}


def readable_stripe_error(
    call: StripeCall,
    subject: Subject,
    *,
    code: str | None,
    message: str,
    param: str | None,
    customer_id: str | None = None,
    price_field: str = "Stripe_Price_Id__c",
) -> str:
    """A Stripe refusal (4xx) as a sentence for the Salesforce user."""
    if code == "resource_missing" and param and ("price" in param or param.startswith("items")):
        return f"Stripe has no price {subject.price_id!r}: check {price_field}"
    if call.step == "subscription" and ("payment source" in message or "payment method" in message):
        return (
            f"the Stripe customer {customer_id or ''} has no card or default payment method, "
            "so a subscription charged automatically cannot start: add a card to the customer "
            'in Stripe, or set [actions] subscription_collection = "send_invoice"'
        ).replace("customer  has", "customer has")
    if code == "card_declined" or code == "expired_card":
        return f"the card was declined: {message}"
    if code == "email_invalid" or (param == "email"):
        return f"Stripe refused the Contact's email: {message}"
    return f"Stripe refused to create the {call.step.replace('_', ' ')}: {message}"
