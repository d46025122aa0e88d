"""The sandbox's Metadata API: SOAP deploy/checkDeployStatus/retrieve/checkRetrieveStatus/
listMetadata/describeMetadata and the REST deployRequest over HTTP with plain requests and
zipfile, component failures and rollback, SOAP faults, persistence across a restart; and the
official Salesforce CLI deploying stripe2sf's metadata and retrieving it into a fresh project.
"""

from __future__ import annotations

import base64
import io
import json
import xml.etree.ElementTree as ET
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from salesforce_sandbox.testing import SandboxServer, run_sandbox
from stripe2sf.metadata_files import write_metadata
from tests.support.sf_cli import SfCli

MD = "http://soap.sforce.com/2006/04/metadata"
SOAP_ENV = "http://schemas.xmlsoap.org/soap/envelope/"


@pytest.fixture(scope="module")
def server() -> Iterator[SandboxServer]:
    with run_sandbox() as sandbox:
        yield sandbox


@pytest.fixture
def org(server: SandboxServer) -> SandboxServer:
    server.reset(schema=True)  # deploys change the schema: every test starts from none
    return server


# a small client -------------------------------------------------------------------------------
def soap(sandbox: SandboxServer, call: str, token: str | None = None) -> requests.Response:
    session = sandbox.access_token if token is None else token
    envelope = (
        '<?xml version="1.0" encoding="UTF-8"?>'
        f'<soapenv:Envelope xmlns:soapenv="{SOAP_ENV}">'
        f'<soapenv:Header xmlns="{MD}"><SessionHeader><sessionId>{session}</sessionId>'
        "</SessionHeader></soapenv:Header>"
        f'<soapenv:Body xmlns="{MD}">{call}</soapenv:Body></soapenv:Envelope>'
    )
    with sandbox.http() as http:
        return http.post(
            f"{sandbox.instance_url}/services/Soap/m/66.0",
            data=envelope.encode(),
            headers={"Content-Type": "text/xml", "SOAPAction": '""'},
        )


def _plain(element: ET.Element) -> Any:
    """An element as text, or a dict of its children (repeated names become lists)."""
    if not len(element):
        return element.text or ""
    out: dict[str, Any] = {}
    for child in element:
        name = child.tag.rsplit("}", 1)[-1]
        value = _plain(child)
        if name in out:
            out[name] = (out[name] if isinstance(out[name], list) else [out[name]]) + [value]
        else:
            out[name] = value
    return out


def results(response: requests.Response) -> list[Any]:
    assert response.status_code == 200, response.text
    body = ET.fromstring(response.content).find(f"{{{SOAP_ENV}}}Body")
    assert body is not None
    answer = body[0]
    return [_plain(r) for r in answer if r.tag == f"{{{MD}}}result"]


def as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [] if value is None else [value]


def fault(response: requests.Response) -> tuple[str, str]:
    assert response.status_code == 500, response.text
    found = ET.fromstring(response.content).find(f".//{{{SOAP_ENV}}}Fault")
    assert found is not None
    return found.findtext("faultcode") or "", found.findtext("faultstring") or ""


def make_zip(files: dict[str, str], root: str = "") -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, text in files.items():
            archive.writestr(root + name, text)
    return buffer.getvalue()


def package(types: dict[str, list[str]]) -> str:
    parts = "".join(
        "<types>" + "".join(f"<members>{m}</members>" for m in members) + f"<name>{name}</name>"
        "</types>"
        for name, members in types.items()
    )
    return doc("Package", parts + "<version>66.0</version>")


def doc(root: str, inner: str) -> str:
    return f'<?xml version="1.0" encoding="UTF-8"?><{root} xmlns="{MD}">{inner}</{root}>'


def deploy(sandbox: SandboxServer, files: dict[str, str], **options: str) -> dict[str, Any]:
    """Deploy, then check the status once with details (the sandbox finishes at once)."""
    zipped = base64.b64encode(make_zip(files)).decode()
    opts = "".join(f"<{k}>{v}</{k}>" for k, v in {"singlePackage": "true", **options}.items())
    started = results(
        soap(
            sandbox,
            f"<deploy><ZipFile>{zipped}</ZipFile><DeployOptions>{opts}</DeployOptions></deploy>",
        )
    )[0]
    assert started["done"] == "false" and started["id"].startswith("0Af")
    check = (
        f"<checkDeployStatus><asyncProcessId>{started['id']}</asyncProcessId>"
        "<includeDetails>true</includeDetails></checkDeployStatus>"
    )
    result: dict[str, Any] = results(soap(sandbox, check))[0]
    assert result["id"] == started["id"] and result["done"] == "true"
    return result


