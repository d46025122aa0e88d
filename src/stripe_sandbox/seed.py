"""Bulk seeding for backfill benchmarks: customers with a card, payment history (payment
intents and charges) and subscriptions with a paid first invoice. Rows are built from the
shape builders once and copied, then batch-inserted; no events are emitted."""

from __future__ import annotations

import json
import random
import re
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
    """Fast seeded ids: a counter prefix (so index inserts append) plus random characters."""

    _TABLE = bytes((_ALPHABET * 5).encode()[:256])

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        self.counter = 0

    def __call__(self, prefix: str) -> str:
        self.counter += 1
        tail = self.rng.randbytes(16).translate(self._TABLE).decode()
        return f"{prefix}_{self.counter:08x}{tail}"


def _compile(obj: dict[str, Any]) -> str:
    """JSON text with ``"@@name@@"`` placeholders turned into ``%(name)s`` slots, filled with
    JSON literals: building a row is then one string format instead of a ``json.dumps``."""
    text = json.dumps(obj, separators=(",", ":")).replace("%", "%%")
    return re.sub(r'"@@(\w+)@@"', r"%(\1)s", text)


def _q(value: str) -> str:
    return f'"{value}"'


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
    t_customer = shapes.customer("@@id@@", now)
    t_customer.update(
        created="@@created@@",
        email="@@email@@",
        name="@@name@@",
        invoice_prefix="@@prefix@@",
        metadata={"seed": "1"},
    )
    t_customer["invoice_settings"]["default_payment_method"] = "@@pm@@"
    customer_json = _compile(t_customer)
    t_pm = shapes.payment_method("@@id@@", now, card)
    t_pm.update(created="@@created@@", customer="@@customer@@")
    pm_json = _compile(t_pm)
    t_pi = shapes.payment_intent("@@id@@", now, opts.unit_amount, opts.currency, "x")
    t_pi.update(
        created="@@created@@",
        customer="@@customer@@",
        latest_charge="@@charge@@",
        client_secret="@@secret@@",
        payment_method="@@pm@@",
        status="@@status@@",
        amount_received="@@received@@",
    )
    pi_json = _compile(t_pi)
    t_charge = shapes.charge("@@id@@", now, opts.unit_amount, opts.currency)
    t_charge.update(
        created="@@created@@",
        customer="@@customer@@",
        payment_intent="@@pi@@",
        payment_method="@@pm@@",
        balance_transaction="@@txn@@",
        refunds={**t_charge["refunds"], "url": "@@refunds_url@@"},
        payment_method_details=shapes.charge_card_details(card, opts.unit_amount, "seed"),
    )
    charge_ok_json = _compile(
        {
            **t_charge,
            "status": "succeeded",
            "paid": True,
            "captured": True,
            "amount_captured": opts.unit_amount,
            "outcome": shapes.outcome(
                type="authorized",
                network_status="approved_by_network",
                reason=None,
                seller_message="Payment complete.",
            ),
        }
    )
    charge_failed_json = _compile(
        {
            **t_charge,
            "status": "failed",
            "failure_code": "card_declined",
            "failure_message": "Your card was declined.",
            "outcome": shapes.outcome(
                type="issuer_declined",
                network_status="declined_by_network",
                reason="generic_decline",
                seller_message="The bank did not return any further details with this decline.",
            ),
        }
    )
    t_item = shapes.subscription_item("@@si@@", now, "@@id@@", price, 1, now, now)
    t_item.update(
        created="@@created@@", current_period_start="@@created@@", current_period_end="@@end@@"
    )
    t_sub = shapes.subscription("@@id@@", now, "@@customer@@", opts.currency)
    t_sub.update(
        created="@@created@@",
        start_date="@@created@@",
        billing_cycle_anchor="@@created@@",
        status="active",
        latest_invoice="@@invoice@@",
    )
    t_sub["items"].update(data=[t_item], total_count=1, url="@@items_url@@")
    sub_json = _compile(t_sub)
    t_inv = shapes.invoice("@@id@@", now, shapes.customer("cus_x", now), opts.currency)
    amount = opts.unit_amount
    t_inv.update(
        created="@@created@@",
        customer="@@customer@@",
        customer_email="@@email@@",
        customer_name="@@name@@",
        status="paid",
        billing_reason="subscription_create",
        amount_due=amount,
        amount_paid=amount,
        subtotal=amount,
        total=amount,
        subtotal_excluding_tax=amount,
        total_excluding_tax=amount,
        attempted=True,
        attempt_count=1,
        number="@@number@@",
        period_start="@@created@@",
        period_end="@@created@@",
        effective_at="@@created@@",
        test_clock=None,
        status_transitions={
            "finalized_at": "@@created@@",
            "paid_at": "@@created@@",
            "marked_uncollectible_at": None,
            "voided_at": None,
        },
        parent={
            "quote_details": None,
            "type": "subscription_details",
            "subscription_details": {
                "metadata": {},
                "subscription": "@@sub@@",
                "subscription_proration_date": None,
            },
        },
    )
    t_inv["lines"]["url"] = "@@lines_url@@"
    inv_json = _compile(t_inv)
    history = max(1, opts.history_days) * schedule.DAY
    null = "null"
    # bulk load without the secondary indexes (and fsync); put them back even on failure
    try:
        with sb.lock:
            sb.store.drop_secondary_indexes()

        for batch_start in range(0, opts.customers, BATCH):
            rows: list[tuple[Any, ...]] = []
            for n in range(batch_start, min(opts.customers, batch_start + BATCH)):
                created = now - rng.randrange(history) - 86400
                cus_id, pm_id = new("cus"), new("pm")
                first, last = rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES)
                email = _q(f"{first.lower()}.{last.lower()}.{n}@example.com")
                name = _q(f"{first} {last}")
                prefix = cus_id[-8:].upper()
                rows.append(
                    (
                        cus_id,
                        "customer",
                        created,
                        cus_id,
                        None,
                        None,
                        None,
                        customer_json
                        % {
                            "id": _q(cus_id),
                            "created": created,
                            "email": email,
                            "name": name,
                            "prefix": _q(prefix),
                            "pm": _q(pm_id),
                        },
                        "{}",
                    )
                )
                rows.append(
                    (
                        pm_id,
                        "payment_method",
                        created,
                        cus_id,
                        None,
                        None,
                        None,
                        pm_json % {"id": _q(pm_id), "created": created, "customer": _q(cus_id)},
                        '{"behaviour":"ok"}',
                    )
                )
                span = max(1, now - created)
                for _ in range(opts.charges_per_customer):
                    at = created + rng.randrange(span)
                    pi_id, ch_id = new("pi"), new("ch")
                    failed = rng.random() < opts.failed_charge_rate
                    ch_text = (charge_failed_json if failed else charge_ok_json) % {
                        "id": _q(ch_id),
                        "created": at,
                        "customer": _q(cus_id),
                        "pi": _q(pi_id),
                        "pm": _q(pm_id),
                        "txn": null if failed else _q(new("txn")),
                        "refunds_url": _q(f"/v1/charges/{ch_id}/refunds"),
                    }
                    pi_text = pi_json % {
                        "id": _q(pi_id),
                        "created": at,
                        "customer": _q(cus_id),
                        "charge": _q(ch_id),
                        "secret": _q(f"{pi_id}_secret_{ch_id[-12:]}"),
                        "pm": null if failed else _q(pm_id),
                        "status": _q("requires_payment_method" if failed else "succeeded"),
                        "received": 0 if failed else opts.unit_amount,
                    }
                    rows.append(
                        (pi_id, "payment_intent", at, cus_id, None, None, None, pi_text, "{}")
                    )
                    rows.append((ch_id, "charge", at, cus_id, pi_id, None, None, ch_text, "{}"))
                    result.payment_intents += 1
                    result.charges += 1
                for _ in range(opts.subscriptions_per_customer):
                    sub_id, inv_id, si_id = new("sub"), new("in"), new("si")
                    start = now - rng.randrange(28 * schedule.DAY)
                    end = schedule.add_interval(start, "month")
                    rows.append(
                        (
                            sub_id,
                            "subscription",
                            start,
                            cus_id,
                            None,
                            None,
                            end,
                            sub_json
                            % {
                                "id": _q(sub_id),
                                "created": start,
                                "customer": _q(cus_id),
                                "invoice": _q(inv_id),
                                "si": _q(si_id),
                                "end": end,
                                "items_url": _q(f"/v1/subscription_items?subscription={sub_id}"),
                            },
                            f'{{"anchor":{start}}}',
                        )
                    )
                    rows.append(
                        (
                            inv_id,
                            "invoice",
                            start,
                            cus_id,
                            sub_id,
                            None,
                            None,
                            inv_json
                            % {
                                "id": _q(inv_id),
                                "created": start,
                                "customer": _q(cus_id),
                                "email": email,
                                "name": name,
                                "number": _q(f"{prefix}-0001"),
                                "sub": _q(sub_id),
                                "lines_url": _q(f"/v1/invoices/{inv_id}/lines"),
                            },
                            "{}",
                        )
                    )
                    result.subscriptions += 1
                    result.invoices += 1
                result.customers += 1
                result.payment_methods += 1
            with sb.lock, sb.store.transaction():
                sb.store.put_many(rows)
    finally:
        with sb.lock:
            sb.store.create_indexes()
    result.seconds = round(time.perf_counter() - started, 3)
    return result
