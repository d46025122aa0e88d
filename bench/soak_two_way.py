"""The soak's Salesforce -> Stripe traffic: a sales rep at work while the Stripe traffic runs.

A seeded sales rep (a Salesforce user who is not stripe2sf's integration user, logged in with
simple-salesforce as `stripe2sf.demo.two_way` logs in) works on customers of their own:

- setup (in the rep's thread, while the Stripe traffic starts): `size` Stripe customers made
  through the stripe SDK (the rep's accounts), waited for until stripe2sf has linked an Account
  and a Contact to each; one-time Stripe prices; Opportunities (owned by the rep) on some of
  those Accounts and on Accounts no Stripe customer has yet (each with a Contact email), most
  with a known price, some with a price Stripe does not know;
- then, paced along the Stripe traffic's progress: each linked Contact's email (sometimes
  twice in a row, fast) and phone, each Account's billing address, each Opportunity set to
  Closed Won (some edited again right after); for some emails a colleague edits the same
  customer's email in Stripe at the same moment (a conflict: Salesforce owns the field, so the
  rep's value must end on both sides).

Every rep call is retried through the soak's faults (503s, row locks, the request limit
window) until Salesforce accepts it; an edit is recorded when it was accepted. Nothing here
decides what the outcome must be beyond the rep's own values: the verifier
(`soak_verify.TwoWayVerifier`) reads Stripe and Salesforce.
"""

from __future__ import annotations

import random
import threading
import time
import traceback
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

import httpx
import stripe
from simple_salesforce import Salesforce

from stripe2sf.demo.integration_user import assign_permission_set
from stripe2sf.demo.processes import Endpoints
from stripe2sf.demo.two_way import rep_login, sobject

REP_USERNAME = "rep@sales.soak.example"
VIEWER_SET = "Stripe2sf_Viewer"  # README "Actions from Salesforce": viewers set the price
WON = "Closed Won"
OPEN_STAGE = "Prospecting"
CUSTOMER_ID_FIELD = "Stripe_Customer_Id__c"  # README "What it does to Salesforce"
ADDRESS_FIELDS = {  # Stripe address part -> Account field (README [salesforce_to_stripe])
    "line1": "BillingStreet",
    "city": "BillingCity",
    "state": "BillingState",
    "postal_code": "BillingPostalCode",
    "country": "BillingCountry",
}
CITIES = (
    ("Berlin", "BE", "10115", "DE"),
    ("Austin", "TX", "73301", "US"),
    ("Lyon", "", "69001", "FR"),
)


@dataclass
class RepCustomer:
    customer: str
    account_id: str = ""
    contact_id: str = ""
    other_contact_id: str = ""  # a second Contact of the Account: not the customer's


@dataclass(frozen=True)
class Edit:
    """A change the rep made and Salesforce accepted: `field` is the Stripe customer field it
    must reach (email, phone, address), `value` its value there."""

    customer: str
    sobject: str
    record_id: str
    field: str
    value: Any
    seq: int


@dataclass
class Deal:
    opportunity_id: str
    account_id: str
    price_id: str
    known_price: bool
    fresh_account: bool  # an Account without a Stripe customer before the action
    won: bool = False
    edited_after_won: bool = False
    corrected: bool = False  # an unknown price set to a known one after the error