def retrieve(
    sandbox: SandboxServer, types: dict[str, list[str]]
) -> tuple[dict[str, Any], dict[str, str]]:
    members = "".join(
        "<types>" + "".join(f"<members>{m}</members>" for m in ms) + f"<name>{n}</name></types>"
        for n, ms in types.items()
    )
    request = (
        "<retrieve><request><apiVersion>66.0</apiVersion>"
        f"<unpackaged>{members}<version>66.0</version></unpackaged></request></retrieve>"
    )
    started = results(soap(sandbox, request))[0]
    assert started["done"] == "false" and started["id"].startswith("09S")
    check = (
        f"<checkRetrieveStatus><asyncProcessId>{started['id']}</asyncProcessId>"
        "</checkRetrieveStatus>"
    )
    result: dict[str, Any] = results(soap(sandbox, check))[0]
    assert result["done"] == "true" and result["status"] == "Succeeded"
    with zipfile.ZipFile(io.BytesIO(base64.b64decode(result["zipFile"]))) as archive:
        files = {name: archive.read(name).decode() for name in archive.namelist()}
    return result, files


def messages(result: dict[str, Any], kind: str) -> dict[tuple[str, str], dict[str, Any]]:
    details = result.get("details") or {}
    return {(m["componentType"], m["fullName"]): m for m in as_list(details.get(kind))}


def fields_of(sandbox: SandboxServer, sobject: str) -> set[str]:
    with sandbox.http() as http:
        response = http.get(
            f"{sandbox.instance_url}/services/data/v66.0/sobjects/{sobject}/describe",
            headers={"Authorization": f"Bearer {sandbox.access_token}"},
        )
    if response.status_code == 404:
        return set()
    return {f["name"] for f in response.json()["fields"]}


def canonical(text: str) -> str:
    """XML with namespaces, whitespace and entity spelling normalized, for comparisons; a
    document's top-level elements in name order, then by fullName (Salesforce sorts them)."""
    root = ET.fromstring(text)
    root[:] = sorted(root, key=lambda e: (e.tag, (e.findtext(f"{{{MD}}}fullName") or "").lower()))
    for element in root.iter():
        element.tag = element.tag.rsplit("}", 1)[-1]
        element.text = (element.text or "").strip() or None
        element.tail = None
    return ET.tostring(root, encoding="unicode")


# components used below -------------------------------------------------------------------------
WIDGET_OBJECT = doc(
    "CustomObject",
    "<deploymentStatus>Deployed</deploymentStatus><label>Widget</label>"
    "<nameField><label>Widget Name</label><type>Text</type></nameField>"
    "<pluralLabel>Widgets</pluralLabel><sharingModel>ReadWrite</sharingModel>"
    "<fields><fullName>Code__c</fullName><externalId>true</externalId><label>Code</label>"
    "<length>40</length><type>Text</type><unique>true</unique></fields>"
    "<fields><fullName>Account__c</fullName><label>Account</label><referenceTo>Account</referenceTo>"
    "<relationshipName>Widgets</relationshipName><type>Lookup</type></fields>"
    "<listViews><fullName>All</fullName><filterScope>Everything</filterScope><label>All</label>"
    "<columns>NAME</columns><columns>Code__c</columns></listViews>",
)
ACCOUNT_FIELDS = doc(
    "CustomObject",
    "<fields><fullName>Widget_Count__c</fullName><label>Widget Count</label>"
    "<precision>18</precision><scale>0</scale><type>Number</type></fields>",
)
LAYOUT = doc(
    "Layout",
    "<layoutSections><label>Widget</label><style>TwoColumnsTopToBottom</style>"
    "<layoutColumns><layoutItems><behavior>Edit</behavior><field>Code__c</field></layoutItems>"
    "</layoutColumns></layoutSections>",
)
PERMISSION_SET = doc(
    "PermissionSet",
    "<fieldPermissions><editable>true</editable><field>Widget__c.Code__c</field>"
    "<readable>true</readable></fieldPermissions><label>Widget Access</label>"
    "<objectPermissions><allowCreate>true</allowCreate><allowDelete>false</allowDelete>"
    "<allowEdit>true</allowEdit><allowRead>true</allowRead><modifyAllRecords>false</modifyAllRecords>"
    "<object>Widget__c</object><viewAllRecords>false</viewAllRecords></objectPermissions>",
)
WIDGET_FILES = {
    "package.xml": package(
        {
            "CustomObject": ["Widget__c"],
            "CustomField": ["Account.Widget_Count__c"],
            "Layout": ["Widget__c-Widget Layout"],
            "PermissionSet": ["Widget_Access"],
        }
    ),
    "objects/Widget__c.object": WIDGET_OBJECT,
    "objects/Account.object": ACCOUNT_FIELDS,
    "layouts/Widget__c-Widget Layout.layout": LAYOUT,
    "permissionsets/Widget_Access.permissionset": PERMISSION_SET,
}


