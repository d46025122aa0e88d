"""Salesforce actions on an org with person accounts: an Opportunity of a person Account
reaching Closed Won makes the Stripe customer from the person's own email, once, links the
person Account and sends the invoice."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from stripe2sf.store.links import Links
from tests.integration.test_person_accounts import person_record_type
from tests.integration.test_salesforce_actions import (
    Boxes,
    Env,
    actions_boxes,
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
    with actions_boxes(features=["person-accounts"]) as made:
        yield made


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
