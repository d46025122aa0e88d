"""The three flows end to end: Stripe sandbox (official SDK) -> webhooks -> stripe2sf (its app,
worker and SQLite) -> Salesforce sandbox, checked with simple-salesforce queries."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
import stripe

from stripe2sf.domain.money import to_major_units
from stripe2sf.store.audit_trail import AuditTrail
from stripe2sf.store.inbox import StoredEvent
from tests.support.events import signed
from tests.support.org_rules import ORG_RULES, check_org_rules
from tests.support.sync_env import SyncEnv, sync_env

DAY = 86_400


@pytest.fixture
def env(tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[SyncEnv]:
    """Both sandboxes and stripe2sf; a test parametrised indirectly on `env` passes
    `sync_env` options (see `OLDER_STRIPE`)."""
    options = getattr(request, "param", None) or {}
    with sync_env(f"sqlite:///{tmp_path / 'stripe2sf.db'}", **options) as e:
        yield e
        if options:
            _check_versions(e, options)
        if options.get("org_rules"):
            check_org_rules(e.sf)


def _check_versions(env: SyncEnv, options: dict[str, str]) -> None:
    """The run really was on those versions: every event stripe2sf stored came in the
    account's version, and its reads were answered in the version it asked for."""
    with env.runtime.engine.connect() as conn:
        got = {row[0] for row in conn.exec_driver_sql("SELECT DISTINCT api_version FROM events")}
    assert got <= {options.get("stripe_account_version", stripe.api_version)}, got
    reads = {
        key.split(" ", 1)[1]
        for key in env.stripe.stats()["requests_by_version"]
        if key.startswith("GET ")
    }
    assert options.get("stripe_api_version", stripe.api_version) in reads, reads


# The Stripe API versions the flows run on besides today's (README: "Older Stripe API
# versions"): the account and its webhook endpoint on that version, stripe2sf reading in it
# too; and once reading in the SDK's own version while the payloads come in an old one.
OLDER_STRIPE = [
    pytest.param({}, id="stripe-current"),
    *(
        pytest.param({"stripe_account_version": v, "stripe_api_version": v}, id=f"stripe-{v}")
        for v in ("2020-08-27", "2022-11-15", "2023-10-16", "2024-06-20", "2025-03-31.basil")
    ),
]
OLDER_PAYLOADS_ONLY = pytest.param(
    {"stripe_account_version": "2020-08-27"}, id="stripe-2020-08-27-payloads-sdk-reads"
)

# An org with multiple currencies (README: "Orgs with multiple currencies"): each payment, and
# the Account with its MRR, carries its Stripe currency as CurrencyIsoCode; amounts in the
# currency's own unit (JPY has none smaller). Tests take (env options, Stripe currency).
MULTI_CURRENCY_ORG = {
    "salesforce": {"features": ["multi-currency"], "currencies": ["USD", "EUR", "JPY"]}
}
IN_CURRENCIES = [
    pytest.param({}, "usd", id="single-currency"),
    pytest.param(MULTI_CURRENCY_ORG, "usd", id="multi-currency-usd"),
    pytest.param(MULTI_CURRENCY_ORG, "eur", id="multi-currency-eur"),
    pytest.param(MULTI_CURRENCY_ORG, "jpy", id="multi-currency-jpy"),
]
MULTI_CURRENCY_EUR = pytest.param(MULTI_CURRENCY_ORG, "eur", id="multi-currency-eur")


def in_usd(params: list[Any]) -> list[Any]:
    """`env`-only params as (env options, "usd") pairs."""
    return [pytest.param(p.values[0], "usd", id=p.id) for p in params]


def record_currency(env: SyncEnv, sobject: str, record_id: str) -> str | None:
    """A record's CurrencyIsoCode; None in a single-currency org (there is no such field)."""
    if "multi-currency" not in env.salesforce.features():
        return None
    [row] = env.query(f"SELECT CurrencyIsoCode FROM {sobject} WHERE Id = '{record_id}'")
    return str(row["CurrencyIsoCode"])


def expected_currency(env: SyncEnv, currency: str) -> str | None:
    return currency.upper() if "multi-currency" in env.salesforce.features() else None


# An org with Person Accounts (README: "Orgs with Person Accounts"): a new customer is one
# person account whose hidden person contact is its Contact; an existing one is found by its
# PersonEmail (its person contact's Email) and linked. Tests seed customers as the org holds them.
PERSON_ACCOUNTS_ORG = {"salesforce": {"features": ["person-accounts"]}}


