"""The demo's Stripe story, played through the official SDK on test clocks.

Only public Stripe API calls are used, so the same scenario runs against Stripe test mode:
sign-ups in USD, EUR and JPY, trials, first payments, renewals, declined renewals with dunning
and recovery, cancellations, a refund, a dispute and a card update.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import stripe
from stripe.params import SubscriptionCreateParams

DAY = 86_400
MONTH = 31 * DAY
PLANS = (
    ("Starter", "usd", 2_900),
    ("Pro", "eur", 9_900),
    ("Team", "jpy", 5_000),
)
CUSTOMERS_PER_CLOCK = 3  # Stripe's limit for test clocks


@dataclass
class ScenarioSpec:
    customers: int = 24
    months: int = 3
    seed: int = 7
    existing_emails: tuple[str, ...] = ()
    ambiguous_email: str | None = None


@dataclass
class ScenarioReport:
    customers: list[str] = field(default_factory=list)
    emails: dict[str, str] = field(default_factory=dict)
    subscriptions: dict[str, str] = field(default_factory=dict)
    one_off_payments: list[str] = field(default_factory=list)
    failing: list[str] = field(default_factory=list)
    recovered: list[str] = field(default_factory=list)
    canceled: list[str] = field(default_factory=list)
    refunded: list[str] = field(default_factory=list)
    disputed: list[str] = field(default_factory=list)
    card_updated: list[str] = field(default_factory=list)
    clocks: list[str] = field(default_factory=list)


Progress = Callable[[str], None]


def _wait_clock(client: stripe.StripeClient, clock_id: str, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        clock = client.v1.test_helpers.test_clocks.retrieve(clock_id)
        if clock.status == "ready":
            return
        if clock.status == "internal_failure":
            raise RuntimeError(f"test clock {clock_id} failed to advance")
        time.sleep(0.2)
    raise RuntimeError(f"test clock {clock_id} still advancing after {timeout:.0f} s")


def _attach(client: stripe.StripeClient, customer: str, token: str) -> str:
    pm = client.v1.payment_methods.attach(token, {"customer": customer})
    client.v1.customers.update(customer, {"invoice_settings": {"default_payment_method": pm.id}})
    return pm.id


def play(client: stripe.StripeClient, spec: ScenarioSpec, progress: Progress) -> ScenarioReport:
    rng = random.Random(spec.seed)
    report = ScenarioReport()
    start = int(time.time())

    prices = []
    for name, currency, amount in PLANS:
        product = client.v1.products.create({"name": name})
        price = client.v1.prices.create(
            {
                "product": product.id,
                "currency": currency,
                "unit_amount": amount,
                "recurring": {"interval": "month"},
            }
        )
        prices.append((price.id, currency, amount))
    progress(f"created {len(prices)} plans (USD, EUR, JPY)")

    clocks = [
        client.v1.test_helpers.test_clocks.create(
            {"frozen_time": start, "name": f"stripe2sf demo {n}"}
        ).id
        for n in range(-(-spec.customers // CUSTOMERS_PER_CLOCK))
    ]
    report.clocks = clocks

    emails = list(spec.existing_emails)
    if spec.ambiguous_email:
        emails.insert(min(1, len(emails)), spec.ambiguous_email)
    for i in range(spec.customers):
        email = emails[i] if i < len(emails) else f"customer{i:03d}@demo-customer.example"
        first, last = rng.choice(["Ada", "Grace", "Alan", "Edsger", "Barbara", "Ken"]), f"Buyer{i}"
        created = client.v1.customers.create(
            {
                "email": email,
                "name": f"{first} {last}",
                "test_clock": clocks[i // CUSTOMERS_PER_CLOCK],
                "metadata": {"demo_index": str(i)},
            }
        )
        customer = created.id
        report.customers.append(customer)
        report.emails[customer] = email
        price_id, currency, amount = prices[i % len(prices)]
        pm = _attach(client, customer, "pm_card_mastercard" if i % 6 == 5 else "pm_card_visa")
        params: SubscriptionCreateParams = {
            "customer": customer,
            "items": [{"price": price_id, "quantity": 1 + (i % 3 == 2)}],
            "default_payment_method": pm,
        }
        if i % 5 == 1:
            params["trial_period_days"] = 14
        report.subscriptions[customer] = client.v1.subscriptions.create(params).id
        if i % 4 == 0:
            intent = client.v1.payment_intents.create(
                {
                    "amount": amount * 2,
                    "currency": currency,
                    "customer": customer,
                    "payment_method": pm,
                    "automatic_payment_methods": {"enabled": True, "allow_redirects": "never"},
                    "confirm": True,
                    "description": "Onboarding package",
                }
            )
            report.one_off_payments.append(intent.id)
        if i % 7 == 3:
            report.failing.append(customer)
    progress(f"signed up {len(report.customers)} customers ({len(report.failing)} will decline)")

    if report.one_off_payments:
        intent = client.v1.payment_intents.retrieve(report.one_off_payments[0])
        charge = intent.latest_charge
        charge_id = charge if isinstance(charge, str) else getattr(charge, "id", None)
        if charge_id:
            client.v1.refunds.create({"charge": charge_id})
            report.refunded.append(charge_id)
    if report.customers:
        disputed_customer = report.customers[-1]
        dispute_pm = client.v1.payment_methods.attach(
            "pm_card_createDispute", {"customer": disputed_customer}
        )
        intent = client.v1.payment_intents.create(
            {
                "amount": 4_900,
                "currency": "usd",
                "customer": disputed_customer,
                "payment_method": dispute_pm.id,
                "automatic_payment_methods": {"enabled": True, "allow_redirects": "never"},
                "confirm": True,
                "description": "Add-on",
            }
        )
        report.disputed.append(intent.id)
    progress("one refund and one dispute")

    for month in range(1, spec.months + 1):
        if month == 1:
            for cid in report.failing:
                _attach(client, cid, "pm_card_chargeCustomerFail")
                client.v1.subscriptions.update(
                    report.subscriptions[cid],
                    {"default_payment_method": _default_pm(client, cid)},
                )
        if month == 2:
            for cid in report.failing[::2]:
                pm = _attach(client, cid, "pm_card_visa")
                client.v1.subscriptions.update(
                    report.subscriptions[cid], {"default_payment_method": pm}
                )
                report.recovered.append(cid)
            healthy = [c for c in report.customers if c not in report.failing]
            if healthy:
                _attach(client, healthy[0], "pm_card_mastercard")
                report.card_updated.append(healthy[0])
        if month == spec.months and len(report.customers) > 4:
            for cid, at_period_end in (
                (report.customers[2], False),
                (report.customers[4], True),
            ):
                sub = report.subscriptions[cid]
                if at_period_end:
                    client.v1.subscriptions.update(sub, {"cancel_at_period_end": True})
                else:
                    client.v1.subscriptions.cancel(sub)
                report.canceled.append(cid)
        for clock in clocks:
            client.v1.test_helpers.test_clocks.advance(
                clock, {"frozen_time": start + month * MONTH + 3600}
            )
        for clock in clocks:
            _wait_clock(client, clock)
        progress(f"month {month}: renewals billed, declines retried")
    return report


def _default_pm(client: stripe.StripeClient, customer: str) -> str:
    found = client.v1.customers.retrieve(customer)
    pm = found.invoice_settings.default_payment_method if found.invoice_settings else None
    return pm if isinstance(pm, str) else str(getattr(pm, "id", ""))


def make_history(client: stripe.StripeClient, customers: int, progress: Progress) -> list[str]:
    """Customers who paid before stripe2sf was installed: nothing of theirs reaches a webhook,
    so only a backfill can bring them to Salesforce."""
    product = client.v1.products.create({"name": "Legacy"})
    price = client.v1.prices.create(
        {
            "product": product.id,
            "currency": "usd",
            "unit_amount": 1_900,
            "recurring": {"interval": "month"},
        }
    )
    ids = []
    for i in range(customers):
        customer = client.v1.customers.create(
            {"email": f"early{i:03d}@history.example", "name": f"Early Adopter{i}"}
        ).id
        pm = _attach(client, customer, "pm_card_visa")
        client.v1.subscriptions.create(
            {"customer": customer, "items": [{"price": price.id}], "default_payment_method": pm}
        )
        client.v1.payment_intents.create(
            {
                "amount": 4_900,
                "currency": "usd",
                "customer": customer,
                "payment_method": pm,
                "automatic_payment_methods": {"enabled": True, "allow_redirects": "never"},
                "confirm": True,
                "description": "Setup fee",
            }
        )
        ids.append(customer)
    progress(f"{customers} customers with history before stripe2sf")
    return ids
