"""Existing Salesforce data for the demo: sales users owning Accounts with Contacts, some of
which share an email with future Stripe customers, one email shared by two Contacts (ambiguous),
and a collections queue. Seeded through the sandbox's control plane (no API calls counted)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

COMPANIES = ("Acme Corp", "Globex", "Initech", "Umbrella", "Hooli", "Stark Industries")
REPS = (("Sam", "Seller"), ("Riley", "Rep"), ("Alex", "Closer"))
QUEUE = "Collections"


@dataclass
class SeededOrg:
    users: list[str] = field(default_factory=list)
    accounts: dict[str, str] = field(default_factory=dict)  # account id -> owner id
    contacts: list[str] = field(default_factory=list)
    matching_emails: tuple[str, ...] = ()
    ambiguous_email: str = "billing@shared-inbox.example"
    queue_name: str = QUEUE


def _seed(client: httpx.Client, sobject: str, records: list[dict[str, Any]]) -> list[str]:
    response = client.post("/_sandbox/seed", json={"sobject": sobject, "records": records})
    response.raise_for_status()
    ids: list[str] = response.json()["ids"]
    return ids


def seed_salesforce(instance_url: str, ca_path: Path) -> SeededOrg:
    org = SeededOrg()
    with httpx.Client(base_url=instance_url, verify=str(ca_path), timeout=30) as client:
        org.users = _seed(
            client,
            "User",
            [
                {
                    "Username": f"{first.lower()}@sales.example",
                    "FirstName": first,
                    "LastName": last,
                    "Email": f"{first.lower()}@sales.example",
                    "Alias": first.lower()[:5],
                }
                for first, last in REPS
            ],
        )
        _seed(
            client,
            "Group",
            [{"Name": QUEUE, "DeveloperName": QUEUE, "Type": "Queue"}],
        )
        owners = [org.users[i % len(org.users)] for i in range(len(COMPANIES))]
        account_ids = _seed(
            client,
            "Account",
            [
                {"Name": name, "OwnerId": owner, "Website": f"{name.split()[0].lower()}.example"}
                for name, owner in zip(COMPANIES, owners, strict=True)
            ],
        )
        org.accounts = dict(zip(account_ids, owners, strict=True))
        emails = [f"billing@{name.split()[0].lower()}.example" for name in COMPANIES]
        contacts = [
            {
                "FirstName": "Billing",
                "LastName": name.split()[0],
                "Email": email.upper() if i == 0 else email,  # matching is case-insensitive
                "AccountId": account_id,
                "OwnerId": owner,
            }
            for i, (name, email, account_id, owner) in enumerate(
                zip(COMPANIES, emails, account_ids, owners, strict=True)
            )
        ]
        contacts += [
            {
                "FirstName": "Shared",
                "LastName": f"Inbox {n}",
                "Email": org.ambiguous_email,
                "AccountId": account_ids[n],
                "OwnerId": owners[n],
            }
            for n in (0, 1)
        ]
        org.contacts = _seed(client, "Contact", contacts)
        org.matching_emails = tuple(emails[:4])
    return org
