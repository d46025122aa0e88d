"""Bulk seeding for backfill benchmarks: customers with a card, payment history (payment
intents and charges) and subscriptions with a paid first invoice. Rows are built from the
shape builders once and copied, then batch-inserted; no events are emitted."""

from __future__ import annotations

import copy
import json
import random
import string
import time
from dataclasses import asdict, dataclass, fields
from typing import Any

from stripe_sandbox import ids, schedule, shapes
from stripe_sandbox.errors import InvalidRequestError
from stripe_sandbox.state import Sandbox

_ALPHABET = string.ascii_letters + string.digits
BATCH = 2000
FIRST_NAMES = [
    "Ada",
    "Grace",
    "Alan",
    "Edsger",
    "Barbara",
    "Donald",
    "Margaret",
    "Ken",
    "Frances",
    "Dennis",
    "Radia",
    "Linus",
    "Katherine",
    "Tim",
    "Hedy",
    "John",
]
LAST_NAMES = [
    "Lovelace",
    "Hopper",
    "Turing",
    "Dijkstra",
    "Liskov",
    "Knuth",
    "Hamilton",
    "Thompson",
    "Allen",
    "Ritchie",
    "Perlman",
    "Torvalds",
    "Johnson",
    "Lee",
]


@dataclass
class SeedOptions:
    customers: int = 100
    charges_per_customer: int = 3
    subscriptions_per_customer: int = 1
    failed_charge_rate: float = 0.05
    currency: str = "usd"
    unit_amount: int = 1500
    history_days: int = 365
    random_seed: int | None = None

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> SeedOptions:
        known = {f.name for f in fields(cls)}
        unknown = set(values) - known
        if unknown:
            raise InvalidRequestError(f"Unknown seed option(s): {sorted(unknown)}")
        opts = cls(**values)
        if opts.customers < 0 or opts.customers > 5_000_000:
            raise InvalidRequestError("customers must be between 0 and 5,000,000")
        return opts


@dataclass
class SeedResult:
    customers: int = 0
    payment_methods: int = 0
    payment_intents: int = 0
    charges: int = 0
    subscriptions: int = 0
    invoices: int = 0
    products: int = 0
    prices: int = 0
    seconds: float = 0.0

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


class _Ids:
    def __init__(self, rng: random.Random) -> None:
        self.rng = rng

    def __call__(self, prefix: str) -> str:
        n = self.rng.getrandbits(140)
        chars = []
        for _ in range(24):
            n, r = divmod(n, 62)
            chars.append(_ALPHABET[r])
        return f"{prefix}_{''.join(chars)}"


def _dump(obj: dict[str, Any]) -> str:
    return json.dumps(obj, separators=(",", ":"))


