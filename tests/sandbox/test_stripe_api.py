"""The v1 API through the official SDK: keys, errors, idempotency, lists, expand, and the
resource behaviours stripe2sf relies on."""

from __future__ import annotations

import json
import urllib.error
import urllib.request

import pytest
import stripe

from stripe_sandbox.testing import RunningSandbox
from tests.sandbox import stripe_support as support
from tests.sandbox.stripe_support import event_types

# fixtures (bound by assignment so that test arguments may share their names)
client = support.client
sb = support.sb
stripe_server = support.stripe_server


def _status(url: str, key: str | None) -> tuple[int, dict[str, object]]:
    req = urllib.request.Request(url)
    if key is not None:
        req.add_header("Authorization", f"Bearer {key}")
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


@pytest.mark.parametrize("key", [None, "", "not-a-key", "pk_test_abcdefgh", "sk_live_abcdefgh"])
def test_keys_that_are_refused(sb: RunningSandbox, key: str | None) -> None:
    status, body = _status(f"{sb.api_base}/v1/customers", key)
    assert status == 401
    assert body["error"]["type"] == "invalid_request_error"  # type: ignore[index]


def test_live_key_through_the_sdk(sb: RunningSandbox) -> None:
    live = stripe.StripeClient("sk_live_0123456789", base_addresses={"api": sb.api_base})
    with pytest.raises(stripe.AuthenticationError):
        live.v1.customers.list()


def test_errors_have_stripes_shape_and_status(client: stripe.StripeClient) -> None:
    with pytest.raises(stripe.InvalidRequestError) as missing:
        client.v1.customers.retrieve("cus_missing")
    assert missing.value.http_status == 404
    assert missing.value.code == "resource_missing"
    with pytest.raises(stripe.InvalidRequestError) as param:
        client.v1.prices.create({"currency": "usd", "unit_amount": 100})
    assert param.value.http_status == 400
    assert param.value.code == "parameter_missing" and param.value.param == "product"
    with pytest.raises(stripe.CardError) as declined:
        client.v1.payment_intents.create(
            {
                "amount": 500,
                "currency": "usd",
                "confirm": True,
                "payment_method": "pm_card_chargeDeclined",
            }
        )
    assert declined.value.http_status == 402
    assert declined.value.code == "card_declined"
    error = declined.value.error
    assert error is not None and error.decline_code == "generic_decline"


def test_unknown_url(sb: RunningSandbox) -> None:
    status, body = _status(f"{sb.api_base}/v1/nothing_here", "sk_test_0123456789")
    assert status == 404 and "Unrecognized request URL" in str(body)


def test_idempotency_keys(client: stripe.StripeClient) -> None:
    first = client.v1.customers.create({"email": "a@example.com"}, {"idempotency_key": "key-1"})
    again = client.v1.customers.create({"email": "a@example.com"}, {"idempotency_key": "key-1"})
    assert first.id == again.id
    assert event_types(client) == ["customer.created"]
    with pytest.raises(stripe.IdempotencyError):
        client.v1.customers.create({"email": "b@example.com"}, {"idempotency_key": "key-1"})
    event = client.v1.events.list().data[0]
    assert event.request is not None and event.request.idempotency_key == "key-1"


def test_pagination_and_created_filters(client: stripe.StripeClient) -> None:
    made = [client.v1.customers.create({"email": f"c{i}@example.com"}).id for i in range(7)]
    page = client.v1.customers.list({"limit": 3})
    assert [c.id for c in page.data] == made[::-1][:3] and page.has_more
    after = client.v1.customers.list({"limit": 3, "starting_after": page.data[-1].id})
    assert [c.id for c in after.data] == made[::-1][3:6]
    before = client.v1.customers.list({"limit": 2, "ending_before": after.data[0].id})
    assert [c.id for c in before.data] == made[::-1][1:3]
    assert [c.id for c in client.v1.customers.list({"limit": 2}).auto_paging_iter()] == made[::-1]
    created = client.v1.customers.retrieve(made[0]).created
    assert len(client.v1.customers.list({"created": {"gte": created}, "limit": 100}).data) == 7
    assert client.v1.customers.list({"created": {"lt": created}}).data == []
    with pytest.raises(stripe.InvalidRequestError):
        client.v1.customers.list({"limit": 1000})


