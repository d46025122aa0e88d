"""Test clocks drive trials, renewals and dunning: trial -> active -> renewal failed ->
retries -> past_due -> paid (recovery), and -> canceled (or unpaid) when retries run out."""

from __future__ import annotations

from dataclasses import dataclass

import stripe

from stripe_sandbox.testing import RunningSandbox, WebhookReceiver
from tests.sandbox import stripe_support as support
from tests.sandbox.stripe_support import event_types, listen, verify_deliveries

DAY = 86400
T0 = 1767225600  # 2026-01-01T00:00:00Z

# fixtures (bound by assignment so that test arguments may share their names)
client = support.client
receiver = support.receiver
sb = support.sb
stripe_server = support.stripe_server


@dataclass
class Setup:
    clock: str
    customer: str
    good_pm: str
    subscription: str


def _start(client: stripe.StripeClient) -> Setup:
    clock = client.v1.test_helpers.test_clocks.create({"frozen_time": T0, "name": "dunning"})
    customer = client.v1.customers.create({"email": "dunning@example.com", "test_clock": clock.id})
    good = client.v1.payment_methods.attach("pm_card_visa", {"customer": customer.id})
    client.v1.customers.update(
        customer.id, {"invoice_settings": {"default_payment_method": good.id}}
    )
    price = client.v1.prices.create(
        {
            "product_data": {"name": "Pro"},
            "unit_amount": 4900,
            "currency": "usd",
            "recurring": {"interval": "month"},
        }
    )
    sub = client.v1.subscriptions.create(
        {"customer": customer.id, "trial_period_days": 14, "items": [{"price": price.id}]}
    )
    assert sub.status == "trialing" and sub.trial_end == T0 + 14 * DAY
    return Setup(clock.id, customer.id, good.id, sub.id)


def _advance(sb: RunningSandbox, client: stripe.StripeClient, clock: str, to: int) -> None:
    advanced = client.v1.test_helpers.test_clocks.advance(clock, {"frozen_time": to})
    assert advanced.status == "advancing"
    sb.wait_for_clock(clock)
    assert client.v1.test_helpers.test_clocks.retrieve(clock).frozen_time == to


def _break_card(client: stripe.StripeClient, customer: str) -> None:
    bad = client.v1.payment_methods.attach("pm_card_chargeCustomerFail", {"customer": customer})
    client.v1.customers.update(customer, {"invoice_settings": {"default_payment_method": bad.id}})


def _through_first_renewal(
    sb: RunningSandbox, client: stripe.StripeClient, s: Setup
) -> stripe.Invoice:
    _advance(sb, client, s.clock, T0 + 12 * DAY)
    assert "customer.subscription.trial_will_end" in event_types(client)
    _advance(sb, client, s.clock, T0 + 14 * DAY + 2 * 3600)
    sub = client.v1.subscriptions.retrieve(s.subscription)
    assert sub.status == "active"
    first = client.v1.invoices.retrieve(str(sub.latest_invoice))
    assert first.billing_reason == "subscription_cycle" and first.status == "paid"
    assert first.amount_paid == 4900
    _break_card(client, s.customer)
    renewal = T0 + 14 * DAY + 31 * DAY  # Jan 15 -> Feb 15
    _advance(sb, client, s.clock, renewal + 2 * 3600)
    sub = client.v1.subscriptions.retrieve(s.subscription)
    assert sub.status == "past_due"
    failed = client.v1.invoices.retrieve(str(sub.latest_invoice))
    assert failed.status == "open" and failed.attempt_count == 1
    assert failed.hosted_invoice_url
    assert failed.next_payment_attempt == renewal + 3600 + 3 * DAY
    return failed


def test_trial_renewal_failure_retries_and_recovery(
    sb: RunningSandbox, client: stripe.StripeClient, receiver: WebhookReceiver
) -> None:
    secret = listen(client, receiver)
    s = _start(client)
    failed = _through_first_renewal(sb, client, s)
    _advance(sb, client, s.clock, int(failed.next_payment_attempt or 0) + 60)
    retried = client.v1.invoices.retrieve(failed.id)
    assert retried.attempt_count == 2 and retried.status == "open"
    client.v1.customers.update(
        s.customer, {"invoice_settings": {"default_payment_method": s.good_pm}}
    )
    _advance(sb, client, s.clock, int(retried.next_payment_attempt or 0) + 60)
    recovered = client.v1.invoices.retrieve(failed.id)
    assert recovered.status == "paid" and recovered.attempt_count == 3
    assert recovered.next_payment_attempt is None
    assert client.v1.subscriptions.retrieve(s.subscription).status == "active"
    types = event_types(client)
    failures = [t for t in types if t == "invoice.payment_failed"]
    assert len(failures) == 2
    tail = types[types.index("invoice.payment_failed") :]
    assert tail[:3] == [
        "invoice.payment_failed",
        "invoice.updated",
        "customer.subscription.updated",
    ]
    assert types[-9:] == [
        "test_helpers.test_clock.advancing",
        "payment_intent.created",
        "charge.succeeded",
        "payment_intent.succeeded",
        "invoice_payment.paid",
        "invoice.paid",
        "invoice.payment_succeeded",
        "customer.subscription.updated",
        "test_helpers.test_clock.ready",
    ]
    statuses = [
        (e.data.object.status, e.data.to_dict().get("previous_attributes", {}).get("status"))
        for e in client.v1.events.list(
            {"type": "customer.subscription.updated", "limit": 100}
        ).auto_paging_iter()
    ][::-1]
    assert [s for s in statuses if s[1]] == [
        ("active", "trialing"),
        ("past_due", "active"),
        ("active", "past_due"),
    ]
    assert sb.wait_idle()
    verify_deliveries(receiver, secret, len(types))