def seed(sb: Sandbox, opts: SeedOptions) -> SeedResult:
    started = time.perf_counter()
    rng = random.Random(opts.random_seed)
    new = _Ids(rng)
    result = SeedResult()
    now = sb.wall_now()
    product_id = new("prod")
    price_id = new("price")
    product = shapes.product(product_id, now, "Sandbox Plan")
    price = shapes.price(price_id, now, product_id, opts.currency, opts.unit_amount)
    price["recurring"] = shapes.recurring("month", 1, None)
    price["type"] = "recurring"
    with sb.lock, sb.store.transaction():
        sb.store.put_many(
            [
                (product_id, "product", now, None, None, None, None, _dump(product), "{}"),
                (price_id, "price", now, None, product_id, None, None, _dump(price), "{}"),
            ]
        )
    result.products = result.prices = 1

    card = shapes.card_details("visa", "4242", 12, 2030, ids.fingerprint("4242424242424242"))
    t_customer = shapes.customer("cus_x", now)
    t_pm = shapes.payment_method("pm_x", now, card)
    t_pi = shapes.payment_intent("pi_x", now, opts.unit_amount, opts.currency, "x")
    t_charge = shapes.charge("ch_x", now, opts.unit_amount, opts.currency)
    t_charge_ok = {
        **t_charge,
        "status": "succeeded",
        "paid": True,
        "captured": True,
        "payment_method_details": shapes.charge_card_details(card, opts.unit_amount, "seed"),
        "outcome": shapes.outcome(
            type="authorized",
            network_status="approved_by_network",
            reason=None,
            seller_message="Payment complete.",
        ),
    }
    t_charge_failed = {
        **t_charge,
        "status": "failed",
        "failure_code": "card_declined",
        "failure_message": "Your card was declined.",
        "payment_method_details": t_charge_ok["payment_method_details"],
        "outcome": shapes.outcome(
            type="issuer_declined",
            network_status="declined_by_network",
            reason="generic_decline",
            seller_message="The bank did not return any further details with this decline.",
        ),
    }
    t_sub = shapes.subscription("sub_x", now, "cus_x", opts.currency)
    t_item = shapes.subscription_item("si_x", now, "sub_x", price, 1, now, now)
    t_inv = shapes.invoice("in_x", now, t_customer, opts.currency)
    history = max(1, opts.history_days) * schedule.DAY

    for batch_start in range(0, opts.customers, BATCH):
        rows: list[tuple[Any, ...]] = []
        for n in range(batch_start, min(opts.customers, batch_start + BATCH)):
            created = now - rng.randrange(history) - 86400
            cus_id, pm_id = new("cus"), new("pm")
            first, last = rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES)
            email = f"{first.lower()}.{last.lower()}.{n}@example.com"
            cust = dict(t_customer)
            cust.update(
                id=cus_id,
                created=created,
                email=email,
                name=f"{first} {last}",
                invoice_prefix=cus_id[-8:].upper(),
                invoice_settings={
                    **t_customer["invoice_settings"],
                    "default_payment_method": pm_id,
                },
                metadata={"seed": "1"},
            )
            rows.append((cus_id, "customer", created, cus_id, None, None, None, _dump(cust), "{}"))
            pm = dict(t_pm)
            pm.update(id=pm_id, created=created, customer=cus_id)
            rows.append(
                (
                    pm_id,
                    "payment_method",
                    created,
                    cus_id,
                    None,
                    None,
                    None,
                    _dump(pm),
                    '{"behaviour":"ok"}',
                )
            )
            charge_times = sorted(
                created + rng.randrange(max(1, now - created))
                for _ in range(opts.charges_per_customer)
            )
            for at in charge_times:
                pi_id, ch_id = new("pi"), new("ch")
                failed = rng.random() < opts.failed_charge_rate
                ch = dict(t_charge_failed if failed else t_charge_ok)
                ch.update(
                    id=ch_id,
                    created=at,
                    customer=cus_id,
                    payment_intent=pi_id,
                    payment_method=pm_id,
                    amount_captured=0 if failed else opts.unit_amount,
                    refunds=shapes.empty_list(f"/v1/charges/{ch_id}/refunds"),
                    balance_transaction=None if failed else new("txn"),
                )
                pi = dict(t_pi)
                pi.update(
                    id=pi_id,
                    created=at,
                    customer=cus_id,
                    latest_charge=ch_id,
                    client_secret=f"{pi_id}_secret_{ch_id[-12:]}",
                    payment_method=None if failed else pm_id,
                    status="requires_payment_method" if failed else "succeeded",
                    amount_received=0 if failed else opts.unit_amount,
                )
                rows.append(
                    (pi_id, "payment_intent", at, cus_id, None, None, None, _dump(pi), "{}")
                )
                rows.append((ch_id, "charge", at, cus_id, pi_id, None, None, _dump(ch), "{}"))
                result.payment_intents += 1
                result.charges += 1
            for _ in range(opts.subscriptions_per_customer):
                sub_id, inv_id, si_id = new("sub"), new("in"), new("si")
                start = now - rng.randrange(28 * schedule.DAY)
                end = schedule.add_interval(start, "month")
                item = copy.copy(t_item)
                item.update(
                    id=si_id,
                    created=start,
                    subscription=sub_id,
                    current_period_start=start,
                    current_period_end=end,
                )
                sub = dict(t_sub)
                sub.update(
                    id=sub_id,
                    created=start,
                    start_date=start,
                    customer=cus_id,
                    billing_cycle_anchor=start,
                    status="active",
                    latest_invoice=inv_id,
                    items={
                        **t_sub["items"],
                        "data": [item],
                        "total_count": 1,
                        "url": f"/v1/subscription_items?subscription={sub_id}",
                    },
                )
                rows.append(
                    (
                        sub_id,
                        "subscription",
                        start,
                        cus_id,
                        None,
                        None,
                        end,
                        _dump(sub),
                        f'{{"anchor":{start}}}',
                    )
                )
                inv = dict(t_inv)
                inv.update(
                    id=inv_id,
                    created=start,
                    customer=cus_id,
                    customer_email=email,
                    customer_name=cust["name"],
                    status="paid",
                    billing_reason="subscription_create",
                    amount_due=opts.unit_amount,
                    amount_paid=opts.unit_amount,
                    subtotal=opts.unit_amount,
                    total=opts.unit_amount,
                    subtotal_excluding_tax=opts.unit_amount,
                    total_excluding_tax=opts.unit_amount,
                    attempted=True,
                    attempt_count=1,
                    number=f"{cust['invoice_prefix']}-0001",
                    period_start=start,
                    period_end=start,
                    effective_at=start,
                    status_transitions={
                        "finalized_at": start,
                        "paid_at": start,
                        "marked_uncollectible_at": None,
                        "voided_at": None,
                    },
                    parent={
                        "quote_details": None,
                        "type": "subscription_details",
                        "subscription_details": {
                            "metadata": {},
                            "subscription": sub_id,
                            "subscription_proration_date": None,
                        },
                    },
                    lines={**t_inv["lines"], "url": f"/v1/invoices/{inv_id}/lines"},
                )
                rows.append(
                    (inv_id, "invoice", start, cus_id, sub_id, None, None, _dump(inv), "{}")
                )
                result.subscriptions += 1
                result.invoices += 1
            result.customers += 1
            result.payment_methods += 1
        with sb.lock, sb.store.transaction():
            sb.store.put_many(rows)
    result.seconds = round(time.perf_counter() - started, 3)
    return result
