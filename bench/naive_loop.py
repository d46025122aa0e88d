"""The naive integration bench/throughput.py compares stripe2sf with: a Zapier-style loop that
takes Stripe events one at a time and, for each `charge.succeeded` (its only trigger), looks the
customer up in Stripe, then in Salesforce through simple-salesforce:

1. find the Contact by email (one SOQL query);
2. if there is none, create an Account and a Contact under it (two calls);
3. upsert the payment by its charge id (one call).

So 2 Salesforce calls for a returning customer's charge, 4 for a new one's; every other event
costs nothing (and is not synced at all). No batching, no cache, no concurrency: what a
no-code zap or a first script does.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import requests
import stripe
from simple_salesforce import Salesforce

TRIGGER = "charge.succeeded"


def connect(instance_url: str, ca: Path, username: str, password: str, token: str) -> Salesforce:
    session = requests.Session()
    session.trust_env = False
    session.verify = str(ca)
    host_port = instance_url.split("://", 1)[1]
    return Salesforce(
        username=username,
        password=password,
        security_token=token,
        domain=f"{host_port}/login",
        session=session,
    )


def _quote(value: str) -> str:
    return value.replace("\\", "\\\\").replace("'", "\\'")


class NaiveLoop:
    def __init__(self, sf: Salesforce, client: stripe.StripeClient) -> None:
        self.sf = sf
        self.stripe = client
        self.handled = 0

    def handle(self, event: dict[str, Any]) -> None:
        if event["type"] != TRIGGER:
            return
        charge = event["data"]["object"]
        customer = self.stripe.v1.customers.retrieve(charge["customer"])
        email = customer.email or f"{customer.id}@no-email.invalid"
        found = self.sf.query(
            f"SELECT Id, AccountId FROM Contact WHERE Email = '{_quote(email)}' LIMIT 1"
        )
        if found["records"]:
            contact_id = found["records"][0]["Id"]
            account_id = found["records"][0]["AccountId"]
        else:
            name = customer.name or email
            account_id = self.sf.Account.create({"Name": name})["id"]
            first, _, last = name.rpartition(" ")
            contact_id = self.sf.Contact.create(
                {
                    "FirstName": first or None,
                    "LastName": last or name,
                    "Email": email,
                    "AccountId": account_id,
                }
            )["id"]
        self.sf.Stripe_Payment__c.upsert(
            f"Stripe_Charge_Id__c/{charge['id']}",
            {
                "Amount__c": charge["amount"] / 100,
                "Currency__c": str(charge["currency"]).upper(),
                "Status__c": "Succeeded",
                "Paid_At__c": datetime.fromtimestamp(charge["created"], UTC).isoformat(),
                "Account__c": account_id,
                "Contact__c": contact_id,
            },
        )
        self.handled += 1

    def run(self, events: list[dict[str, Any]]) -> None:
        for event in events:
            self.handle(event)
