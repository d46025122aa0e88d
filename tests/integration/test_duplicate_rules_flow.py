"""Salesforce duplicate rules on, end to end: a create a rule refuses (DUPLICATES_DETECTED) is
never saved anyway (no allowSave): the record the rule matched becomes the customer's, or a
review Task asks a person when it matched several; the audit trail names the rule."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from stripe2sf.domain.setup.duplicate_rules import NAME
from stripe2sf.engine.backfill import BackfillOptions
from stripe2sf.engine.doctor import run_doctor
from stripe2sf.engine.reconcile import Reconciler
from stripe2sf.settings import load_sync_config
from stripe2sf.store.audit_trail import AuditTrail
from tests.integration.test_sync_end_to_end import pay
from tests.support.history import parts, sandboxes, settings_for
from tests.support.sync_env import SyncEnv, sync_env

NS = 'xmlns="http://soap.sforce.com/2006/04/metadata"'


def rules(
    sobject: str, name: str, items: list[tuple[str, str]], action: str = "Allow"
) -> dict[str, str]:
    """A matching rule on ``items`` (field, method) and an active duplicate rule using it
    (``Allow`` with an alert: refused over the API unless allowSave, as the standard rules)."""
    parts = "".join(
        "<matchingRuleItems><blankValueBehavior>NullNotAllowed</blankValueBehavior>"
        f"<fieldName>{f}</fieldName><matchingMethod>{m}</matchingMethod></matchingRuleItems>"
        for f, m in items
    )
    return {
        f"matchingRules/{sobject}.matchingRule-meta.xml": (
            f"<MatchingRules {NS}><matchingRules><fullName>{name}_Match</fullName>"
            f"<label>{name}</label>{parts}<ruleStatus>Active</ruleStatus></matchingRules>"
            "</MatchingRules>"
        ),
        f"duplicateRules/{sobject}.{name}.duplicateRule-meta.xml": (
            f"<DuplicateRule {NS}><actionOnInsert>{action}</actionOnInsert>"
            f"<actionOnUpdate>{action}</actionOnUpdate><alertText>{name} says: use it</alertText>"
            f"<duplicateRuleMatchRules><matchRuleSObjectType>{sobject}</matchRuleSObjectType>"
            f"<matchingRule>{name}_Match</matchingRule></duplicateRuleMatchRules>"
            f"<isActive>true</isActive><masterLabel>{name}</masterLabel>"
            "<operationsOnInsert>Alert</operationsOnInsert><sortOrder>1</sortOrder>"
            "</DuplicateRule>"
        ),
    }


CONTACT_NAME = rules("Contact", "Contact_Name", [("FirstName", "Exact"), ("LastName", "Exact")])
ACCOUNT_NAME = rules("Account", "Account_Name", [("Name", "CompanyName")], action="Block")


@pytest.fixture
def env(tmp_path: Path) -> Iterator[SyncEnv]:
    with sync_env(f"sqlite:///{tmp_path / 'stripe2sf.db'}") as e:
        yield e


def audit_errors(env: SyncEnv, customer_id: str) -> list[str]:
    rows = AuditTrail(env.runtime.engine).rows(customer_id=customer_id)
    return [str(r["error"]) for r in rows if r["outcome"] == "error"]


def test_contact_a_name_rule_matches_is_linked_not_duplicated(env: SyncEnv) -> None:
    """stripe2sf's own lookup (by email) cannot find her: the rule (by name) can."""
    env.salesforce.deploy_files(CONTACT_NAME)
    [other_account] = env.salesforce.seed([{"Name": "Analytical Engines"}], "Account")
    [ada] = env.salesforce.seed(
        [
            {
                "FirstName": "Ada",
                "LastName": "Lovelace",
                "Email": "ada@old.example",
                "AccountId": other_account,
            }
        ],
        "Contact",
    )
    customer = env.client.v1.customers.create({"email": "ada@new.example", "name": "ADA LOVELACE"})
    charge = pay(env.client, customer.id)
    counts = env.drain()
    assert counts["dead"] == 0

    [contact] = env.query("SELECT Id, Email, AccountId, Stripe_Customer_Id__c FROM Contact")
    assert contact["Id"] == ada and contact["Stripe_Customer_Id__c"] == customer.id
    # linked like a Contact found by email: Stripe-owned fields follow the customer
    assert (contact["Email"], contact["AccountId"]) == ("ada@new.example", other_account)
    [account] = env.query(f"SELECT Id FROM Account WHERE Stripe_Customer_Id__c = '{customer.id}'")
    [payment] = env.query(
        "SELECT Account__c, Contact__c FROM Stripe_Payment__c "
        f"WHERE Stripe_Charge_Id__c = '{charge}'"
    )
    assert payment == {**payment, "Account__c": account["Id"], "Contact__c": ada}
    # the refused create stays in the audit trail, with the rule and what it matched
    errors = audit_errors(env, customer.id)
    assert any(f"duplicate rule Contact_Name matched {ada}" in e for e in errors), errors
    # doctor lists the rule, what it compares, and what stripe2sf does about it
    settings = env.runtime.settings
    [check] = [c for c in run_doctor(settings, load_sync_config(settings)) if c.name == NAME]
    assert check.ok and "active on Contact: Contact_Name" in check.detail, check.detail
    assert "compares FirstName, LastName" in check.detail
    assert "links the one record the rule matched" in check.detail


