"""SFDX metadata, permission sets and the mapping document."""

from __future__ import annotations

import csv
import io
import json
import xml.etree.ElementTree as ET

from stripe2sf.domain.config import SyncConfig, from_toml_text
from stripe2sf.domain.setup.mapping_doc import to_csv, to_markdown
from stripe2sf.domain.setup.metadata import generate_metadata
from stripe2sf.domain.setup.schema import check_against_describe, required_fields

NS = "{http://soap.sforce.com/2006/04/metadata}"
BASE = "force-app/main/default"


def parse(text: str) -> ET.Element:
    return ET.fromstring(text.encode())


def test_project_layout_and_wellformed_xml() -> None:
    files = generate_metadata(SyncConfig())
    project = json.loads(files["sfdx-project.json"])
    assert project["packageDirectories"][0]["path"] == "force-app"
    for path, text in files.items():
        if path.endswith(".xml"):
            root = parse(text)
            assert root.tag.startswith(NS)
            if path.endswith(".field-meta.xml"):
                assert root.find(f"{NS}fullName").text == path.rsplit("/", 1)[1].split(".")[0]  # type: ignore[union-attr]


def test_external_id_fields() -> None:
    files = generate_metadata(SyncConfig())
    for obj in ("Account", "Contact"):
        root = parse(files[f"{BASE}/objects/{obj}/fields/Stripe_Customer_Id__c.field-meta.xml"])
        assert root.findtext(f"{NS}externalId") == "true"
        assert root.findtext(f"{NS}unique") == "true"
    pay = parse(
        files[f"{BASE}/objects/Stripe_Payment__c/fields/Stripe_Charge_Id__c.field-meta.xml"]
    )
    assert pay.findtext(f"{NS}externalId") == "true"
    task_key = parse(files[f"{BASE}/objects/Activity/fields/Stripe_Dedupe_Key__c.field-meta.xml"])
    assert task_key.findtext(f"{NS}externalId") == "true"
    assert f"{BASE}/objects/Case/fields/Stripe_Dedupe_Key__c.field-meta.xml" in files


def test_picklists_and_object() -> None:
    files = generate_metadata(SyncConfig())
    status = parse(files[f"{BASE}/objects/Account/fields/Subscription_Status__c.field-meta.xml"])
    values = [v.findtext(f"{NS}fullName") for v in status.iter(f"{NS}value")]
    assert values == [
        "Active",
        "Trialing",
        "Past Due",
        "Unpaid",
        "Canceled",
        "Incomplete",
        "Paused",
    ]
    billing = parse(files[f"{BASE}/objects/Account/fields/Billing_Status__c.field-meta.xml"])
    assert [v.findtext(f"{NS}fullName") for v in billing.iter(f"{NS}value")] == [
        "Current",
        "Payment Overdue",
        "At Risk",
    ]
    obj = parse(files[f"{BASE}/objects/Stripe_Payment__c/Stripe_Payment__c.object-meta.xml"])
    assert obj.findtext(f"{NS}nameField/{NS}type") == "AutoNumber"
    amount = parse(files[f"{BASE}/objects/Stripe_Payment__c/fields/Amount__c.field-meta.xml"])
    assert (amount.findtext(f"{NS}type"), amount.findtext(f"{NS}scale")) == ("Number", "3")
    lookup = parse(files[f"{BASE}/objects/Stripe_Payment__c/fields/Account__c.field-meta.xml"])
    assert lookup.findtext(f"{NS}referenceTo") == "Account"


def _perms(files: dict[str, str], name: str) -> dict[str, bool]:
    root = parse(files[f"{BASE}/permissionsets/{name}.permissionset-meta.xml"])
    return {
        fp.findtext(f"{NS}field") or "": fp.findtext(f"{NS}editable") == "true"
        for fp in root.iter(f"{NS}fieldPermissions")
    }


def test_permission_sets_least_privilege() -> None:
    files = generate_metadata(SyncConfig())
    integ = _perms(files, "Stripe2sf_Integration")
    assert integ["Account.Subscription_Status__c"] is True
    assert integ["Stripe_Payment__c.Amount__c"] is True
    assert integ["Task.Stripe_Dedupe_Key__c"] and integ["Event.Stripe_Dedupe_Key__c"]
    assert "Account.Name" not in integ  # required field: not permissionable
    assert not any(f.startswith("Account.Description") for f in integ)
    viewer = _perms(files, "Stripe2sf_Viewer")
    assert viewer == {"Account.Subscription_Status__c": False, "Account.Billing_Status__c": False}
    finance = _perms(files, "Stripe2sf_Finance")
    assert "Stripe_Payment__c.Amount__c" in finance and not any(finance.values())
    assert all(f.startswith("Stripe_Payment__c.") for f in finance)


def test_config_drives_metadata() -> None:
    cfg = from_toml_text(
        "[subscriptions]\nper_subscription_records = true\n"
        '[[mappings]]\nsource = "customer.metadata.tier"\ntarget = "Account.Tier__c"\n'
    )
    files = generate_metadata(cfg)
    assert f"{BASE}/objects/Stripe_Subscription__c/Stripe_Subscription__c.object-meta.xml" in files
    assert f"{BASE}/objects/Account/fields/Tier__c.field-meta.xml" in files


def test_check_against_describe_explains_missing_fields() -> None:
    cfg = SyncConfig()
    describe = {s.sobject: {s.name} for s in required_fields(cfg)}
    complete: dict[str, set[str]] = {}
    for spec in required_fields(cfg):
        complete.setdefault(spec.sobject, set()).add(spec.name)
    complete["Contact"] |= {"Email", "FirstName", "LastName"}
    complete["Account"] |= {"Name"}
    assert check_against_describe(cfg, complete) == []
    complete["Account"].discard("Billing_Status__c")
    (msg,) = check_against_describe(cfg, complete)
    assert msg.startswith("Account.Billing_Status__c: field missing; expected Picklist")
    assert describe  # sanity


def test_mapping_document_csv_and_markdown() -> None:
    cfg = SyncConfig()
    rows = list(csv.DictReader(io.StringIO(to_csv(cfg))))
    amount = next(r for r in rows if r["salesforce_field"] == "Stripe_Payment__c.Amount__c")
    assert amount["stripe_source"] == "charge.amount" and amount["transform"] == "money"
    assert "JPY" in amount["note"]
    name = next(r for r in rows if r["salesforce_field"] == "Account.Name")
    assert name["owner"] == "create_only"
    assert any(r["owner"] == "salesforce" for r in rows)
    md = to_markdown(cfg)
    assert md.startswith("# stripe2sf field mapping")
    assert "| charge.amount |" in md


def test_generated_metadata_loads_into_the_salesforce_sandbox_schema() -> None:
    """Interop: the local org (salesforce_sandbox) accepts what `stripe2sf metadata` writes."""
    from salesforce_sandbox.schema import sfdx
    from salesforce_sandbox.schema.model import Schema
    from salesforce_sandbox.schema.standard import standard_objects

    schema = Schema(standard_objects())
    cfg = from_toml_text("[subscriptions]\nper_subscription_records = true\n")
    changed = sfdx.apply(schema, sfdx.parse_files(generate_metadata(cfg)), 1)
    assert "Stripe_Payment__c" in changed and "Task.Stripe_Dedupe_Key__c" in changed
    for spec in required_fields(cfg):
        obj = schema.get(spec.sobject)
        assert obj is not None and obj.field(spec.name) is not None, spec
    account = schema.get("Account")
    assert account is not None
    key = account.field("Stripe_Customer_Id__c")
    assert key is not None and key.external_id and key.unique
