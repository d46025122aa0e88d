"""Backfill and reconcile reading Stripe in older API versions (`STRIPE_API_VERSION`): the
history reaches Salesforce as it does on today's version, and reconcile then finds no drift.
(The flows on older versions: `test_sync_end_to_end`, parametrised on `OLDER_STRIPE`.)"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import stripe

from stripe2sf.engine.backfill import BackfillOptions
from stripe2sf.engine.reconcile import Reconciler
from tests.integration.test_reconcile import failed_invoice, paid_with
from tests.support.history import Boxes, parts, records, sandboxes, settings_for


@pytest.fixture(scope="module")
def boxes() -> Iterator[Boxes]:
    with sandboxes() as b:
        yield b


@pytest.mark.parametrize(
    "version",
    [
        "2020-08-27",
        "2022-11-15",
        "2023-10-16",
        "2024-06-20",
        "2025-03-31.basil",
        stripe.api_version,
    ],
)
def test_backfill_then_reconcile_on_an_older_version(
    boxes: Boxes, tmp_path: Path, version: str
) -> None:
    boxes.salesforce.reset()
    boxes.stripe.reset()
    boxes.stripe.seed(customers=5, charges_per_customer=2, failed_charge_rate=0.0, random_seed=5)
    client = boxes.stripe.client()
    unpaid = failed_invoice(client)
    partly = paid_with(client, "partly@example.com", "pm_card_visa")
    client.v1.refunds.create({"charge": partly, "amount": 1_500})
    p = parts(settings_for(boxes, f"sqlite:///{tmp_path}/db.sqlite", stripe_api_version=version))
    try:
        done = p.backfill(BackfillOptions(rate=500, workdir=tmp_path / "bf"))
        assert done.status == "succeeded" and done.total().failed == 0, done.message
        reader = p.runtime.stripe_reader()
        assert reader is not None and reader.api_version == version
        report = Reconciler(p.runtime.engine, reader, p.salesforce, p.config).run().report
        assert report.clean, report.to_csv()
        assert report.checked["customers"] == 7 and report.checked["failed charges"] == 1

        payments = {r["Stripe_Charge_Id__c"]: r for r in records(boxes, "Stripe_Payment__c")}
        assert payments[partly]["Status__c"] == "Partially Refunded"
        # every payment names the invoice it paid, as Stripe's invoice payments say (from
        # basil on the charge does not), and a payment of no invoice names none
        paid = invoices_paid(client)
        assert paid, "the seed paid no invoice"
        assert {c: r.get("Invoice_Id__c") for c, r in payments.items()} == {
            c: paid.get(c) for c in payments
        }
        assert {a.get("Subscription_Status__c") for a in records(boxes, "Account")} >= {"Active"}
        [dunning] = [
            t
            for t in records(boxes, "Task")
            if str(t.get("Stripe_Dedupe_Key__c")).startswith("in_")
        ]
        assert dunning["Stripe_Dedupe_Key__c"] == f"{unpaid}:1"
        reads = boxes.stripe.stats()["requests_by_version"]
        assert reads.get(f"GET {version}", 0) > 0, reads
    finally:
        p.close()


def invoices_paid(client: stripe.StripeClient) -> dict[str, str]:
    """charge id -> the invoice it paid, from Stripe (today's version: invoice payments)."""
    out: dict[str, str] = {}
    for payment in client.v1.invoice_payments.list({"limit": 100}).auto_paging_iter():
        intent = payment.payment.payment_intent
        if intent is None:
            continue
        pi_id = intent if isinstance(intent, str) else intent.id
        charge = client.v1.payment_intents.retrieve(pi_id).latest_charge
        if charge is not None:
            out[charge if isinstance(charge, str) else charge.id] = str(payment.invoice)
    return out