def test_expand(client: stripe.StripeClient) -> None:
    customer = client.v1.customers.create({"email": "x@example.com"})
    pi = client.v1.payment_intents.create(
        {
            "amount": 1200,
            "currency": "usd",
            "customer": customer.id,
            "confirm": True,
            "payment_method": "pm_card_mastercard",
        },
    )
    charge = client.v1.charges.retrieve(
        str(pi.latest_charge), {"expand": ["customer", "payment_intent"]}
    )
    assert isinstance(charge.customer, stripe.Customer)
    assert charge.customer.email == "x@example.com"
    listed = client.v1.charges.list({"customer": customer.id, "expand": ["data.customer"]})
    assert isinstance(listed.data[0].customer, stripe.Customer)
    card = charge.payment_method_details.card if charge.payment_method_details else None
    assert card is not None and card.brand == "mastercard" and card.last4 == "4444"
    with pytest.raises(stripe.InvalidRequestError):
        client.v1.charges.retrieve(charge.id, {"expand": ["no_such_field"]})


def test_customer_update_delete_and_card_metadata_only(client: stripe.StripeClient) -> None:
    customer = client.v1.customers.create({"name": "Ada", "email": "ada@example.com"})
    pm = client.v1.payment_methods.create(
        {
            "type": "card",
            "card": {"number": "4000000000000341", "exp_month": 4, "exp_year": 2031, "cvc": "123"},
        }
    )
    assert pm.card is not None
    assert (pm.card.brand, pm.card.last4, pm.card.exp_month, pm.card.exp_year) == (
        "visa",
        "0341",
        4,
        2031,
    )
    raw = json.dumps(client.v1.payment_methods.retrieve(pm.id).to_dict())
    assert "4000000000000341" not in raw and '"123"' not in raw
    client.v1.payment_methods.attach(pm.id, {"customer": customer.id})
    client.v1.customers.update(customer.id, {"invoice_settings": {"default_payment_method": pm.id}})
    updated = client.v1.payment_methods.update(pm.id, {"card": {"exp_year": 2033}})
    assert updated.card is not None and updated.card.exp_year == 2033
    with pytest.raises(stripe.CardError):
        client.v1.payment_intents.create(
            {
                "amount": 900,
                "currency": "usd",
                "confirm": True,
                "customer": customer.id,
                "payment_method": pm.id,
            }
        )
    detached = client.v1.payment_methods.detach(pm.id)
    assert detached.customer is None
    deleted = client.v1.customers.delete(customer.id)
    assert deleted.deleted is True
    assert client.v1.customers.retrieve(customer.id).deleted is True
    assert client.v1.customers.list().data == []
    assert event_types(client) == [
        "customer.created",
        "payment_method.attached",
        "customer.updated",
        "payment_method.updated",
        "payment_intent.created",
        "charge.failed",
        "payment_intent.payment_failed",
        "customer.updated",
        "payment_method.detached",
        "customer.deleted",
    ]


def test_zero_decimal_currency_and_refunds(client: stripe.StripeClient) -> None:
    price = client.v1.prices.create(
        {"product_data": {"name": "Tea"}, "unit_amount": 500, "currency": "jpy"}
    )
    assert price.unit_amount == 500 and price.currency == "jpy" and price.type == "one_time"
    pi = client.v1.payment_intents.create(
        {"amount": 500, "currency": "jpy", "confirm": True, "payment_method": "pm_card_visa"}
    )
    assert pi.amount_received == 500
    partial = client.v1.refunds.create({"payment_intent": pi.id, "amount": 200})
    assert partial.amount == 200
    charge = client.v1.charges.retrieve(str(pi.latest_charge))
    assert charge.amount_refunded == 200 and charge.refunded is False
    client.v1.refunds.create({"charge": charge.id})
    assert client.v1.charges.retrieve(charge.id).refunded is True
    with pytest.raises(stripe.InvalidRequestError):
        client.v1.refunds.create({"charge": charge.id})


