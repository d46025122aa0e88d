"""stripe2sf on an org with Person Accounts beyond the flows (`test_sync_end_to_end` runs those
on such an org): backfill then reconcile, and the least-privileged integration user with the
permission set stripe2sf generates for person accounts (doctor, then live webhooks)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from salesforce_sandbox.testing import SandboxServer
from salesforce_sandbox.testing import run_sandbox as run_salesforce
from stripe2sf.domain.config import from_mapping
from stripe2sf.domain.flows.handled import HANDLED_TYPES
from stripe2sf.engine.backfill import BackfillOptions
from stripe2sf.engine.doctor import run_doctor
from stripe2sf.engine.reconcile import Reconciler
from stripe2sf.metadata_files import write_metadata
from stripe2sf.runtime import Runtime
from stripe2sf.settings import load_settings
from stripe2sf.web.app import create_app
from stripe_sandbox.testing import run_sandbox as run_stripe
from tests.acceptance.test_doctor_interlock import assign_integration_set
from tests.integration.test_reconcile import failed_invoice, paid_with
from tests.integration.test_sync_end_to_end import pay
from tests.support.history import Boxes, parts, records, sandboxes, settings_for
from tests.support.servers import serve_in_thread
from tests.support.sync_env import SyncEnv

FEATURE = "person-accounts"
PERSON_CONFIG = from_mapping({"org": {"account_model": "person"}})


@pytest.fixture(scope="module")
def boxes() -> Iterator[Boxes]:
    with sandboxes() as b:
        b.salesforce.set_features(enable=[FEATURE])  # kept across resets
        yield b


def person_record_type(org: SandboxServer) -> str:
    [row] = org.salesforce().query(
        "SELECT Id FROM RecordType WHERE SobjectType = 'Account' AND IsPersonType = true"
    )["records"]
    return str(row["Id"])


def test_backfill_then_reconcile_on_person_accounts(boxes: Boxes, tmp_path: Path) -> None:
    boxes.salesforce.reset()
    boxes.stripe.reset()
    [known] = boxes.salesforce.seed(
        [
            {
                "RecordTypeId": person_record_type(boxes.salesforce),
                "FirstName": "Pat",
                "LastName": "Known",
                "PersonEmail": "Partly@Example.com",
            }
        ],
        "Account",
    )
    boxes.stripe.seed(customers=4, charges_per_customer=2, failed_charge_rate=0.0, random_seed=7)
    client = boxes.stripe.client()
    unpaid = failed_invoice(client)
    partly = paid_with(client, "partly@example.com", "pm_card_visa")
    p = parts(settings_for(boxes, f"sqlite:///{tmp_path}/db.sqlite"))
    try:
        done = p.backfill(BackfillOptions(rate=500, workdir=tmp_path / "bf"))
        assert done.status == "succeeded" and done.total().failed == 0, done.message
        accounts = records(boxes, "Account")
        contacts = records(boxes, "Contact")
        # every customer one person account (the known one linked, not duplicated)
        assert len(accounts) == 6 and all(a["IsPersonAccount"] for a in accounts)
        assert len(contacts) == 6 and all(c["IsPersonAccount"] for c in contacts)
        by_id = {a["Id"]: a for a in accounts}
        assert by_id[known]["Stripe_Customer_Id__c"] == by_id[known]["Stripe_Customer_Id__pc"]
        payments = {r["Stripe_Charge_Id__c"]: r for r in records(boxes, "Stripe_Payment__c")}
        assert payments[partly]["Account__c"] == known
        assert payments[partly]["Contact__c"] == by_id[known]["PersonContactId"]
        [dunning] = [
            t for t in records(boxes, "Task") if str(t.get("Stripe_Dedupe_Key__c")) == f"{unpaid}:1"
        ]
        assert by_id[dunning["WhatId"]]["PersonContactId"] == dunning["WhoId"]

        reader = p.runtime.stripe_reader()
        assert reader is not None
        report = Reconciler(p.runtime.engine, reader, p.salesforce, p.config).run().report
        assert report.clean, report.to_csv()
        assert report.checked["customers"] == 6
        # drift on a person account is found and repaired through the planner
        boxes.salesforce.salesforce().Account.update(known, {"Card_Last4__c": "0000"})
        outcome = Reconciler(p.runtime.engine, reader, p.salesforce, p.config).run(fix=True)
        assert not outcome.report.clean and outcome.fixed >= 1
        assert outcome.after is not None and outcome.after.clean, outcome.after.to_csv()
        assert len(records(boxes, "Account")) == 6
    finally:
        p.close()


@pytest.fixture
def person_org(tmp_path: Path) -> Iterator[SandboxServer]:
    """An org with Person Accounts, stripe2sf's metadata generated for them (the integration set
    grants the person record type) and the set assigned to the integration user."""
    metadata = tmp_path / "metadata"
    write_metadata(metadata, PERSON_CONFIG)
    with run_salesforce(metadata=[metadata], features=[FEATURE]) as org:
        assign_integration_set(org)
        yield org


def test_the_integration_user_syncs_person_accounts(
    person_org: SandboxServer, tmp_path: Path
) -> None:
    key = tmp_path / "jwt-private-key.pem"
    key.write_text(person_org.jwt_private_key)
    with run_stripe() as stripe_box:
        settings = load_settings(
            database_url=f"sqlite:///{tmp_path / 'stripe2sf.db'}",
            stripe_api_key=stripe_box.api_key,
            stripe_api_base=stripe_box.api_base,
            stripe_webhook_secrets=["whsec_placeholder"],
            salesforce_login_url=person_org.instance_url,
            salesforce_username=person_org.integration_username,
            salesforce_client_id=person_org.client_id,
            salesforce_jwt_key_file=key,
            salesforce_ca_bundle=person_org.ca_path,
            retry_base_seconds=0.2,
        )
        # doctor, as that user: person accounts, and every field they take is writable
        checks = {c.name: c for c in run_doctor(settings, from_mapping({}))}
        failed = [f"{c.name}: {c.detail}" for c in checks.values() if not c.ok and not c.warning]
        # the database and the webhook endpoint come below, with the service
        assert set(failed) == {
            f"database: there is no database at {tmp_path / 'stripe2sf.db'}",
            "Stripe webhook endpoint: no webhook endpoint of this Stripe account has the path "
            "/webhooks/stripe (endpoints: none)",
        }, failed
        assert "person accounts" in checks["Salesforce account model"].detail
        runtime = Runtime.build(settings)
        try:
            with serve_in_thread(create_app(runtime, run_worker=True)) as url:
                endpoint = stripe_box.client().v1.webhook_endpoints.create(
                    {"url": url + "/webhooks/stripe", "enabled_events": sorted(HANDLED_TYPES)}  # type: ignore[typeddict-item]
                )
                runtime.settings.stripe_webhook_secrets = [str(endpoint.secret)]
                env = SyncEnv(stripe_box, person_org, runtime, url, person_org.salesforce())
                customer = env.client.v1.customers.create(
                    {"email": "ivy@buyer.example", "name": "Ivy Integration"}
                )
                charge = pay(env.client, customer.id)
                env.drain()
                assert runtime.inbox.counts()["dead"] == 0
        finally:
            runtime.close()
    [account] = env.query(
        "SELECT Id, Name, IsPersonAccount, PersonEmail, PersonContactId, CreatedById FROM Account"
    )
    assert account["IsPersonAccount"] is True and account["Name"] == "Ivy Integration"
    assert account["PersonEmail"] == "ivy@buyer.example"
    [user] = env.query(f"SELECT Id FROM User WHERE Username = '{person_org.integration_username}'")
    assert account["CreatedById"] == user["Id"]
    [payment] = env.query(
        "SELECT Account__c, Contact__c FROM Stripe_Payment__c "
        f"WHERE Stripe_Charge_Id__c = '{charge}'"
    )
    assert (payment["Account__c"], payment["Contact__c"]) == (
        account["Id"],
        account["PersonContactId"],
    )
