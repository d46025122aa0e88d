"""A small but complete world for the dashboard's pages: both sandboxes and stripe2sf with its
worker, a few dozen events (enough for several pages), a payment in JPY and one in USD, a
customer in the review queue with two candidate Contacts on named Accounts, a dead letter
(and the alert it raised, to a real SMTP server), a reconciliation run with drift and its
report file. Used by tests/integration/test_dashboard_pages_browser.py and
tools/screenshots.py."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from stripe2sf.engine.monitor import reconcile_alert
from stripe2sf.engine.reconcile import Reconciler
from stripe2sf.settings import load_sync_config
from stripe2sf.web.dashboard.auth import hash_password
from tests.support.smtp import Mailbox, smtp_server
from tests.support.sync_env import SyncEnv, sync_env

OPERATOR = ("olga", "olga-pass")
VIEWER = ("vera", "vera-pass")
USERS = [
    f"{OPERATOR[0]}:operator:{hash_password(OPERATOR[1], n=2**12)}",
    f"{VIEWER[0]}:viewer:{hash_password(VIEWER[1], n=2**12)}",
]
SIGN_UPS = 24  # customers besides the named ones: the explorer needs more than a page


@dataclass
class World:
    env: SyncEnv
    mailbox: Mailbox
    alice: str  # paid 10,000 JPY
    bob: str  # his sign-up is a dead letter
    carol: str  # in the review queue
    contacts: dict[str, str]  # Contact name -> Id, both with Carol's email
    payment_event: str  # an event of Alice with a write skipped (and its reason)
    run_id: int  # a reconciliation run with drift
    report: Path
    secrets: list[str] = field(default_factory=list)  # what a viewer must never see


def wait_for(check: object, what: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if callable(check) and check():
            return
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


@contextmanager
def dashboard_world(db_url: str, workdir: Path) -> Iterator[World]:
    with (
        smtp_server() as mailbox,
        sync_env(
            db_url,
            max_attempts=1,
            dashboard_users=USERS,
            smtp_host="127.0.0.1",
            smtp_port=mailbox.port,
            alert_email_to=["ops@example.com"],
        ) as env,
    ):
        client = env.client
        alice = client.v1.customers.create({"email": "alice@example.com", "name": "Alice Doe"})
        client.v1.payment_intents.create(
            {
                "amount": 10000,
                "currency": "jpy",
                "customer": alice.id,
                "confirm": True,
                "payment_method": "pm_card_visa",
            }
        )
        # A second card that is not Alice's default: its event's write is skipped, with why.
        visa = client.v1.payment_methods.attach("pm_card_visa", {"customer": alice.id})
        client.v1.customers.update(
            alice.id, {"invoice_settings": {"default_payment_method": visa.id}}
        )
        client.v1.payment_methods.attach("pm_card_mastercard", {"customer": alice.id})
        dave = client.v1.customers.create({"email": "dave@example.com", "name": "Dave Moe"})
        client.v1.payment_intents.create(
            {
                "amount": 4321,
                "currency": "usd",
                "customer": dave.id,
                "confirm": True,
                "payment_method": "pm_card_visa",
            }
        )
        for i in range(SIGN_UPS):
            client.v1.customers.create(
                {"email": f"user{i:02d}@example.com", "name": f"User {i:02d}"}
            )
        # Two Contacts share Carol's email, on two Accounts: a person must choose.
        sf = env.sf
        owner = sf.query("SELECT Id FROM User LIMIT 1")["records"][0]["Id"]
        contacts = {}
        for account_name, last in (("Poe Consulting", "Poe"), ("Shared Ltd", "Poe-Smith")):
            account = sf.Account.create({"Name": account_name, "OwnerId": owner})["id"]
            contacts[last] = sf.Contact.create(
                {
                    "FirstName": "Carol",
                    "LastName": last,
                    "Email": "carol@example.com",
                    "AccountId": account,
                }
            )["id"]
        carol = client.v1.customers.create({"email": "carol@example.com", "name": "Carol Poe"})
        env.drain()
        # One Salesforce outage on Bob's sign-up; with max_attempts=1 it is a dead letter.
        env.salesforce.add_fault("*", "503", count=1)
        bob = client.v1.customers.create({"email": "bob@example.com", "name": "Bob Roe"})
        wait_for(lambda: env.runtime.inbox.counts()["dead"] == 1, "a dead letter")
        env.salesforce.clear_faults()
        env.drain()
        wait_for(lambda: mailbox.messages, "the dead-letter alert")
        payment_event = _event_of(env, alice.id)
        # Drift: Dave's payment record deleted in Salesforce.
        [payment] = env.query("SELECT Id FROM Stripe_Payment__c WHERE Amount__c = 43.21")
        sf.Stripe_Payment__c.delete(payment["Id"])
        reader = env.runtime.stripe_reader()
        assert reader is not None and env.runtime.salesforce is not None
        report = workdir / "reconcile-report.csv"

        def alert(run_id: int, drift: int, checked: int, previous: int | None) -> None:
            reconcile_alert(env.runtime.alerter, run_id, drift, checked, previous_drift=previous)

        outcome = Reconciler(
            env.runtime.engine,
            reader,
            env.runtime.salesforce,
            load_sync_config(env.runtime.settings),
            on_drift=alert,
        ).run(report_path=str(report))
        report.write_text(outcome.report.to_csv(), encoding="utf-8")  # as `--output` does
        assert outcome.run_id is not None and outcome.report.drift
        yield World(
            env,
            mailbox,
            alice.id,
            bob.id,
            carol.id,
            contacts,
            payment_event,
            outcome.run_id,
            report,
            secrets=[
                alice.id,
                carol.id,
                "alice@example.com",
                "carol@example.com",
                "10,000",
                "43.21",
                *contacts.values(),
            ],
        )


def _event_of(env: SyncEnv, customer: str) -> str:
    """An event of `customer` with a write the planner skipped (the audit trail says why)."""
    from stripe2sf.store.reports import Reports

    entries = Reports(env.runtime.engine).audit_page(before=None, limit=1000)
    skipped = [a for a in entries if a["outcome"] == "skipped" and a["customer_id"] == customer]
    assert skipped, sorted({(a["action"], a["outcome"]) for a in entries})
    return str(skipped[0]["event_id"])
