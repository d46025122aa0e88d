"""Shape conformance: every object and event the sandbox emits has the fields the SDK's typed
classes declare for the pinned API version (none missing, none unknown) and validates against
the reference JSON Schema where that schema's version agrees."""

from __future__ import annotations

import json
from typing import Any

import stripe

from stripe_sandbox import shapes
from stripe_sandbox.testing import RunningSandbox
from tests.sandbox import stripe_support as support
from tests.sandbox.stripe_shapes import conformance, schema_errors
from tests.sandbox.stripe_support import SUMMARY, parse_triggers, run_trigger

SCENARIOS = [
    "customer.subscription.created",
    "charge.refund.updated",
    "charge.dispute.closed",
    "invoice.payment_failed",
    "invoice.voided",
    "payment_method.detached",
    "customer.subscription.paused",
    "invoiceitem.deleted",
    "invoice.sent",
    "customer.subscription.deleted",
    "charge.captured",
    "payment_intent.canceled",
    "product.deleted",
    "customer.deleted",
    "payment_method.updated",
    "setup_intent.canceled",
    "subscription.payment_failed",
]
LISTS = [
    "/v1/customers",
    "/v1/payment_methods",
    "/v1/payment_intents",
    "/v1/charges",
    "/v1/refunds",
    "/v1/disputes",
    "/v1/products",
    "/v1/prices",
    "/v1/invoices",
    "/v1/invoiceitems",
    "/v1/invoice_payments",
    "/v1/test_helpers/test_clocks",
    "/v1/webhook_endpoints",
    "/v1/setup_intents",
]

# fixtures (bound by assignment so that test arguments may share their names)
client = support.client
sb = support.sb
stripe_server = support.stripe_server


def _raw(client: stripe.StripeClient, path: str, **params: Any) -> Any:
    return json.loads(client.raw_request("get", path, **params).body)


def _everything(client: stripe.StripeClient) -> tuple[list[Any], list[Any]]:
    triggers = parse_triggers(SUMMARY.read_text())
    client.v1.webhook_endpoints.create(
        {"url": "http://127.0.0.1:9/unused", "enabled_events": ["customer.created"]}
    )
    for name in SCENARIOS:
        run_trigger(client, triggers[name])
    clock = client.v1.test_helpers.test_clocks.create({"frozen_time": 1767225600})
    customer = client.v1.customers.create(
        {
            "test_clock": clock.id,
            "payment_method": "pm_card_visa",
            "invoice_settings": {"default_payment_method": "pm_card_visa"},
        }
    )
    price = client.v1.prices.create(
        {
            "product_data": {"name": "Gold"},
            "unit_amount": 900,
            "currency": "jpy",
            "recurring": {"interval": "month"},
        }
    )
    client.v1.subscriptions.create(
        {"customer": customer.id, "items": [{"price": price.id}], "trial_period_days": 3}
    )
    events = _raw(client, "/v1/events", limit=100)["data"]
    objects = [e["data"]["object"] for e in events]
    for path in LISTS:
        objects.extend(_raw(client, path, limit=100)["data"])
    subs = _raw(client, "/v1/subscriptions", limit=100, status="all")["data"]
    objects.extend(subs)
    for sub in subs:
        objects.append(
            _raw(
                client,
                f"/v1/subscriptions/{sub['id']}",
                **{"expand[0]": "latest_invoice", "expand[1]": "customer"},
            )
        )
    return events, objects


def test_emitted_objects_match_the_sdk_classes_and_the_schema(
    sb: RunningSandbox, client: stripe.StripeClient
) -> None:
    events, objects = _everything(client)
    kinds = {o["object"] for o in objects}
    assert {
        "customer",
        "payment_method",
        "payment_intent",
        "charge",
        "refund",
        "dispute",
        "product",
        "price",
        "plan",
        "subscription",
        "invoice",
        "invoiceitem",
        "invoice_payment",
        "test_helpers.test_clock",
        "webhook_endpoint",
        "setup_intent",
    } <= kinds
    problems: set[str] = set()
    for event in events:
        problems.update(conformance(event))
        assert event["api_version"] == stripe.api_version
        assert event["livemode"] is False
        assert set(event["request"]) == {"id", "idempotency_key"}
        assert isinstance(event["pending_webhooks"], int)
    for obj in objects:
        problems.update(conformance(obj))
        problems.update(schema_errors(obj))
    assert sorted(problems) == []


def test_updated_events_carry_previous_attributes(
    sb: RunningSandbox, client: stripe.StripeClient
) -> None:
    customer = client.v1.customers.create({"email": "old@example.com"})
    client.v1.customers.update(
        customer.id, {"email": "new@example.com", "metadata": {"tier": "gold"}}
    )
    updated = client.v1.events.list({"type": "customer.updated"}).data[0]
    assert updated.data.previous_attributes is not None
    previous = updated.data.previous_attributes.to_dict()
    assert previous == {"email": "old@example.com", "metadata": {"tier": None}}
    assert updated.data.object.email == "new@example.com"
    assert updated.request is not None and updated.request.id is not None
    assert updated.request.id.startswith("req_")


def test_builders_conform_without_a_server() -> None:
    card = shapes.card_details("visa", "4242", 12, 2030, "fp")
    built = [
        shapes.customer("cus_1", 1),
        shapes.payment_method("pm_1", 1, card),
        shapes.payment_intent("pi_1", 1, 100, "usd", "s"),
        shapes.charge("ch_1", 1, 100, "usd"),
        shapes.refund("re_1", 1, 100, "usd"),
        shapes.dispute("du_1", 1, 100, "usd", "ch_1"),
        shapes.product("prod_1", 1, "P"),
        shapes.price("price_1", 1, "prod_1", "usd", 100),
        shapes.subscription("sub_1", 1, "cus_1", "usd"),
        shapes.invoice("in_1", 1, shapes.customer("cus_1", 1), "usd"),
        shapes.invoiceitem("ii_1", 1, "cus_1", 100, "usd"),
        shapes.test_clock("clock_1", 1, 1, None),
        shapes.webhook_endpoint("we_1", 1, "http://x", ["*"]),
        shapes.event(
            "evt_1", 1, "customer.created", shapes.customer("cus_1", 1), None, None, None, 0
        ),
    ]
    for obj in built:
        assert conformance(obj) == [], obj["object"]


def test_the_checker_spots_missing_and_unknown_fields() -> None:
    customer = shapes.customer("cus_1", 1)
    del customer["email"]
    customer["colour"] = "red"
    problems = conformance(customer)
    assert any("missing fields ['email']" in p for p in problems)
    assert any("unknown fields ['colour']" in p for p in problems)
    charge = shapes.charge("ch_1", 1, 100, "usd")
    charge["outcome"] = {"type": "authorized", "bogus": 1}
    assert any("charge.outcome: unknown fields ['bogus']" in p for p in conformance(charge))
    assert schema_errors({**shapes.customer("cus_1", 1), "balance": "lots"})
