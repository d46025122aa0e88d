"""Values Salesforce would refuse never block a customer, end to end: an email longer than
Contact.Email (valid in Stripe) and a card number in a customer's name."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from stripe2sf.store.audit_trail import AuditTrail
from tests.integration.test_sync_end_to_end import pay
from tests.support.sync_env import SyncEnv, sync_env


@pytest.fixture
def env(tmp_path: Path) -> Iterator[SyncEnv]:
    with sync_env(f"sqlite:///{tmp_path / 'stripe2sf.db'}") as e:
        yield e


def test_an_email_of_100_characters_leaves_out_the_email_not_the_customer(env: SyncEnv) -> None:
    email = "a" * 88 + "@example.com"
    assert len(email) == 100
    customer = env.client.v1.customers.create({"email": email, "name": "Lou Long"})
    charge = pay(env.client, customer.id)
    env.client.v1.customers.update(customer.id, {"name": "Lou Longer"})
    assert env.drain()["dead"] == 0

    [account] = env.query(f"SELECT Id FROM Account WHERE Stripe_Customer_Id__c = '{customer.id}'")
    [contact] = env.query(
        f"SELECT Id, Email, LastName FROM Contact WHERE Stripe_Customer_Id__c = '{customer.id}'"
    )
    assert contact["Email"] is None and str(contact["LastName"]).startswith("Long")
    [payment] = env.query(
        f"SELECT Account__c FROM Stripe_Payment__c WHERE Stripe_Charge_Id__c = '{charge}'"
    )
    assert payment["Account__c"] == account["Id"]
    refused = [
        r
        for r in AuditTrail(env.runtime.engine).rows(customer_id=customer.id)
        if r["outcome"] == "refused"
    ]
    assert refused and all(r["sobject"] == "Contact" for r in refused)
    assert "100 characters" in refused[0]["error"] and "80" in refused[0]["error"]
    assert email not in refused[0]["error"]


def test_a_card_number_in_the_name_is_redacted_and_the_customer_synced(env: SyncEnv) -> None:
    customer = env.client.v1.customers.create(
        {"email": "pan@buyer.example", "name": "Pat 4242 4242 4242 4242"}
    )
    pay(env.client, customer.id)
    assert env.drain()["dead"] == 0
    [account] = env.query(f"SELECT Name FROM Account WHERE Stripe_Customer_Id__c = '{customer.id}'")
    assert account["Name"] == "Pat [REDACTED]"
    assert env.query(f"SELECT Id FROM Contact WHERE Stripe_Customer_Id__c = '{customer.id}'")
    refused = [
        r
        for r in AuditTrail(env.runtime.engine).rows(customer_id=customer.id)
        if r["outcome"] == "refused" and r["sobject"] == "Account"
    ]
    assert refused and "card guard" in refused[0]["error"]
    assert "Name" in refused[0]["fields"]
