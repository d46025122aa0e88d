"""`stripe2sf demo --exit` as a process with real sandboxes; its figures checked afterwards
against Salesforce queries (the Salesforce sandbox reopened on the demo's data directory)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from salesforce_sandbox.testing import run_sandbox
from tests.support.procs import clean_env

DEMO = [sys.executable, "-m", "stripe2sf", "demo"]


def test_demo_runs_the_whole_job_and_its_summary_matches_salesforce(tmp_path: Path) -> None:
    workdir = tmp_path / "demo"
    env = clean_env()
    result = subprocess.run(
        [*DEMO, "--customers", "20", "--months", "3", "--exit", "--workdir", str(workdir)],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=480,
    )
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-4000:]
    summary = json.loads((workdir / "summary.json").read_text())
    assert all(summary["checks"].values()), summary["problems"]
    figures = summary["figures"]
    assert figures["Stripe customers"] == 20 + 5  # the scenario's and the backfilled history
    assert figures["dead letters"] == 0
    assert figures["events processed"] > 100

    with run_sandbox(data_dir=workdir / "salesforce") as org:
        sf = org.salesforce()
        linked = sf.query_all(
            "SELECT Id, Stripe_Customer_Id__c, Subscription_Status__c FROM Account "
            "WHERE Stripe_Customer_Id__c != null"
        )["records"]
        payments = sf.query_all("SELECT Id, CreatedById, LastModifiedById FROM Stripe_Payment__c")[
            "records"
        ]
        [integration] = sf.query(
            "SELECT Id FROM User WHERE Username = 'integration@sandbox.example.com'"
        )["records"]
        collection = sf.query_all(
            "SELECT Id, Status, Priority, OwnerId FROM Task WHERE Stripe_Dedupe_Key__c LIKE 'in_%'"
        )["records"]
        review = sf.query_all(
            "SELECT Id, Stripe_Dedupe_Key__c FROM Task WHERE Stripe_Dedupe_Key__c LIKE 'review:%'"
        )["records"]
        backfilled = sf.query_all(
            "SELECT Id, AccountId FROM Contact WHERE Email LIKE 'early%@history.example'"
        )["records"]
        seeded_emails = sf.query_all("SELECT Email FROM Contact WHERE Email LIKE 'billing@%'")[
            "records"
        ]
        # Salesforce -> Stripe: the rep's correction, the won Opportunity, its paid invoice
        reps = {
            u["Id"]
            for u in sf.query_all("SELECT Id FROM User WHERE Username LIKE '%@sales.example'")[
                "records"
            ]
        }
        corrected = sf.query_all(
            "SELECT Id, Stripe_Customer_Id__c, LastModifiedById FROM Contact "
            "WHERE Email LIKE 'billing@%-corp.example'"
        )["records"]
        [won] = sf.query_all(
            "SELECT Id, AccountId, StageName, OwnerId, Stripe_Status__c, Stripe_Invoice_Id__c, "
            "Stripe_Invoice_Url__c, Account.Stripe_Customer_Id__c FROM Opportunity"
        )["records"]
        deal_payments = sf.query_all(
            "SELECT Amount__c, Invoice_Id__c, CreatedById FROM Stripe_Payment__c "
            f"WHERE Account__c = '{won['AccountId']}'"
        )["records"]

    assert len(backfilled) == 5 and all(c["AccountId"] for c in backfilled)
    assert len(linked) == figures["Accounts linked (existing)"] + figures["Accounts created"]
    assert len({a["Stripe_Customer_Id__c"] for a in linked}) == len(linked)  # no duplicates
    # Every customer has an Account of its own, or waits in the review queue: the one whose
    # email two seeded Contacts share (it also gets an Account of its own when both Contacts'
    # Accounts were already linked to other customers when it came).
    in_review = {t["Stripe_Dedupe_Key__c"].removeprefix("review:") for t in review}
    # ... and the customer stripe2sf made in Stripe for the won Opportunity's Account
    assert len({a["Stripe_Customer_Id__c"] for a in linked} | in_review) == 25 + 1
    assert len(payments) == figures["payments in Salesforce"]
    # stripe2sf ran as the least-privileged integration user, not as the admin who seeded
    assert summary["checks"]["stripe2sf doctor passes as integration@sandbox.example.com"]
    writers = {p["CreatedById"] for p in payments} | {p["LastModifiedById"] for p in payments}
    assert writers == {integration["Id"]}
    assert figures["payments in Salesforce"] >= figures["succeeded charges in Stripe"]
    open_tasks = [t for t in collection if t["Status"] != "Completed"]
    assert len(open_tasks) == figures["collection Tasks/Cases open"]
    assert all(t["Priority"] == "High" for t in collection)
    assert len(review) == figures["customers in the review queue (ambiguous email)"] == 1
    # (the won Opportunity's Account has an invoice, no subscription)
    statuses = {a["Subscription_Status__c"] for a in linked if a["Id"] != won["AccountId"]}
    assert statuses <= {"Active", "Trialing", "Past Due", "Unpaid", "Canceled", "Paused"}
    emails = [c["Email"].lower() for c in seeded_emails]
    shared = "billing@shared-inbox.example"
    assert emails.count(shared) == 2, "the ambiguous email must stay on its two Contacts"
    others = [e for e in emails if e != shared]
    assert len(others) == len(set(others)) == 6, "an existing Contact was duplicated"

    # the other direction, each step a check of the summary
    two_way = [
        "a rep's email correction in Salesforce reached the Stripe customer",
        "no echo: one Stripe update, and the Contact stays as the rep left it",
        "a won Opportunity sent a Stripe invoice, its link on the Opportunity",
        "the invoice paid in Stripe shows as a payment on that Account",
    ]
    assert all(summary["checks"][name] for name in two_way)
    assert figures["Salesforce changes captured (CDC)"] > 0
    # the rep's edit is the Contact's last: stripe2sf did not write it back after Stripe
    [contact] = corrected
    assert contact["Stripe_Customer_Id__c"] and contact["LastModifiedById"] in reps
    assert won["StageName"] == "Closed Won" and won["OwnerId"] in reps
    assert won["Stripe_Status__c"] == "Invoice sent"
    assert won["Stripe_Invoice_Id__c"].startswith("in_")
    assert won["Stripe_Invoice_Url__c"].startswith("http")
    assert won["Account"]["Stripe_Customer_Id__c"].startswith("cus_")
    [paid] = deal_payments
    assert paid["Amount__c"] == 1500 and paid["CreatedById"] == integration["Id"]
    assert paid["Invoice_Id__c"] == won["Stripe_Invoice_Id__c"]  # asked of Stripe (API basil+)

    # dunning as it happened: a Task per failed attempt (a summary check), recovery closed some
    assert summary["checks"]["a collection Task/Case for every failed payment attempt"]
    assert figures["failed payment attempts in Stripe"] > figures["collection Tasks/Cases closed"]
    assert figures["collection Tasks/Cases closed"] >= 1
    # the line the demo prints points `stripe2sf status` at the demo's database
    [load] = [line.strip() for line in result.stdout.splitlines() if "set -a; . " in line]
    status = subprocess.run(
        ["sh", "-c", f"{load}; {sys.executable} -m stripe2sf status --json"],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert status.returncode == 0, status.stderr
    assert (
        json.loads(status.stdout.splitlines()[-1])["inbox"]["done"] >= figures["events processed"]
    )


def test_demo_on_an_org_with_person_accounts_currencies_and_rules(tmp_path: Path) -> None:
    """The small demo with every org variation at once (`--org`): its checks pass, and the org
    really was that kind of org (person accounts, payments in EUR and JPY, rules active)."""
    workdir = tmp_path / "demo"
    env = clean_env()
    result = subprocess.run(
        [
            *DEMO,
            *("--customers", "9", "--months", "2", "--exit", "--workdir", str(workdir)),
            *("--org", "person-accounts,multi-currency,rules"),
        ],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-4000:]
    assert "person-accounts, multi-currency, rules" in result.stdout
    summary = json.loads((workdir / "summary.json").read_text())
    assert all(summary["checks"].values()), summary["problems"]
    assert summary["figures"]["dead letters"] == 0
    assert 'account_model = "person"' in (workdir / "stripe2sf.toml").read_text()

    with run_sandbox(data_dir=workdir / "salesforce") as org:
        sf = org.salesforce()
        accounts = sf.query_all(
            "SELECT IsPersonAccount, PersonEmail, PersonContactId, Tier__c, "
            "RecordType.DeveloperName FROM Account WHERE Stripe_Customer_Id__c != null"
        )["records"]
        payments = sf.query_all("SELECT Amount__c, CurrencyIsoCode FROM Stripe_Payment__c")[
            "records"
        ]
        rules = sf.restful(
            "tooling/query",
            params={"q": "SELECT ValidationName FROM ValidationRule WHERE Active = true"},
        )["records"]
        shared_email = sf.query(
            "SELECT COUNT() FROM Contact WHERE Email = 'billing@shared-inbox.example'"
        )["totalSize"]
        duplicate_rules = sf.query_all(
            "SELECT DeveloperName FROM DuplicateRule WHERE IsActive = true"
        )["records"]

    # new customers are person accounts; existing business Contacts' Accounts were linked
    created = [a for a in accounts if a["IsPersonAccount"]]
    assert len(created) == summary["figures"]["Accounts created"] > 0
    assert all(a["PersonContactId"] for a in created)
    # the customer of the email two seeded Contacts share gets a person account without it
    # when both Contacts' Accounts are already linked (else it waits for review)
    assert len([a for a in created if not a["PersonEmail"]]) <= 1
    assert shared_email == 2, "the ambiguous email must stay on its two Contacts"
    assert {a["RecordType"]["DeveloperName"] for a in created} == {"PersonAccount"}
    assert len(accounts) - len(created) == summary["figures"]["Accounts linked (existing)"]
    # payments in their own currencies: the scenario's EUR and JPY plans, JPY without cents
    currencies = {p["CurrencyIsoCode"] for p in payments}
    assert {"USD", "EUR", "JPY"} <= currencies
    assert all(
        p["Amount__c"] == int(p["Amount__c"]) for p in payments if p["CurrencyIsoCode"] == "JPY"
    )
    # the admin's rules were in force: validation rules, the required field's default, and
    # Salesforce's standard duplicate rules
    assert {r["ValidationName"] for r in rules} >= {"Email_Format", "Amount_Not_Negative"}
    assert {a["Tier__c"] for a in accounts} == {"Standard"}
    assert {r["DeveloperName"] for r in duplicate_rules} == {
        "Standard_Account_Duplicate_Rule",
        "Standard_Contact_Duplicate_Rule",
    }