# An org with Salesforce's standard duplicate rules on (README: "Orgs with duplicate rules"):
# the flows are unchanged (stripe2sf finds a customer's Contact by email before it creates one;
# tests/integration/test_duplicate_rules_flow.py has the creates a rule refuses).
DUPLICATE_RULES_ORG = {"duplicate_rules": "standard"}

# An org with validation rules, a required custom field (with a default) and Account record
# types (README: "Validation rules, required fields and record types"): rules an admin has on
# the data stripe2sf writes, which its writes pass; the fixture checks they were in force.
VALIDATION_RULES_ORG = {"org_rules": ORG_RULES}


def person_accounts(env: SyncEnv) -> bool:
    return "person-accounts" in env.salesforce.features()


def seed_customer(
    env: SyncEnv, company: str, last_name: str, email: str, owner: str | None = None
) -> tuple[str, str]:
    """(Account Id, Contact Id) of a customer already in Salesforce: a business Account with a
    Contact, or in an org with Person Accounts a person account (its person contact)."""
    owned = {"OwnerId": owner} if owner else {}
    if not person_accounts(env):
        [account] = env.salesforce.seed([{"Name": company, **owned}], "Account")
        [contact] = env.salesforce.seed(
            [{"LastName": last_name, "Email": email, "AccountId": account}], "Contact"
        )
        return account, contact
    [record_type] = env.query(
        "SELECT Id FROM RecordType WHERE SobjectType = 'Account' AND IsPersonType = true"
    )
    person = {"RecordTypeId": record_type["Id"], "LastName": last_name, "PersonEmail": email}
    [account] = env.salesforce.seed([{**person, **owned}], "Account")
    [row] = env.query(f"SELECT PersonContactId FROM Account WHERE Id = '{account}'")
    return account, str(row["PersonContactId"])


def pay(
    client: stripe.StripeClient,
    customer: str,
    amount: int = 2_500,
    pm: str = "pm_card_visa",
    currency: str = "usd",
) -> str:
    method = client.v1.payment_methods.attach(pm, {"customer": customer})
    intent = client.v1.payment_intents.create(
        {
            "amount": amount,
            "currency": currency,
            "customer": customer,
            "payment_method": method.id,
            "automatic_payment_methods": {"enabled": True, "allow_redirects": "never"},
            "confirm": True,
        }
    )
    charge = intent.latest_charge
    return charge if isinstance(charge, str) else str(getattr(charge, "id", ""))


@pytest.mark.parametrize(
    ("env", "currency"),
    [
        *IN_CURRENCIES,
        pytest.param(PERSON_ACCOUNTS_ORG, "usd", id="person-accounts"),
        pytest.param(DUPLICATE_RULES_ORG, "usd", id="duplicate-rules"),
    ],
    indirect=["env"],
)
def test_existing_contact_is_linked_not_duplicated(env: SyncEnv, currency: str) -> None:
    account, contact = seed_customer(env, "Acme Corp", "Payer", "Pat@Acme.example")
    customer = env.client.v1.customers.create({"email": "pat@acme.example", "name": "Pat Payer"})
    charge = pay(env.client, customer.id, currency=currency)
    env.drain()

    contacts = env.query("SELECT Id, Stripe_Customer_Id__c FROM Contact")
    assert [c["Id"] for c in contacts] == [contact]
    assert contacts[0]["Stripe_Customer_Id__c"] == customer.id
    [linked] = env.query("SELECT Id, Stripe_Customer_Id__c FROM Account")
    assert linked["Id"] == account and linked["Stripe_Customer_Id__c"] == customer.id
    [payment] = env.query(
        "SELECT Id, Amount__c, Currency__c, Status__c, Account__c, Contact__c, Card_Last4__c "
        f"FROM Stripe_Payment__c WHERE Stripe_Charge_Id__c = '{charge}'"
    )
    assert payment["Amount__c"] == to_major_units(2_500, currency)  # JPY 2500, else 25.00
    assert payment["Currency__c"] == currency.upper()
    assert record_currency(env, "Stripe_Payment__c", payment["Id"]) == expected_currency(
        env, currency
    )
    assert payment["Account__c"] == account and payment["Contact__c"] == contact
    assert payment["Card_Last4__c"] == "4242"


