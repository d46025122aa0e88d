"""The Salesforce sandbox's permission model: the pure decisions, then the integration user over
HTTP with stripe2sf's own generated metadata (the files `stripe2sf metadata --out DIR` writes)
deployed and its Stripe2sf_Integration permission set assigned through the REST API."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from simple_salesforce import Salesforce
from simple_salesforce.exceptions import SalesforceError as ClientError

from salesforce_sandbox.config import INTEGRATION_USER_ID, Settings
from salesforce_sandbox.errors import SalesforceError
from salesforce_sandbox.models.org import Org
from salesforce_sandbox.models.permissions import (
    FieldAccess,
    Grants,
    field_access,
    object_access,
    visible_schema,
    write_denied,
)
from salesforce_sandbox.schema.model import FieldDef, Schema
from salesforce_sandbox.schema.objects import standard_objects
from salesforce_sandbox.schema.permission_set import (
    ObjectGrant,
    check_against,
    parse_permission_set,
    permissionable,
)
from salesforce_sandbox.schema.standard import API_ONLY_PROFILE_ID
from salesforce_sandbox.testing import SandboxServer, run_sandbox
from stripe2sf.metadata_files import write_metadata
from tests.support.sf_cli import SfCli

PERMSETS = "force-app/main/default/permissionsets"
INTEGRATION_SET = f"{PERMSETS}/Stripe2sf_Integration.permissionset-meta.xml"
BILLING_GRANT = (
    "    <fieldPermissions>\n        <editable>true</editable>\n"
    "        <field>Account.Billing_Status__c</field>\n"
    "        <readable>true</readable>\n    </fieldPermissions>\n"
)
BILLING_READ_ONLY = BILLING_GRANT.replace("<editable>true", "<editable>false")


# pure decisions -------------------------------------------------------------------------------
def _schema() -> Schema:
    schema = Schema(standard_objects())
    account = schema.get("Account")
    assert account is not None
    account.add(FieldDef("Secret__c", "string", length=40, custom=True))
    account.add(FieldDef("Key__c", "string", length=40, custom=True, required=True))
    return schema


def _grants(
    *perms: str,
    objects: list[ObjectGrant] | None = None,
    fields: dict[str, FieldAccess] | None = None,
) -> Grants:
    return Grants(
        "005000000000009AAA",
        frozenset(perms),
        {g.object.lower(): g.implied() for g in objects or []},
        {name.lower(): access for name, access in (fields or {}).items()},
    )


def test_object_rights_imply_read_and_delete_implies_edit() -> None:
    assert ObjectGrant("Account", create=True).implied().read
    deleting = ObjectGrant("Account", delete=True).implied()
    assert deleting.edit and deleting.read and not deleting.create
    everything = ObjectGrant("Account", modify_all=True).implied()
    assert everything.create and everything.delete and everything.view_all


def test_object_access_follows_the_kind_of_object() -> None:
    schema = _schema()
    account, task, user = (schema.get(n) for n in ("Account", "Task", "User"))
    fls = schema.get("FieldPermissions")
    assert account and task and user and fls
    nothing = _grants("ApiEnabled")
    assert not object_access(nothing, account).read
    assert object_access(nothing, task).read and not object_access(nothing, task).create
    assert object_access(nothing, user).read and not object_access(nothing, user).edit
    assert not object_access(nothing, fls).read  # View Setup and Configuration
    assert object_access(_grants("ViewSetup"), fls).read
    assert object_access(_grants("EditTask"), task).create
    reader = _grants(objects=[ObjectGrant("Account", read=True)])
    assert object_access(reader, account).read and not object_access(reader, account).edit
    assert object_access(_grants("ViewAllData"), account).read
    admin = _grants("ModifyAllData")
    assert object_access(admin, user).delete and object_access(admin, account).create


def test_field_level_security_governs_permissionable_fields_only() -> None:
    schema = _schema()
    account = schema.get("Account")
    assert account is not None
    fields = {name: account.field(name) for name in ("Name", "Phone", "Secret__c", "Key__c", "Id")}
    assert [n for n, f in fields.items() if f and permissionable("Account", f)] == [
        "Phone",
        "Secret__c",
    ]
    grants = _grants(fields={"Account.Secret__c": FieldAccess(read=True)})
    assert field_access(grants, account, fields["Secret__c"]) == FieldAccess(True, False)  # type: ignore[arg-type]
    assert field_access(grants, account, fields["Phone"]) == FieldAccess(False, False)  # type: ignore[arg-type]
    assert field_access(grants, account, fields["Name"]) == FieldAccess(True, True)  # type: ignore[arg-type]
    assert field_access(_grants("ModifyAllData"), account, fields["Phone"]).edit  # type: ignore[arg-type]


def test_visible_schema_drops_what_cannot_be_read_and_freezes_read_only_fields() -> None:
    schema = _schema()
    grants = _grants(
        "ApiEnabled",
        objects=[ObjectGrant("Account", read=True, create=True)],
        fields={"Account.Secret__c": FieldAccess(read=True)},
    )
    view = visible_schema(schema, grants)
    assert view.get("Contact") is None and view.get("Opportunity") is None
    assert view.get("Task") is not None and view.get("Profile") is not None
    account = view.get("Account")
    assert account is not None
    assert account.createable and not account.updateable and not account.deletable
    assert account.field("Phone") is None and account.field("Name") is not None
    secret = account.field("Secret__c")
    assert secret is not None and not secret.createable and not secret.updateable
    full = schema.get("Account")
    assert full is not None and full.field("Secret__c").createable  # type: ignore[union-attr]
    assert visible_schema(schema, _grants("ModifyAllData")) is schema


def test_write_denied_answers_salesforce_codes() -> None:
    schema = _schema()
    account, task = schema.get("Account"), schema.get("Task")
    assert account and task
    reader = _grants(objects=[ObjectGrant("Account", read=True, create=True, edit=True)])
    assert write_denied(reader, account, "create") is None
    denied = write_denied(reader, account, "delete")
    assert denied is not None and denied.code == "INSUFFICIENT_ACCESS_OR_READONLY"
    task_error = write_denied(_grants("ApiEnabled"), task, "create")
    assert task_error is not None
    assert (task_error.code, task_error.message) == (
        "CANNOT_INSERT_UPDATE_ACTIVATE_ENTITY",
        "entity type cannot be inserted: Task",
    )
    update_error = write_denied(_grants(), account, "update")
    assert update_error is not None and update_error.message.endswith("updated: Account")


def test_parse_permission_set_and_refuse_what_salesforce_refuses() -> None:
    xml = """<?xml version="1.0" encoding="UTF-8"?>
