"""Replays the stripe CLI's trigger fixtures (reference SUMMARY.txt) through the official SDK
and checks that the sandbox emits the events Stripe emits, in Stripe's order, and that every
webhook delivery verifies with ``stripe.Webhook.construct_event``."""

from __future__ import annotations

import pytest
import stripe

from stripe_sandbox.testing import RunningSandbox, WebhookReceiver
from tests.sandbox import stripe_support as support
from tests.sandbox.stripe_support import (
    SUMMARY,
    event_types,
    listen,
    parse_triggers,
    run_trigger,
    verify_deliveries,
)

PI_OK = ["payment_intent.created", "charge.succeeded", "payment_intent.succeeded"]
PI_FAILED = ["payment_intent.created", "charge.failed", "payment_intent.payment_failed"]
DRAFT = ["customer.created", "invoiceitem.created", "invoice.created"]
CATALOG = ["product.created", "price.created", "plan.created"]
PAID = ["invoice_payment.paid", "invoice.paid", "invoice.payment_succeeded"]
SUB_CREATED = [
    "customer.created",
    "payment_method.attached",
    *CATALOG,
    "customer.subscription.created",
    "invoice.created",
    "invoice.finalized",
    *PI_OK,
    *PAID,
]
TRIAL_CREATED = [
    "customer.created",
    *CATALOG,
    "customer.subscription.created",
    "invoice.created",
    "invoice.finalized",
    "invoice.paid",
    "invoice.payment_succeeded",
]

EXPECTED: dict[str, list[str]] = {
    "customer.created": ["customer.created"],
    "customer.updated": ["customer.created", "customer.updated"],
    "customer.deleted": ["customer.created", "customer.deleted"],
    "payment_intent.created": ["payment_intent.created"],
    "payment_intent.succeeded": PI_OK,
    "payment_intent.payment_failed": PI_FAILED,
    "payment_intent.canceled": ["payment_intent.created", "payment_intent.canceled"],
    "payment_intent.amount_capturable_updated": [
        "payment_intent.created",
        "charge.succeeded",
        "payment_intent.amount_capturable_updated",
    ],
    "charge.succeeded": PI_OK,
    "charge.failed": PI_FAILED,
    "charge.captured": [
        "payment_intent.created",
        "charge.succeeded",
        "payment_intent.amount_capturable_updated",
        "charge.captured",
        "payment_intent.succeeded",
    ],
    "charge.refunded": [*PI_OK, "charge.refunded", "refund.created"],
    "charge.refund.updated": [
        *PI_OK,
        "charge.refunded",
        "refund.created",
        "refund.updated",
        "charge.refund.updated",
    ],
    "charge.dispute.created": [*PI_OK, "charge.dispute.created", "charge.updated"],
    "charge.dispute.updated": [
        *PI_OK,
        "charge.dispute.created",
        "charge.updated",
        "charge.dispute.updated",
    ],
    "charge.dispute.closed": [
        *PI_OK,
        "charge.dispute.created",
        "charge.updated",
        "charge.dispute.closed",
    ],
    "payment_method.attached": ["customer.created", "payment_method.attached"],
    "payment_method.detached": [
        "customer.created",
        "payment_method.attached",
        "payment_method.detached",
    ],
    "product.created": ["product.created"],
    "product.updated": ["product.created", "product.updated"],
    "product.deleted": ["product.created", "product.deleted"],
    "price.created": CATALOG,
    "price.updated": [*CATALOG, "price.updated"],
    "invoiceitem.created": ["customer.created", "invoiceitem.created"],
    "invoiceitem.deleted": ["customer.created", "invoiceitem.created", "invoiceitem.deleted"],
    "invoice.created": DRAFT,
    "invoice.deleted": [*DRAFT, "invoice.deleted"],
    "invoice.updated": [*DRAFT, "invoice.updated"],
    "invoice.finalized": [*DRAFT, "invoice.finalized"],
    "invoice.voided": [*DRAFT, "invoice.finalized", "invoice.voided"],
    "invoice.marked_uncollectible": [*DRAFT, "invoice.finalized", "invoice.marked_uncollectible"],
    "invoice.sent": [*DRAFT, "invoice.finalized", "invoice.sent"],
    "invoice.paid": [
        "customer.created",
        "payment_method.attached",
        "invoiceitem.created",
        "invoice.created",
        "invoice.finalized",
        *PI_OK,
        *PAID,
    ],
    "invoice.payment_failed": [
        "customer.created",
        "payment_method.attached",
        "invoiceitem.created",
        "invoice.created",
        "invoice.finalized",
        *PI_FAILED,
        "invoice.payment_failed",
        "invoice.updated",
    ],
    "payment_method.updated": [
        "customer.created",
        "setup_intent.created",
        "payment_method.attached",
        "setup_intent.succeeded",
        "payment_method.updated",
    ],
    "setup_intent.created": ["setup_intent.created"],
    "setup_intent.succeeded": ["setup_intent.created", "setup_intent.succeeded"],
    "setup_intent.canceled": ["setup_intent.created", "setup_intent.canceled"],
    "setup_intent.setup_failed": ["setup_intent.created", "setup_intent.setup_failed"],
    "subscription.payment_succeeded": [
        "customer.created",
        "payment_method.attached",
        "customer.updated",
        *CATALOG,
        "customer.subscription.created",
        "invoice.created",
        "invoice.finalized",
        *PI_OK,
        *PAID,
    ],
    "subscription.payment_failed": [
        "customer.created",
        "payment_method.attached",
        "customer.updated",
        *CATALOG,
        "customer.subscription.created",
        "invoice.created",
        "invoice.finalized",
        *PI_FAILED,
        "invoice.payment_failed",
        "invoice.updated",
    ],
    "customer.subscription.created": SUB_CREATED,
    "customer.subscription.updated": [*SUB_CREATED, "customer.subscription.updated"],
    "customer.subscription.deleted": [*SUB_CREATED, "customer.subscription.deleted"],
    "customer.subscription.trial_will_end": [
        *TRIAL_CREATED,
        "customer.subscription.trial_will_end",
    ],
    "customer.subscription.paused": [
        *TRIAL_CREATED,
        "customer.subscription.paused",
        "customer.subscription.updated",
    ],
}

TRIGGERS = parse_triggers(SUMMARY.read_text())

# fixtures (bound by assignment so that test arguments may share their names)
client = support.client
receiver = support.receiver
sb = support.sb
stripe_server = support.stripe_server


def test_summary_covers_the_triggers_we_check() -> None:
    missing = sorted(set(EXPECTED) - set(TRIGGERS))
    assert not missing


@pytest.mark.parametrize("trigger", sorted(EXPECTED))
def test_trigger_produces_stripes_events(
    trigger: str, sb: RunningSandbox, client: stripe.StripeClient, receiver: WebhookReceiver
) -> None:
    secret = listen(client, receiver)
    run_trigger(client, TRIGGERS[trigger])
    types = event_types(client)
    assert trigger in types or trigger.startswith("subscription.")
    assert types == EXPECTED[trigger]
    delivered = verify_deliveries(receiver, secret, len(types))
    assert sorted(e.type for e in delivered) == sorted(types)
    for event in delivered:
        assert event.livemode is False
        assert event.api_version == stripe.api_version
