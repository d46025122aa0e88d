"""The Stripe values stripe2sf may map into Salesforce, and what kind of value each is.

Sources are paths into the *normalised* views of `stripe_views` (so a mapping keeps
working when Stripe moves a field between API versions), plus `metadata.<key>` of the
objects that carry metadata. Nothing here can reach a card number, CVC or fingerprint:
the views never hold them, and `is_forbidden_path` refuses such names even under metadata.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from typing import Literal

SourceKind = Literal["string", "money", "timestamp", "int", "bool", "decimal_money", "url"]


@dataclass(frozen=True)
class SourceSpec:
    kind: SourceKind
    description: str


def _spec(kind: SourceKind, description: str) -> SourceSpec:
    return SourceSpec(kind, description)


ALLOWED_SOURCES: dict[str, SourceSpec] = {
    # charge (payments)
    "charge.id": _spec("string", "Stripe charge id"),
    "charge.customer_id": _spec("string", "Stripe customer id of the charge"),
    "charge.amount": _spec("money", "amount charged, in the currency's major unit"),
    "charge.amount_refunded": _spec("money", "amount refunded so far, major unit"),
    "charge.currency": _spec("string", "ISO currency code"),
    "charge.status": _spec("string", "Succeeded / Failed / Pending / Refunded / ..."),
    "charge.created": _spec("timestamp", "when the charge was made (paid at)"),
    "charge.invoice_id": _spec("string", "Stripe invoice id, when the charge paid one"),
    "charge.payment_intent_id": _spec("string", "Stripe PaymentIntent id"),
    "charge.card_brand": _spec("string", "card brand (visa, mastercard, ...)"),
    "charge.card_last4": _spec("string", "last 4 digits of the card"),
    "charge.failure_message": _spec("string", "why a failed charge failed"),
    # customer
    "customer.id": _spec("string", "Stripe customer id"),
    "customer.email": _spec("string", "customer email"),
    "customer.name": _spec("string", "customer name"),
    "customer.display_name": _spec("string", "name, else email, else id (Account Name)"),
    "customer.first_name": _spec("string", "first part of the customer name"),
    "customer.last_name": _spec("string", "last word of the name (or email local part)"),
    "customer.phone": _spec("string", "customer phone"),
    "customer.created": _spec("timestamp", "when the customer was created in Stripe"),
    "customer.deleted": _spec("bool", "the customer was deleted in Stripe"),
    # subscription (for Account: the customer's most important subscription)
    "subscription.id": _spec("string", "Stripe subscription id"),
    "subscription.status": _spec("string", "Stripe subscription status"),
    "subscription.plan_name": _spec("string", "product name (or price nickname) of the plan"),
    "subscription.product_id": _spec("string", "Stripe product id of the plan"),
    "subscription.price_id": _spec("string", "Stripe price id of the plan"),
    "subscription.quantity": _spec("int", "total quantity (seats)"),
    "subscription.mrr": _spec("decimal_money", "monthly recurring revenue, major unit"),
    "subscription.currency": _spec("string", "ISO currency code"),
    "subscription.current_period_end": _spec("timestamp", "end of the current period"),
    "subscription.cancel_at_period_end": _spec("bool", "cancels at the end of the period"),
    "subscription.trial_end": _spec("timestamp", "end of the trial"),
    "subscription.created": _spec("timestamp", "when the subscription started"),
    # invoice (failed payments)
    "invoice.id": _spec("string", "Stripe invoice id"),
    "invoice.number": _spec("string", "invoice number"),
    "invoice.amount_due": _spec("money", "amount due, major unit"),
    "invoice.amount_paid": _spec("money", "amount paid, major unit"),
    "invoice.attempt_count": _spec("int", "payment attempts so far"),
    "invoice.next_payment_attempt": _spec("timestamp", "next automatic retry"),
    "invoice.hosted_invoice_url": _spec("url", "link to the hosted invoice page"),
    "invoice.status": _spec("string", "Stripe invoice status"),
    # payment method (card on file)
    "payment_method.id": _spec("string", "Stripe PaymentMethod id"),
    "payment_method.type": _spec("string", "payment method type (card, sepa_debit, ...)"),
    "payment_method.card_brand": _spec("string", "card brand"),
    "payment_method.card_last4": _spec("string", "last 4 digits"),
    "payment_method.card_exp_month": _spec("int", "expiry month"),
    "payment_method.card_exp_year": _spec("int", "expiry year"),
    # dispute
    "dispute.id": _spec("string", "Stripe dispute id"),
    "dispute.amount": _spec("money", "disputed amount, major unit"),
    "dispute.reason": _spec("string", "dispute reason"),
    "dispute.status": _spec("string", "dispute status"),
    "dispute.evidence_due_by": _spec("timestamp", "evidence due by"),
}

METADATA_OBJECTS = frozenset({"charge", "customer", "subscription", "invoice"})

# Names that smell of card data; refused as mapping sources and as outgoing field names.
_FORBIDDEN = re.compile(
    r"(card[._]?number|cc_?num|\bpan\b|(^|[_.\s-])pan($|[_.\s-])|cvc|cvv|cvn|csc|security_?code"
    r"|fingerprint|track_?[12]|magstripe|exp_?date_?full)",
    re.IGNORECASE,
)


@functools.lru_cache(maxsize=4096)  # pure; asked for every mapped source of every record
def is_forbidden_path(path: str) -> bool:
    """True for names that look like card data (number, CVC, fingerprint, track data)."""
    return bool(_FORBIDDEN.search(path))


def source_spec(path: str) -> SourceSpec | None:
    """The spec of an allowed source path, or None when the path may not be mapped."""
    if is_forbidden_path(path):
        return None
    if path in ALLOWED_SOURCES:
        return ALLOWED_SOURCES[path]
    head, _, rest = path.partition(".")
    if head in METADATA_OBJECTS and rest.startswith("metadata.") and len(rest) > len("metadata."):
        return SourceSpec("string", f"{head} metadata key {rest[len('metadata.') :]!r}")
    return None


def source_object(path: str) -> str:
    """`charge` for `charge.amount`."""
    return path.split(".", 1)[0]