# tests -----------------------------------------------------------------------------------------
def test_deploy_applies_and_retrieve_gives_back_what_was_deployed(org: SandboxServer) -> None:
    result = deploy(org, WIDGET_FILES)
    assert (result["status"], result["success"]) == ("Succeeded", "true")
    ok = messages(result, "componentSuccesses")
    expected = {
        ("CustomObject", "Widget__c"),
        ("CustomField", "Widget__c.Code__c"),
        ("CustomField", "Widget__c.Account__c"),
        ("ListView", "Widget__c.All"),
        ("CustomField", "Account.Widget_Count__c"),
        ("Layout", "Widget__c-Widget Layout"),
        ("PermissionSet", "Widget_Access"),
    }
    assert set(ok) == expected | {("", "package.xml")}
    assert all(ok[k]["created"] == "true" and ok[k]["id"] for k in expected)
    assert ok[("CustomField", "Account.Widget_Count__c")]["fileName"] == "objects/Account.object"
    assert result["numberComponentsDeployed"] == result["numberComponentsTotal"] == "7"
    assert "componentFailures" not in result["details"]
    # applied through the org: REST describe sees the object and fields
    assert {"Code__c", "Account__c", "Name"} <= fields_of(org, "Widget__c")
    assert "Widget_Count__c" in fields_of(org, "Account")

    again = deploy(org, WIDGET_FILES)  # the same zip: every component unchanged
    unchanged = messages(again, "componentSuccesses")
    assert all(
        (m["created"], m["changed"]) == ("false", "false")
        for k, m in unchanged.items()
        if k != ("", "package.xml")
    )

    answer, files = retrieve(
        org,
        {
            "CustomObject": ["Widget__c"],
            "Layout": ["*"],
            "PermissionSet": ["Widget_Access"],
            "CustomField": ["Account.Widget_Count__c"],
        },
    )
    assert set(files) == {
        "unpackaged/package.xml",
        "unpackaged/objects/Widget__c.object",
        "unpackaged/objects/Account.object",
        "unpackaged/layouts/Widget__c-Widget Layout.layout",
        "unpackaged/permissionsets/Widget_Access.permissionset",
    }
    assert canonical(files["unpackaged/objects/Widget__c.object"]) == canonical(WIDGET_OBJECT)
    assert canonical(files["unpackaged/objects/Account.object"]) == canonical(ACCOUNT_FIELDS)
    assert canonical(files["unpackaged/layouts/Widget__c-Widget Layout.layout"]) == canonical(
        LAYOUT
    )
    retrieved_set = files["unpackaged/permissionsets/Widget_Access.permissionset"]
    assert canonical(retrieved_set) == canonical(PERMISSION_SET)
    properties = {(p["type"], p["fullName"]): p for p in as_list(answer["fileProperties"])}
    assert (
        properties[("CustomObject", "Widget__c")]["fileName"]
        == "unpackaged/objects/Widget__c.object"
    )
    assert (
        properties[("CustomObject", "Widget__c")]["id"] == ok[("CustomObject", "Widget__c")]["id"]
    )
    assert ("Package", "unpackaged/package.xml") in properties
    assert answer.get("messages") is None


