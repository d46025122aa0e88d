"""An org's validation rule meets stripe2sf end to end: the refused writes go to the dead
letters at once with the rule's message and field, the alert says what to fix, and
`stripe2sf replay --dead-letters` applies them once the rule is deactivated."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from stripe2sf.domain.config import SyncConfig
from stripe2sf.domain.setup.doctor import Check
from stripe2sf.engine.doctor import run_doctor
from stripe2sf.settings import load_sync_config
from tests.support.smtp import Mailbox
from tests.support.sync_env import SyncEnv, sync_env

RULE = (
    '<?xml version="1.0" encoding="UTF-8"?>'
    '<ValidationRule xmlns="http://soap.sforce.com/2006/04/metadata">'
    "<fullName>Website_Required</fullName><active>{active}</active>"
    "<errorConditionFormula>ISBLANK(Website)</errorConditionFormula>"
    "<errorDisplayField>Website</errorDisplayField>"
    "<errorMessage>Every account needs its web site</errorMessage></ValidationRule>"
)
RULE_FILE = "objects/Account/validationRules/Website_Required.validationRule-meta.xml"
REASON = "Salesforce validation rule on Account: Every account needs its web site (field Website)"


def test_a_validation_rule_dead_letters_and_replay_applies_once_fixed(
    tmp_path: Path, mailbox: Mailbox
) -> None:
    db = f"sqlite:///{tmp_path / 'stripe2sf.db'}"
    with sync_env(
        db, smtp_host="127.0.0.1", smtp_port=mailbox.port, alert_email_to=["ops@example.com"]
    ) as env:
        env.salesforce.control_call(
            "POST", "deploy", {"files": {RULE_FILE: RULE.format(active="true")}}
        )
        customer = env.client.v1.customers.create({"email": "val@rule.example", "name": "Val Rule"})
        intent = env.client.v1.payment_intents.create(
            {
                "amount": 4_200,
                "currency": "usd",
                "customer": customer.id,
                "payment_method": "pm_card_visa",
                "automatic_payment_methods": {"enabled": True, "allow_redirects": "never"},
                "confirm": True,
            }
        )
        counts = env.drain()
        dead = env.runtime.inbox.dead_letter_ids()
        assert counts["dead"] == len(dead) >= 1
        assert env.query("SELECT Id FROM Account") == []
        assert env.query("SELECT Id FROM Stripe_Payment__c") == []
        for event_id in dead:  # never retried: it would fail the same way
            row = env.runtime.inbox.row(event_id)
            assert row is not None and row["attempts"] == 1
            assert row["last_error"] == f"permanent: {REASON}"
        [alert] = mailbox.messages  # one per kind and period
        body = alert.get_payload(decode=True)
        assert isinstance(body, bytes)
        text = body.decode().replace("\r\n", "\n")
        assert f"Reason: permanent: {REASON}" in text
        assert "Kind: salesforce.FIELD_CUSTOM_VALIDATION_EXCEPTION" in text
        assert any(
            f"Fix the rule or the mapping, then: stripe2sf replay {event_id}" in text
            for event_id in dead
        )

        env.salesforce.control_call(
            "POST", "deploy", {"files": {RULE_FILE: RULE.format(active="false")}}
        )
        replayed = subprocess.run(
            [sys.executable, "-m", "stripe2sf", "replay", "--dead-letters"],
            env={**os.environ, "STRIPE2SF_DATABASE_URL": db},
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert replayed.returncode == 0, replayed.stderr
        assert f"replayed {len(dead)} event(s)" in replayed.stdout
        assert env.drain()["dead"] == 0
        [account] = env.query("SELECT Id, Stripe_Customer_Id__c FROM Account")
        assert account["Stripe_Customer_Id__c"] == customer.id
        [payment] = env.query("SELECT Amount__c, Account__c FROM Stripe_Payment__c")
        assert payment == {**payment, "Amount__c": 42, "Account__c": account["Id"]}
        assert intent.latest_charge


def record_type(name: str, billing: list[str]) -> str:
    values = "".join(
        f"<values><fullName>{v}</fullName><default>false</default></values>" for v in billing
    )
    return (
        '<?xml version="1.0" encoding="UTF-8"?>'
        '<RecordType xmlns="http://soap.sforce.com/2006/04/metadata">'
        f"<fullName>{name}</fullName><active>true</active><label>{name}</label>"
        f"<picklistValues><picklist>Billing_Status__c</picklist>{values}</picklistValues>"
        "</RecordType>"
    )


REQUIRED_FIELD = (
    '<?xml version="1.0" encoding="UTF-8"?>'
    '<CustomField xmlns="http://soap.sforce.com/2006/04/metadata">'
    "<fullName>Region__c</fullName><label>Region</label><length>20</length>"
    "<required>true</required><type>Text</type></CustomField>"
)


def checks_of(env: SyncEnv, config: SyncConfig) -> dict[str, Check]:
    return {c.name: c for c in run_doctor(env.runtime.settings, config)}


def test_record_types_and_what_doctor_tells_before_a_write_fails(tmp_path: Path) -> None:
    toml = tmp_path / "stripe2sf.toml"
    toml.write_text('[record_types]\nAccount = "Enterprise"\n')
    db = f"sqlite:///{tmp_path / 'stripe2sf.db'}"
    with sync_env(db, config_path=toml) as env:
        deploy = {
            "objects/Account/recordTypes/Basic.recordType-meta.xml": record_type(
                "Basic", ["Current", "At Risk"]
            ),
            "objects/Account/recordTypes/Enterprise.recordType-meta.xml": record_type(
                "Enterprise", ["Current", "Payment Overdue", "At Risk"]
            ),
        }
        env.salesforce.control_call("POST", "deploy", {"files": deploy})
        ids = {
            r["DeveloperName"]: r["Id"]
            for r in env.query("SELECT Id, DeveloperName FROM RecordType")
        }
        configured = load_sync_config(env.runtime.settings)
        found = checks_of(env, configured)
        assert found["record type of Account"].ok, found["record type of Account"]
        assert found["validation rules"].detail == "none active on the objects stripe2sf writes"
        # without the setting, new Accounts get the user's default: Basic, which refuses one
        # of the billing statuses stripe2sf writes
        by_default = checks_of(env, SyncConfig())
        lacking = by_default["Account.Billing_Status__c in record type Basic"]
        assert not lacking.ok and "Payment Overdue" in lacking.detail
        assert "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST" in lacking.detail

        customer = env.client.v1.customers.create({"email": "rt@type.example", "name": "Rita"})
        env.client.v1.payment_intents.create(
            {
                "amount": 1_000,
                "currency": "usd",
                "customer": customer.id,
                "payment_method": "pm_card_visa",
                "automatic_payment_methods": {"enabled": True, "allow_redirects": "never"},
                "confirm": True,
            }
        )
        assert env.drain()["dead"] == 0
        [account] = env.query("SELECT RecordTypeId, RecordType.DeveloperName FROM Account")
        assert account["RecordTypeId"] == ids["Enterprise"]

        # a required field stripe2sf does not fill, and an active rule: told before a write
        rule = RULE.format(active="true")
        env.salesforce.control_call(
            "POST",
            "deploy",
            {
                "files": {
                    "objects/Account/fields/Region__c.field-meta.xml": REQUIRED_FIELD,
                    RULE_FILE: rule,
                }
            },
        )
        found = checks_of(env, configured)
        required = found["Account.Region__c"]
        assert not required.ok and "REQUIRED_FIELD_MISSING" in required.detail
        assert '[[mappings]] target = "Account.Region__c"' in required.fix
        warned = found["validation rule Account.Website_Required"]
        assert warned.ok and warned.warning
        assert '"Every account needs its web site" (field Website)' in warned.detail
