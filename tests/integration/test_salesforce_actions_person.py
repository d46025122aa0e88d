"""Salesforce actions on an org with person accounts: an Opportunity of a person Account
reaching Closed Won makes the Stripe customer from the person's own email, once, links the
person Account (and, through it, its person contact) and sends the invoice."""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from salesforce_sandbox.testing import run_sandbox as run_salesforce
from stripe2sf.domain.config import from_mapping
from stripe2sf.metadata_files import write_metadata
from stripe2sf.store.links import Links
from stripe_sandbox.testing import run_sandbox as run_stripe
from tests.integration.test_person_accounts import person_record_type
from tests.integration.test_salesforce_actions import (
    TOML,
    Boxes,
    Env,
    close_won,
    customers_with,
    invoices_of,
    opp_row,
    opportunity,
    price,
)
from tests.integration.test_salesforce_actions import env as env


@pytest.fixture(scope="module")
def boxes() -> Iterator[Boxes]:
    with tempfile.TemporaryDirectory(prefix="actions-person-") as tmp:
        config_path = Path(tmp) / "stripe2sf.toml"
        config_path.write_text(TOML, encoding="utf-8")
        metadata = Path(tmp) / "metadata"
        write_metadata(metadata, from_mapping({"actions": {"enabled": True}}))
        with (
            run_salesforce(metadata=[metadata], features=["person-accounts"]) as sf_box,
            run_stripe() as stripe_box,
        ):
            yield Boxes(stripe_box, sf_box, config_path)


def test_closed_won_on_a_person_account_bills_the_person(env: Env) -> None:
    client = env.boxes.client
    account_id = str(
        env.sf.Account.create(
            {
                "RecordTypeId": person_record_type(env.boxes.salesforce),
                "FirstName": "Ivy",
                "LastName": "Buyer",
                "PersonEmail": "ivy@person.example",
            }
        )["id"]
    )
    opp_id = opportunity(env.sf, account_id, price(client), "Negotiation/Review")
    close_won(env, opp_id)
    assert env.run()["done"] == 1

    [customer] = customers_with(client, "ivy@person.example")
    [invoice] = invoices_of(client, customer.id)
    assert invoice.status == "open" and invoice.amount_due == 12_000
    row = opp_row(env.sf, opp_id)
    assert (row["Stripe_Status__c"], row["Stripe_Invoice_Id__c"]) == ("Invoice sent", invoice.id)
    assert row["Stripe_Error__c"] is None
    account = env.sf.Account.get(account_id)
    assert account["IsPersonAccount"] is True
    assert account["Stripe_Customer_Id__c"] == customer.id
    assert Links(env.runtime.engine).known([customer.id])[customer.id].account_id == account_id