def test_component_failures_roll_the_whole_deploy_back(org: SandboxServer) -> None:
    files = {
        "package.xml": package(
            {
                "CustomField": ["Account.Good__c", "Account.Bad__c", "Account.Sum__c"],
                "Layout": ["Account-Broken"],
                "Bogus": ["Thing"],
                "ApexClass": ["Helper"],
                "PermissionSet": ["Missing_Set"],
            }
        ),
        "objects/Account.object": doc(
            "CustomObject",
            "<fields><fullName>Good__c</fullName><label>Good</label><length>10</length>"
            "<type>Text</type></fields>"
            "<fields><fullName>Bad__c</fullName><label>Bad</label><referenceTo>Nope__c</referenceTo>"
            "<relationshipName>Bads</relationshipName><type>Lookup</type></fields>"
            "<fields><fullName>Sum__c</fullName><label>Sum</label><formula>1 + 1</formula>"
            "<precision>18</precision><scale>0</scale><type>Number</type></fields>",
        ),
        "layouts/Account-Broken.layout": '<?xml version="1.0"?><Layout><layoutSections>',
    }
    result = deploy(org, files)
    assert (result["status"], result["success"]) == ("Failed", "false")
    failed = messages(result, "componentFailures")
    assert set(failed) == {
        ("CustomField", "Account.Bad__c"),
        ("CustomField", "Account.Sum__c"),
        ("Layout", "Account-Broken"),
        ("Bogus", "Thing"),
        ("ApexClass", "Helper"),
        ("PermissionSet", "Missing_Set"),
    }
    assert all(m["problemType"] == "Error" and m["success"] == "false" for m in failed.values())
    assert failed[("CustomField", "Account.Bad__c")]["problem"] == (
        "referenceTo value of 'Nope__c' does not resolve to a valid sObject type"
    )
    assert (
        "Formula fields are not supported" in failed[("CustomField", "Account.Sum__c")]["problem"]
    )
    assert failed[("Bogus", "Thing")]["problem"] == (
        "Unknown type name 'Bogus' specified in package.xml"
    )
    assert "does not support ApexClass" in failed[("ApexClass", "Helper")]["problem"]
    assert failed[("PermissionSet", "Missing_Set")]["problem"] == (
        "An object 'Missing_Set' of type PermissionSet was named in package.xml, "
        "but was not found in zipped directory"
    )
    broken = failed[("Layout", "Account-Broken")]
    assert broken["problem"].startswith("Error parsing file:") and broken["lineNumber"] == "1"
    assert failed[("Bogus", "Thing")]["fileName"] == "package.xml"
    # the good field passed its checks but nothing was applied (rollbackOnError)
    assert ("CustomField", "Account.Good__c") in messages(result, "componentSuccesses")
    assert result["numberComponentErrors"] == "6"
    assert "Good__c" not in fields_of(org, "Account")
    _, retrieved = retrieve(org, {"CustomField": ["Account.Good__c"]})
    assert "unpackaged/objects/Account.object" not in retrieved

    partial = deploy(org, files, rollbackOnError="false")
    assert (partial["status"], partial["success"]) == ("SucceededPartial", "true")
    assert "Good__c" in fields_of(org, "Account")
    assert "Bad__c" not in fields_of(org, "Account")


def test_check_only_validates_and_a_quick_deploy_applies_it_once(org: SandboxServer) -> None:
    result = deploy(org, WIDGET_FILES, checkOnly="true")
    assert (result["status"], result["checkOnly"]) == ("Succeeded", "true")
    assert fields_of(org, "Widget__c") == set()
    _, files = retrieve(org, {"Layout": ["*"], "PermissionSet": ["*"]})
    assert set(files) == {"unpackaged/package.xml"}
    code, _ = fault(soap(org, f"<cancelDeploy><id>{result['id']}</id></cancelDeploy>"))
    assert code == "sf:INVALID_ID_FIELD"  # done already: the sf CLI says it cannot cancel

    quick = (
        f"<deployRecentValidation><validationId>{result['id']}</validationId>"
        "</deployRecentValidation>"
    )
    deploy_id = results(soap(org, quick))[0]
    assert deploy_id.startswith("0Af") and deploy_id != result["id"]
    check = f"<checkDeployStatus><asyncProcessId>{deploy_id}</asyncProcessId></checkDeployStatus>"
    quick_result = results(soap(org, check))[0]
    assert (quick_result["status"], quick_result["checkOnly"]) == ("Succeeded", "false")
    assert "Code__c" in fields_of(org, "Widget__c")
    code, text = fault(soap(org, quick))  # a validation is quick deployed once
    assert code == "sf:INVALID_ID_FIELD" and "quick deployed already" in text