@pytest.mark.parametrize(
    "env",
    [
        *OLDER_STRIPE,
        pytest.param(PERSON_ACCOUNTS_ORG, id="person-accounts"),
        pytest.param(DUPLICATE_RULES_ORG, id="duplicate-rules"),
    ],
    indirect=True,
)
def test_new_customer_creates_one_account_and_one_contact(env: SyncEnv) -> None:
    customer = env.client.v1.customers.create({"email": "new@buyer.example", "name": "Nora New"})
    pay(env.client, customer.id)
    pay(env.client, customer.id, amount=1_000)
    env.drain()
    accounts = env.query("SELECT Id, Stripe_Customer_Id__c FROM Account")
    contacts = env.query("SELECT Id, Email, AccountId, LastName FROM Contact")
    assert [a["Stripe_Customer_Id__c"] for a in accounts] == [customer.id]
    assert len(contacts) == 1 and contacts[0]["AccountId"] == accounts[0]["Id"]
    assert contacts[0]["Email"] == "new@buyer.example" and contacts[0]["LastName"] == "New"
    payments = env.query("SELECT Account__c, Contact__c FROM Stripe_Payment__c")
    assert len(payments) == 2
    assert {(p["Account__c"], p["Contact__c"]) for p in payments} == {
        (accounts[0]["Id"], contacts[0]["Id"])
    }
    if person_accounts(env):  # one person account, its person contact the customer's Contact
        [person] = env.query(
            "SELECT Name, FirstName, LastName, PersonEmail, IsPersonAccount, PersonContactId, "
            "Stripe_Customer_Id__pc FROM Account"
        )
        assert person["IsPersonAccount"] is True and person["PersonContactId"] == contacts[0]["Id"]
        assert (person["Name"], person["FirstName"], person["PersonEmail"]) == (
            "Nora New",
            "Nora",
            "new@buyer.example",
        )
        assert person["Stripe_Customer_Id__pc"] == customer.id


@pytest.mark.parametrize(
    "env",
    [
        *OLDER_STRIPE,
        OLDER_PAYLOADS_ONLY,
        pytest.param(VALIDATION_RULES_ORG, id="validation-rules"),
    ],
    indirect=True,
)
def test_new_customers_payment_and_its_refund(env: SyncEnv) -> None:
    """A new customer pays, then half is refunded: one Account, one Contact, one payment that
    ends Partially Refunded, whatever shape the events and reads come in."""
    customer = env.client.v1.customers.create({"email": "ref@und.example", "name": "Rae Fund"})
    charge = pay(env.client, customer.id, amount=3_000)
    env.client.v1.refunds.create({"charge": charge, "amount": 1_000})
    env.drain()
    [account] = env.query("SELECT Id, Stripe_Customer_Id__c FROM Account")
    assert account["Stripe_Customer_Id__c"] == customer.id
    [contact] = env.query("SELECT AccountId, Email FROM Contact")
    assert contact["AccountId"] == account["Id"] and contact["Email"] == "ref@und.example"
    [payment] = env.query(
        "SELECT Amount__c, Status__c, Account__c, Card_Last4__c, Stripe_Charge_Id__c "
        "FROM Stripe_Payment__c"
    )
    assert payment["Stripe_Charge_Id__c"] == charge and payment["Amount__c"] == 30
    assert payment["Status__c"] == "Partially Refunded"
    assert payment["Account__c"] == account["Id"] and payment["Card_Last4__c"] == "4242"
    assert env.runtime.inbox.counts()["dead"] == 0


def test_ten_concurrent_deliveries_and_applications_of_one_event_make_one_payment(
    env: SyncEnv,
) -> None:
    customer = env.client.v1.customers.create({"email": "dup@buyer.example", "name": "D Up"})
    charge = pay(env.client, customer.id)
    env.drain()
    [event] = [
        e
        for e in env.client.v1.events.list({"type": "charge.succeeded"}).data
        if e.data.object.id == charge
    ]
    body = json.dumps(event.to_dict())
    secret = env.runtime.settings.stripe_webhook_secrets[0]

    def deliver(_: int) -> int:
        response = httpx.post(
            env.url + "/webhooks/stripe", content=body, headers=signed(body, secret)
        )
        return response.status_code

    with ThreadPoolExecutor(10) as pool:
        assert list(pool.map(deliver, range(10))) == [200] * 10
    # The inbox already held it; now apply it ten times at once, as ten racing workers would.
    stored = env.runtime.inbox.get(event.id)
    assert stored is not None
    handler = env.runtime.registry.get("charge.succeeded")
    assert handler is not None

    def apply(_: int) -> object:
        copy = StoredEvent(**{**stored.__dict__})
        return handler(copy)

    with ThreadPoolExecutor(10) as pool:
        list(pool.map(apply, range(10)))
    assert (
        len(env.query(f"SELECT Id FROM Stripe_Payment__c WHERE Stripe_Charge_Id__c = '{charge}'"))
        == 1
    )
    assert len(env.query("SELECT Id FROM Account")) == 1
    assert len(env.query("SELECT Id FROM Contact")) == 1