def test_several_matches_go_to_review_and_nothing_is_duplicated(env: SyncEnv) -> None:
    env.salesforce.deploy_files(CONTACT_NAME)
    twins = env.salesforce.seed(
        [
            {"FirstName": "Sam", "LastName": "Twin", "Email": "sam1@old.example"},
            {"FirstName": "Sam", "LastName": "Twin", "Email": "sam2@old.example"},
        ],
        "Contact",
    )
    customer = env.client.v1.customers.create({"email": "sam@new.example", "name": "Sam Twin"})
    charge = pay(env.client, customer.id)
    assert env.drain()["dead"] == 0

    assert sorted(c["Id"] for c in env.query("SELECT Id FROM Contact")) == sorted(twins)
    assert not env.query(f"SELECT Id FROM Contact WHERE Stripe_Customer_Id__c = '{customer.id}'")
    [task] = env.query(
        f"SELECT Subject, Description FROM Task WHERE Stripe_Dedupe_Key__c = 'review:{customer.id}'"
    )
    assert "Contact_Name" in task["Description"]
    assert all(t in task["Description"] for t in twins)
    [account] = env.query(f"SELECT Id FROM Account WHERE Stripe_Customer_Id__c = '{customer.id}'")
    [payment] = env.query(
        "SELECT Account__c, Contact__c FROM Stripe_Payment__c "
        f"WHERE Stripe_Charge_Id__c = '{charge}'"
    )
    assert (payment["Account__c"], payment["Contact__c"]) == (account["Id"], None)


def test_account_a_block_rule_matches_is_linked(env: SyncEnv) -> None:
    env.salesforce.deploy_files(ACCOUNT_NAME)
    [acme] = env.salesforce.seed([{"Name": "Acme, Inc."}], "Account")
    customer = env.client.v1.customers.create({"email": "buyer@acme.example", "name": "ACME"})
    pay(env.client, customer.id)
    assert env.drain()["dead"] == 0

    [account] = env.query("SELECT Id, Name, Stripe_Customer_Id__c FROM Account")
    assert (account["Id"], account["Name"]) == (acme, "Acme, Inc.")
    assert account["Stripe_Customer_Id__c"] == customer.id
    [contact] = env.query("SELECT AccountId, Email, Stripe_Customer_Id__c FROM Contact")
    assert contact == {**contact, "AccountId": acme, "Stripe_Customer_Id__c": customer.id}
    assert any("duplicate rule Account_Name matched" in e for e in audit_errors(env, customer.id))


def test_on_duplicate_review_and_two_new_customers_in_one_wave(tmp_path: Path) -> None:
    """`[matching] on_duplicate = "review"`: even one match is a person's choice. Two new
    customers applied in one wave send their Contacts as one sObject Collections request,
    whose answer names no match: each is asked again alone, as one REST call."""
    config = tmp_path / "stripe2sf.toml"
    config.write_text('[matching]\non_duplicate = "review"\n')
    with sync_env(
        f"sqlite:///{tmp_path / 'stripe2sf.db'}", run_worker=False, config_path=config
    ) as env:
        env.salesforce.deploy_files(CONTACT_NAME)
        seeded = env.salesforce.seed(
            [
                {"FirstName": "Kim", "LastName": "One", "Email": "kim@old.example"},
                {"FirstName": "Lee", "LastName": "Two", "Email": "lee@old.example"},
            ],
            "Contact",
        )
        customers = [
            env.client.v1.customers.create(
                {"email": f"{n.split()[0].lower()}@new.example", "name": n}
            ).id
            for n in ("Kim One", "Lee Two")
        ]
        assert env.stripe.wait_idle(timeout=30)
        env.salesforce.reset_requests()
        worker = env.runtime.worker(concurrency=1)
        while env.runtime.inbox.counts()["pending"]:
            assert worker.run_once()
        assert env.runtime.inbox.counts()["dead"] == 0
        # each refused Contact of the Collections request was asked again alone
        endpoints = env.salesforce.requests()["by_endpoint"]
        assert endpoints["PATCH /sobjects/{sobject}/{field}/{value}"] == 2, endpoints
        assert sorted(c["Id"] for c in env.query("SELECT Id FROM Contact")) == sorted(seeded)
        tasks = env.query("SELECT Stripe_Dedupe_Key__c, Description FROM Task")
        assert sorted(t["Stripe_Dedupe_Key__c"] for t in tasks) == sorted(
            f"review:{c}" for c in customers
        )
        for task, contact in zip(
            sorted(tasks, key=lambda t: t["Stripe_Dedupe_Key__c"]),
            [s for _, s in sorted(zip(customers, seeded, strict=True))],
            strict=True,
        ):
            assert contact in task["Description"] and "on_duplicate = review" in task["Description"]