def test_list_and_describe_metadata(org: SandboxServer) -> None:
    deploy(org, WIDGET_FILES)
    listed = results(
        soap(
            org,
            "<listMetadata><queries><type>CustomObject</type></queries>"
            "<queries><type>Layout</type></queries><queries><type>ApexClass</type></queries>"
            "<asOfVersion>66.0</asOfVersion></listMetadata>",
        )
    )
    names = {(p["type"], p["fullName"]) for p in listed}
    assert {("CustomObject", "Widget__c"), ("CustomObject", "Account")} <= names
    assert ("Layout", "Widget__c-Widget Layout") in names
    assert not any(kind == "ApexClass" for kind, _ in names)  # a real type: none in this org
    layout = next(p for p in listed if p["type"] == "Layout")
    assert layout["fileName"] == "layouts/Widget__c-Widget Layout.layout"
    assert layout["manageableState"] == "unmanaged" and layout["id"].startswith("00h")

    code, text = fault(
        soap(org, "<listMetadata><queries><type>Bogus</type></queries></listMetadata>")
    )
    assert (code, text) == ("sf:INVALID_TYPE", "INVALID_TYPE: Unknown type:Bogus")

    described = results(
        soap(org, "<describeMetadata><asOfVersion>66.0</asOfVersion></describeMetadata>")
    )[0]
    kinds = {o["xmlName"]: o for o in as_list(described["metadataObjects"])}
    assert kinds["CustomObject"]["directoryName"] == "objects"
    assert kinds["CustomObject"]["suffix"] == "object"
    assert {"CustomField", "ListView"} <= set(as_list(kinds["CustomObject"]["childXmlNames"]))
    assert kinds["PermissionSet"]["inFolder"] == "false"
    assert kinds["Layout"]["metaFile"] == "false"


def test_soap_faults(org: SandboxServer) -> None:
    code, text = fault(soap(org, "<describeMetadata/>", token="00D000000000001!not.a.session"))
    assert code == "sf:INVALID_SESSION_ID"
    assert text.startswith("INVALID_SESSION_ID: Invalid Session ID found in SessionHeader")
    code, text = fault(
        soap(
            org,
            "<checkDeployStatus><asyncProcessId>0Af000000000999AAA</asyncProcessId></checkDeployStatus>",
        )
    )
    assert (code, text) == (
        "sf:INVALID_CROSS_REFERENCE_KEY",
        "INVALID_CROSS_REFERENCE_KEY: invalid cross reference id",
    )
    code, text = fault(soap(org, "<upsertMetadata/>"))
    assert code == "soapenv:Client" and "No operation available for request" in text


def test_rest_deploy_request(org: SandboxServer) -> None:
    entity = json.dumps({"deployOptions": {"rollbackOnError": True, "singlePackage": True}})
    base = f"{org.instance_url}/services/data/v66.0/metadata/deployRequest"
    auth = {"Authorization": f"Bearer {org.access_token}"}
    with org.http() as http:
        created = http.post(
            base,
            headers=auth,
            files={
                "file": ("package.xml", make_zip(WIDGET_FILES), "application/zip"),
                "entity_content": (None, entity, "application/json"),
            },
        )
        assert created.status_code == 201, created.text
        body = created.json()
        assert body["deployResult"]["status"] == "Pending" and body["deployResult"]["done"] is False
        assert body["deployOptions"]["rollbackOnError"] is True
        status = http.get(f"{base}/{body['id']}", params={"includeDetails": "true"}, headers=auth)
        missing = http.get(f"{base}/0Af000000000999AAA", headers=auth)
    result = status.json()["deployResult"]
    assert (result["status"], result["success"], result["done"]) == ("Succeeded", True, True)
    assert result["numberComponentsDeployed"] == 7
    names = {m["fullName"] for m in result["details"]["componentSuccesses"]}
    assert {"Widget__c", "Account.Widget_Count__c", "Widget_Access"} <= names
    assert "Widget_Count__c" in fields_of(org, "Account")
    assert missing.status_code == 404


def test_deployed_components_survive_a_restart(tmp_path: Path) -> None:
    data = tmp_path / "org"
    with run_sandbox(data_dir=data) as first:
        deploy(first, WIDGET_FILES)
    with run_sandbox(data_dir=data) as second:
        _, files = retrieve(
            second, {"Layout": ["Widget__c-Widget Layout"], "CustomObject": ["Widget__c"]}
        )
        assert "Code__c" in fields_of(second, "Widget__c")
    assert canonical(files["unpackaged/layouts/Widget__c-Widget Layout.layout"]) == canonical(
        LAYOUT
    )
    assert canonical(files["unpackaged/objects/Widget__c.object"]) == canonical(WIDGET_OBJECT)


