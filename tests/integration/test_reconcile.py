"""Reconcile after a clean backfill finds no drift; drift introduced by hand in the Salesforce
sandbox is found, kind by kind, and `--fix` (through the planner) removes all of it."""

from __future__ import annotations

import contextlib
import json
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
import stripe

from stripe2sf.engine.backfill import BackfillOptions
from stripe2sf.engine.reconcile import Reconciler
from tests.support.history import CLI, Boxes, env_for, parts, records, sandboxes, settings_for


@pytest.fixture(scope="module")
def boxes() -> Iterator[Boxes]:
    with sandboxes() as b:
        yield b


def failed_invoice(client: stripe.StripeClient) -> str:
    """An open invoice whose first payment attempt was declined."""
    customer = client.v1.customers.create({"email": "owes@unpaid.example", "name": "Owen Owes"})
    bad = client.v1.payment_methods.attach("pm_card_chargeCustomerFail", {"customer": customer.id})
    client.v1.customers.update(
        customer.id, {"invoice_settings": {"default_payment_method": bad.id}}
    )
    client.v1.invoice_items.create({"customer": customer.id, "amount": 7_500, "currency": "eur"})
    invoice = client.v1.invoices.create(
        {"customer": customer.id, "pending_invoice_items_behavior": "include"}
    )
    client.v1.invoices.finalize_invoice(invoice.id)
    with contextlib.suppress(stripe.CardError):
        client.v1.invoices.pay(invoice.id)
    again = client.v1.invoices.retrieve(invoice.id)
    assert again.status == "open" and again.attempt_count == 1
    return invoice.id


def test_reconcile_finds_each_kind_of_drift_and_fix_removes_it(
    boxes: Boxes, tmp_path: Path
) -> None:
    boxes.salesforce.reset()
    boxes.stripe.reset()
    boxes.stripe.seed(customers=8, charges_per_customer=2, failed_charge_rate=0.0, random_seed=11)
    client = boxes.stripe.client()
    unpaid = failed_invoice(client)
    db_url = f"sqlite:///{tmp_path}/db.sqlite"
    p = parts(settings_for(boxes, db_url))
    try:
        done = p.backfill(BackfillOptions(rate=500, workdir=tmp_path / "bf"))
        assert done.status == "succeeded", done.message
        reader = p.runtime.stripe_reader()
        assert reader is not None
        reconciler = Reconciler(p.runtime.engine, reader, p.salesforce, p.config)
        clean = reconciler.run()
        assert clean.report.clean, clean.report.to_csv()
        assert clean.report.checked["customers"] == 9

        sf = boxes.salesforce.salesforce()
        accounts = [a for a in records(boxes, "Account") if a.get("Stripe_Customer_Id__c")]
        payments = [r for r in records(boxes, "Stripe_Payment__c") if r["Status__c"] == "Succeeded"]
        [dunning] = [t for t in records(boxes, "Task") if t.get("Stripe_Dedupe_Key__c")]
        assert dunning["Stripe_Dedupe_Key__c"] == f"{unpaid}:1"
        invoices = [i for i in client.v1.invoices.list({"limit": 100}).data if i.status == "paid"]
        # by hand: unlink an Account, change a status, an amount, delete a payment, close the
        # open collection Task, open one for a paid invoice
        sf.Account.update(accounts[0]["Id"], {"Stripe_Customer_Id__c": None})
        sf.Account.update(accounts[1]["Id"], {"Subscription_Status__c": "Canceled"})
        sf.Stripe_Payment__c.update(payments[0]["Id"], {"Amount__c": 1.23})
        sf.Stripe_Payment__c.delete(payments[1]["Id"])
        sf.Task.update(dunning["Id"], {"Status": "Completed"})
        sf.Task.create(
            {
                "Subject": "Payment failed (stale)",
                "Status": "Not Started",
                "Stripe_Dedupe_Key__c": f"{invoices[0].id}:1",
            }
        )

        env = env_for(boxes, db_url)
        html = tmp_path / "drift.html"
        found = subprocess.run(
            [*CLI, "reconcile", "--format", "html", "--output", str(html)],
            env=env,
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert found.returncode == 1, found.stdout + found.stderr
        page = html.read_text()
        assert "difference(s) found" in page and accounts[1]["Stripe_Customer_Id__c"] in page

        report = reconciler.run().report
        kinds = report.counts()
        assert kinds == {
            "account_missing": 1,
            "subscription_status": 1,
            "payment_mismatch": 1,
            "payment_missing": 1,
            "daily_total": kinds.get("daily_total", 0),
            "dunning_missing": 1,
            "dunning_stale": 1,
        }, report.to_csv()
        assert 1 <= kinds["daily_total"] <= 2

        fixed = subprocess.run(
            [*CLI, "reconcile", "--fix", "--json"],
            env=env,
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert fixed.returncode == 0, fixed.stdout + fixed.stderr
        doc = json.loads(fixed.stdout.strip().splitlines()[-1])
        assert doc["before"]["drift"] == len(report.drift)
        assert doc["after"]["clean"] and doc["remaining"] == 0
        assert reconciler.run().report.clean
        reopened = [t for t in records(boxes, "Task") if t["Id"] == dunning["Id"]]
        assert reopened[0]["Status"] != "Completed"
    finally:
        p.close()