def test_backfill_links_what_a_rule_matched_and_reviews_several(tmp_path: Path) -> None:
    """Backfill meets the same rules: a customer's Contact a name rule matches is linked, one
    with two matches goes to review; the run succeeds and nothing is duplicated."""
    with sandboxes() as boxes:
        boxes.salesforce.deploy_files(CONTACT_NAME)
        ada, *twins = boxes.salesforce.seed(
            [
                {"FirstName": "Ada", "LastName": "Lovelace", "Email": "ada@old.example"},
                {"FirstName": "Sam", "LastName": "Twin", "Email": "sam1@old.example"},
                {"FirstName": "Sam", "LastName": "Twin", "Email": "sam2@old.example"},
            ],
            "Contact",
        )
        client = boxes.stripe.client()
        linked = client.v1.customers.create({"email": "ada@new.example", "name": "Ada Lovelace"})
        review = client.v1.customers.create({"email": "sam@new.example", "name": "Sam Twin"})
        for customer in (linked, review):
            pay(client, customer.id)
        p = parts(settings_for(boxes, f"sqlite:///{tmp_path}/db.sqlite"))
        try:
            done = p.backfill(BackfillOptions(rate=500, workdir=tmp_path / "bf"))
            assert done.status == "succeeded", done.message
        finally:
            p.close()
        sf = boxes.salesforce.salesforce()
        contacts = sf.query("SELECT Id, Stripe_Customer_Id__c FROM Contact")["records"]
        assert {c["Id"]: c["Stripe_Customer_Id__c"] for c in contacts} == {
            ada: linked.id,
            twins[0]: None,
            twins[1]: None,
        }
        [task] = sf.query(
            f"SELECT Description FROM Task WHERE Stripe_Dedupe_Key__c = 'review:{review.id}'"
        )["records"]
        assert all(t in task["Description"] for t in twins)
        payments = sf.query("SELECT Contact__c FROM Stripe_Payment__c")["records"]
        assert sorted(str(x["Contact__c"]) for x in payments) == sorted([ada, "None"])


def test_reconcile_fix_links_what_a_rule_matched(tmp_path: Path) -> None:
    """reconcile --fix writes a customer Salesforce lacks: the Contact a rule matches is
    linked, not duplicated, and the org is clean afterwards."""
    with sandboxes() as boxes:
        boxes.salesforce.deploy_files(CONTACT_NAME)
        [ada] = boxes.salesforce.seed(
            [{"FirstName": "Ada", "LastName": "Lovelace", "Email": "ada@old.example"}], "Contact"
        )
        client = boxes.stripe.client()
        customer = client.v1.customers.create({"email": "ada@new.example", "name": "Ada Lovelace"})
        pay(client, customer.id)
        p = parts(settings_for(boxes, f"sqlite:///{tmp_path}/db.sqlite"))
        try:
            reader = p.runtime.stripe_reader()
            assert reader is not None
            outcome = Reconciler(p.runtime.engine, reader, p.salesforce, p.config).run(fix=True)
            assert outcome.fixes and all(f.ok for f in outcome.fixes), outcome.fixes
            assert outcome.after is not None and outcome.after.clean, outcome.after.to_csv()
        finally:
            p.close()
        sf = boxes.salesforce.salesforce()
        contacts = sf.query("SELECT Id, Stripe_Customer_Id__c FROM Contact")["records"]
        assert [(c["Id"], c["Stripe_Customer_Id__c"]) for c in contacts] == [(ada, customer.id)]