@pytest.mark.parametrize(
    ("env", "currency"),
    [
        *in_usd(OLDER_STRIPE),
        MULTI_CURRENCY_EUR,
        pytest.param(VALIDATION_RULES_ORG, "usd", id="validation-rules"),
    ],
    indirect=["env"],
)
def test_updated_delivered_after_deleted_does_not_revive_a_canceled_subscription(
    env: SyncEnv, currency: str
) -> None:
    client = env.client
    customer = client.v1.customers.create({"email": "late@buyer.example", "name": "Lee Late"})
    method = client.v1.payment_methods.attach("pm_card_visa", {"customer": customer.id})
    product = client.v1.products.create({"name": "Pro"})
    price = client.v1.prices.create(
        {
            "product": product.id,
            "currency": currency,
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
    client.v1.subscriptions.update(sub.id, {"metadata": {"seats": "3"}})
    client.v1.subscriptions.cancel(sub.id)
    env.drain()
    [account] = env.query("SELECT Subscription_Status__c FROM Account")
    assert account["Subscription_Status__c"] == "Canceled"

    updated = [
        e
        for e in client.v1.events.list({"type": "customer.subscription.updated"}).data
        if e.data.object.id == sub.id and e.data.object.status == "active"
    ]
    assert updated, "the scenario must have produced an active `updated` event"
    env.runtime.inbox.replay([updated[0].id], datetime.now(UTC))
    env.drain()
    [account] = env.query("SELECT Id, Subscription_Status__c, MRR__c FROM Account")
    assert account["Subscription_Status__c"] == "Canceled" and account["MRR__c"] == 0
    # the MRR is in the subscription's currency
    assert record_currency(env, "Account", account["Id"]) == expected_currency(env, currency)


@pytest.mark.parametrize(
    ("env", "currency"),
    [
        *in_usd(OLDER_STRIPE),
        MULTI_CURRENCY_EUR,
        pytest.param(PERSON_ACCOUNTS_ORG, "usd", id="person-accounts"),
        pytest.param(DUPLICATE_RULES_ORG, "usd", id="duplicate-rules"),
        pytest.param(VALIDATION_RULES_ORG, "usd", id="validation-rules"),
    ],
    indirect=["env"],
)
def test_failed_payment_task_goes_to_the_account_owner_and_closes_on_payment(
    env: SyncEnv, currency: str
) -> None:
    client = env.client
    [owner] = env.salesforce.seed(
        [
            {
                "Username": "rep@sales.example",
                "LastName": "Rep",
                "Email": "rep@sales.example",
                "Alias": "rep",
            }
        ],
        "User",
    )
    account, contact = seed_customer(env, "Dunning Inc", "Ap", "ap@dunning.example", owner)
    clock = client.v1.test_helpers.test_clocks.create({"frozen_time": 1_790_000_000})
    customer = client.v1.customers.create(
        {"email": "ap@dunning.example", "name": "Accounts Payable", "test_clock": clock.id}
    )
    good = client.v1.payment_methods.attach("pm_card_visa", {"customer": customer.id})
    product = client.v1.products.create({"name": "Team"})
    price = client.v1.prices.create(
        {
            "product": product.id,
            "currency": currency,
            "unit_amount": 4_900,
            "recurring": {"interval": "month"},
        }
    )
    sub = client.v1.subscriptions.create(
        {"customer": customer.id, "items": [{"price": price.id}], "default_payment_method": good.id}
    )
    bad = client.v1.payment_methods.attach("pm_card_chargeCustomerFail", {"customer": customer.id})
    client.v1.subscriptions.update(sub.id, {"default_payment_method": bad.id})
    client.v1.test_helpers.test_clocks.advance(clock.id, {"frozen_time": 1_790_000_000 + 31 * DAY})
    env.stripe.wait_for_clock(clock.id)
    env.drain()

    tasks = env.query(
        "SELECT Id, OwnerId, Priority, Status, Subject, Description, WhatId, WhoId, "
        "Stripe_Dedupe_Key__c FROM Task WHERE Stripe_Dedupe_Key__c LIKE 'in_%'"
    )
    assert len(tasks) == 1
    task = tasks[0]
    assert task["OwnerId"] == owner and task["Priority"] == "High"
    assert task["Status"] != "Completed" and task["WhatId"] == account
    assert task["WhoId"] == contact  # with person accounts: the person contact
    assert "49.00" in task["Subject"] + task["Description"]
    [acct] = env.query("SELECT Billing_Status__c FROM Account")
    assert acct["Billing_Status__c"] in ("Payment Overdue", "At Risk")

    client.v1.subscriptions.update(sub.id, {"default_payment_method": good.id})
    client.v1.test_helpers.test_clocks.advance(clock.id, {"frozen_time": 1_790_000_000 + 40 * DAY})
    env.stripe.wait_for_clock(clock.id)
    env.drain()
    [task] = env.query(f"SELECT Status FROM Task WHERE Id = '{task['Id']}'")
    assert task["Status"] == "Completed"
    [acct] = env.query("SELECT Billing_Status__c FROM Account")
    assert acct["Billing_Status__c"] == "Current"
    # every payment (the first invoice, the failed renewal, its payment) in the invoices' currency
    paid = env.query("SELECT Id, Amount__c, Currency__c FROM Stripe_Payment__c")
    assert paid and {(p["Amount__c"], p["Currency__c"]) for p in paid} == {(49, currency.upper())}
    assert {record_currency(env, "Stripe_Payment__c", p["Id"]) for p in paid} == {
        expected_currency(env, currency)
    }
    # each names its invoice (the first one, the renewal), though from API basil on neither
    # the charge nor its payment intent says which: Stripe's invoice payments do
    invoices = {i.id for i in client.v1.invoices.list({"customer": customer.id}).data}
    named = env.query("SELECT Invoice_Id__c FROM Stripe_Payment__c")
    assert len(invoices) == 2 and {p["Invoice_Id__c"] for p in named} == invoices


def test_a_card_number_smuggled_into_stripe_data_never_reaches_salesforce(env: SyncEnv) -> None:
    pan = "4242 4242 4242 4242"
    customer = env.client.v1.customers.create(
        {"email": "smuggler@buyer.example", "name": f"Card {pan}", "description": f"pan {pan}"}
    )
    pay(env.client, customer.id)
    env.drain()
    digits = pan.replace(" ", "")
    for sobject, fields in (
        ("Account", "Name, Description"),
        ("Contact", "FirstName, LastName, Description"),
        ("Stripe_Payment__c", "Name, Card_Last4__c"),
    ):
        for row in env.query(f"SELECT {fields} FROM {sobject}"):
            text = json.dumps(row).replace(" ", "").replace("-", "")
            assert digits not in text, f"{sobject} holds a card number: {row}"
    rows = AuditTrail(env.runtime.engine).rows(customer_id=customer.id)
    refusals = [r for r in rows if r["outcome"] == "refused"]
    assert refusals, "the refusal must be in the audit trail"
    assert all(digits not in (r["error"] or "").replace(" ", "") for r in refusals)


def test_stripe_rate_limit_is_retried_until_every_event_is_applied(env: SyncEnv) -> None:
    """Stripe answers 429 to most of the worker's reads (the sandbox allows 2 a second): the
    events wait and retry, none is lost or dead-lettered, and the retries are on record."""
    env.stripe.faults(delay_seconds=1)  # hold deliveries while the data is made
    customers = [
        env.client.v1.customers.create({"email": f"busy{i}@limit.example"}).id for i in range(3)
    ]
    for customer in customers:
        pay(env.client, customer)
    env.stripe.settings(api_rate_limit=2)
    try:
        deadline = time.monotonic() + 30  # the held deliveries arrive after their delay
        while sum(env.runtime.inbox.counts().values()) < len(customers):
            assert time.monotonic() < deadline, "the held deliveries never arrived"
            time.sleep(0.1)
        counts = env.drain(timeout=120)
    finally:
        env.stripe.settings(api_rate_limit=0)
        env.stripe.faults(delay_seconds=0)
    assert counts["dead"] == 0
    accounts = env.query("SELECT Stripe_Customer_Id__c FROM Account")
    assert sorted(a["Stripe_Customer_Id__c"] for a in accounts) == sorted(customers)
    assert len(env.query("SELECT Id FROM Stripe_Payment__c")) == 3
    with env.runtime.engine.connect() as conn:
        kinds = [
            row[0]
            for row in conn.exec_driver_sql(
                "SELECT error_kind FROM attempts WHERE outcome = 'retry'"
            )
        ]
    assert "stripe.rate_limited" in kinds
