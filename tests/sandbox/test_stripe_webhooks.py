"""Webhook delivery like Stripe's: signed, only enabled events, retried with growing
intervals, recorded, in the background; plus the fault knobs."""

from __future__ import annotations

import itertools
import threading

import stripe

from stripe_sandbox.testing import RunningSandbox, WebhookReceiver, webhook_receiver
from tests.sandbox import stripe_support as support
from tests.sandbox.stripe_support import listen, verify_deliveries

# fixtures (bound by assignment so that test arguments may share their names)
client = support.client
receiver = support.receiver
sb = support.sb
stripe_server = support.stripe_server


def test_only_enabled_events_are_delivered_and_signed(
    sb: RunningSandbox, client: stripe.StripeClient, receiver: WebhookReceiver
) -> None:
    secret = listen(client, receiver, ["customer.updated"])
    customer = client.v1.customers.create({"email": "a@example.com"})
    client.v1.customers.update(customer.id, {"name": "Ada"})
    events = verify_deliveries(receiver, secret, 1)
    assert sb.wait_idle()
    assert [e.type for e in events] == ["customer.updated"]
    assert len(receiver.received) == 1
    headers = receiver.received[0].headers
    assert headers["content-type"].startswith("application/json")
    assert headers["user-agent"].startswith("Stripe/1.0")
    log = sb.deliveries()
    assert [(d["event_type"], d["status"], d["attempt_count"]) for d in log] == [
        ("customer.updated", "succeeded", 1)
    ]
    assert log[0]["attempts"][0]["status_code"] == 200
    stored = client.v1.events.retrieve(events[0].id)
    assert stored.pending_webhooks == 0


def test_failed_deliveries_are_retried_with_growing_intervals(
    sb: RunningSandbox, client: stripe.StripeClient, receiver: WebhookReceiver
) -> None:
    receiver.statuses = [500, 503]
    secret = listen(client, receiver, ["product.created"])
    client.v1.products.create({"name": "P"})
    received = receiver.wait_for(3)
    ids = {
        stripe.Webhook.construct_event(r.text, r.headers["stripe-signature"], secret).id
        for r in received
    }
    assert len(ids) == 1
    gaps = [b.at - a.at for a, b in itertools.pairwise(received)]
    assert len(gaps) == 2
    assert sb.wait_idle()
    (delivery,) = sb.deliveries()
    assert delivery["status"] == "succeeded" and delivery["attempt_count"] == 3
    assert [a["status_code"] for a in delivery["attempts"]] == [500, 503, 200]


def test_gives_up_after_max_attempts(
    sb: RunningSandbox, client: stripe.StripeClient, receiver: WebhookReceiver
) -> None:
    sb.settings(webhook_max_attempts=2, webhook_retry_base_seconds=0.01)
    receiver.default_status = 400
    listen(client, receiver, ["product.created"])
    client.v1.products.create({"name": "P"})
    receiver.wait_for(2)
    assert sb.wait_idle()
    (delivery,) = sb.deliveries()
    assert delivery["status"] == "failed" and delivery["attempt_count"] == 2
    assert client.v1.events.list().data[0].pending_webhooks == 1


def test_delivery_never_blocks_the_api_call(
    sb: RunningSandbox, client: stripe.StripeClient, receiver: WebhookReceiver
) -> None:
    released = threading.Event()
    original = receiver.record

    def slow(headers: dict[str, str], body: bytes) -> int:
        released.wait(10)  # answers only after the API call below has returned
        return original(headers, body)

    receiver.record = slow  # type: ignore[method-assign]
    secret = listen(client, receiver, ["customer.created"])
    client.v1.customers.create({"email": "fast@example.com"})
    released.set()
    verify_deliveries(receiver, secret, 1)


def test_duplicates_drops_delays_and_shuffles(
    sb: RunningSandbox, client: stripe.StripeClient, receiver: WebhookReceiver
) -> None:
    secret = listen(client, receiver, ["customer.created"])
    sb.faults(duplicate_rate=1.0, seed=1)
    client.v1.customers.create({})
    events = verify_deliveries(receiver, secret, 2)
    assert events[0].id == events[1].id
    assert sb.wait_idle()
    sb.faults(duplicate_rate=0.0, drop_rate=1.0)
    client.v1.customers.create({})
    assert sb.wait_idle()
    assert len(receiver.received) >= 2
    dropped = sb.deliveries(status="dropped")
    assert len(dropped) == 1
    sb.faults(drop_rate=0.0, delay_seconds=0.2, shuffle=True)
    created = [client.v1.customers.create({}).id for _ in range(4)]
    events = verify_deliveries(receiver, secret, len(receiver.received) + 4)
    delivered = [e.data.object.id for e in events[-4:]]
    assert sorted(delivered) == sorted(created)
    log = sb.deliveries(status="succeeded")
    assert sum(1 for d in log if d["duplicate"]) >= 1


def test_two_endpoints_each_get_their_own_signature(
    sb: RunningSandbox, client: stripe.StripeClient, receiver: WebhookReceiver
) -> None:
    with webhook_receiver() as other:
        first = listen(client, receiver, ["*"])
        second = listen(client, other, ["*"])
        client.v1.customers.create({})
        verify_deliveries(receiver, first, 1)
        verify_deliveries(other, second, 1)
        event = client.v1.events.list().data[0]
        assert sb.wait_idle()
        assert client.v1.events.retrieve(event.id).pending_webhooks == 0