# the official CLI ------------------------------------------------------------------------------
def test_sf_cli_deploys_stripe2sf_metadata_and_retrieves_it(
    org: SandboxServer, tmp_path: Path
) -> None:
    cli = SfCli.for_sandbox(tmp_path / "cli", org)
    cli.login(org, alias="sbx")
    project = tmp_path / "stripe2sf"
    write_metadata(project)
    deployed = cli.json(
        "project",
        "deploy",
        "start",
        "--source-dir",
        "force-app",
        "--target-org",
        "sbx",
        "--wait",
        "5",
        cwd=project,
    )
    assert (deployed["status"], deployed["success"]) == ("Succeeded", True)
    states = {(f["type"], f["fullName"]): f["state"] for f in deployed["files"]}
    assert states[("CustomObject", "Stripe_Payment__c")] == "Created"
    assert states[("CustomField", "Account.Stripe_Customer_Id__c")] == "Created"
    assert states[("PermissionSet", "Stripe2sf_Integration")] == "Created"
    assert "Stripe_Charge_Id__c" in fields_of(org, "Stripe_Payment__c")

    # the REST variant of the same deploy: nothing left to change
    again = cli.json(
        "project",
        "deploy",
        "start",
        "--source-dir",
        "force-app",
        "--target-org",
        "sbx",
        "--wait",
        "5",
        cwd=project,
        env={"SF_ORG_METADATA_REST_DEPLOY": "true"},
    )
    assert again["status"] == "Succeeded"
    assert {f["state"] for f in again["files"]} == {"Unchanged"}

    fresh = tmp_path / "fresh"
    (fresh / "force-app").mkdir(parents=True)
    (fresh / "sfdx-project.json").write_text((project / "sfdx-project.json").read_text())
    retrieved = cli.json(
        "project",
        "retrieve",
        "start",
        "--metadata",
        "CustomObject:Stripe_Payment__c",
        "--metadata",
        "PermissionSet:Stripe2sf_Finance",
        "--target-org",
        "sbx",
        cwd=fresh,
    )
    assert retrieved["status"] == "Succeeded"
    source = project / "force-app/main/default"
    target = fresh / "force-app/main/default"
    wanted = sorted(
        p.relative_to(source)
        for p in source.rglob("*.xml")
        if "Stripe_Payment__c" in p.parts or p.name.startswith("Stripe2sf_Finance")
    )
    got = sorted(p.relative_to(target) for p in target.rglob("*.xml"))
    assert got == wanted and len(got) == 15  # the object, 12 fields, a list view, the set
    for relative in got:
        assert canonical((target / relative).read_text()) == canonical(
            (source / relative).read_text()
        ), relative


def test_metadata_deployed_from_source_directories_is_retrievable(tmp_path: Path) -> None:
    """Objects, fields and permission sets the org got from ``--metadata`` directories (not
    through the Metadata API) come back written from the schema and the permission sets."""
    write_metadata(tmp_path / "project")
    source = tmp_path / "project/force-app/main/default"
    with run_sandbox(metadata=[tmp_path / "project/force-app"]) as sandbox:
        answer, files = retrieve(
            sandbox,
            {"PermissionSet": ["Stripe2sf_Viewer"], "CustomField": ["Account.Billing_Status__c"]},
        )
        with sandbox.http() as http:
            found = http.get(
                f"{sandbox.instance_url}/services/data/v66.0/query",
                params={"q": "SELECT Id FROM PermissionSet WHERE Name = 'Stripe2sf_Viewer'"},
                headers={"Authorization": f"Bearer {sandbox.access_token}"},
            ).json()["records"]
    viewer = files["unpackaged/permissionsets/Stripe2sf_Viewer.permissionset"]
    expected = (source / "permissionsets/Stripe2sf_Viewer.permissionset-meta.xml").read_text()
    assert canonical(viewer) == canonical(expected)
    properties = {p["fullName"]: p for p in as_list(answer["fileProperties"])}
    assert properties["Stripe2sf_Viewer"]["id"] == found[0]["Id"]
    field = ET.fromstring(files["unpackaged/objects/Account.object"]).find(f"{{{MD}}}fields")
    assert field is not None
    assert field.findtext(f"{{{MD}}}fullName") == "Billing_Status__c"
    assert field.findtext(f"{{{MD}}}type") == "Picklist"
    values = [v.text for v in field.iter(f"{{{MD}}}fullName")][1:]
    assert values == ["Current", "Payment Overdue", "At Risk"]
