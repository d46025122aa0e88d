"""The Stripe requests of one action, one at a time, each done once (pure).

`next_step(subject, progress, ...)` looks at what is done (`progress`: step -> the parts of
Stripe's answer kept, `kept`) and answers the next thing to do:

    StripeCall    a Stripe request with its idempotency key
    LinkAccount   write the new customer's id on the Account (before anything else happens,
                  so the customer's own Stripe events find the Account, not a new one)
    Failure       a readable reason the action cannot be done (written back to the record)
    Done          the results to write back

    invoice        prices -> customer -> link -> invoice -> (the draft's items read: those
                   fitting a line kept, others deleted) -> an item per line -> finalize -> send
    subscription   prices -> customer -> link -> subscription
    payment_link   prices -> payment_link            (a payment link needs no customer)

What is billed (`Subject.billed`) is the Opportunity's products (`Subject.lines`: a Stripe
price per product, read once each as ``price-<id>``; an invoice item per line, keyed
``stripe2sf-opp-<Id>-item-<line Id>-...``; a subscription item per recurring price and the
one-time ones on its first invoice; a payment link line per line), or the record's one price
(its price field: the step ``price``, the item ``invoiceitem-...``).

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

from collections.abc import Mapping, Sequence
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
    Line,
    Subject,
)
from stripe2sf.domain.capture.change import IDEMPOTENCY_PREFIX

Progress = Mapping[str, Mapping[str, Any]]
LINE_METADATA = "salesforce_line_id"  # an invoice item's Opportunity product


def is_price_step(step: str) -> bool:
    return step == "price" or step.startswith("price-")


def price_step(line: Line) -> str:
    """The price's read: `price` for the record's price field, `price-<id>` per product's."""
    return f"price-{line.price_id}" if line.line_id else "price"


def is_item_step(step: str) -> bool:
    """A draft invoice item made (kept for one run: the next run reads the draft again)."""
    return step.startswith(("invoiceitem-", "item-"))


@dataclass(frozen=True)
class StripeCall:
    step: str
    method: str  # "get" | "post"
    path: str
    params: Mapping[str, Any] = field(default_factory=dict)
    idempotency_key: str | None = None


@dataclass(frozen=True)
class LinkAccount:
    """The new customer's id on its Account, and on the Contact whose email it was made with
    (`contact_id`), so the customer's own Stripe events find both."""

    account_id: str
    customer_id: str
    contact_id: str | None = None


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
            {
                "id": i.get("id"),
                "price": _item_price(i),
                "quantity": i.get("quantity"),
                "line": (i.get("metadata") or {}).get(LINE_METADATA),
            }
            for i in answer.get("data") or []
        ]
    if is_price_step(step):
        recurring = answer.get("recurring")
        out.update(
            active=answer.get("active", True),
            type=answer.get("type"),
            recurring=bool(recurring),
            currency=answer.get("currency"),
        )
        if isinstance(recurring, Mapping):
            out["interval"] = f"{recurring.get('interval_count') or 1} {recurring.get('interval')}"
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
    """Why the record's price (its price field) cannot be used for this action (None: it
    can)."""
    return line_problem(subject, subject.billed[0], price, field_name)


def line_problem(
    subject: Subject, line: Line, price: Mapping[str, Any] | None, field_name: str
) -> str | None:
    """Why this line's price cannot be used for this action (None: it can). A product's
    line is named ('line 2 (Widget Pro): ...'); a subscription takes one-time products as
    items of its first invoice, but a record's one price must be recurring."""
    pid = line.price_id
    at = f"{line.label}: " if line.line_id else ""
    where = f"{field_name} of {line.name}" if line.line_id else field_name
    if price is None or price.get("missing"):
        return f"{at}Stripe has no price {pid!r}: check {where}"
    if not price.get("active", True):
        return f"{at}the Stripe price {pid!r} is archived: use an active price"
    recurring = is_recurring(price)
    if subject.kind == "invoice" and recurring:
        return (
            f"{at}the Stripe price {pid!r} is recurring, and an invoice takes one-time prices: "
            "use a one-time price, or the action 'subscription'"
        )
    if subject.kind == "subscription" and not recurring and not line.line_id:
        return f"the Stripe price {pid!r} is one-time: a subscription needs a recurring price"
    return None


