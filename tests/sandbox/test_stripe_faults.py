"""The fault knobs a fault soak needs, through the stripe SDK and plain HTTP: per-endpoint API
outages, jittered API latency, late deliveries and late duplicates, a webhook endpoint
outage, clearing every fault, and 400s for bad values."""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from typing import Any

import pytest
import stripe

from stripe_sandbox.settings import Faults
from stripe_sandbox.testing import RunningSandbox, WebhookReceiver
from tests.sandbox import stripe_support as support
from tests.sandbox.stripe_support import listen, verify_deliveries

client = support.client
receiver = support.receiver
sb = support.sb
stripe_server = support.stripe_server


def _post_faults(sb: RunningSandbox, body: dict[str, Any]) -> tuple[int, Any]:
    request = urllib.request.Request(
        f"{sb.api_base}/_sandbox/faults",
        data=json.dumps(body).encode(),
        method="POST",
        headers={"Content-Type": "application/json"},
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as answer:
            return answer.status, json.loads(answer.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def test_api_outage_on_a_path_pattern(sb: RunningSandbox, client: stripe.StripeClient) -> None:
    customer = client.v1.customers.create({"email": "a@example.com"})
    sb.faults(api_outage=[{"path": "/v1/events*", "status": 503}])
    with pytest.raises(stripe.APIError) as caught:
        client.v1.events.list()
    assert caught.value.http_status == 503
    assert caught.value.json_body is not None
    error = caught.value.json_body["error"]
    assert error["type"] == "api_error" and "/v1/events*" in error["message"]
    with pytest.raises(stripe.APIError):
        client.v1.events.retrieve("evt_anything")  # `*` matches the id too
    assert client.v1.customers.retrieve(customer.id).email == "a@example.com"  # others work
    assert sb.control("GET", "faults")["api_outage"][0]["hits"] == 2

    # one GET of a customer, as a rate limit; writes and later reads go through
    sb.faults(api_outage=[{"path": "/v1/customers/*", "status": 429, "method": "GET", "count": 1}])
    with pytest.raises(stripe.RateLimitError):
        client.v1.customers.retrieve(customer.id)
    client.v1.customers.update(customer.id, {"name": "Ada"})
    assert client.v1.customers.retrieve(customer.id).name == "Ada"
    assert sb.control("GET", "faults")["api_outage"][0]["count"] == 0

    sb.faults(api_outage=[{"path": "/v1/events*", "rate": 0.0}])
    assert client.v1.events.list().data  # rate 0: never
    sb.faults(api_outage=[])
    assert sb.control("GET", "faults")["api_outage"] == []


def test_jittered_api_latency_is_set_and_shown(
    sb: RunningSandbox, client: stripe.StripeClient
) -> None:
    shown = sb.faults(api_latency_ms=1, api_latency_jitter_ms=3)
    assert shown["api_latency_ms"] == 1.0 and shown["api_latency_jitter_ms"] == 3.0
    assert client.v1.customers.list().data == []


def test_late_delivery_arrives_after_a_newer_event_of_the_object(
    sb: RunningSandbox, client: stripe.StripeClient, receiver: WebhookReceiver
) -> None:
    secret = listen(client, receiver, ["customer.created", "customer.updated"])
    sb.faults(late_rate=1.0, late_seconds=3600)
    customer = client.v1.customers.create({"email": "late@example.com"})
    sb.faults(late_rate=0.0)
    client.v1.customers.update(customer.id, {"name": "Newer"})
    first = verify_deliveries(receiver, secret, 1)
    assert [e.type for e in first] == ["customer.updated"]
    (held,) = sb.deliveries(event_type="customer.created")
    assert held["status"] == "pending" and held["attempt_count"] == 0
    assert held["next_attempt_at"] - held["created"] >= 3600  # held back, not yet due
    sb.retry_deliveries()  # skip the wait
    events = verify_deliveries(receiver, secret, 2)
    assert [e.type for e in events] == ["customer.updated", "customer.created"]
    assert events[1].data.object.id == customer.id


def test_duplicate_can_arrive_late(
    sb: RunningSandbox, client: stripe.StripeClient, receiver: WebhookReceiver
) -> None:
    secret = listen(client, receiver, ["product.created"])
    sb.faults(duplicate_rate=1.0, duplicate_delay_seconds=3600, seed=3)
    client.v1.products.create({"name": "P"})
    verify_deliveries(receiver, secret, 1)
    assert sb.wait_idle()
    copy = next(d for d in sb.deliveries() if d["duplicate"])
    assert copy["status"] == "pending" and copy["next_attempt_at"] - copy["created"] >= 3600
    assert len(receiver.received) == 1
    sb.retry_deliveries()
    events = verify_deliveries(receiver, secret, 2)
    assert events[0].id == events[1].id


def test_webhook_outage_then_the_retry_schedule_delivers(
    sb: RunningSandbox, client: stripe.StripeClient, receiver: WebhookReceiver
) -> None:
    sb.settings(webhook_max_attempts=30)
    secret = listen(client, receiver, ["product.created"])
    sb.faults(webhook_outage=True)
    client.v1.products.create({"name": "P"})
    deadline = time.monotonic() + 30
    while True:
        (delivery,) = sb.deliveries()
        if delivery["attempt_count"] >= 2 or time.monotonic() > deadline:
            break
        time.sleep(0.02)
    assert delivery["status"] == "pending" and delivery["attempt_count"] >= 2
    assert all(a.get("outage") for a in delivery["attempts"])
    assert receiver.received == []
    sb.faults(webhook_outage=False)
    events = verify_deliveries(receiver, secret, 1)  # by the schedule: no retry_deliveries()
    assert events[0].type == "product.created"
    assert sb.wait_idle()
    (delivery,) = sb.deliveries()
    assert delivery["status"] == "succeeded"
    assert [a.get("status_code") for a in delivery["attempts"]][-1] == 200
    assert client.v1.events.retrieve(events[0].id).pending_webhooks == 0


def test_clearing_and_reset_turn_every_fault_off(sb: RunningSandbox) -> None:
    knobs: dict[str, Any] = {
        "duplicate_rate": 0.1,
        "duplicate_delay_seconds": 5,
        "drop_rate": 0.02,
        "late_rate": 0.05,
        "late_seconds": 30,
        "webhook_outage": True,
        "api_latency_ms": 20,
        "api_latency_jitter_ms": 20,
        "api_error_rate": 0.02,
        "api_outage": [{"path": "/v1/events*", "status": 500, "rate": 0.5}],
    }
    shown = sb.faults(**knobs)
    assert shown["api_outage"] == [
        {"path": "/v1/events*", "status": 500, "rate": 0.5, "method": "*", "count": None, "hits": 0}
    ]
    assert sb.control("GET", "faults") == shown
    assert sb.faults(**sb.control("GET", "faults")) == shown  # what GET shows can be posted
    off = Faults().as_dict()
    assert sb.clear_faults() == off
    assert sb.control("GET", "faults") == off
    sb.faults(**knobs)
    sb.reset()
    assert sb.control("GET", "faults") == off


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"late_rate": 2}, "late_rate: must be a number from 0 to 1"),
        ({"late_seconds": "soon"}, "late_seconds: must be a number"),
        ({"webhook_outage": "yes"}, "webhook_outage: must be true or false"),
        ({"api_fail_status": 404}, "must be 429 or 500-599"),
        ({"api_outage": {"path": "/v1/events"}}, "must be a list"),
        ({"api_outage": [{"path": "v1/events"}]}, "api_outage[0].path must be a path pattern"),
        ({"api_outage": [{"path": "/v1/x", "status": 400}]}, "must be 429 or 500-599"),
        ({"api_outage": [{"path": "/v1/x", "rat": 1}]}, "unknown key 'rat'"),
        ({"late_rat": 1}, "Unknown fault: late_rat"),
    ],
)
def test_bad_fault_values_answer_400(
    sb: RunningSandbox, body: dict[str, Any], message: str
) -> None:
    status, answer = _post_faults(sb, {"drop_rate": 0.5, **body})
    assert status == 400
    assert answer["error"]["type"] == "invalid_request_error"
    assert message in answer["error"]["message"]
    assert sb.control("GET", "faults")["drop_rate"] == 0.0  # nothing of a bad update applied


def test_help_documents_the_new_knobs() -> None:
    from stripe_sandbox.cli import build_parser

    text = build_parser().format_help()
    for knob in ("api_outage", "api_latency_jitter_ms", "late_rate", "late_seconds"):
        assert knob in text
    for knob in ("duplicate_delay_seconds", "webhook_outage", "DELETE /_sandbox/faults"):
        assert knob in text
