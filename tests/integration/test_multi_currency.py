"""An org with multiple currencies, end to end: a payment in a currency the org has not
activated is a dead letter naming it (doctor says so first), and once an admin activates it the
replay applies it; reconcile then finds nothing, CurrencyIsoCode included. Backfill writes each
payment in its currency. (The flows' own parametrised runs are in test_sync_end_to_end.)"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import stripe
from simple_salesforce import Salesforce

from stripe2sf.engine.backfill import BackfillOptions
from stripe2sf.engine.doctor import run_doctor
from stripe2sf.engine.reconcile import Reconciler
from stripe2sf.settings import load_sync_config
from tests.support.history import parts, sandboxes, settings_for
from tests.support.sync_env import SyncEnv, sync_env

FEATURE = "multi-currency"


@pytest.fixture
def env(tmp_path: Path) -> Iterator[SyncEnv]:
    with sync_env(f"sqlite:///{tmp_path / 'stripe2sf.db'}") as e:
        e.salesforce.set_features(enable=[FEATURE])  # before any event: read at the first
        yield e


def pay(client: stripe.StripeClient, email: str, amount: int, currency: str) -> str:
    customer = client.v1.customers.create({"email": email, "name": email.split("@")[0]})
    method = client.v1.payment_methods.attach("pm_card_visa", {"customer": customer.id})
    intent = client.v1.payment_intents.create(
        {
            "amount": amount,
            "currency": currency,
            "customer": customer.id,
            "payment_method": method.id,
            "automatic_payment_methods": {"enabled": True, "allow_redirects": "never"},
            "confirm": True,
        }
    )
    charge = intent.latest_charge
    return charge if isinstance(charge, str) else str(getattr(charge, "id", ""))


def payments(sf: Salesforce) -> dict[str, tuple[Any, Any, Any]]:
    rows = sf.query_all(
        "SELECT Stripe_Charge_Id__c, Amount__c, Currency__c, CurrencyIsoCode FROM Stripe_Payment__c"
    )["records"]
    return {
        r["Stripe_Charge_Id__c"]: (r["Amount__c"], r["Currency__c"], r["CurrencyIsoCode"])
        for r in rows
    }


def activate(sf: Salesforce, code: str) -> None:
    """What an admin does in Setup > Manage Currencies: the CurrencyType made active."""
    [row] = sf.query(f"SELECT Id FROM CurrencyType WHERE IsoCode = '{code}'")["records"]
    sf.CurrencyType.update(row["Id"], {"IsActive": True})


def test_an_inactive_currency_dead_letters_naming_it_until_activated_then_replays(
    env: SyncEnv,
) -> None:
    euro = pay(env.client, "eva@euro.example", 1_999, "eur")
    yen = pay(env.client, "kei@yen.example", 5_000, "jpy")
    env.drain()
    assert payments(env.sf) == {euro: (19.99, "EUR", "EUR")}
    dead = env.runtime.inbox.dead_letter_ids()
    assert dead, "the JPY payment's events must be dead letters"
    for event_id in dead:
        [*_, last] = env.runtime.inbox.attempts_of(event_id)
        error = str(last["error"])
        assert "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST" in error
        assert "JPY is not an active currency of the Salesforce org" in error
        assert "Manage Currencies" in error and "stripe2sf replay --dead-letters" in error
    # the customer's Account and Contact were written; only the payment waits
    assert len(env.query("SELECT Id FROM Account")) == 2
    settings, config = env.runtime.settings, load_sync_config(env.runtime.settings)
    [check] = [c for c in run_doctor(settings, config) if c.name == "Salesforce currencies"]
    assert not check.ok and "JPY not active" in check.detail and "activate JPY" in check.fix

    activate(env.sf, "JPY")
    assert sorted(env.runtime.inbox.replay(dead, datetime.now(UTC))) == sorted(dead)
    env.drain()
    assert payments(env.sf) == {euro: (19.99, "EUR", "EUR"), yen: (5000, "JPY", "JPY")}
    assert env.runtime.inbox.counts()["dead"] == 0
    [check] = [c for c in run_doctor(settings, config) if c.name == "Salesforce currencies"]
    assert check.ok, check.detail
    # reconcile reads CurrencyIsoCode too, and finds both payments as Stripe has them
    reader = env.runtime.stripe_reader()
    assert reader is not None and env.runtime.salesforce is not None
    report = Reconciler(env.runtime.engine, reader, env.runtime.salesforce, config).compare()
    assert report.clean, report.to_csv()
    assert report.checked["succeeded charges"] == 2
    assert {(t.currency, str(t.salesforce)) for t in report.totals} == {
        ("EUR", "19.99"),
        ("JPY", "5000"),
    }


def test_backfill_writes_each_payment_in_its_currency_and_reconcile_repairs_a_wrong_one(
    tmp_path: Path,
) -> None:
    with sandboxes() as boxes:
        boxes.salesforce.set_features(enable=[FEATURE])
        sf = boxes.salesforce.salesforce()
        activate(sf, "JPY")
        client = boxes.stripe.client()
        charges = {
            pay(client, "usd@example.com", 2_500, "usd"): (25, "USD", "USD"),
            pay(client, "gbp@example.com", 1_050, "gbp"): (10.5, "GBP", "GBP"),
            pay(client, "jpy@example.com", 12_000, "jpy"): (12000, "JPY", "JPY"),
        }
        p = parts(settings_for(boxes, f"sqlite:///{tmp_path}/db.sqlite"))
        try:
            done = p.backfill(BackfillOptions(rate=500, workdir=tmp_path / "bf"))
            assert done.status == "succeeded", done.message
            assert payments(sf) == charges
            # a payment that shows the corporate currency (as one written before the org had
            # multiple currencies would): reconcile finds it, --fix writes its own back
            [yen_id] = [c for c, v in charges.items() if v[1] == "JPY"]
            [row] = sf.query(
                f"SELECT Id FROM Stripe_Payment__c WHERE Stripe_Charge_Id__c = '{yen_id}'"
            )["records"]
            sf.Stripe_Payment__c.update(row["Id"], {"CurrencyIsoCode": "USD"})
            reader = p.runtime.stripe_reader()
            assert reader is not None
            outcome = Reconciler(p.runtime.engine, reader, p.salesforce, p.config).run(fix=True)
            assert outcome.report.counts() == {"payment_mismatch": 1}, outcome.report.to_csv()
            assert outcome.after is not None and outcome.after.clean, outcome.after.to_csv()
            assert payments(sf) == charges
        finally:
            p.close()
