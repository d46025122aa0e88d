"""Older API versions over HTTP: the Stripe-Version header, the account's default version
(control plane) and webhook endpoints pinned to a version, as Stripe answers them."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from typing import Any

import pytest
import stripe

from stripe_sandbox import versions
from stripe_sandbox.testing import RunningSandbox, WebhookReceiver, webhook_receiver
from tests.sandbox import stripe_support as support

client = support.client
receiver = support.receiver
sb = support.sb
stripe_server = support.stripe_server

DAY = 86_400


def get(sb: RunningSandbox, path: str, version: str | None = None) -> tuple[int, Any, str]:
    """(status, body, Stripe-Version answered) of a GET, with or without a Stripe-Version."""
    headers = {"Authorization": f"Bearer {sb.api_key}"}
    if version is not None:
        headers["Stripe-Version"] = version
    req = urllib.request.Request(sb.api_base + path, headers=headers)
    try:
        with urllib.request.urlopen(req) as resp:
            return resp.status, json.loads(resp.read()), resp.headers["Stripe-Version"]
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read()), exc.headers["Stripe-Version"]


def paid_subscription(client: stripe.StripeClient, clock: str | None = None) -> tuple[Any, Any]:
    """A customer paying a monthly subscription with a card: (customer, subscription)."""
    params: dict[str, Any] = {"email": "old@versions.example", "name": "Olive Old"}
    if clock:
        params["test_clock"] = clock
    customer = client.v1.customers.create(params)  # type: ignore[arg-type]
    method = client.v1.payment_methods.attach("pm_card_visa", {"customer": customer.id})
    product = client.v1.products.create({"name": "Pro"})
    price = client.v1.prices.create(
        {
            "product": product.id,
            "currency": "usd",
            "unit_amount": 900,
            "recurring": {"interval": "month"},
        }
    )
    sub = client.v1.subscriptions.create(
        {
            "customer": customer.id,
            "items": [{"price": price.id}],
            "default_payment_method": method.id,
        }
    )
    return customer, sub


def test_stripe_version_header_renders_that_version(
    sb: RunningSandbox, client: stripe.StripeClient
) -> None:
    customer, sub = paid_subscription(client)
    [invoice] = client.v1.invoices.list({"customer": customer.id}).data
    status, today, answered = get(sb, f"/v1/invoices/{invoice.id}")
    assert status == 200 and answered == versions.CURRENT
    assert "subscription" not in today and today["parent"]["subscription_details"]
    status, old, answered = get(sb, f"/v1/invoices/{invoice.id}", "2024-06-20")
    assert status == 200 and answered == "2024-06-20"
    assert old["subscription"] == sub.id and old["paid"] is True and "parent" not in old
    intent = client.v1.payment_intents.retrieve(str(old["payment_intent"]))
    assert old["charge"] == intent.latest_charge
    # lists too, and the objects inside them
    _, page, _ = get(sb, f"/v1/payment_intents?customer={customer.id}", "2022-08-01")
    [pi] = page["data"]
    assert "latest_charge" not in pi and pi["invoice"] == invoice.id
    assert [c["id"] for c in pi["charges"]["data"]] == [old["charge"]]
    assert pi["charges"]["data"][0]["invoice"] == invoice.id
    _, subs, _ = get(sb, f"/v1/subscriptions?customer={customer.id}", "2025-02-24.acacia")
    assert subs["data"][0]["current_period_end"] > subs["data"][0]["current_period_start"]
    assert "current_period_end" not in subs["data"][0]["items"]["data"][0]
    # the official SDK sends its own pinned version on every request
    assert client.v1.invoices.retrieve(invoice.id).to_dict().get("subscription") is None


def test_unknown_versions_answer_400_like_stripe(
    sb: RunningSandbox, client: stripe.StripeClient
) -> None:
    status, body, _ = get(sb, "/v1/customers", "2099-01-01")
    assert status == 400
    assert body["error"]["message"] == "Invalid Stripe API version: 2099-01-01"
    assert body["error"]["type"] == "invalid_request_error"
    status, body, _ = get(sb, "/v1/customers", "2019-12-03")
    assert status == 400 and "renders versions from 2020-03-02" in body["error"]["message"]
    with pytest.raises(stripe.InvalidRequestError) as info:
        client.v1.webhook_endpoints.create(
            {"url": "http://127.0.0.1:9/x", "enabled_events": ["*"], "api_version": "2020-13-01"}  # type: ignore[typeddict-item]
        )
    assert info.value.param == "api_version"  # type: ignore[attr-defined]
    with pytest.raises(urllib.error.HTTPError):
        sb.settings(api_version="1999-01-01")


def test_account_default_version_renders_requests_and_new_events(
    sb: RunningSandbox, client: stripe.StripeClient
) -> None:
    before = client.v1.customers.create({"email": "before@versions.example"})
    sb.settings(api_version="2020-03-02")
    after = client.v1.customers.create({"email": "after@versions.example"})
    _, body, answered = get(sb, f"/v1/customers/{after.id}")
    assert answered == "2020-03-02" and body["sources"]["data"] == []
    assert body["subscriptions"]["object"] == "list" and "customer_account" not in body
    # the header still wins
    _, body, answered = get(sb, f"/v1/customers/{after.id}", versions.CURRENT)
    assert answered == versions.CURRENT and "sources" not in body
    # an event keeps the version it was made in: the Events API shows each in its own
    _, page, _ = get(sb, "/v1/events?type=customer.created")
    made_in = {e["data"]["object"]["id"]: e["api_version"] for e in page["data"]}
    assert made_in == {before.id: versions.CURRENT, after.id: "2020-03-02"}
    shown = {e["data"]["object"]["id"]: "sources" in e["data"]["object"] for e in page["data"]}
    assert shown == {before.id: False, after.id: True}
    _, one, _ = get(sb, f"/v1/events/{page['data'][0]['id']}", versions.CURRENT)
    assert one["api_version"] == "2020-03-02" and "sources" in one["data"]["object"]


def test_each_endpoint_gets_its_own_version_of_the_same_event(
    sb: RunningSandbox, client: stripe.StripeClient, receiver: WebhookReceiver
) -> None:
    """A renewal through a test clock: the same events reach an endpoint on 2024-06-20 and
    one on today's version, each in its own shape, previous_attributes included."""
    with webhook_receiver() as today_rx:
        old_ep = client.v1.webhook_endpoints.create(
            {"url": receiver.url, "enabled_events": ["*"], "api_version": "2024-06-20"}  # type: ignore[typeddict-item]
        )
        new_ep = client.v1.webhook_endpoints.create({"url": today_rx.url, "enabled_events": ["*"]})
        assert old_ep.api_version == "2024-06-20" and new_ep.api_version is None
        clock = client.v1.test_helpers.test_clocks.create({"frozen_time": 1_790_000_000})
        _, sub = paid_subscription(client, clock.id)
        client.v1.test_helpers.test_clocks.advance(
            clock.id, {"frozen_time": 1_790_000_000 + 32 * DAY}
        )
        sb.wait_for_clock(clock.id)
        assert sb.wait_idle()
        old = {
            r.json["id"]: stripe.Webhook.construct_event(
                r.text, r.headers["stripe-signature"], str(old_ep.secret)
            ).to_dict()
            for r in receiver.received
        }
        new = {r.json["id"]: r.json for r in today_rx.received}
    assert old.keys() == new.keys()
    assert {e["api_version"] for e in old.values()} == {"2024-06-20"}
    assert {e["api_version"] for e in new.values()} == {versions.CURRENT}
    renewals = [
        e
        for e in old.values()
        if e["type"] == "customer.subscription.updated"
        and "current_period_end" in e["data"].get("previous_attributes", {})
    ]
    assert renewals, "the renewal moves the subscription's period in 2024-06-20"
    [renewal] = renewals
    assert (
        renewal["data"]["object"]["current_period_end"]
        > renewal["data"]["previous_attributes"]["current_period_end"]
    )
    assert "items" in new[renewal["id"]]["data"]["previous_attributes"]
    paid = [e for e in old.values() if e["type"] == "invoice.paid"]
    assert paid and all(e["data"]["object"]["subscription"] == sub.id for e in paid)
    assert all(e["data"]["object"]["charge"].startswith("ch_") for e in paid)
    assert all("parent" in new[e["id"]]["data"]["object"] for e in paid)