def test_retries_run_out_and_the_subscription_is_canceled(
    sb: RunningSandbox, client: stripe.StripeClient
) -> None:
    s = _start(client)
    failed = _through_first_renewal(sb, client, s)
    _advance(sb, client, s.clock, T0 + 14 * DAY + 31 * DAY + 20 * DAY)
    invoice = client.v1.invoices.retrieve(failed.id)
    assert invoice.attempt_count == 4 and invoice.next_payment_attempt is None
    sub = client.v1.subscriptions.retrieve(s.subscription)
    assert sub.status == "canceled"
    assert sub.cancellation_details is not None
    assert sub.cancellation_details.reason == "payment_failed"
    assert event_types(client).count("invoice.payment_failed") == 4
    assert "customer.subscription.deleted" in event_types(client)


def test_retries_run_out_and_the_subscription_is_unpaid(
    sb: RunningSandbox, client: stripe.StripeClient
) -> None:
    sb.settings(dunning_final_status="unpaid", dunning_retry_days=[1, 2])
    s = _start(client)
    _advance(sb, client, s.clock, T0 + 14 * DAY + 2 * 3600)
    _break_card(client, s.customer)
    _advance(sb, client, s.clock, T0 + 14 * DAY + 31 * DAY + 5 * DAY)
    sub = client.v1.subscriptions.retrieve(s.subscription)
    assert sub.status == "unpaid"
    invoice = client.v1.invoices.retrieve(str(sub.latest_invoice))
    assert invoice.attempt_count == 3 and invoice.status == "open"
    paid = client.v1.invoices.pay(invoice.id, {"payment_method": s.good_pm})
    assert paid.status == "paid"
    assert client.v1.subscriptions.retrieve(s.subscription).status == "active"


def test_cancel_at_period_end_and_clock_events(
    sb: RunningSandbox, client: stripe.StripeClient
) -> None:
    s = _start(client)
    client.v1.subscriptions.update(s.subscription, {"cancel_at_period_end": True})
    _advance(sb, client, s.clock, T0 + 15 * DAY)
    sub = client.v1.subscriptions.retrieve(s.subscription)
    assert sub.status == "canceled" and sub.ended_at == T0 + 14 * DAY
    types = event_types(client)
    assert types.count("test_helpers.test_clock.advancing") == 1
    assert types[-1] == "test_helpers.test_clock.ready"
    assert "customer.subscription.deleted" in types
    deleted = client.v1.test_helpers.test_clocks.delete(s.clock)
    assert deleted.deleted is True
    assert client.v1.customers.list().data == []


def test_pause_collection_voids_renewal_invoices_until_it_resumes(
    sb: RunningSandbox, client: stripe.StripeClient
) -> None:
    s = _start(client)
    _advance(sb, client, s.clock, T0 + 14 * DAY + 2 * 3600)
    client.v1.subscriptions.update(
        s.subscription, {"pause_collection": {"behavior": "void", "resumes_at": T0 + 50 * DAY}}
    )
    _advance(sb, client, s.clock, T0 + 45 * DAY + 2 * 3600)
    sub = client.v1.subscriptions.retrieve(s.subscription)
    assert sub.status == "active" and sub.pause_collection is not None
    assert client.v1.invoices.retrieve(str(sub.latest_invoice)).status == "void"
    _advance(sb, client, s.clock, T0 + 51 * DAY)
    assert client.v1.subscriptions.retrieve(s.subscription).pause_collection is None


def test_wall_clock_subscriptions_renew_when_sandbox_time_moves(
    sb: RunningSandbox, client: stripe.StripeClient
) -> None:
    customer = client.v1.customers.create(
        {
            "payment_method": "pm_card_visa",
            "invoice_settings": {"default_payment_method": "pm_card_visa"},
        }
    )
    price = client.v1.prices.create(
        {
            "product_data": {"name": "W"},
            "unit_amount": 1000,
            "currency": "eur",
            "recurring": {"interval": "week"},
        }
    )
    sub = client.v1.subscriptions.create({"customer": customer.id, "items": [{"price": price.id}]})
    sb.advance_time(8 * DAY)
    assert sb.wait_idle()
    renewed = client.v1.subscriptions.retrieve(sub.id)
    assert renewed.latest_invoice != sub.latest_invoice
    invoice = client.v1.invoices.retrieve(str(renewed.latest_invoice))
    assert invoice.billing_reason == "subscription_cycle" and invoice.status == "paid"
    assert invoice.created == sub["items"].data[0].current_period_end


def test_an_unpaid_first_invoice_expires_the_subscription(
    sb: RunningSandbox, client: stripe.StripeClient
) -> None:
    clock = client.v1.test_helpers.test_clocks.create({"frozen_time": T0})
    customer = client.v1.customers.create(
        {
            "test_clock": clock.id,
            "payment_method": "pm_card_chargeCustomerFail",
            "invoice_settings": {"default_payment_method": "pm_card_chargeCustomerFail"},
        }
    )
    price = client.v1.prices.create(
        {
            "product_data": {"name": "E"},
            "unit_amount": 500,
            "currency": "usd",
            "recurring": {"interval": "month"},
        }
    )
    sub = client.v1.subscriptions.create({"customer": customer.id, "items": [{"price": price.id}]})
    assert sub.status == "incomplete"
    _advance(sb, client, clock.id, T0 + DAY)
    expired = client.v1.subscriptions.retrieve(sub.id)
    assert expired.status == "incomplete_expired"
    assert client.v1.invoices.retrieve(str(sub.latest_invoice)).status == "void"
