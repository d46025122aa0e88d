"""Who receives change events: the Pub/Sub API enforces Change Data Capture's permissions for
the access token's user (View All Records on the object to subscribe to its channel; only the
receivable entities on /data/ChangeEvents; only the fields it may read), with permission sets
deployed as metadata and assigned over REST, as an admin does it."""

from __future__ import annotations

from collections.abc import Iterator

import grpc
import pytest
from simple_salesforce import Salesforce

from pubsub_api import pubsub_api_pb2 as pb
from salesforce_sandbox.pubsub.schemas import clear_bits, positions_of
from salesforce_sandbox.pubsub.service import AUTHORIZATION_ERROR
from salesforce_sandbox.testing import SandboxServer, run_sandbox
from tests.sandbox.test_salesforce_pubsub import Client, Subscription, start

NS = "http://soap.sforce.com/2006/04/metadata"


def permission_set(label: str, objects: dict[str, bool], readable: list[str]) -> str:
    """A PermissionSet: read (and View All Records when True) on ``objects``, read on the
    ``readable`` fields."""
    body = [f"<label>{label}</label>"]
    body += [
        f"<fieldPermissions><editable>false</editable><field>{name}</field>"
        "<readable>true</readable></fieldPermissions>"
        for name in readable
    ]
    body += [
        "<objectPermissions><allowCreate>false</allowCreate><allowDelete>false</allowDelete>"
        "<allowEdit>false</allowEdit><allowRead>true</allowRead>"
        f"<modifyAllRecords>false</modifyAllRecords><object>{name}</object>"
        f"<viewAllRecords>{'true' if view_all else 'false'}</viewAllRecords>"
        "</objectPermissions>"
        for name, view_all in objects.items()
    ]
    return f'<PermissionSet xmlns="{NS}">{"".join(body)}</PermissionSet>'


SETS = {
    # read on Contact, never View All: enough for SOQL, not for change events
    "Contact_Reader": permission_set("Contact Reader", {"Contact": False}, ["Contact.Email"]),
    # View All Records on Contact; Email readable, Phone not
    "Contact_Watcher": permission_set("Contact Watcher", {"Contact": True}, ["Contact.Email"]),
}


@pytest.fixture(scope="module")
def server() -> Iterator[SandboxServer]:
    with run_sandbox(pubsub_keepalive_seconds=0.3) as sandbox:
        sandbox.deploy_files(
            {
                f"force-app/main/default/permissionsets/{name}.permissionset-meta.xml": xml
                for name, xml in SETS.items()
            }
        )
        yield sandbox


@pytest.fixture
def sandbox(server: SandboxServer) -> SandboxServer:
    server.reset()  # deployed sets stay, assignments go
    server.select_cdc(["Contact", "Account"])
    return server


@pytest.fixture
def admin(sandbox: SandboxServer) -> Salesforce:
    return sandbox.salesforce()


def assign(admin: Salesforce, username: str, name: str) -> str:
    user = admin.query(f"SELECT Id FROM User WHERE Username = '{username}'")["records"][0]
    found = admin.query(f"SELECT Id FROM PermissionSet WHERE Name = '{name}'")["records"]
    created = admin.PermissionSetAssignment.create(
        {"AssigneeId": user["Id"], "PermissionSetId": found[0]["Id"]}
    )
    return str(created["id"])


@pytest.fixture
def integration(sandbox: SandboxServer) -> Iterator[Client]:
    """A Pub/Sub client logged in as the API-only integration user."""
    made = Client(sandbox, sandbox.login_as(sandbox.integration_username))
    yield made
    made.close()


def refusal(subscription: Subscription) -> grpc.RpcError:
    subscription.ask(10)
    with pytest.raises(grpc.RpcError) as caught:
        subscription.next_response()
    subscription.close()
    return caught.value


def trailer(error: grpc.RpcError, key: str) -> str:
    return dict(error.trailing_metadata() or ())[key]  # type: ignore[attr-defined]


def test_per_entity_channel_needs_view_all_records(
    sandbox: SandboxServer, admin: Salesforce, integration: Client
) -> None:
    topic = "/data/ContactChangeEvent"
    for assigned in ([], ["Contact_Reader"]):  # nothing, then read without View All
        for name in assigned:
            assign(admin, sandbox.integration_username, name)
        info = integration.stub.GetTopic(
            pb.TopicRequest(topic_name=topic), metadata=integration.metadata
        )
        assert info.can_subscribe is False
        error = refusal(integration.subscribe(topic))
        assert error.code() == grpc.StatusCode.PERMISSION_DENIED
        assert "View All Records on Contact" in (error.details() or "")
        assert trailer(error, "error-code") == AUTHORIZATION_ERROR
    # read access alone is enough for SOQL: the refusal is about change events only
    reader = sandbox.salesforce(user=sandbox.integration_username)
    assert reader.query("SELECT Id, Email FROM Contact")["totalSize"] == 0

    assign(admin, sandbox.integration_username, "Contact_Watcher")
    info = integration.stub.GetTopic(
        pb.TopicRequest(topic_name=topic), metadata=integration.metadata
    )
    assert info.can_subscribe is True
    subscription = start(integration, topic)
    contact = admin.Contact.create({"LastName": "Lovelace", "Email": "ada@example.com"})["id"]
    (event,) = (integration.decode(e) for e in subscription.events(1))
    subscription.close()
    assert event["ChangeEventHeader"]["recordIds"] == [contact]
    assert event["Email"] == "ada@example.com"