@dataclass
class RepStory:
    ends: Endpoints
    admin: Salesforce
    stripe_client: Callable[[], stripe.StripeClient]
    size: int
    seed: int
    customers: list[RepCustomer] = field(default_factory=list)
    edits: list[Edit] = field(default_factory=list)
    stripe_edits: Counter[str] = field(default_factory=Counter)  # customer -> conflict edits
    price_id: str = ""
    # (customer, email) set on a Contact of the Account that is not the linked one: README
    # "only the primary Contact of a customer (the linked one) reaches it"
    other_edits: list[tuple[str, str]] = field(default_factory=list)
    deals: list[Deal] = field(default_factory=list)
    seeded_contacts: list[str] = field(default_factory=list)  # Contacts made here, by the admin
    done: Counter[str] = field(default_factory=Counter)
    errors: list[str] = field(default_factory=list)
    unsure: set[tuple[str, str]] = field(default_factory=set)  # (customer, field) a call lost
    ready: threading.Event = field(default_factory=threading.Event)
    _seq: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _thread: threading.Thread | None = None
    _conflicts: list[threading.Thread] = field(default_factory=list)
    _field_locks: dict[tuple[str, int], threading.Lock] = field(default_factory=dict)

    # ---- plumbing -------------------------------------------------------------------------
    def note(self, text: str) -> None:
        with self._lock:
            if len(self.errors) < 30:
                self.errors.append(text)

    def retried(self, what: str, call: Callable[[], Any], seconds: float = 90) -> Any:
        """`call` until Salesforce or Stripe accepts it (the soak's faults refuse some)."""
        deadline = time.monotonic() + seconds
        wait = 0.3
        while True:
            try:
                return call()
            except Exception as exc:
                if time.monotonic() > deadline:
                    raise RuntimeError(
                        f"{what}: still failing after {seconds:.0f} s: {exc}"
                    ) from exc
                self.done["rep call retried"] += 1
                time.sleep(wait)
                wait = min(wait * 2, 4.0)

    def record(self, customer: str, obj: str, record_id: str, name: str, value: Any) -> None:
        with self._lock:
            self._seq += 1
            self.edits.append(Edit(customer, obj, record_id, name, value, self._seq))

    # ---- setup ----------------------------------------------------------------------------
    def start(self, progress: Callable[[], float]) -> None:
        self._thread = threading.Thread(
            target=self._run, args=(progress,), name="sales-rep", daemon=True
        )
        self._thread.start()

    def join(self, timeout: float = 600) -> None:
        if self._thread is not None:
            self._thread.join(timeout)
        for thread in self._conflicts:
            thread.join(60)

    def _run(self, progress: Callable[[], float]) -> None:
        try:
            rep = self.setup()
            self.ready.set()
            self.work(rep, progress)
        except Exception as exc:
            self.done["rep story failed"] += 1
            self.note("rep story: " + "".join(traceback.format_exception_only(exc)).strip())
        finally:
            self.ready.set()

    def _seed(self, sobject_name: str, rows: list[dict[str, Any]]) -> list[str]:
        with httpx.Client(
            base_url=self.ends.salesforce, verify=str(self.ends.ca_path), timeout=60
        ) as http:
            answer = http.post("/_sandbox/seed", json={"sobject": sobject_name, "records": rows})
            answer.raise_for_status()
            return [str(i) for i in answer.json()["ids"]]

    def setup(self) -> Salesforce:
        rng = random.Random(self.seed)
        [rep_id] = self._seed(
            "User",
            [
                {
                    "Username": REP_USERNAME,
                    "FirstName": "Riley",
                    "LastName": "Rep",
                    "Email": REP_USERNAME,
                    "Alias": "riley",
                }
            ],
        )
        # the set stripe2sf's metadata gives sales users: it lets them set the Stripe price
        assign_permission_set(self.ends.salesforce, self.ends.ca_path, REP_USERNAME, VIEWER_SET)
        rep = rep_login(self.ends, REP_USERNAME)
        c = self.stripe_client()
        for i in range(self.size):
            customer = c.v1.customers.create(
                {
                    "email": f"rep.customer{i}@soak-two-way.example",
                    "name": f"Rep Customer {i}",
                    "metadata": {"soak": "two_way"},
                }
            )
            self.customers.append(RepCustomer(str(customer.id)))
        self._wait_linked()
        for i, rc in enumerate(self.customers[: max(2, self.size // 3)]):
            other = self.retried(
                "admin Contact",
                lambda i=i, rc=rc: self.admin.Contact.create(
                    {
                        "LastName": f"Colleague {i}",
                        "Email": f"colleague{i}@soak-two-way.example",
                        "AccountId": rc.account_id,
                    }
                ),
            )
            rc.other_contact_id = str(other["id"])
            self.seeded_contacts.append(rc.other_contact_id)
        product = c.v1.products.create({"name": "Soak onboarding"})
        price = c.v1.prices.create(
            {"product": product.id, "currency": "usd", "unit_amount": 50_000}
        )
        self.price_id = str(price.id)
        close = (date.today() + timedelta(days=14)).isoformat()
        opportunities: list[dict[str, Any]] = []
        plans: list[tuple[str, str, bool, bool]] = []
        n_linked = max(2, self.size // 2)
        for k, rc in enumerate(self.customers[:n_linked]):
            known = k % 2 == 0  # half the rep's deals carry a price Stripe does not know
            plans.append(
                (rc.account_id, price.id if known else f"price_soakUnknown{k}", known, False)
            )
        for k in range(max(1, self.size // 4)):  # Accounts with no Stripe customer yet
            account = self.retried(
                "admin Account",
                lambda k=k: self.admin.Account.create({"Name": f"Soak Deal Co {k}"}),
            )
            contact = self.retried(
                "admin Contact",
                lambda k=k, a=account: self.admin.Contact.create(
                    {
                        "LastName": f"Buyer {k}",
                        "Email": f"buyer{k}@soak-deal-co.example",
                        "AccountId": a["id"],
                    }
                ),
            )
            self.seeded_contacts.append(str(contact["id"]))
            plans.append((str(account["id"]), price.id, True, True))
        rng.shuffle(plans)
        for k, (account_id, price_id, _known, _fresh) in enumerate(plans):
            opportunities.append(
                {
                    "Name": f"Soak deal {k}",
                    "AccountId": account_id,
                    "OwnerId": rep_id,
                    "StageName": OPEN_STAGE,
                    "CloseDate": close,
                    "Amount": 500,
                    "Stripe_Price_Id__c": price_id,
                }
            )
        ids = self._seed("Opportunity", opportunities)
        for opp_id, (account_id, price_id, known, fresh) in zip(ids, plans, strict=True):
            self.deals.append(Deal(opp_id, account_id, price_id, known, fresh))
        self.done["rep customers"] = len(self.customers)
        self.done["opportunities"] = len(self.deals)
        return rep

    def _wait_linked(self, timeout: float = 240) -> None:
        """Until stripe2sf has linked an Account and a Contact to each of the rep's customers."""
        deadline = time.monotonic() + timeout
        wanted = {rc.customer: rc for rc in self.customers}
        ids = ", ".join(f"'{c}'" for c in wanted)
        where = f"FROM {{}} WHERE {CUSTOMER_ID_FIELD} IN ({ids})"
        while True:
            try:
                select = f"SELECT Id, {CUSTOMER_ID_FIELD} "
                accounts = self.admin.query_all(select + where.format("Account"))["records"]
                contacts = self.admin.query_all(select + where.format("Contact"))["records"]
            except Exception:  # a fault: ask again
                accounts, contacts = [], []
            for a in accounts:
                wanted[a[CUSTOMER_ID_FIELD]].account_id = a["Id"]
            for ct in contacts:
                wanted[ct[CUSTOMER_ID_FIELD]].contact_id = ct["Id"]
            if all(rc.account_id and rc.contact_id for rc in self.customers):
                return
            if time.monotonic() > deadline:
                missing = [rc.customer for rc in self.customers if not rc.contact_id]
                raise RuntimeError(f"rep customers not linked after {timeout:.0f} s: {missing}")
            time.sleep(1)

    # ---- the rep's day ----------------------------------------------------------------------
    def plan(self, rng: random.Random) -> list[tuple[float, str, int]]:
        """(progress at which, what, index) for every edit, spread over the traffic."""
        steps: list[tuple[str, int]] = []
        for i in range(len(self.customers)):
            steps += [("email", i), ("phone", i), ("address", i)]
            if self.customers[i].other_contact_id:
                steps.append(("other", i))
            if rng.random() < 0.4:
                steps.append(("name", i))
            if rng.random() < 0.5:
                steps.append(("email", i))  # a second correction later on
        steps += [("win", k) for k in range(len(self.deals))]
        # every other unknown price is corrected by the rep after the error (once won)
        unknown = [k for k, d in enumerate(self.deals) if not d.known_price]
        steps += [("fix", k) for k in unknown[::2]]
        rng.shuffle(steps)
        for k in [k for what, k in steps if what == "fix"]:  # a price is fixed after the win
            win, fix = steps.index(("win", k)), steps.index(("fix", k))
            if fix < win:
                steps[win], steps[fix] = steps[fix], steps[win]
        n = len(steps)
        return [(0.1 + 0.75 * j / max(1, n - 1), what, i) for j, (what, i) in enumerate(steps)]

    def work(self, rep: Salesforce, progress: Callable[[], float]) -> None:
        """The plan's steps, each started when the traffic reaches its point, up to three at
        once (two edits of one customer may meet; one field of a record is edited by one
        step at a time, so the rep's last value is known)."""
        rng = random.Random(self.seed + 1)
        with ThreadPoolExecutor(3, thread_name_prefix="rep") as pool:
            for at, what, i in self.plan(rng):
                while progress() < at:
                    time.sleep(0.2)
                pool.submit(self.step, rep, what, i, random.Random(rng.randrange(2**32)))

    def step(self, rep: Salesforce, what: str, i: int, rng: random.Random) -> None:
        if what == "fix":  # after the win (its step may still be waiting for its lock)
            deadline = time.monotonic() + 180
            while not self.deals[i].won and time.monotonic() < deadline:
                time.sleep(0.2)
        key = (what if what not in ("win", "fix") else "deal", i)
        with self._lock:
            lock = self._field_locks.setdefault(key, threading.Lock())
        with lock:
            try:
                self._step(rep, what, i, rng)
            except Exception as exc:
                self.done[f"rep {what} failed"] += 1
                self.note(f"rep {what}: {type(exc).__name__}: {exc}")

    def _step(self, rep: Salesforce, what: str, i: int, rng: random.Random) -> None:
        contacts, accounts = sobject(rep, "Contact"), sobject(rep, "Account")
        opportunities = sobject(rep, "Opportunity")
        if what == "win":
            self.win(opportunities, self.deals[i], rng)
        elif what == "fix":
            self.fix_price(opportunities, self.deals[i])
        else:
            rc = self.customers[i]
            if what == "email":
                self.edit_email(contacts, rc, rng)
            elif what == "name":
                name = f"Rep Customer {i} {rng.choice(('GmbH', 'Ltd', 'Inc', 'SAS'))}"
                self._update(accounts, rc, "Account", rc.account_id, {"Name": name}, "name", name)
            elif what == "other":
                email = f"colleague{i}.new{rng.randrange(1000)}@soak-two-way.example"
                self.retried(
                    f"Contact {rc.other_contact_id}",
                    lambda: contacts.update(rc.other_contact_id, {"Email": email}),
                )
                with self._lock:
                    self.other_edits.append((rc.customer, email))
                self.done["rep edits of other Contacts"] += 1
            elif what == "phone":
                phone = f"+1 512 555 {rng.randrange(10_000):04d}"
                if rng.random() < 0.25:  # a colleague edits the phone in Stripe meanwhile
                    other = f"+49 30 555 {rng.randrange(10_000):04d}"
                    self._conflict(rc, {"phone": other}, rng, ("phone", phone))
                self._update(
                    contacts, rc, "Contact", rc.contact_id, {"Phone": phone}, "phone", phone
                )
            else:
                parts = (f"{rng.randrange(1, 999)} Soak Street", *rng.choice(CITIES))
                values = dict(zip(ADDRESS_FIELDS.values(), parts, strict=True))
                address = dict(zip(ADDRESS_FIELDS, parts, strict=True))
                self._update(accounts, rc, "Account", rc.account_id, values, "address", address)

    def _update(
        self,
        api: Any,
        rc: RepCustomer,
        obj: str,
        record_id: str,
        values: dict[str, Any],
        name: str,
        value: Any,
    ) -> None:
        try:
            self.retried(f"rep {obj} {record_id}", lambda: api.update(record_id, values))
        except Exception:
            self.unsure.add((rc.customer, name))  # it may have been saved: do not judge it
            raise
        self.record(rc.customer, obj, record_id, name, value)
        self.done[f"rep {name} edits"] += 1

    def edit_email(self, contacts: Any, rc: RepCustomer, rng: random.Random) -> None:
        n = self._seq
        email = f"rep.fix{n}.{rc.customer[-6:].lower()}@soak-two-way.example"
        if rng.random() < 0.35:  # a colleague edits the same customer's email in Stripe meanwhile
            other = f"stripe.side{n}@soak-two-way.example"
            self._conflict(rc, {"email": other}, rng, ("email", email))
        self._update(contacts, rc, "Contact", rc.contact_id, {"Email": email}, "email", email)
        if rng.random() < 0.3:  # a typo fixed at once: two changes in a row
            again = email.replace("rep.fix", "rep.refix")
            self._update(contacts, rc, "Contact", rc.contact_id, {"Email": again}, "email", again)
            self.done["rep quick double edits"] += 1

    def _conflict(
        self,
        rc: RepCustomer,
        values: dict[str, str],
        rng: random.Random,
        reps: tuple[str, str],
    ) -> None:
        """A Stripe-side edit of a field Salesforce owns: half of them 0-0.6 s from the rep's
        edit (before stripe2sf writes it, most likely), half once Stripe shows the rep's value
        `reps` (field, value): then stripe2sf must put it back."""
        after = reps if rng.random() < 0.5 else None
        thread = threading.Thread(
            target=self._stripe_edit,
            args=(rc, values, rng.uniform(0, 0.6), after),
            daemon=True,
        )
        self._conflicts.append(thread)
        thread.start()

    def _stripe_edit(
        self,
        rc: RepCustomer,
        values: dict[str, str],
        delay: float,
        after: tuple[str, str] | None,
    ) -> None:
        time.sleep(delay)
        if after is not None:
            name, value = after
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline:
                try:
                    customer = self.stripe_client().v1.customers.retrieve(rc.customer)
                    if getattr(customer, name, None) == value:
                        break
                except Exception:  # a Stripe 500 of the soak: look again
                    pass
                time.sleep(0.3)
        try:
            self.stripe_client().v1.customers.update(rc.customer, values)  # type: ignore[arg-type]
            with self._lock:
                self.stripe_edits[rc.customer] += 1
            self.done[f"Stripe-side {'/'.join(values)} edits (conflicts)"] += 1
        except Exception as exc:
            self.note(f"Stripe-side edit of {rc.customer}: {type(exc).__name__}: {exc}")

    def fix_price(self, opportunities: Any, deal: Deal) -> None:
        """The rep reads the error on the won Opportunity and sets a price Stripe knows."""
        self.retried(
            f"price of {deal.opportunity_id}",
            lambda: opportunities.update(
                deal.opportunity_id, {"Stripe_Price_Id__c": self.price_id}
            ),
        )
        deal.price_id, deal.corrected = self.price_id, True
        self.done["unknown prices corrected"] += 1

    def win(self, opportunities: Any, deal: Deal, rng: random.Random) -> None:
        self.retried(
            f"win {deal.opportunity_id}",
            lambda: opportunities.update(deal.opportunity_id, {"StageName": WON}),
        )
        deal.won = True
        self.done["opportunities won"] += 1
        if rng.random() < 0.4:  # the rep adds a note right after: one more change event
            self.retried(
                f"note on {deal.opportunity_id}",
                lambda: opportunities.update(
                    deal.opportunity_id, {"Description": "Signed; kickoff next week"}
                ),
            )
            deal.edited_after_won = True
            self.done["won opportunities edited again"] += 1