<PermissionSet xmlns="http://soap.sforce.com/2006/04/metadata">
    <label>Ops</label>
    <userPermissions><enabled>true</enabled><name>ApiEnabled</name></userPermissions>
    <userPermissions><enabled>false</enabled><name>EditTask</name></userPermissions>
    <objectPermissions>
        <allowCreate>true</allowCreate><allowDelete>false</allowDelete><allowEdit>false</allowEdit>
        <allowRead>false</allowRead><modifyAllRecords>false</modifyAllRecords>
        <object>Account</object><viewAllRecords>false</viewAllRecords>
    </objectPermissions>
    <fieldPermissions><editable>true</editable><field>Activity.Due__c</field>
        <readable>false</readable></fieldPermissions>
    <tabSettings><tab>standard-Account</tab><visibility>Visible</visibility></tabSettings>
</PermissionSet>"""
    spec = parse_permission_set("Ops", xml)
    assert spec.label == "Ops" and spec.user_permissions == {"ApiEnabled"}
    assert spec.objects == [ObjectGrant("Account", read=True, create=True)]
    assert [(f.field, f.read, f.edit) for f in spec.fields] == [
        ("Task.Due__c", True, True),
        ("Event.Due__c", True, True),
    ]
    schema = _schema()
    with pytest.raises(SalesforceError, match=r"no CustomField named Task\.Due__c found"):
        check_against(spec, schema)
    required = parse_permission_set(
        "Req",
        "<PermissionSet><fieldPermissions><editable>true</editable>"
        "<field>Contact.LastName</field><readable>true</readable></fieldPermissions>"
        "</PermissionSet>",
    )
    with pytest.raises(SalesforceError, match=r"required field: Contact\.LastName") as refused:
        check_against(required, schema)
    assert refused.value.code == "INVALID_METADATA"
    with pytest.raises(SalesforceError, match="root element must be PermissionSet"):
        parse_permission_set("Bad", "<Profile/>")


# over HTTP, as the integration user -----------------------------------------------------------
@pytest.fixture(scope="module")
def generated(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("stripe2sf-metadata")
    write_metadata(out)  # what `stripe2sf metadata --out DIR` writes
    return out


@pytest.fixture(scope="module")
def permission_server(generated: Path) -> Iterator[SandboxServer]:
    with run_sandbox(metadata=[generated / "force-app"]) as server:
        yield server


@pytest.fixture
def org(permission_server: SandboxServer) -> SandboxServer:
    permission_server.reset()
    return permission_server


@pytest.fixture
def admin(org: SandboxServer) -> Salesforce:
    return org.salesforce()


@pytest.fixture
def integration(org: SandboxServer) -> Salesforce:
    return org.salesforce(user=org.integration_username)


def _error(call: Any, *args: Any, **kwargs: Any) -> tuple[int, dict[str, Any]]:
    with pytest.raises(ClientError) as caught:
        call(*args, **kwargs)
    return caught.value.status, caught.value.content[0]


def _user_id(admin: Salesforce, username: str) -> str:
    found = admin.query(f"SELECT Id FROM User WHERE Username = '{username}'")["records"]
    return str(found[0]["Id"])


def _assign(admin: Salesforce, user_id: str, name: str) -> dict[str, Any]:
    found = admin.query(f"SELECT Id FROM PermissionSet WHERE Name = '{name}'")["records"]
    result: dict[str, Any] = admin.PermissionSetAssignment.create(
        {"AssigneeId": user_id, "PermissionSetId": found[0]["Id"]}
    )
    return result


def _names(sf: Salesforce) -> set[str]:
    return {o["name"] for o in sf.describe()["sobjects"]}


def test_nothing_visible_before_assignment(org: SandboxServer, integration: Salesforce) -> None:
    names = _names(integration)
    assert not names & {"Account", "Contact", "Case", "Stripe_Payment__c", "Opportunity"}
    assert {"User", "Task", "PermissionSet"} <= names
    assert "ObjectPermissions" not in names  # needs View Setup and Configuration
    assert _error(integration.Account.describe)[0] == 404
    _, body = _error(integration.query, "SELECT Id FROM Account")
    assert body["errorCode"] == "INVALID_TYPE"
    assert "sObject type 'Account' is not supported." in body["message"]
    assert _error(integration.Account.create, {"Name": "Acme"})[1]["errorCode"] == "NOT_FOUND"
    collection = integration.restful(
        "composite/sobjects",
        method="POST",
        json={"records": [{"attributes": {"type": "Account"}, "Name": "Acme"}]},
    )
    assert collection[0]["errors"][0]["statusCode"] == "INVALID_TYPE"
    me = integration.query(
        f"SELECT Profile.Name FROM User WHERE Username = '{org.integration_username}'"
    )
    assert me["records"][0]["Profile"]["Name"] == "Minimum Access - API Only Integrations"


def test_assignment_through_rest_once(org: SandboxServer, admin: Salesforce) -> None:
    user_id = _user_id(admin, org.integration_username)
    created = _assign(admin, user_id, "Stripe2sf_Integration")
    assert created["success"] and created["id"].startswith("0Pa")
    status, body = _error(_assign, admin, user_id, "Stripe2sf_Integration")
    assert (status, body["errorCode"]) == (400, "DUPLICATE_VALUE")
    assert body["message"].startswith("Duplicate PermissionSetAssignment")
    rows = admin.query(
        "SELECT PermissionSet.Name, Assignee.Username FROM PermissionSetAssignment "
        f"WHERE AssigneeId = '{user_id}'"
    )["records"]
    assert [(r["PermissionSet"]["Name"], r["Assignee"]["Username"]) for r in rows] == [
        ("Stripe2sf_Integration", org.integration_username)
    ]
    fls = admin.query(
        "SELECT Field, PermissionsRead, PermissionsEdit FROM FieldPermissions "
        "WHERE Parent.Name = 'Stripe2sf_Integration' AND SobjectType = 'Account'"
    )["records"]
    assert {r["Field"] for r in fls} >= {
        "Account.Billing_Status__c",
        "Account.Stripe_Customer_Id__c",
    }
    assert all(r["PermissionsEdit"] for r in fls)


def test_the_integration_set_grants_exactly_what_it_lists(
    org: SandboxServer, admin: Salesforce, integration: Salesforce
) -> None:
    _assign(admin, _user_id(admin, org.integration_username), "Stripe2sf_Integration")
    assert {"Account", "Contact", "Case", "Stripe_Payment__c"} <= _names(integration)
    assert "Opportunity" not in _names(integration)
    account = integration.Account.describe()
    fields = {f["name"]: f for f in account["fields"]}
    assert "Phone" not in fields and "Website" not in fields  # no field permission
    assert fields["Billing_Status__c"]["updateable"] and fields["Name"]["createable"]
    assert fields["Billing_Status__c"]["permissionable"] and not fields["Name"]["permissionable"]
    assert (account["createable"], account["updateable"], account["deletable"]) == (
        True,
        True,
        False,
    )
    created = integration.Account.upsert(
        "Stripe_Customer_Id__c/cus_1", {"Name": "Acme", "Billing_Status__c": "Current"}
    )
    assert created == 201
    row = integration.query("SELECT Id, Name, Billing_Status__c FROM Account")["records"][0]
    assert row["Billing_Status__c"] == "Current"
    _, body = _error(integration.query, "SELECT Phone FROM Account")
    assert body["errorCode"] == "INVALID_FIELD"
    assert "No such column 'Phone' on entity 'Account'." in body["message"]
    _, body = _error(integration.Account.update, row["Id"], {"Phone": "555"})
    assert (body["errorCode"], body["fields"]) == ("INVALID_FIELD", ["Phone"])
    status, body = _error(integration.Account.delete, row["Id"])
    assert (status, body["errorCode"]) == (400, "INSUFFICIENT_ACCESS_OR_READONLY")
    assert integration.Task.create({"Subject": "Call"})["success"]  # the set's Edit Tasks
    _, body = _error(integration.query, "SELECT Id FROM Opportunity")
    assert body["errorCode"] == "INVALID_TYPE"
    payment = integration.Stripe_Payment__c.create(
        {"Stripe_Charge_Id__c": "ch_1", "Account__c": row["Id"], "Amount__c": 12.5}
    )
    assert payment["success"]
    # the admin still sees and changes everything
    assert admin.Account.update(row["Id"], {"Phone": "555"}) == 204
    admin.Account.delete(row["Id"])


def _redeploy(org: SandboxServer, generated: Path, old: str, new: str) -> None:
    text = (generated / INTEGRATION_SET).read_text(encoding="utf-8")
    assert old in text
    org.control_call(
        "POST",
        "deploy",
        {
            "files": {
                "permissionsets/Stripe2sf_Integration.permissionset-meta.xml": text.replace(
                    old, new
                )
            }
        },
    )


def test_a_field_removed_from_the_set(
    org: SandboxServer, generated: Path, admin: Salesforce, integration: Salesforce
) -> None:
    _assign(admin, _user_id(admin, org.integration_username), "Stripe2sf_Integration")
    account = integration.Account.create({"Name": "Acme", "Billing_Status__c": "Current"})["id"]
    _redeploy(org, generated, BILLING_GRANT, BILLING_READ_ONLY)
    _, body = _error(integration.Account.update, account, {"Billing_Status__c": "At Risk"})
    assert (body["errorCode"], body["fields"]) == (
        "INVALID_FIELD_FOR_INSERT_UPDATE",
        ["Billing_Status__c"],
    )
    assert integration.Account.get(account)["Billing_Status__c"] == "Current"  # still readable
    collection = integration.restful(
        "composite/sobjects",
        method="PATCH",
        json={
            "records": [
                {"attributes": {"type": "Account"}, "id": account, "Billing_Status__c": "At Risk"},
                {"attributes": {"type": "Account"}, "id": account, "Name": "Acme Inc"},
            ]
        },
    )
    assert collection[0]["errors"][0]["statusCode"] == "INVALID_FIELD_FOR_INSERT_UPDATE"
    assert collection[1]["success"]

    _redeploy(org, generated, BILLING_GRANT, "")  # the field left out of the set
    _, body = _error(integration.query, "SELECT Billing_Status__c FROM Account")
    assert body["errorCode"] == "INVALID_FIELD"
    assert "No such column 'Billing_Status__c' on entity 'Account'." in body["message"]
    _, body = _error(integration.Account.update, account, {"Billing_Status__c": "At Risk"})
    assert (body["errorCode"], body["fields"]) == ("INVALID_FIELD", ["Billing_Status__c"])
    assert "Billing_Status__c" not in integration.Account.get(account)
    composite = integration.restful(
        "composite",
        method="POST",
        json={
            "compositeRequest": [
                {
                    "method": "PATCH",
                    "url": f"/services/data/v59.0/sobjects/Account/{account}",
                    "referenceId": "bad",
                    "body": {"Billing_Status__c": "At Risk"},
                }
            ]
        },
    )["compositeResponse"][0]
    assert composite["httpStatusCode"] == 400
    assert composite["body"][0]["errorCode"] == "INVALID_FIELD"
    assert admin.Account.get(account)["Billing_Status__c"] == "Current"


def _csv(text: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(text)))


def test_bulk_jobs_run_with_their_creator_permissions(
    org: SandboxServer, generated: Path, admin: Salesforce, integration: Salesforce
) -> None:
    _assign(admin, _user_id(admin, org.integration_username), "Stripe2sf_Integration")
    _redeploy(org, generated, BILLING_GRANT, BILLING_READ_ONLY)
    result = integration.bulk2.Account.insert(
        records=[
            {"Name": "A", "Stripe_Customer_Id__c": "cus_a"},
            {"Name": "B", "Billing_Status__c": "Current"},
        ],
        wait=0,
    )
    assert (result[0]["numberRecordsProcessed"], result[0]["numberRecordsFailed"]) == (2, 1)
    failed = _csv(integration.bulk2.Account.get_failed_records(result[0]["job_id"]))
    assert failed[0]["sf__Error"].startswith("INVALID_FIELD_FOR_INSERT_UPDATE:")
    tasks = integration.bulk2.Task.insert(records=[{"Subject": "Call"}], wait=0)
    assert tasks[0]["numberRecordsFailed"] == 0  # the set's Edit Tasks
    _, body = _error(
        lambda: list(integration.bulk2.Account.query("SELECT Phone FROM Account", wait=0))
    )
    assert body["errorCode"] == "INVALID_FIELD"
    rows = list(
        integration.bulk2.Account.query("SELECT Name, Stripe_Customer_Id__c FROM Account", wait=0)
    )
    assert "cus_a" in rows[0]


def test_deployed_sets_survive_a_reset_but_assignments_do_not(
    org: SandboxServer, admin: Salesforce
) -> None:
    user_id = _user_id(admin, org.integration_username)
    _assign(admin, user_id, "Stripe2sf_Integration")
    org.reset()
    names = {
        r["Name"]
        for r in admin.query("SELECT Name FROM PermissionSet WHERE IsOwnedByProfile = false")[
            "records"
        ]
    }
    assert names == {"Stripe2sf_Integration", "Stripe2sf_Viewer", "Stripe2sf_Finance"}
    assert (
        admin.query(f"SELECT COUNT() FROM PermissionSetAssignment WHERE AssigneeId = '{user_id}'")[
            "totalSize"
        ]
        == 0
    )
    assert "Account" not in _names(org.salesforce(user=org.integration_username))


def test_a_viewer_reads_two_fields_and_writes_nothing(
    org: SandboxServer, admin: Salesforce
) -> None:
    viewer = admin.User.create(
        {
            "Username": "viewer@sandbox.example.com",
            "LastName": "Viewer",
            "Email": "viewer@sandbox.example.com",
            "Alias": "viewer",
            "ProfileId": API_ONLY_PROFILE_ID,
        }
    )["id"]
    _assign(admin, viewer, "Stripe2sf_Viewer")
    account = admin.Account.create({"Name": "Acme", "Subscription_Status__c": "Active"})["id"]
    sf = org.salesforce(user="viewer@sandbox.example.com")
    row = sf.query("SELECT Name, Subscription_Status__c FROM Account")["records"][0]
    assert row["Subscription_Status__c"] == "Active"
    assert (
        _error(sf.query, "SELECT Stripe_Customer_Id__c FROM Account")[1]["errorCode"]
        == "INVALID_FIELD"
    )
    _, body = _error(sf.Account.update, account, {"Name": "Renamed"})
    assert (body["errorCode"], body["message"]) == (
        "CANNOT_INSERT_UPDATE_ACTIVATE_ENTITY",
        "entity type cannot be updated: Account",
    )
    _, body = _error(sf.Task.create, {"Subject": "Call"})  # no Edit Tasks
    assert body["errorCode"] == "CANNOT_INSERT_UPDATE_ACTIVATE_ENTITY"
    describe = sf.Account.describe()
    assert not describe["createable"] and not describe["updateable"]
    assert not any(
        f["updateable"] for f in describe["fields"] if f["name"] == "Subscription_Status__c"
    )


def test_a_rolled_back_assignment_leaves_no_cached_grant(generated: Path) -> None:
    org = Org(Settings(metadata_dirs=[generated / "force-app"]))
    try:
        user_id = INTEGRATION_USER_ID
        assert not org.schema_for(user_id).get("Account")
        assignments = org.full_schema.get("PermissionSetAssignment")
        found = org.records.store.lookup("PermissionSet", "Name", "stripe2sf_integration")
        assert assignments is not None and found
        with pytest.raises(RuntimeError), org.store.transaction():
            org.records.create(
                assignments, {"AssigneeId": user_id, "PermissionSetId": found[0]}, system=True
            )
            assert org.schema_for(user_id).get("Account") is not None  # seen inside
            raise RuntimeError("roll back")
        assert org.schema_for(user_id).get("Account") is None
        assert org.permissions.grants(user_id).objects == {}
    finally:
        org.close()


def test_a_profile_without_api_enabled_locks_the_api(org: SandboxServer, admin: Salesforce) -> None:
    integration = org.salesforce(user=org.integration_username)
    assert integration.query("SELECT COUNT() FROM User")["totalSize"] == 2
    profile_set = admin.query(
        f"SELECT Id FROM PermissionSet WHERE ProfileId = '{API_ONLY_PROFILE_ID}'"
    )["records"][0]["Id"]
    admin.PermissionSet.update(profile_set, {"PermissionsApiEnabled": False})
    status, body = _error(integration.query, "SELECT COUNT() FROM User")
    assert (status, body["errorCode"]) == (403, "API_CURRENTLY_DISABLED")


def test_sf_org_assign_permset_on_behalf_of_the_integration_user(
    org: SandboxServer, tmp_path: Path, admin: Salesforce
) -> None:
    cli = SfCli.for_sandbox(tmp_path, org)
    cli.login(org, alias="sbx")
    result = cli.json(
        "org",
        "assign",
        "permset",
        "--name",
        "Stripe2sf_Integration",
        "--on-behalf-of",
        org.integration_username,
        "--target-org",
        "sbx",
    )
    assert result["successes"] == [
        {"name": org.integration_username, "value": "Stripe2sf_Integration"}
    ]
    assert result["failures"] == []
    assert "Stripe_Payment__c" in _names(org.salesforce(user=org.integration_username))


def test_the_integration_user_logs_in_with_the_org_password(org: SandboxServer) -> None:
    soap = org.salesforce(login="soap", username=org.integration_username)
    assert "Account" not in _names(soap)
    oauth = org.salesforce(login="password", username=org.integration_username)
    info = oauth.session.get(
        f"{org.instance_url}/services/oauth2/userinfo",
        headers={"Authorization": f"Bearer {oauth.session_id}"},
    ).json()
    assert (info["preferred_username"], info["name"]) == (
        org.integration_username,
        "Integration User",
    )
    with pytest.raises(ClientError):
        org.salesforce(login="soap", username=org.integration_username, password="wrong")