def test_dispute_card(client: stripe.StripeClient) -> None:
    pi = client.v1.payment_intents.create(
        {
            "amount": 3000,
            "currency": "usd",
            "confirm": True,
            "payment_method": "pm_card_createDispute",
        }
    )
    disputes = client.v1.disputes.list({"payment_intent": pi.id})
    assert len(disputes.data) == 1
    dispute = disputes.data[0]
    assert dispute.status == "needs_response" and dispute.amount == 3000
    assert client.v1.charges.retrieve(str(pi.latest_charge)).disputed is True
    closed = client.v1.disputes.close(dispute.id)
    assert closed.status == "lost"


def test_subscription_changes(client: stripe.StripeClient) -> None:
    customer = client.v1.customers.create(
        {
            "payment_method": "pm_card_visa",
            "invoice_settings": {"default_payment_method": "pm_card_visa"},
        }
    )
    basic = client.v1.prices.create(
        {
            "product_data": {"name": "Basic"},
            "unit_amount": 1000,
            "currency": "usd",
            "recurring": {"interval": "month"},
        }
    )
    pro = client.v1.prices.create(
        {
            "product": str(basic.product),
            "unit_amount": 3000,
            "currency": "usd",
            "recurring": {"interval": "month"},
        }
    )
    sub = client.v1.subscriptions.create({"customer": customer.id, "items": [{"price": basic.id}]})
    assert sub.status == "active"
    invoice = client.v1.invoices.retrieve(str(sub.latest_invoice), {"expand": ["payments"]})
    assert invoice.status == "paid" and invoice.amount_paid == 1000
    assert invoice.hosted_invoice_url and invoice.number
    assert invoice.parent is not None and invoice.parent.subscription_details is not None
    assert invoice.parent.subscription_details.subscription == sub.id
    assert invoice.payments is not None and len(invoice.payments.data) == 1
    item = sub["items"].data[0]
    assert [i.id for i in client.v1.subscription_items.list({"subscription": sub.id}).data] == [
        item.id
    ]
    assert client.v1.subscription_items.retrieve(item.id).price.id == basic.id
    changed = client.v1.subscriptions.update(
        sub.id, {"items": [{"id": item.id, "price": pro.id, "quantity": 2}]}
    )
    assert changed["items"].data[0].price.id == pro.id
    assert changed["items"].data[0].quantity == 2
    event = client.v1.events.list({"type": "customer.subscription.updated"}).data[0]
    assert event.data.previous_attributes is not None
    ending = client.v1.subscriptions.update(sub.id, {"cancel_at_period_end": True})
    assert (
        ending.cancel_at_period_end
        and ending.cancel_at == ending["items"].data[0].current_period_end
    )
    paused = client.v1.subscriptions.pause(sub.id)
    assert paused.status == "paused"
    resumed = client.v1.subscriptions.resume(sub.id)
    assert resumed.status == "active"
    canceled = client.v1.subscriptions.cancel(sub.id)
    assert canceled.status == "canceled" and canceled.ended_at is not None
    assert client.v1.subscriptions.list({"customer": customer.id}).data == []
    assert len(client.v1.subscriptions.list({"customer": customer.id, "status": "all"}).data) == 1
    types = event_types(client)
    assert "customer.subscription.paused" in types and "customer.subscription.resumed" in types
    assert types[-1] == "customer.subscription.deleted"


def test_subscription_without_payment_method_is_refused(client: stripe.StripeClient) -> None:
    customer = client.v1.customers.create({})
    price = client.v1.prices.create(
        {
            "product_data": {"name": "X"},
            "unit_amount": 100,
            "currency": "usd",
            "recurring": {"interval": "month"},
        }
    )
    with pytest.raises(stripe.InvalidRequestError):
        client.v1.subscriptions.create({"customer": customer.id, "items": [{"price": price.id}]})
    trial = client.v1.subscriptions.create(
        {"customer": customer.id, "trial_period_days": 14, "items": [{"price": price.id}]}
    )
    assert trial.status == "trialing"


