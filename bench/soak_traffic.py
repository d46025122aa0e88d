"""The soak's Stripe traffic, through the official stripe SDK only, from several threads.

Two kinds of stories, run concurrently until the target number of Stripe events is near:
- a one-off buyer: a customer (email unique, shared with another customer, of an existing
  Salesforce Contact, mixed-case, or longer than Contact.Email's 80 characters), a card on file,
  one to three payments in USD, EUR or JPY (succeeded, declined, disputed), full and partial
  refunds, sometimes a card change, sometimes deleted at the end;
- a test clock with one to three subscribers (Stripe allows three per clock): trial or not,
  renewal, then for some a failing card: failed renewal, retries, and either recovery (a good
  card before the third attempt) or lapse (retries exhausted, canceled); some cancel instead.

Stripe calls fail now and then on purpose (the soak injects 500s): the SDK retries them, and a
story that still fails is counted and abandoned. Nothing here decides what Salesforce should
show: the verifier reads the outcome back from Stripe.
"""

from __future__ import annotations

import random
import threading
import time
import traceback
from collections import Counter
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from typing import Any

import stripe

DAY = 86_400
HOUR = 3_600
PRICES = (("usd", 2_900), ("eur", 1_900), ("jpy", 3_000))  # per month, smallest unit
FIRST_NAMES = ("Ada", "Grace", "Alan", "Edsger", "Barbara", "Ken", "Frances", "Donald")
ONE_OFF_EVENTS, SUBSCRIBER_EVENTS = 14, 45  # rough Stripe events per story, for pacing


class EmailBook:
    """Hands out customer emails: mostly unique, some shared by two customers, some of
    Contacts that already exist in Salesforce (each used once), some mixed-case, a few too long
    for Contact.Email (80 characters; Stripe accepts them)."""

    def __init__(self, existing: list[str], rng: random.Random) -> None:
        self.existing = list(existing)
        self.rng = rng
        self.lock = threading.Lock()
        self.open_shared: str | None = None
        self.shared = 0
        self.kinds: Counter[str] = Counter()

    def pick(self, i: int) -> str:
        with self.lock:
            r = self.rng.random()
            if self.open_shared is not None and r < 0.15:
                email, self.open_shared = self.open_shared, None
                kind = "shared"
            elif r < 0.06 and self.existing:
                email = self.existing.pop(0)
                if self.rng.random() < 0.5:
                    email = email.upper()  # Salesforce matching is case-insensitive
                kind = "existing_contact"
            elif r < 0.12:
                self.shared += 1
                email = self.open_shared = f"team{self.shared}@shared.soak.example"
                kind = "shared"
            elif r < 0.20:
                email = f"Mixed.Case{i}@Soak-Mixed.Example"
                kind = "mixed_case"
            elif r < 0.23:
                email = f"{'very.long.mailbox.name.' * 3}{i}@an-unusually-long-domain.soak.example"
                kind = "longer_than_80"
            else:
                email = f"buyer{i}@soak.example"
                kind = "unique"
            self.kinds[kind] += 1
            return email


@dataclass
class Member:
    customer: str
    subscription: str
    fate: str  # healthy | recover | lapse | cancel_now | cancel_at_period_end