def is_recurring(price: Mapping[str, Any]) -> bool:
    return bool(price.get("recurring")) or price.get("type") == "recurring"


def _apart(
    lines: Sequence[Line], prices: Mapping[str, Mapping[str, Any]], key: str
) -> tuple[Line, Line, Mapping[str, Any], Mapping[str, Any]] | None:
    """The first line whose price differs from the first line's in `key`, with both prices."""
    first, a = lines[0], prices[lines[0].price_id or ""]
    for line in lines[1:]:
        b = prices[line.price_id or ""]
        if a.get(key) != b.get(key):
            return first, line, a, b
    return None


def lines_problem(subject: Subject, prices: Mapping[str, Mapping[str, Any]]) -> str | None:
    """Why the products together cannot make one Stripe object (None: they can): one
    currency; a subscription needs a recurring price and bills at one interval."""
    lines = subject.billed
    if found := _apart(lines, prices, "currency"):
        first, line, a, b = found
        return (
            f"{first.label} is in {str(a.get('currency')).upper()} and {line.label} in "
            f"{str(b.get('currency')).upper()}: one Stripe "
            f"{subject.kind.replace('_', ' ')} has one currency; bill them apart"
        )
    if subject.kind != "subscription" or not subject.lines:
        return None
    recurring = [line for line in lines if is_recurring(prices[line.price_id or ""])]
    if not recurring:
        return (
            "none of the Opportunity's products has a recurring Stripe price, and a "
            "subscription needs one: give a product a recurring price, or use the action "
            "'invoice'"
        )
    if found := _apart(recurring, prices, "interval"):
        first, line, a, b = found
        return (
            f"{first.label} bills every {a.get('interval')} and {line.label} every "
            f"{b.get('interval')}: one subscription bills at one interval; put them on "
            "two Opportunities"
        ).replace("every 1 ", "every ")
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
    contact_id: str | None = None,
    generation: int = 0,
    price_field: str = "Stripe_Price_Id__c",
) -> Next:
    """The next thing to do for `subject`, given what is done. `email`: the new customer's
    (its Contact: `contact_id`), needed only to make a new customer."""
    if subject.problem:
        return Failure(subject.problem)
    params: dict[str, Any]
    key = lambda step: key_for(subject, step, generation)  # noqa: E731
    lines = subject.billed
    field_name = f"Product2.{config.product_price_field}" if subject.lines else price_field
    prices: dict[str, Mapping[str, Any]] = {}
    for line in lines:  # every price read (once each), each line's checked
        step = price_step(line)
        price = progress.get(step)
        if price is None or price.get("id") != line.price_id:
            return StripeCall(step, "get", f"/v1/prices/{line.price_id}")
        prices[str(line.price_id)] = price
    problems = [
        line_problem(subject, line, prices[str(line.price_id)], field_name) for line in lines
    ]
    said = [p for p in problems if p]
    if said:
        return Failure("; ".join(dict.fromkeys(said)))
    problem = lines_problem(subject, prices)
    if problem:
        return Failure(problem)
    meta = _metadata(subject)
    if subject.kind == "payment_link":
        link = progress.get("payment_link")
        if link is None:
            params = {
                "line_items": [{"price": ln.price_id, "quantity": ln.quantity} for ln in lines],
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
                "one to receive invoices: add a Contact with an email to the Account (or a "
                "contact role with an email to the Opportunity)"
            )
        params = {
            "name": subject.account_name or "",
            "email": email,
            "metadata": {"salesforce_account_id": subject.account_id or ""},
        }
        return StripeCall("customer", "post", "/v1/customers", params, key("customer"))
    if subject.customer_id is None and "link" not in progress and subject.account_id:
        return LinkAccount(subject.account_id, str(customer_id), contact_id)
    base = {"customer_id": str(customer_id), "error": ""}
    if subject.kind == "subscription":
        sub = progress.get("subscription")
        if sub is None:
            params = {
                "customer": customer_id,
                **_subscription_items(lines, prices),
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
    if "finalize" not in progress:
        item = _draft_items(subject, invoice_id, progress, customer_id, meta, generation)
        if item is not None:
            return item
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


def _subscription_items(
    lines: tuple[Line, ...], prices: Mapping[str, Mapping[str, Any]]
) -> dict[str, Any]:
    """A subscription's items: one per recurring price (the quantities of its lines added;
    Stripe refuses a price twice), and one-time prices as items of its first invoice
    (`add_invoice_items`, one per line)."""
    quantities: dict[str, int] = {}
    once: list[dict[str, Any]] = []
    for line in lines:
        pid = str(line.price_id)
        if is_recurring(prices[pid]):
            quantities[pid] = quantities.get(pid, 0) + line.quantity
        else:
            once.append({"price": pid, "quantity": line.quantity})
    out: dict[str, Any] = {"items": [{"price": p, "quantity": q} for p, q in quantities.items()]}
    if once:
        out["add_invoice_items"] = once
    return out


def item_step(line: Line, drops: int) -> str:
    """The step (and idempotency key suffix) making a line's draft invoice item:
    ``item-<line Id>-<price>-<quantity>`` for a product, ``invoiceitem-<price>-<quantity>``
    for the record's price field. The price and quantity make an edited line a new request,
    not a refused one; ``-d<n>`` (items deleted from this draft so far) makes a line edited
    back to an earlier value one too, instead of Stripe answering the deleted item again."""
    head = f"item-{line.line_id}" if line.line_id else "invoiceitem"
    return f"{head}-{line.price_id}-{line.quantity}" + (f"-d{drops}" if drops else "")


def _draft_items(
    subject: Subject,
    invoice_id: str,
    progress: Progress,
    customer_id: str,
    meta: Mapping[str, str],
    generation: int,
) -> StripeCall | None:
    """The draft invoice's items made to match the lines, each once: the draft's items are
    read first (an item Stripe made for a try that died before storing it is on the draft
    already); an item fitting a line (its line, price and quantity) is kept, any other (a
    line edited or removed meanwhile, a second one of a line) deleted; then an item is added
    for each line none fits (None: the draft is right)."""
    listed_step = "draft_items" + (f"-g{generation}" if generation else "")
    listed = progress.get(listed_step)
    if listed is None:
        params = {"invoice": invoice_id, "limit": 100}
        return StripeCall(listed_step, "get", "/v1/invoiceitems", params)
    open_lines = list(subject.billed)
    for item in listed.get("items") or []:
        fits = next((ln for ln in open_lines if _fits(item, ln)), None)
        if fits is not None:
            open_lines.remove(fits)
        elif f"drop-{item['id']}" not in progress:
            path = f"/v1/invoiceitems/{item['id']}"
            return StripeCall(f"drop-{item['id']}", "delete", path)
    drops = sum(1 for name in progress if name.startswith("drop-"))
    for line in open_lines:
        step = item_step(line, drops)
        if step in progress:  # made in this run, after the draft was read
            continue
        params = {
            "customer": customer_id,
            "invoice": invoice_id,
            "price": line.price_id,
            "quantity": line.quantity,
            "metadata": {**meta, LINE_METADATA: line.line_id} if line.line_id else meta,
        }
        return StripeCall(
            step, "post", "/v1/invoiceitems", params, key_for(subject, step, generation)
        )
    return None


def _fits(item: Mapping[str, Any], line: Line) -> bool:
    same_line = item.get("line") == line.line_id if line.line_id else True
    return (
        same_line and item.get("price") == line.price_id and item.get("quantity") == line.quantity
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
    line = next((ln for ln in subject.lines if call.step.startswith(f"item-{ln.line_id}-")), None)
    at = f"{line.label}: " if line else ""
    if code == "resource_missing" and param and ("price" in param or param.startswith("items")):
        if subject.lines:
            named = f" {line.price_id!r}" if line else ""
            return f"{at}Stripe has no price{named}: check the products' Stripe prices"
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
    what = call.step.split("-")[0]
    what = "invoice item" if what in ("item", "invoiceitem") else what.replace("_", " ")
    return f"{at}Stripe refused to create the {what}: {message}"