def test_events_filters(client: stripe.StripeClient) -> None:
    client.v1.customers.create({})
    client.v1.products.create({"name": "P"})
    assert [e.type for e in client.v1.events.list({"type": "product.created"}).data] == [
        "product.created"
    ]
    assert len(client.v1.events.list({"types": ["product.created", "customer.created"]}).data) == 2
    assert len(client.v1.events.list({"type": "customer.*"}).data) == 1
    event = client.v1.events.list().data[0]
    assert client.v1.events.retrieve(event.id).id == event.id


def test_events_retention_is_30_days(sb: RunningSandbox, client: stripe.StripeClient) -> None:
    client.v1.customers.create({})
    event = client.v1.events.list().data[0]
    sb.advance_time(31 * 86400)
    assert client.v1.events.list().data == []
    with pytest.raises(stripe.InvalidRequestError):
        client.v1.events.retrieve(event.id)


def test_webhook_endpoint_crud(client: stripe.StripeClient) -> None:
    endpoint = client.v1.webhook_endpoints.create(
        {"url": "https://example.com/hook", "enabled_events": ["charge.succeeded"]}
    )
    assert endpoint.secret and endpoint.secret.startswith("whsec_")
    fetched = client.v1.webhook_endpoints.retrieve(endpoint.id)
    assert "secret" not in fetched
    updated = client.v1.webhook_endpoints.update(
        endpoint.id, {"enabled_events": ["*"], "disabled": True}
    )
    assert updated.enabled_events == ["*"] and updated.status == "disabled"
    assert len(client.v1.webhook_endpoints.list().data) == 1
    assert client.v1.webhook_endpoints.delete(endpoint.id).deleted is True
    with pytest.raises(stripe.InvalidRequestError):
        client.v1.webhook_endpoints.create(
            {"url": "https://example.com/hook", "enabled_events": ["not.an.event"]}
        )


def test_invoice_lifecycle_by_hand(client: stripe.StripeClient) -> None:
    customer = client.v1.customers.create({"email": "inv@example.com"})
    client.v1.invoice_items.create({"customer": customer.id, "amount": 2500, "currency": "usd"})
    invoice = client.v1.invoices.create(
        {"customer": customer.id, "pending_invoice_items_behavior": "include"}
    )
    assert invoice.status == "draft" and invoice.amount_due == 2500
    assert client.v1.invoice_items.list({"pending": True}).data == []
    finalized = client.v1.invoices.finalize_invoice(invoice.id)
    assert finalized.status == "open" and finalized.number
    with pytest.raises(stripe.InvalidRequestError):
        client.v1.invoices.pay(invoice.id)  # no payment method
    paid = client.v1.invoices.pay(invoice.id, {"payment_method": "pm_card_visa"})
    assert paid.status == "paid" and paid.amount_paid == 2500 and paid.attempt_count == 1
    assert len(client.v1.invoices.line_items.list(invoice.id).data) == 1


def test_injected_api_faults(sb: RunningSandbox, client: stripe.StripeClient) -> None:
    sb.faults(api_fail_next=1, api_fail_status=500)
    with pytest.raises(stripe.APIError):
        client.v1.customers.list()
    assert client.v1.customers.list().data == []
    sb.faults(api_fail_next=1, api_fail_status=429)
    with pytest.raises(stripe.RateLimitError):
        client.v1.customers.create({})
    assert client.v1.customers.list().data == []
    counts = sb.stats()["requests"]
    assert counts["GET /v1/customers"] == 3


def test_find_the_invoice_of_a_payment(client: stripe.StripeClient) -> None:
    customer = client.v1.customers.create(
        {
            "payment_method": "pm_card_visa",
            "invoice_settings": {"default_payment_method": "pm_card_visa"},
        }
    )
    price = client.v1.prices.create(
        {
            "product_data": {"name": "Y"},
            "unit_amount": 700,
            "currency": "usd",
            "recurring": {"interval": "year"},
        }
    )
    sub = client.v1.subscriptions.create({"customer": customer.id, "items": [{"price": price.id}]})
    charge = client.v1.charges.list({"customer": customer.id}).data[0]
    found = client.v1.invoice_payments.list(
        {"payment": {"type": "payment_intent", "payment_intent": str(charge.payment_intent)}}
    )
    assert [p.invoice for p in found.data] == [sub.latest_invoice]
    assert found.data[0].status == "paid"