@dataclass
class Traffic:
    api_base: str
    api_key: str
    book: EmailBook
    events_now: Callable[[], int]
    target: int
    threads: int = 6
    seed: int = 7
    rate: float = 15.0  # Stripe events per second to aim at (0: as fast as possible)
    done: Counter[str] = field(default_factory=Counter)
    errors: list[str] = field(default_factory=list)
    events_seen: int = 0
    prices: list[tuple[str, str]] = field(default_factory=list)
    _local: threading.local = field(default_factory=threading.local)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _counter: int = 0

    # ---- plumbing -----------------------------------------------------------------------
    def client(self) -> stripe.StripeClient:
        c = getattr(self._local, "client", None)
        if c is None:
            c = stripe.StripeClient(
                self.api_key, base_addresses={"api": self.api_base}, max_network_retries=5
            )
            self._local.client = c
        return c

    def count(self, what: str, n: int = 1) -> None:
        with self._lock:
            self.done[what] += n

    def next_index(self) -> int:
        with self._lock:
            self._counter += 1
            return self._counter

    def progress(self) -> float:
        return self.events_seen / max(1, self.target)

    def setup(self) -> None:
        c = self.client()
        for currency, amount in PRICES:
            product = c.v1.products.create({"name": f"Soak {currency.upper()} plan"})
            price = c.v1.prices.create(
                {
                    "product": product.id,
                    "currency": currency,
                    "unit_amount": amount,
                    "recurring": {"interval": "month"},
                }
            )
            self.prices.append((price.id, currency))

    def run(self) -> None:
        """Start stories, paced to `rate`, until the events so far plus those expected from
        the stories in flight reach the target; then let the last ones finish."""
        rng = random.Random(self.seed)
        inflight: dict[Future[None], int] = {}
        t0 = time.monotonic()
        with ThreadPoolExecutor(self.threads, thread_name_prefix="traffic") as pool:
            while True:
                self.events_seen = self.events_now()
                for fut in [f for f in inflight if f.done()]:
                    del inflight[fut]
                expected = self.events_seen + sum(inflight.values())
                ahead = self.rate and expected > self.rate * (time.monotonic() - t0) + 30
                if ahead and expected < self.target:
                    time.sleep(0.5)  # a steady load: faults meet the work, not a backlog
                    continue
                if expected >= self.target:
                    if not inflight:
                        break
                    wait(list(inflight), timeout=1, return_when=FIRST_COMPLETED)
                    continue
                if len(inflight) >= self.threads:
                    wait(list(inflight), timeout=1, return_when=FIRST_COMPLETED)
                    continue
                seed = rng.randrange(2**32)
                if rng.random() < 0.35 and self.target - expected > 60:
                    members = rng.randint(1, 3)
                    fut = pool.submit(self._guarded, self.clock_story, seed, members)
                    inflight[fut] = members * SUBSCRIBER_EVENTS
                else:
                    fut = pool.submit(self._guarded, self.one_off_story, seed)
                    inflight[fut] = ONE_OFF_EVENTS
        self.events_seen = self.events_now()

    def _guarded(self, story: Callable[..., None], *args: Any) -> None:
        try:
            story(*args)
        except Exception as exc:  # a Stripe call failed even after the SDK's retries
            self.count(f"story failed: {type(exc).__name__}")
            if len(self.errors) < 20:
                self.errors.append("".join(traceback.format_exception_only(exc)).strip())

    # ---- building blocks ----------------------------------------------------------------
    def customer(self, rng: random.Random, clock: str | None = None) -> str:
        i = self.next_index()
        params: dict[str, Any] = {
            "email": self.book.pick(i),
            "name": f"{rng.choice(FIRST_NAMES)} Soak{i}",
            "metadata": {"soak_index": str(i)},
        }
        if clock:
            params["test_clock"] = clock
        self.count("customers")
        return str(self.client().v1.customers.create(params).id)  # type: ignore[arg-type]

    def attach(self, customer: str, token: str) -> str:
        """Attach a card and make it the default: the card on file."""
        c = self.client()
        pm = c.v1.payment_methods.attach(token, {"customer": customer})
        c.v1.customers.update(customer, {"invoice_settings": {"default_payment_method": pm.id}})
        self.count("cards attached")
        return str(pm.id)

    def pay(self, customer: str, pm: str, currency: str, amount: int) -> str | None:
        """A confirmed payment; the charge id, or None when it was declined."""
        try:
            intent = self.client().v1.payment_intents.create(
                {
                    "amount": amount,
                    "currency": currency,
                    "customer": customer,
                    "payment_method": pm,
                    "automatic_payment_methods": {"enabled": True, "allow_redirects": "never"},
                    "confirm": True,
                    "description": "Soak order",
                }
            )
        except stripe.CardError:
            self.count("payments declined")
            return None
        if intent.status != "succeeded":
            self.count("payments declined")
            return None
        self.count(f"payments {currency}")
        charge = intent.latest_charge
        return charge if isinstance(charge, str) else getattr(charge, "id", None)

    # ---- stories --------------------------------------------------------------------------
    def one_off_story(self, seed: int) -> None:
        rng = random.Random(seed)
        c = self.client()
        customer = self.customer(rng)
        pm = self.attach(
            customer, rng.choice(["pm_card_visa", "pm_card_mastercard", "pm_card_amex"])
        )
        for _ in range(rng.randint(1, 3)):
            currency = rng.choice(PRICES)[0]
            amount = rng.randrange(500, 20_000) if currency != "jpy" else rng.randrange(100, 30_000)
            kind = rng.choices(["ok", "declined", "dispute"], weights=[75, 15, 10])[0]
            if kind == "declined":
                token = rng.choice(
                    ["pm_card_chargeDeclined", "pm_card_chargeDeclinedInsufficientFunds"]
                )
                self.pay(customer, token, currency, amount)
                continue
            if kind == "dispute":
                if self.pay(customer, "pm_card_createDispute", currency, amount):
                    self.count("disputes")
                continue
            charge = self.pay(customer, pm, currency, amount)
            if charge is None:
                continue
            r = rng.random()
            if r < 0.15:
                c.v1.refunds.create({"charge": charge})
                self.count("refunds full")
            elif r < 0.35:
                c.v1.refunds.create({"charge": charge, "amount": max(1, amount // 3)})
                self.count("refunds partial")
                if rng.random() < 0.4:  # a second partial refund
                    c.v1.refunds.create({"charge": charge, "amount": max(1, amount // 4)})
                    self.count("refunds partial")
        if rng.random() < 0.25:
            self.attach(customer, rng.choice(["pm_card_mastercard", "pm_card_discover"]))
            self.count("card changes")
        if rng.random() < 0.08:
            c.v1.customers.delete(customer)
            self.count("customers deleted")

    def clock_story(self, seed: int, size: int) -> None:
        """Subscribers on one test clock, all with the same billing anchor (trial or not), so
        that one timeline fits them all: renewal, failed renewal, retries, recovery or lapse."""
        rng = random.Random(seed)
        c = self.client()
        now = int(time.time())
        clock = c.v1.test_helpers.test_clocks.create({"frozen_time": now, "name": "soak"}).id
        trial = rng.random() < 0.5
        members: list[Member] = []
        for _ in range(size):
            customer = self.customer(rng, clock)
            pm = self.attach(customer, rng.choice(["pm_card_visa", "pm_card_mastercard"]))
            price, _currency = rng.choice(self.prices)
            params: dict[str, Any] = {
                "customer": customer,
                "items": [{"price": price, "quantity": rng.randint(1, 3)}],
                "default_payment_method": pm,
            }
            if trial:
                params["trial_period_days"] = 7
            sub = c.v1.subscriptions.create(params)  # type: ignore[arg-type]
            fate = rng.choices(
                ["healthy", "recover", "lapse", "cancel_now", "cancel_at_period_end"],
                weights=[4, 3, 2, 1, 1],
            )[0]
            members.append(Member(customer, str(sub.id), fate))
            self.count("subscriptions")
        frozen = now

        def advance_to(when: int) -> None:
            nonlocal frozen
            frozen = max(frozen + 60, when)
            c.v1.test_helpers.test_clocks.advance(clock, {"frozen_time": frozen})
            deadline = time.monotonic() + 300
            while c.v1.test_helpers.test_clocks.retrieve(clock).status != "ready":
                if time.monotonic() > deadline:
                    raise RuntimeError(f"test clock {clock} still advancing after 300 s")
                time.sleep(0.2)
            self.count("clock advances")

        def period_end() -> int:
            ends = []
            for m in members:
                sub = c.v1.subscriptions.retrieve(m.subscription)
                if sub.status in ("canceled", "incomplete_expired"):
                    continue
                ends.append(int(sub["items"]["data"][0]["current_period_end"]))
            return max(ends) if ends else frozen

        if trial:
            advance_to(now + 7 * DAY + 2 * HOUR)  # trial over: first invoice paid
        advance_to(period_end() + 2 * HOUR)  # first renewal
        failing = [m for m in members if m.fate in ("recover", "lapse")]
        for m in members:
            if m.fate == "cancel_now":
                c.v1.subscriptions.cancel(m.subscription)
                self.count("subscriptions canceled")
            elif m.fate == "cancel_at_period_end":
                c.v1.subscriptions.update(m.subscription, {"cancel_at_period_end": True})
                self.count("subscriptions canceled")
        for m in failing:
            pm = self.attach(m.customer, "pm_card_chargeCustomerFail")
            c.v1.subscriptions.update(m.subscription, {"default_payment_method": pm})
        if not failing and rng.random() < 0.5:
            return
        advance_to(period_end() + 2 * HOUR)  # renewal: failing cards fail (attempt 1)
        for attempt in (2, 3, 4):
            retries = []
            for m in failing:
                sub = c.v1.subscriptions.retrieve(m.subscription)
                invoice_id = sub.latest_invoice
                if not isinstance(invoice_id, str):
                    continue
                invoice = c.v1.invoices.retrieve(invoice_id)
                if invoice.status == "open" and invoice.next_payment_attempt:
                    retries.append(int(invoice.next_payment_attempt))
            if not retries:
                break
            if attempt == 3:
                for m in failing:
                    if m.fate == "recover":
                        pm = self.attach(m.customer, "pm_card_visa")
                        c.v1.subscriptions.update(m.subscription, {"default_payment_method": pm})
                        self.count("subscriptions recovered")
            advance_to(max(retries) + HOUR)
