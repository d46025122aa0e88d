"""Validation rules, required custom fields and record types over HTTP: deployed through the
Metadata API (SOAP, metadata format) or as source files, enforced on REST, sObject
Collections (per record), Composite and Bulk API 2.0 (per row) with Salesforce's error
bodies; formulas that do not compile are component failures; RecordType is queryable and
described; everything survives a restart."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from simple_salesforce import Salesforce
from simple_salesforce.exceptions import SalesforceMalformedRequest

from salesforce_sandbox.testing import SandboxServer, run_sandbox
from tests.sandbox.salesforce_fixtures import SFDX_EXAMPLE
from tests.sandbox.test_salesforce_metadata_api import deploy, doc, messages, package

PHONE_RULE = (
    "<fullName>At_Risk_Needs_Phone</fullName><active>{active}</active>"
    "<errorConditionFormula>ISPICKVAL(Billing_Status__c, &quot;At Risk&quot;) "
    "&amp;&amp; ISBLANK(Phone)</errorConditionFormula>"
    "<errorDisplayField>Billing_Status__c</errorDisplayField>"
    "<errorMessage>An account at risk needs a phone number</errorMessage>"
)
NAME_RULE = (
    "<fullName>Name_Not_Lowercase</fullName><active>true</active>"
    "<errorConditionFormula>REGEX(Name, &quot;[a-z].*&quot;)</errorConditionFormula>"
    "<errorMessage>Account names start with a capital</errorMessage>"
)


def record_type(name: str, values: list[str], default: str | None = None) -> str:
    listed = "".join(
        f"<values><fullName>{v}</fullName><default>{str(v == default).lower()}</default></values>"
        for v in values
    )
    return (
        f"<fullName>{name}</fullName><active>true</active><label>{name.replace('_', ' ')}</label>"
        f"<picklistValues><picklist>Billing_Status__c</picklist>{listed}</picklistValues>"
    )


@pytest.fixture(scope="module")
def server() -> Iterator[SandboxServer]:
    with run_sandbox(metadata=[SFDX_EXAMPLE]) as sandbox:
        yield sandbox


@pytest.fixture
def org(server: SandboxServer) -> SandboxServer:
    server.reset(schema=True)  # rules change the schema: every test starts from the example
    return server


def refused(call: Any, *args: Any) -> list[dict[str, Any]]:
    with pytest.raises(SalesforceMalformedRequest) as raised:
        call(*args)
    body: list[dict[str, Any]] = raised.value.content  # type: ignore[assignment]
    return body


def csv_rows(text: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(text)))


def deploy_files(org: SandboxServer, files: dict[str, str]) -> list[str]:
    """Source-format files deployed through the control plane, as ``--metadata`` does."""
    return list(org.control_call("POST", "deploy", {"files": files})["deployed"])


def deploy_rules(org: SandboxServer, *rules: str, members: list[str] | None = None) -> Any:
    inner = "".join(f"<validationRules>{r}</validationRules>" for r in rules)
    files = {
        "package.xml": package({"ValidationRule": members or ["*"]}),
        "objects/Account.object": doc("CustomObject", inner),
    }
    return deploy(org, files)


def test_validation_rules_refuse_rest_writes_until_deactivated(org: SandboxServer) -> None:
    result = deploy_rules(org, PHONE_RULE.format(active="true"), NAME_RULE)
    assert result["status"] == "Succeeded", result
    assert set(messages(result, "componentSuccesses")) >= {
        ("ValidationRule", "Account.At_Risk_Needs_Phone"),
        ("ValidationRule", "Account.Name_Not_Lowercase"),
    }
    sf = org.salesforce()
    body = refused(sf.Account.create, {"Name": "Acme", "Billing_Status__c": "At Risk"})
    assert body == [
        {
            "message": "An account at risk needs a phone number",
            "errorCode": "FIELD_CUSTOM_VALIDATION_EXCEPTION",
            "fields": ["Billing_Status__c"],
        }
    ]
    # every rule that fails is reported; a rule without display field names none
    both = refused(sf.Account.create, {"Name": "acme", "Billing_Status__c": "At Risk"})
    assert [(e["message"], e["fields"]) for e in both] == [
        ("An account at risk needs a phone number", ["Billing_Status__c"]),
        ("Account names start with a capital", []),
    ]
    created = sf.Account.create({"Name": "Acme", "Billing_Status__c": "Current"})["id"]
    # an update is checked against the record as it would be saved
    update = refused(sf.Account.update, created, {"Billing_Status__c": "At Risk"})
    assert update[0]["errorCode"] == "FIELD_CUSTOM_VALIDATION_EXCEPTION"
    assert sf.Account.update(created, {"Billing_Status__c": "At Risk", "Phone": "555"}) == 204
    assert org.seed([{"attributes": {"type": "Account"}, "Name": "Seeded"}])  # rules pass

    tooling = sf.restful(
        "tooling/query",
        params={
            "q": "SELECT ValidationName, Active, ErrorMessage, ErrorDisplayField, "
            "EntityDefinitionId FROM ValidationRule WHERE Active = true ORDER BY ValidationName"
        },
    )
    assert [
        (r["ValidationName"], r["ErrorMessage"], r["ErrorDisplayField"], r["EntityDefinitionId"])
        for r in tooling["records"]
    ] == [
        (
            "At_Risk_Needs_Phone",
            "An account at risk needs a phone number",
            "Billing_Status__c",
            "Account",
        ),
        ("Name_Not_Lowercase", "Account names start with a capital", None, "Account"),
    ]

    redeployed = deploy_rules(org, PHONE_RULE.format(active="false"))
    changed = messages(redeployed, "componentSuccesses")
    assert changed[("ValidationRule", "Account.At_Risk_Needs_Phone")]["changed"] == "true"
    assert sf.Account.create({"Name": "Acme 2", "Billing_Status__c": "At Risk"})["success"]


def test_formulas_that_do_not_compile_are_component_failures(org: SandboxServer) -> None:
    def rule(name: str, formula: str, extra: str = "") -> str:
        return (
            f"<fullName>{name}</fullName><active>true</active>"
            f"<errorConditionFormula>{formula}</errorConditionFormula>"
            f"<errorMessage>{name}</errorMessage>{extra}"
        )

    files = {
        "package.xml": package({"CustomObject": ["Account"]}),
        "objects/Account.object": doc(
            "CustomObject",
            "<fields><fullName>Tier__c</fullName><label>Tier</label><length>10</length>"
            "<type>Text</type></fields>"
            + "".join(
                f"<validationRules>{r}</validationRules>"
                for r in (
                    rule("Unknown_Field", "ISBLANK(Tierr__c)"),
                    rule("Missing_Paren", "AND(ISBLANK(Tier__c), TRUE"),
                    rule("Not_Boolean", "Tier__c"),
                    rule("Picklist_Compared", "Billing_Status__c = &quot;Current&quot;"),
                    rule("Bad_Display", "ISBLANK(Tier__c)", "<errorDisplayField>Nope__c"),
                    rule("Uses_New_Field", "LEN(Tier__c) &gt; 3"),
                )
            ).replace(
                "<errorDisplayField>Nope__c", "<errorDisplayField>Nope__c</errorDisplayField>"
            )
            + "<validationRules><fullName>No_Message</fullName>"
            "<errorConditionFormula>TRUE</errorConditionFormula></validationRules>",
        ),
    }
    result = deploy(org, files, rollbackOnError="false")
    failed = {name: m["problem"] for (_, name), m in messages(result, "componentFailures").items()}
    assert failed == {
        "Account.Unknown_Field": "Field Tierr__c does not exist. Check spelling.",
        "Account.Missing_Paren": "Syntax error. Missing ')'",
        "Account.Not_Boolean": "Formula result is data type (Text), incompatible with expected "
        "data type (true or false).",
        "Account.Picklist_Compared": "Field Billing_Status__c is a picklist field. Picklist "
        "fields are only supported in certain functions.",
        "Account.Bad_Display": "In field: errorDisplayField - no CustomField named "
        "Account.Nope__c found",
        "Account.No_Message": "Required field is missing: errorMessage",
    }
    # the rule on a field of the same deploy passed, and is enforced
    assert ("ValidationRule", "Account.Uses_New_Field") in messages(result, "componentSuccesses")
    sf = org.salesforce()
    body = refused(sf.Account.create, {"Name": "X", "Tier__c": "Gold"})
    assert body[0]["message"] == "Uses_New_Field"
    assert sf.Account.create({"Name": "X", "Tier__c": "Au"})["success"]


def test_rules_apply_per_record_in_collections_composite_and_bulk(org: SandboxServer) -> None:
    assert deploy_rules(org, PHONE_RULE.format(active="true"))["success"] == "true"
    sf = org.salesforce()
    records = [
        {"attributes": {"type": "Account"}, "Name": "Fine", "Billing_Status__c": "Current"},
        {"attributes": {"type": "Account"}, "Name": "Risky", "Billing_Status__c": "At Risk"},
    ]
    answer = sf.restful(
        "composite/sobjects", method="POST", json={"allOrNone": False, "records": records}
    )
    assert answer[0]["success"] is True
    assert answer[1] == {
        "success": False,
        "errors": [
            {
                "statusCode": "FIELD_CUSTOM_VALIDATION_EXCEPTION",
                "message": "An account at risk needs a phone number",
                "fields": ["Billing_Status__c"],
            }
        ],
    }
    composite = sf.restful(
        "composite",
        method="POST",
        json={
            "allOrNone": False,
            "compositeRequest": [
                {
                    "method": "POST",
                    "url": "/services/data/v59.0/sobjects/Account",
                    "referenceId": "risky",
                    "body": {"Name": "Risky 2", "Billing_Status__c": "At Risk"},
                }
            ],
        },
    )
    sub = composite["compositeResponse"][0]
    assert sub["httpStatusCode"] == 400
    assert sub["body"][0]["errorCode"] == "FIELD_CUSTOM_VALIDATION_EXCEPTION"

    rows = [
        {"Name": f"Bulk {i}", "Billing_Status__c": "At Risk", "Phone": "555" if i % 2 else ""}
        for i in range(4)
    ]
    job = sf.bulk2.Account.insert(records=rows, wait=0)[0]
    assert (job["numberRecordsProcessed"], job["numberRecordsFailed"]) == (4, 2)
    failed = csv_rows(sf.bulk2.Account.get_failed_records(job["job_id"]))
    assert sorted(r["Name"] for r in failed) == ["Bulk 0", "Bulk 2"]
    assert {r["sf__Error"] for r in failed} == {
        "FIELD_CUSTOM_VALIDATION_EXCEPTION:An account at risk needs a phone number:"
        "Billing_Status__c --"
    }


def test_required_custom_fields(org: SandboxServer) -> None:
    field = (
        '<?xml version="1.0" encoding="UTF-8"?>'
        '<CustomField xmlns="http://soap.sforce.com/2006/04/metadata">'
        "<fullName>Region__c</fullName><label>Region</label><length>20</length>"
        "<required>true</required><type>Text</type></CustomField>"
    )
    deploy_files(org, {"objects/Account/fields/Region__c.field-meta.xml": field})
    sf = org.salesforce()
    described = {f["name"]: f for f in sf.Account.describe()["fields"]}
    assert (described["Region__c"]["nillable"], described["Region__c"]["createable"]) == (
        False,
        True,
    )
    body = refused(sf.Account.create, {"Name": "Acme"})
    assert body == [
        {
            "message": "Required fields are missing: [Region__c]",
            "errorCode": "REQUIRED_FIELD_MISSING",
            "fields": ["Region__c"],
        }
    ]
    created = sf.Account.create({"Name": "Acme", "Region__c": "EMEA"})["id"]
    cleared = refused(sf.Account.update, created, {"Region__c": None})
    assert cleared[0]["errorCode"] == "REQUIRED_FIELD_MISSING"
    job = sf.bulk2.Account.insert(records=[{"Name": "Bulk"}], wait=0)[0]
    failed = csv_rows(sf.bulk2.Account.get_failed_records(job["job_id"]))
    assert failed[0]["sf__Error"] == (
        "REQUIRED_FIELD_MISSING:Required fields are missing: [Region__c]:Region__c --"
    )


def test_record_types(org: SandboxServer) -> None:
    files = {
        "package.xml": package({"RecordType": ["Account.Enterprise", "Account.Self_Serve"]}),
        "objects/Account.object": doc(
            "CustomObject",
            f"<recordTypes>{record_type('Enterprise', ['Current', 'At Risk'], 'Current')}"
            "</recordTypes>"
            f"<recordTypes>{record_type('Self_Serve', ['Current', 'Payment Overdue'])}"
            "</recordTypes>",
        ),
    }
    assert deploy(org, files)["status"] == "Succeeded"
    sf = org.salesforce()
    found = sf.query(
        "SELECT Id, DeveloperName, Name, IsActive FROM RecordType "
        "WHERE SobjectType = 'Account' ORDER BY DeveloperName"
    )["records"]
    assert [(r["DeveloperName"], r["Name"], r["IsActive"]) for r in found] == [
        ("Enterprise", "Enterprise", True),
        ("Self_Serve", "Self Serve", True),
    ]
    ids = {r["DeveloperName"]: r["Id"] for r in found}
    infos = sf.Account.describe()["recordTypeInfos"]
    assert [(i["developerName"], i["defaultRecordTypeMapping"], i["master"]) for i in infos] == [
        ("Enterprise", True, False),
        ("Self_Serve", False, False),
        ("Master", False, True),
    ]
    assert infos[0]["recordTypeId"] == ids["Enterprise"]

    # the values each record type allows, as the UI API tells them
    def allowed(record_type_id: str) -> dict[str, Any]:
        path = f"ui-api/object-info/Account/picklist-values/{record_type_id}"
        found: dict[str, Any] = sf.restful(path)["picklistFieldValues"]["Billing_Status__c"]
        return found

    enterprise = allowed(ids["Enterprise"])
    assert [v["value"] for v in enterprise["values"]] == ["Current", "At Risk"]
    assert enterprise["defaultValue"]["value"] == "Current"
    assert [v["value"] for v in allowed("012000000000000AAA")["values"]] == [
        "Current",
        "Payment Overdue",
        "At Risk",
    ]
    assert allowed(ids["Self_Serve"])["defaultValue"] is None

    # the default record type, and its default picklist value
    first = sf.Account.create({"Name": "Default"})["id"]
    row = sf.Account.get(first)
    assert (row["RecordTypeId"], row["Billing_Status__c"]) == (ids["Enterprise"], "Current")
    # a value the record type does not allow in a restricted picklist
    body = refused(sf.Account.create, {"Name": "Late", "Billing_Status__c": "Payment Overdue"})
    assert body == [
        {
            "message": "Billing Status: bad value for restricted picklist field: Payment Overdue",
            "errorCode": "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST",
            "fields": ["Billing_Status__c"],
        }
    ]
    late = sf.Account.create(
        {"Name": "Late", "Billing_Status__c": "Payment Overdue", "RecordTypeId": ids["Self_Serve"]}
    )
    assert late["success"]
    moved = refused(sf.Account.update, late["id"], {"RecordTypeId": ids["Enterprise"]})
    assert moved[0]["errorCode"] == "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST"
    wrong = refused(sf.Account.create, {"Name": "X", "RecordTypeId": "012000000000000AAA"})
    assert wrong == [
        {
            "message": "Record Type ID: this ID value isn't valid for the user: 012000000000000AAA",
            "errorCode": "INVALID_CROSS_REFERENCE_KEY",
            "fields": ["RecordTypeId"],
        }
    ]
    joined = sf.query("SELECT Name, RecordType.DeveloperName FROM Account WHERE Name = 'Late'")[
        "records"
    ]
    assert joined[0]["RecordType"]["DeveloperName"] == "Self_Serve"

    # a validation rule on the record type; an inactive record type is no longer chosen
    rule = (
        "<fullName>Enterprise_Phone</fullName><active>true</active><errorConditionFormula>"
        "RecordType.DeveloperName = &quot;Enterprise&quot; &amp;&amp; ISBLANK(Phone)"
        "</errorConditionFormula><errorMessage>Enterprise accounts need a phone"
        "</errorMessage>"
    )
    inactive = record_type("Enterprise", ["Current", "At Risk"]).replace(
        "<active>true</active>", "<active>false</active>"
    )
    files = {
        "package.xml": package({"CustomObject": ["Account"]}),
        "objects/Account.object": doc(
            "CustomObject",
            f"<validationRules>{rule}</validationRules><recordTypes>{inactive}</recordTypes>",
        ),
    }
    assert deploy(org, files)["status"] == "Succeeded"
    assert (
        sf.Account.get(sf.Account.create({"Name": "Now"})["id"])["RecordTypeId"]
        == (ids["Self_Serve"])
    )
    enterprise = refused(sf.Account.update, first, {"Name": "Default 2"})
    assert enterprise[0]["message"] == "Enterprise accounts need a phone"


def test_rules_survive_a_restart(tmp_path: Path) -> None:
    files = {
        "objects/Account/validationRules/Needs_Site.validationRule-meta.xml": (
            '<?xml version="1.0" encoding="UTF-8"?>'
            '<ValidationRule xmlns="http://soap.sforce.com/2006/04/metadata">'
            "<fullName>Needs_Site</fullName><active>true</active>"
            "<errorConditionFormula>ISBLANK(Website) &amp;&amp; NOT(ISNEW())"
            "</errorConditionFormula><errorMessage>Give the web site</errorMessage>"
            "<errorDisplayField>Website</errorDisplayField></ValidationRule>"
        ),
        "objects/Account/recordTypes/Partner.recordType-meta.xml": (
            '<?xml version="1.0" encoding="UTF-8"?>'
            '<RecordType xmlns="http://soap.sforce.com/2006/04/metadata">'
            f"{record_type('Partner', ['Current'])}</RecordType>"
        ),
    }
    with run_sandbox(data_dir=tmp_path, metadata=[SFDX_EXAMPLE]) as first:
        assert deploy_files(first, files) == ["Account.Partner", "Account.Needs_Site"]
        created = first.salesforce().Account.create({"Name": "Kept"})["id"]
        partner = first.salesforce().Account.get(created)["RecordTypeId"]
    with run_sandbox(data_dir=tmp_path, metadata=[SFDX_EXAMPLE]) as again:
        sf: Salesforce = again.salesforce()
        assert sf.Account.get(created)["RecordTypeId"] == partner
        assert refused(sf.Account.update, created, {"Name": "Kept 2"})[0]["fields"] == ["Website"]
        again.reset()  # records go, the rules and the record type's row stay
        assert again.salesforce().query("SELECT Id FROM RecordType")["records"][0]["Id"] == partner
        late = refused(
            again.salesforce().Account.create, {"Name": "X", "Billing_Status__c": "At Risk"}
        )
        assert late[0]["errorCode"] == "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST"