def test_fields_the_user_may_not_read_are_not_delivered(
    sandbox: SandboxServer, admin: Salesforce, integration: Client
) -> None:
    assign(admin, sandbox.integration_username, "Contact_Watcher")
    contact = admin.Contact.create(
        {"LastName": "Hopper", "Email": "grace@example.com", "Phone": "555-0100"}
    )["id"]
    as_admin = Client(sandbox)
    try:
        watched = start(integration, "/data/ContactChangeEvent")
        everything = start(as_admin, "/data/ContactChangeEvent")
        admin.Contact.update(contact, {"Email": "grace@navy.example", "Phone": "555-0199"})
        (seen,) = (integration.decode(e) for e in watched.events(1))
        (full,) = (as_admin.decode(e) for e in everything.events(1))
        watched.close()
        everything.close()
    finally:
        as_admin.close()
    # the administrator sees both fields change
    assert full["Phone"] == "555-0199"
    assert {"Email", "Phone"} <= set(full["ChangeEventHeader"]["changedFieldsNames"])
    # the integration user reads Email, not Phone (field-level security)
    assert seen["Email"] == "grace@navy.example"
    assert seen["Phone"] is None
    changed = set(seen["ChangeEventHeader"]["changedFieldsNames"])
    assert "Email" in changed and "Phone" not in changed
    assert changed == set(full["ChangeEventHeader"]["changedFieldsNames"]) - {"Phone"}
    assert seen["ChangeEventHeader"]["recordIds"] == [contact]


def test_change_events_channel_delivers_only_receivable_entities(
    sandbox: SandboxServer, admin: Salesforce, integration: Client
) -> None:
    assign(admin, sandbox.integration_username, "Contact_Watcher")
    subscription = start(integration, "/data/ChangeEvents")  # anyone may subscribe to it
    admin.Account.create({"Name": "Acme"})
    contact = admin.Contact.create({"LastName": "Turing"})["id"]
    (event,) = (integration.decode(e) for e in subscription.events(1))
    subscription.close()
    assert event["ChangeEventHeader"]["entityName"] == "Contact"
    assert event["ChangeEventHeader"]["recordIds"] == [contact]


def test_a_revoked_permission_ends_the_subscription(
    sandbox: SandboxServer, admin: Salesforce, integration: Client
) -> None:
    assignment = assign(admin, sandbox.integration_username, "Contact_Watcher")
    subscription = start(integration, "/data/ContactChangeEvent")
    admin.PermissionSetAssignment.delete(assignment)
    admin.Contact.create({"LastName": "Noether"})
    with pytest.raises(grpc.RpcError) as caught:
        while True:
            assert not subscription.next_response().events
    subscription.close()
    assert caught.value.code() == grpc.StatusCode.PERMISSION_DENIED


def test_bitmaps_lose_exactly_the_hidden_fields() -> None:
    doc = {
        "fields": [
            {"name": "ChangeEventHeader", "type": "record"},
            {"name": "Email", "type": ["null", "string"]},
            {
                "name": "MailingAddress",
                "doc": "Data:Compound",
                "type": [
                    "null",
                    {
                        "type": "record",
                        "name": "Address",
                        "fields": [{"name": "Street"}, {"name": "City"}],
                    },
                ],
            },
            {"name": "OtherAddress", "doc": "Data:Compound", "type": ["null", "Address"]},
            {"name": "Phone", "type": ["null", "string"]},
        ]
    }
    where = positions_of(doc)
    assert where["Email"] == (1, None)
    assert where["MailingCity"] == (2, 1)
    assert where["OtherStreet"] == (3, 0)
    assert where["Phone"] == (4, None)
    bitmap = ["0x12", "2-0x03", "3-0x01"]  # Email, Phone; Mailing Street+City; Other Street
    assert clear_bits(bitmap, [where["Phone"], where["MailingStreet"]]) == [
        "0x02",
        "2-0x02",
        "3-0x01",
    ]
    assert clear_bits(bitmap, [where["Email"], where["Phone"], where["OtherStreet"]]) == ["2-0x03"]
