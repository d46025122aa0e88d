"""Salesforce -> Stripe on an org with person accounts, end to end (both sandboxes, the app
and its worker): a person customer's Contact fields live on its Account under their person
names, and an edit there reaches the Stripe customer once, with nothing coming back. As in
test_salesforce_to_stripe, the captured change is put in the inbox as the capture does."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest

from stripe2sf.domain.capture.change import SalesforceChange
from tests.integration.test_salesforce_to_stripe import REP, audit, counts, deliver
from tests.support.sync_env import SyncEnv, sync_env

CONFIG = """
[salesforce_to_stripe]
enabled = true

[ownership]
"Contact.Email" = "create_only"     # set from Stripe on creation, then Salesforce's
"""


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SyncEnv]:
    tmp = tmp_path_factory.mktemp("reverse-person")
    config = tmp / "stripe2sf.toml"
    config.write_text(CONFIG)
    with sync_env(
        f"sqlite:///{tmp / 'stripe2sf.db'}",
        config_path=config,
        salesforce={"features": ["person-accounts"]},
    ) as e:
        yield e


def person_account(env: SyncEnv, customer_id: str) -> dict[str, Any]:
    [row] = env.query(
        "SELECT Id, IsPersonAccount, PersonEmail, FirstName, LastName FROM Account "
        f"WHERE Stripe_Customer_Id__c = '{customer_id}'"
    )
    return row


def captured(account_id: str, fields: dict[str, Any], n: int) -> SalesforceChange:
    return SalesforceChange(
        entity="Account",
        change="updated",
        record_id=account_id,
        fields=fields,
        changed=tuple(fields),
        commit_ts_ms=int(time.time() * 1000),
        source="cdc",
        position=f"person-tx{n}:{account_id}",
        commit_user=REP,
    )


def test_a_person_accounts_email_and_name_edits_reach_stripe_once(env: SyncEnv) -> None:
    client = env.client
    customer = client.v1.customers.create({"email": "ada@person.test", "name": "Ada Lovelace"})
    env.drain()
    account = person_account(env, customer.id)
    assert account["IsPersonAccount"] is True and account["PersonEmail"] == "ada@person.test"

    edit = {"PersonEmail": "countess@person.test", "FirstName": "Augusta"}
    env.sf.Account.update(account["Id"], edit)
    before = counts(env)
    change = captured(account["Id"], edit, 1)
    assert deliver(env, change)
    env.drain()

    now = client.v1.customers.retrieve(customer.id)
    assert (now.email, now.name) == ("countess@person.test", "Augusta Lovelace")
    # one Stripe update; its customer.updated came back, and wrote nothing to Salesforce
    assert counts(env)[0] - before[0] == 1
    [echo] = [
        e
        for e in client.v1.events.list({"type": "customer.updated", "limit": 100})
        if e.data.object["id"] == customer.id
    ]
    rows = audit(env, echo.id)
    assert rows and all(r["action"] == "skipped" for r in rows), rows
    assert any("echo" in (r["error"] or "") for r in rows)
    again = person_account(env, customer.id)
    assert (again["PersonEmail"], again["FirstName"]) == ("countess@person.test", "Augusta")
