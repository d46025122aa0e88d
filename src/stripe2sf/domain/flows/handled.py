"""The Stripe event types stripe2sf acts on, grouped by flow."""

from __future__ import annotations

from enum import StrEnum


class Flow(StrEnum):
    PAYMENT = "payment"
    DISPUTE = "dispute"
    SUBSCRIPTION = "subscription"
    INVOICE_FAILED = "invoice_failed"
    INVOICE_PAID = "invoice_paid"
    CUSTOMER = "customer"
    PAYMENT_METHOD = "payment_method"


FLOWS: dict[str, Flow] = {
    "charge.succeeded": Flow.PAYMENT,
    "charge.failed": Flow.PAYMENT,
    "charge.refunded": Flow.PAYMENT,
    "payment_intent.succeeded": Flow.PAYMENT,
    "charge.dispute.created": Flow.DISPUTE,
    "customer.subscription.created": Flow.SUBSCRIPTION,
    "customer.subscription.updated": Flow.SUBSCRIPTION,
    "customer.subscription.deleted": Flow.SUBSCRIPTION,
    "customer.subscription.paused": Flow.SUBSCRIPTION,
    "customer.subscription.resumed": Flow.SUBSCRIPTION,
    "customer.subscription.trial_will_end": Flow.SUBSCRIPTION,
    "invoice.payment_failed": Flow.INVOICE_FAILED,
    "invoice.paid": Flow.INVOICE_PAID,
    "invoice.payment_succeeded": Flow.INVOICE_PAID,
    "customer.created": Flow.CUSTOMER,
    "customer.updated": Flow.CUSTOMER,
    "customer.deleted": Flow.CUSTOMER,
    "payment_method.attached": Flow.PAYMENT_METHOD,
    "payment_method.updated": Flow.PAYMENT_METHOD,
    "payment_method.automatically_updated": Flow.PAYMENT_METHOD,
}
HANDLED_TYPES = frozenset(FLOWS)

# Flows that may link or create the customer's Account/Contact when none is linked yet.
CREATING_FLOWS = frozenset(
    {Flow.PAYMENT, Flow.SUBSCRIPTION, Flow.INVOICE_FAILED, Flow.CUSTOMER, Flow.PAYMENT_METHOD}
)


def flow_of(event_type: str) -> Flow | None:
    return FLOWS.get(event_type)