def test_global_api_base_configuration(sb: RunningSandbox) -> None:
    saved = (stripe.api_key, stripe.api_base)
    stripe.api_key, stripe.api_base = sb.api_key, sb.api_base
    try:
        customer = stripe.Customer.create(email="global@example.com")
        assert stripe.Customer.retrieve(customer.id).email == "global@example.com"
        assert [c.id for c in stripe.Customer.list(limit=5).auto_paging_iter()] == [customer.id]
    finally:
        stripe.api_key, stripe.api_base = saved


def test_error_if_incomplete_creates_nothing(client: stripe.StripeClient) -> None:
    customer = client.v1.customers.create(
        {
            "payment_method": "pm_card_chargeCustomerFail",
            "invoice_settings": {"default_payment_method": "pm_card_chargeCustomerFail"},
        }
    )
    price = client.v1.prices.create(
        {
            "product_data": {"name": "Z"},
            "unit_amount": 800,
            "currency": "usd",
            "recurring": {"interval": "month"},
        }
    )
    with pytest.raises(stripe.CardError):
        client.v1.subscriptions.create(
            {
                "customer": customer.id,
                "items": [{"price": price.id}],
                "payment_behavior": "error_if_incomplete",
            }
        )
    assert client.v1.subscriptions.list({"status": "all"}).data == []
    incomplete = client.v1.subscriptions.create(
        {"customer": customer.id, "items": [{"price": price.id}]}
    )
    assert incomplete.status == "incomplete"
    invoice = client.v1.invoices.retrieve(str(incomplete.latest_invoice))
    assert invoice.status == "open" and invoice.attempt_count == 1


def test_concurrent_clients(sb: RunningSandbox) -> None:
    import threading

    errors: list[BaseException] = []

    def work(n: int) -> None:
        local = sb.client()
        try:
            for i in range(8):
                customer = local.v1.customers.create({"email": f"t{n}.{i}@example.com"})
                local.v1.payment_intents.create(
                    {
                        "amount": 1000 + i,
                        "currency": "usd",
                        "customer": customer.id,
                        "confirm": True,
                        "payment_method": "pm_card_visa",
                    }
                )
        except BaseException as exc:  # collected for the assertion below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(n,)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert errors == []
    client = sb.client()
    assert len(list(client.v1.customers.list({"limit": 100}).auto_paging_iter())) == 32
    assert len(list(client.v1.charges.list({"limit": 100}).auto_paging_iter())) == 32
    assert len(list(client.v1.events.list({"limit": 100}).auto_paging_iter())) == 32 * 4


def test_rate_limit_answers_429_beyond_the_limit_like_stripe(
    sb: RunningSandbox, client: stripe.StripeClient
) -> None:
    sb.settings(api_rate_limit=5)
    try:
        refused: list[stripe.RateLimitError] = []
        for _ in range(30):  # far faster than 5 a second
            try:
                client.v1.customers.list()
            except stripe.RateLimitError as exc:
                refused.append(exc)
        assert 0 < len(refused) <= 30 - 5  # the first second's burst of 5 passes
        first = refused[0]
        assert first.http_status == 429
        assert first.json_body is not None and first.json_body["error"]["code"] == "rate_limit"
        assert first.headers is not None
        assert first.headers.get("Stripe-Rate-Limited-Reason") == "global-rate"
        assert "5 per second" in str(first.user_message)
    finally:
        sb.settings(api_rate_limit=0)
    assert client.v1.customers.list().data == []


def test_the_rate_limit_survives_a_reset(sb: RunningSandbox) -> None:
    sb.settings(api_rate_limit=7)  # as `stripe-sandbox --rate-limit 7` starts it
    sb.reset()
    assert sb.control("GET", "settings")["api_rate_limit"] == 7
