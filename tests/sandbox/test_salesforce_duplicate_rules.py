"""Duplicate management in the Salesforce sandbox: matching and duplicate rules deployed as
metadata (source files, the Metadata API) or Salesforce's standard ones turned on from the
control plane, enforced on REST, Composite, sObject Collections and Bulk API 2.0 writes with
Salesforce's DUPLICATES_DETECTED answers and the Sforce-Duplicate-Rule-Header."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from typing import Any

import pytest
import requests

from salesforce_sandbox.schema import duplicate_rules as rules
from salesforce_sandbox.testing import SandboxServer
from tests.sandbox import salesforce_fixtures

salesforce_server = salesforce_fixtures.salesforce_server

V = "v59.0"
STANDARD_ALERT = rules.STANDARD_ALERT


def matching_rules(sobject: str, *rules_xml: str) -> str:
    return (
        '<?xml version="1.0" encoding="UTF-8"?>'
        '<MatchingRules xmlns="http://soap.sforce.com/2006/04/metadata">'
        + "".join(rules_xml)
        + "</MatchingRules>"
    )


def matching_rule(name: str, items: list[tuple[str, str]], status: str = "Active") -> str:
    parts = "".join(
        "<matchingRuleItems><blankValueBehavior>NullNotAllowed</blankValueBehavior>"
        f"<fieldName>{f}</fieldName><matchingMethod>{m}</matchingMethod></matchingRuleItems>"
        for f, m in items
    )
    return (
        f"<matchingRules><fullName>{name}</fullName><label>{name}</label>{parts}"
        f"<ruleStatus>{status}</ruleStatus></matchingRules>"
    )


def duplicate_rule(
    sobject: str,
    matching: str,
    *,
    on_insert: str = "Block",
    on_update: str = "Block",
    alert: str = "Use one of these records?",
    operations: tuple[str, ...] = ("Alert",),
    active: bool = True,
) -> str:
    ops = "".join(f"<operationsOnInsert>{o}</operationsOnInsert>" for o in operations)
    ops += "".join(f"<operationsOnUpdate>{o}</operationsOnUpdate>" for o in operations)
    return (
        '<?xml version="1.0" encoding="UTF-8"?>'
        '<DuplicateRule xmlns="http://soap.sforce.com/2006/04/metadata">'
        f"<actionOnInsert>{on_insert}</actionOnInsert><actionOnUpdate>{on_update}</actionOnUpdate>"
        f"<alertText>{alert}</alertText>"
        f"<duplicateRuleMatchRules><matchRuleSObjectType>{sobject}</matchRuleSObjectType>"
        f"<matchingRule>{matching}</matchingRule></duplicateRuleMatchRules>"
        f"<isActive>{'true' if active else 'false'}</isActive><masterLabel>{matching}</masterLabel>"
        f"{ops}<securityOption>EnforceSharingRules</securityOption><sortOrder>1</sortOrder>"
        "</DuplicateRule>"
    )


EMAIL_BLOCK = {
    "matchingRules/Contact.matchingRule-meta.xml": matching_rules(
        "Contact", matching_rule("Contact_Email_Exact", [("Email", "Exact")])
    ),
    "duplicateRules/Contact.Contact_Email_Block.duplicateRule-meta.xml": duplicate_rule(
        "Contact", "Contact_Email_Exact", alert="This email belongs to a Contact already"
    ),
}


@pytest.fixture
def sandbox(salesforce_server: SandboxServer) -> Iterator[SandboxServer]:
    salesforce_server.reset()
    yield salesforce_server
    salesforce_server.remove_duplicate_rules()  # rules are metadata: a reset keeps them


@pytest.fixture
def api(sandbox: SandboxServer) -> Iterator[requests.Session]:
    session = sandbox.http()
    session.headers["Authorization"] = f"Bearer {sandbox.salesforce().session_id}"
    yield session
    session.close()


def url(sandbox: SandboxServer, path: str) -> str:
    return f"{sandbox.instance_url}/services/data/{V}/{path}"


def contact(sandbox: SandboxServer, **fields: Any) -> str:
    return sandbox.seed([{"attributes": {"type": "Contact"}, **fields}])[0]


# the standard rules ------------------------------------------------------------------------------
def test_no_rule_is_on_in_a_new_org(sandbox: SandboxServer, api: requests.Session) -> None:
    assert sandbox.duplicate_rules() == []
    body = {"FirstName": "Ada", "LastName": "Lovelace", "Email": "ada@example.com"}
    for _ in range(2):
        assert api.post(url(sandbox, "sobjects/Contact"), json=body).status_code == 201


def test_standard_rule_alert_refuses_over_the_api_unless_allow_save(
    sandbox: SandboxServer, api: requests.Session
) -> None:
    deployed = sandbox.enable_standard_duplicate_rules(["Contact"])
    assert deployed == [
        "DuplicateRule:Contact.Standard_Contact_Duplicate_Rule",
        "MatchingRules:Contact",
    ]
    first = contact(sandbox, FirstName="Ada", LastName="Lovelace", Email="ada@example.com")
    body = {"FirstName": "ADA", "LastName": "lovelace", "Email": "Ada@Example.COM"}
    refused = api.post(url(sandbox, "sobjects/Contact"), json=body)
    assert refused.status_code == 400
    assert refused.json() == [
        {
            "duplicateResult": {
                "allowSave": True,
                "duplicateRule": "Standard_Contact_Duplicate_Rule",
                "duplicateRuleEntityType": "Contact",
                "errorMessage": STANDARD_ALERT,
                "matchResults": [
                    {
                        "entityType": "Contact",
                        "errors": [],
                        "matchEngine": "FuzzyMatchEngine",
                        "matchRecords": [
                            {
                                "additionalInformation": [],
                                "fieldDiffs": [],
                                "matchConfidence": 100.0,
                                "record": {
                                    "attributes": {
                                        "type": "Contact",
                                        "url": f"/services/data/{V}/sobjects/Contact/{first}",
                                    },
                                    "Id": first,
                                },
                            }
                        ],
                        "rule": "Standard_Contact_Match_Rule_v1_1",
                        "size": 1,
                        "success": True,
                    }
                ],
            },
            "errorCode": "DUPLICATES_DETECTED",
            "message": STANDARD_ALERT,
        }
    ]
    saved = api.post(
        url(sandbox, "sobjects/Contact"),
        json=body,
        headers={"Sforce-Duplicate-Rule-Header": "allowSave=true"},
    )
    assert saved.status_code == 201
    # the rules are records SOQL reads (the integration user has View Setup)
    rows = sandbox.salesforce().query(
        "SELECT DeveloperName, SobjectType, IsActive FROM DuplicateRule"
    )["records"]
    assert [(r["DeveloperName"], r["SobjectType"], r["IsActive"]) for r in rows] == [
        ("Standard_Contact_Duplicate_Rule", "Contact", True)
    ]


# deployed rules -------------------------------------------------------------------------------
def test_block_rule_ignores_allow_save_and_covers_update_and_upsert(
    sandbox: SandboxServer, api: requests.Session
) -> None:
    assert sandbox.deploy_files(EMAIL_BLOCK) == [
        "DuplicateRule:Contact.Contact_Email_Block",
        "MatchingRules:Contact",
    ]
    first = contact(sandbox, LastName="One", Email="one@example.com")
    other = contact(sandbox, LastName="Two", Email="two@example.com")
    header = {"Sforce-Duplicate-Rule-Header": "allowSave=true; includeRecordDetails=true"}
    refused = api.post(
        url(sandbox, "sobjects/Contact"),
        json={"LastName": "Three", "Email": "ONE@Example.com"},
        headers=header,
    )
    assert refused.status_code == 400
    [item] = refused.json()
    result = item["duplicateResult"]
    assert (item["message"], result["allowSave"], result["duplicateRule"]) == (
        "This email belongs to a Contact already",
        False,
        "Contact_Email_Block",
    )
    [match] = result["matchResults"]
    assert match["matchEngine"] == "ExactMatchEngine"
    [record] = match["matchRecords"]
    assert record["record"]["Id"] == first
    assert record["record"]["Email"] == "one@example.com"
    assert record["fieldDiffs"] == [{"name": "Email", "difference": "Same"}]
    # an update that would match another record, and an upsert by external id that creates
    update = api.patch(url(sandbox, f"sobjects/Contact/{other}"), json={"Email": "one@example.com"})
    assert (update.status_code, update.json()[0]["errorCode"]) == (400, "DUPLICATES_DETECTED")
    upsert = api.patch(
        url(sandbox, "sobjects/Contact/Stripe_Customer_Id__c/cus_new"),
        json={"LastName": "New", "Email": "two@example.com"},
    )
    assert upsert.status_code == 400
    assert (
        upsert.json()[0]["duplicateResult"]["matchResults"][0]["matchRecords"][0]["record"]["Id"]
        == other
    )
    # saving a record with its own values again matches nothing
    assert api.patch(url(sandbox, f"sobjects/Contact/{first}"), json={"Title": "x"}).ok


def test_composite_collections_and_bulk_answers(
    sandbox: SandboxServer, api: requests.Session
) -> None:
    sandbox.deploy_files(EMAIL_BLOCK)
    first = contact(sandbox, LastName="One", Email="one@example.com")
    composite = api.post(
        url(sandbox, "composite"),
        json={
            "allOrNone": False,
            "compositeRequest": [
                {
                    "method": "POST",
                    "url": f"/services/data/{V}/sobjects/Contact",
                    "referenceId": "dup",
                    "body": {"LastName": "Dup", "Email": "one@example.com"},
                }
            ],
        },
    ).json()["compositeResponse"][0]
    assert composite["httpStatusCode"] == 400
    assert (
        composite["body"][0]["duplicateResult"]["matchResults"][0]["matchRecords"][0]["record"][
            "Id"
        ]
        == first
    )
    # sObject Collections: the code and message only, per record
    collection = api.post(
        url(sandbox, "composite/sobjects"),
        json={
            "allOrNone": False,
            "records": [
                {"attributes": {"type": "Contact"}, "LastName": "Dup", "Email": "one@example.com"},
                {"attributes": {"type": "Contact"}, "LastName": "New", "Email": "new@example.com"},
            ],
        },
    ).json()
    assert collection[0] == {
        "success": False,
        "errors": [
            {
                "statusCode": "DUPLICATES_DETECTED",
                "message": "This email belongs to a Contact already",
                "fields": [],
            }
        ],
    }
    assert collection[1]["success"] is True
    # Bulk API 2.0: no header; the failed row says the code and message
    job = api.post(
        url(sandbox, "jobs/ingest"),
        json={"object": "Contact", "operation": "insert", "lineEnding": "LF"},
    ).json()
    data = "LastName,Email\nDup,one@example.com\nFresh,fresh@example.com\n"
    assert api.put(
        url(sandbox, f"jobs/ingest/{job['id']}/batches"),
        data=data,
        headers={"Content-Type": "text/csv", "Sforce-Duplicate-Rule-Header": "allowSave=true"},
    ).ok
    api.patch(url(sandbox, f"jobs/ingest/{job['id']}"), json={"state": "UploadComplete"})
    failed = api.get(url(sandbox, f"jobs/ingest/{job['id']}/failedResults")).text
    rows = list(csv.DictReader(io.StringIO(failed)))
    assert [(r["Email"], r["sf__Error"].split(":")[0]) for r in rows] == [
        ("one@example.com", "DUPLICATES_DETECTED")
    ]
    assert "This email belongs to a Contact already" in rows[0]["sf__Error"]


def test_allow_rule_without_alert_saves_and_inactive_rule_does_nothing(
    sandbox: SandboxServer, api: requests.Session
) -> None:
    files = {
        "matchingRules/Account.matchingRule-meta.xml": matching_rules(
            "Account", matching_rule("Account_Name", [("Name", "CompanyName")])
        ),
        "duplicateRules/Account.Account_Name_Report.duplicateRule-meta.xml": duplicate_rule(
            "Account", "Account_Name", on_insert="Allow", operations=("Report",)
        ),
        "duplicateRules/Account.Account_Name_Off.duplicateRule-meta.xml": duplicate_rule(
            "Account", "Account_Name", active=False
        ),
    }
    sandbox.deploy_files(files)
    sandbox.seed([{"attributes": {"type": "Account"}, "Name": "Acme, Inc."}])
    created = api.post(url(sandbox, "sobjects/Account"), json={"Name": "ACME"})
    assert created.status_code == 201
    # the same rule with an alert refuses, naming both records it matches
    files["duplicateRules/Account.Account_Name_Report.duplicateRule-meta.xml"] = duplicate_rule(
        "Account", "Account_Name", on_insert="Allow"
    )
    sandbox.deploy_files(files)
    refused = api.post(url(sandbox, "sobjects/Account"), json={"Name": "acme llc"})
    [item] = refused.json()
    [match] = item["duplicateResult"]["matchResults"]
    assert (match["size"], item["duplicateResult"]["allowSave"]) == (2, True)


def test_invalid_rules_are_refused(sandbox: SandboxServer) -> None:
    bad_field = {
        "matchingRules/Contact.matchingRule-meta.xml": matching_rules(
            "Contact", matching_rule("Bad", [("Nickname__c", "Exact")])
        )
    }
    response = sandbox.http().post(f"{sandbox.control_url}/deploy", json={"files": bad_field})
    assert response.status_code == 400
    assert "field Nickname__c does not exist on Contact" in response.text
    no_matching = {
        "duplicateRules/Contact.Orphan.duplicateRule-meta.xml": duplicate_rule("Contact", "Nope")
    }
    response = sandbox.http().post(f"{sandbox.control_url}/deploy", json={"files": no_matching})
    assert response.status_code == 400
    assert "the matching rule Nope on Contact does not exist" in response.text
    assert sandbox.duplicate_rules() == []


# pure parts -----------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("method", "a", "b", "same"),
    [
        ("Exact", "Ada@Example.com", " ada@example.COM", True),
        ("Exact", "ada@example.com", "ada@example.co", False),
        ("CompanyName", "Acme, Inc.", "ACME", True),
        ("Phone", "+1 (415) 555-0100", "14155550100", True),
        ("Zip", "94105-1234", "94105", True),
        ("FirstName", "Jon", "Jonathan", False),  # no fuzzy scoring in the sandbox
    ],
)
def test_matching_methods(method: str, a: str, b: str, same: bool) -> None:
    item = rules.MatchingItem("F", method)
    assert rules.item_matches(item, {"F": a}, {"F": b}) is same


def test_boolean_filter_and_blanks() -> None:
    assert rules.evaluate_filter("1 AND (2 OR NOT 3)", [True, False, False]) is True
    assert rules.evaluate_filter("(1 OR 2) AND 3", [True, True, False]) is False
    with pytest.raises(ValueError, match="4 names no matching rule item"):
        rules.evaluate_filter("1 AND 4", [True, True])
    blank = rules.MatchingItem("F", "Exact", "NullNotAllowed")
    assert rules.item_matches(blank, {"F": None}, {"F": ""}) is False
    blanks = rules.MatchingItem("F", "Exact", "MatchBlanks")
    assert rules.item_matches(blanks, {"F": None}, {"F": ""}) is True
    header = rules.parse_header("allowSave=true, includeRecordDetails=false")
    assert (header.allow_save, header.include_record_details) == (True, False)


# the Metadata API --------------------------------------------------------------------------------
def test_metadata_api_deploys_checks_and_retrieves_rules(
    sandbox: SandboxServer, api: requests.Session
) -> None:
    from tests.sandbox.test_salesforce_metadata_api import deploy, messages, package, retrieve

    matching_file = matching_rules(
        "Contact",
        matching_rule("Contact_Name", [("FirstName", "FirstName"), ("LastName", "LastName")]),
    )
    files = {
        "package.xml": package({"MatchingRules": ["Contact"], "DuplicateRule": ["*"]}),
        "matchingRules/Contact.matchingRule": matching_file,
        "duplicateRules/Contact.Contact_Name_Block.duplicateRule": duplicate_rule(
            "Contact", "Contact_Name"
        ),
    }
    result = deploy(sandbox, files)
    assert result["status"] == "Succeeded", result
    assert set(messages(result, "componentSuccesses")) == {
        ("MatchingRules", "Contact"),
        ("DuplicateRule", "Contact.Contact_Name_Block"),
        ("", "package.xml"),
    }
    contact(sandbox, FirstName="Grace", LastName="Hopper", Email="grace@navy.example")
    refused = api.post(
        url(sandbox, "sobjects/Contact"),
        json={"FirstName": "grace", "LastName": "HOPPER", "Email": "g@other.example"},
    )
    assert refused.json()[0]["duplicateResult"]["duplicateRule"] == "Contact_Name_Block"
    # a rule naming a matching rule the org does not have fails alone, and nothing applies
    broken = {
        "package.xml": package({"DuplicateRule": ["*"]}),
        "duplicateRules/Contact.Orphan.duplicateRule": duplicate_rule("Contact", "Missing"),
    }
    failed = deploy(sandbox, broken)
    assert failed["status"] == "Failed"
    problem = messages(failed, "componentFailures")[("DuplicateRule", "Contact.Orphan")]["problem"]
    assert "the matching rule Missing on Contact does not exist" in problem
    # retrieve gives back what was deployed, rules from the control plane too
    sandbox.enable_standard_duplicate_rules(["Account"])
    _, zipped = retrieve(sandbox, {"MatchingRules": ["*"], "DuplicateRule": ["*"]})
    retrieved = {name.removeprefix("unpackaged/"): text for name, text in zipped.items()}
    assert sorted(n for n in retrieved if n != "package.xml") == [
        "duplicateRules/Account.Standard_Account_Duplicate_Rule.duplicateRule",
        "duplicateRules/Contact.Contact_Name_Block.duplicateRule",
        "matchingRules/Account.matchingRule",
        "matchingRules/Contact.matchingRule",
    ]
    assert "<fieldName>FirstName</fieldName>" in retrieved["matchingRules/Contact.matchingRule"]
