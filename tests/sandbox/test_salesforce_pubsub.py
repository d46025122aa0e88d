"""Change Data Capture over the Pub/Sub API: the sandbox's gRPC ``eventbus.v1.PubSub`` driven
as a real client drives Salesforce's (grpcio stubs, fastavro, the documented bitmap decoding),
with records written through simple-salesforce."""

from __future__ import annotations

import io
import json
import queue
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import fastavro
import grpc
import pytest
from simple_salesforce import Salesforce

from pubsub_api import pubsub_api_pb2 as pb
from pubsub_api import pubsub_api_pb2_grpc as pb_grpc
from salesforce_sandbox.schema.standard import SYSTEM_ADMINISTRATOR_PROFILE_ID
from salesforce_sandbox.testing import SandboxServer, run_sandbox

WAIT_SECONDS = 20.0  # a deadline for events that must come, never a timing assertion


# a client, as Salesforce's Pub/Sub API examples write one ------------------------------------
def bitmap_fields(schema: dict[str, Any], bitmaps: list[str]) -> list[str]:
    """Field names of a changedFields/nulledFields/diffFields bitmap list, decoded as
    "Event Deserialization Considerations" describes it: ``0x..`` has bit N set for the
    top-level field at schema position N; ``P-0x..`` names nested fields of the compound field
    at position P (``Parent.Child``)."""
    names: dict[str, dict[str, Any]] = {}

    def collect(node: Any) -> None:
        if isinstance(node, dict):
            if node.get("type") == "record":
                names[node["name"]] = node
            for value in node.values():
                collect(value)
        elif isinstance(node, list):
            for value in node:
                collect(value)

    collect(schema)
    fields = schema["fields"]
    out: list[str] = []
    for item in bitmaps:
        if item.startswith("0x"):
            bits = int(item, 16)
            out.extend(f["name"] for i, f in enumerate(fields) if bits >> i & 1)
            continue
        position, _, nested_hex = item.partition("-")
        parent = fields[int(position)]
        nested_type = next(t for t in parent["type"] if t != "null")
        record = names[nested_type] if isinstance(nested_type, str) else nested_type
        bits = int(nested_hex, 16)
        out.extend(
            f"{parent['name']}.{f['name']}" for i, f in enumerate(record["fields"]) if bits >> i & 1
        )
    return out


class Client:
    def __init__(self, sandbox: SandboxServer, token: str | None = None) -> None:
        self.channel = sandbox.pubsub_channel()
        self.stub = pb_grpc.PubSubStub(self.channel)
        self.metadata = sandbox.pubsub_metadata(token)
        self.schemas: dict[str, dict[str, Any]] = {}

    def close(self) -> None:
        self.channel.close()

    def schema(self, schema_id: str) -> dict[str, Any]:
        if schema_id not in self.schemas:
            info = self.stub.GetSchema(
                pb.SchemaRequest(schema_id=schema_id), metadata=self.metadata
            )
            self.schemas[schema_id] = json.loads(info.schema_json)
        return self.schemas[schema_id]

    def decode(self, event: pb.ConsumerEvent) -> dict[str, Any]:
        schema = self.schema(event.event.schema_id)
        record = fastavro.schemaless_reader(
            io.BytesIO(event.event.payload), fastavro.parse_schema(schema)
        )
        assert isinstance(record, dict)
        header = record["ChangeEventHeader"]
        for name in ("changedFields", "nulledFields", "diffFields"):
            header[name + "Names"] = bitmap_fields(schema, header[name])
        return record

    def subscribe(
        self, topic: str, preset: int = pb.ReplayPreset.LATEST, replay_id: bytes = b""
    ) -> Subscription:
        return Subscription(self, topic, preset, replay_id)


class Subscription:
    """A Subscribe stream whose FetchRequests the test sends one at a time."""

    def __init__(self, client: Client, topic: str, preset: int, replay_id: bytes) -> None:
        self.client = client
        self.requests: queue.Queue[pb.FetchRequest | None] = queue.Queue()
        self.first = pb.FetchRequest(topic_name=topic, replay_preset=preset, replay_id=replay_id)
        self.started = False
        self.responses = client.stub.Subscribe(self._requests(), metadata=client.metadata)

    def _requests(self) -> Iterator[pb.FetchRequest]:
        while True:
            item = self.requests.get()
            if item is None:
                return
            yield item

    def ask(self, count: int) -> None:
        if not self.started:
            self.started = True
            request = pb.FetchRequest()
            request.CopyFrom(self.first)
            request.num_requested = count
            self.requests.put(request)
        else:
            self.requests.put(pb.FetchRequest(num_requested=count))

    def next_response(self) -> pb.FetchResponse:
        response: pb.FetchResponse = next(self.responses)
        return response

    def events(self, count: int) -> list[pb.ConsumerEvent]:
        """The next ``count`` events (keepalives skipped); fails after WAIT_SECONDS."""
        deadline = time.monotonic() + WAIT_SECONDS
        out: list[pb.ConsumerEvent] = []
        while len(out) < count:
            assert time.monotonic() < deadline, f"got {len(out)} of {count} events"
            out.extend(self.next_response().events)
        assert len(out) == count, f"more events than asked for: {len(out)}"
        return out

    def keepalive(self) -> pb.FetchResponse:
        """The next response, which must carry no events."""
        response = self.next_response()
        assert list(response.events) == []
        return response

    def close(self) -> None:
        self.requests.put(None)
        self.responses.cancel()


# fixtures -----------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def server() -> Iterator[SandboxServer]:
    with run_sandbox(pubsub_keepalive_seconds=0.3) as sandbox:
        yield sandbox


@pytest.fixture
def sandbox(server: SandboxServer) -> SandboxServer:
    server.reset()
    server.select_cdc(["Contact", "Account", "Opportunity"])
    return server


@pytest.fixture
def sf(sandbox: SandboxServer) -> Salesforce:
    return sandbox.salesforce()


@pytest.fixture
def client(sandbox: SandboxServer) -> Iterator[Client]:
    made = Client(sandbox)
    yield made
    made.close()


def start(client: Client, topic: str) -> Subscription:
    """A LATEST subscription, settled (its first keepalive seen) before the test writes."""
    subscription = client.subscribe(topic)
    subscription.ask(100)
    subscription.keepalive()
    return subscription


# tests --------------------------------------------------------------------------------------
def test_contact_create_update_delete_publish_change_events(
    sandbox: SandboxServer, sf: Salesforce, client: Client
) -> None:
    subscription = start(client, "/data/ContactChangeEvent")
    contact = sf.Contact.create({"FirstName": "Ann", "LastName": "Smith", "Email": "a@x.com"})
    sf.Contact.update(
        contact["id"],
        {"LastName": "Jones", "Email": None, "Title": "CFO"},
        headers={"Sforce-Call-Options": "client=stripe2sf"},
    )
    sf.Contact.delete(contact["id"])
    created, updated, deleted = (client.decode(e) for e in subscription.events(3))
    subscription.close()

    header = created["ChangeEventHeader"]
    assert header["entityName"] == "Contact"
    assert header["changeType"] == "CREATE"
    assert header["recordIds"] == [contact["id"]]
    assert header["commitUser"] == "005000000000001AAA"
    assert header["changeOrigin"] == "com/salesforce/api/rest/59.0"
    assert header["changedFieldsNames"] == []
    assert created["Name"] == {"Salutation": None, "FirstName": "Ann", "LastName": "Smith"}
    assert created["Email"] == "a@x.com"
    assert isinstance(created["CreatedDate"], int)  # epoch milliseconds

    header = updated["ChangeEventHeader"]
    assert header["changeType"] == "UPDATE"
    assert header["changeOrigin"] == "com/salesforce/api/rest/59.0;client=stripe2sf"
    assert sorted(header["changedFieldsNames"]) == [
        "Email",
        "LastModifiedDate",
        "Name.LastName",
        "Title",
    ]
    assert header["nulledFieldsNames"] == ["Email"]
    assert updated["Name"] == {"Salutation": None, "FirstName": None, "LastName": "Jones"}
    assert updated["Title"] == "CFO"
    assert updated["Email"] is None and updated["CreatedDate"] is None  # unchanged: null

    header = deleted["ChangeEventHeader"]
    assert header["changeType"] == "DELETE"
    assert header["recordIds"] == [contact["id"]]
    assert all(v is None for k, v in deleted.items() if k != "ChangeEventHeader")
    assert len({e["ChangeEventHeader"]["transactionKey"] for e in (created, updated, deleted)}) == 3


def test_commit_user_is_the_acting_user(sandbox: SandboxServer, client: Client) -> None:
    (ops,) = sandbox.seed(
        [
            {
                "attributes": {"type": "User"},
                "Username": "ops@sandbox.example.com",
                "LastName": "Ops",
                "Email": "ops@sandbox.example.com",
                "Alias": "ops",
                "ProfileId": SYSTEM_ADMINISTRATOR_PROFILE_ID,
            }
        ]
    )
    subscription = start(client, "/data/AccountChangeEvent")
    as_ops = sandbox.salesforce(user="ops@sandbox.example.com")
    account = as_ops.Account.create({"Name": "Acme", "BillingCity": "Paris"})["id"]
    (event,) = (client.decode(e) for e in subscription.events(1))
    subscription.close()
    assert event["ChangeEventHeader"]["recordIds"] == [account]
    assert event["ChangeEventHeader"]["commitUser"] == ops
    assert event["BillingAddress"]["City"] == "Paris"
    assert event["ShippingAddress"] is None


def test_one_call_is_one_transaction(sf: Salesforce, client: Client) -> None:
    subscription = start(client, "/data/ChangeEvents")
    records = [{"attributes": {"type": "Account"}, "Name": f"A{i}"} for i in range(3)]
    sf.restful("composite/sobjects", method="POST", json={"records": records})
    events = [client.decode(e)["ChangeEventHeader"] for e in subscription.events(3)]
    subscription.close()
    assert len({e["transactionKey"] for e in events}) == 1
    assert [e["sequenceNumber"] for e in events] == [1, 2, 3]


def test_flow_control_sends_no_more_than_requested(sf: Salesforce, client: Client) -> None:
    subscription = client.subscribe("/data/ContactChangeEvent")
    subscription.ask(1)
    subscription.keepalive()
    for name in ("One", "Two", "Three"):
        sf.Contact.create({"LastName": name})
    response = subscription.next_response()
    assert len(response.events) == 1
    assert response.pending_num_requested == 0
    after = subscription.keepalive()  # nothing more until asked
    assert after.pending_num_requested == 0
    assert after.latest_replay_id == response.events[0].replay_id
    subscription.ask(5)
    rest = subscription.events(2)
    subscription.close()
    names = [client.decode(e)["Name"]["LastName"] for e in [*response.events, *rest]]
    assert names == ["One", "Two", "Three"]


def test_replay_earliest_and_custom(sf: Salesforce, client: Client) -> None:
    first = sf.Contact.create({"LastName": "Before"})["id"]
    subscription = start(client, "/data/ContactChangeEvent")
    second = sf.Contact.create({"LastName": "After"})["id"]
    (event,) = subscription.events(1)
    subscription.close()
    assert client.decode(event)["ChangeEventHeader"]["recordIds"] == [second]

    earliest = client.subscribe("/data/ContactChangeEvent", pb.ReplayPreset.EARLIEST)
    earliest.ask(100)
    seen: list[str] = []
    deadline = time.monotonic() + WAIT_SECONDS
    while second not in seen and time.monotonic() < deadline:
        response = earliest.next_response()
        seen.extend(client.decode(e)["ChangeEventHeader"]["recordIds"][0] for e in response.events)
    earliest.close()
    assert seen.index(first) < seen.index(second)

    custom = client.subscribe("/data/ContactChangeEvent", pb.ReplayPreset.CUSTOM, b"")
    custom.first.replay_id = event.replay_id
    third = sf.Contact.create({"LastName": "Third"})["id"]
    custom.ask(10)
    (after,) = custom.events(1)
    custom.close()
    assert client.decode(after)["ChangeEventHeader"]["recordIds"] == [third]


def test_change_events_channel_carries_every_selected_entity(
    sf: Salesforce, client: Client
) -> None:
    subscription = start(client, "/data/ChangeEvents")
    account = sf.Account.create({"Name": "Acme"})["id"]
    sf.Contact.create({"LastName": "Smith", "AccountId": account})
    sf.Opportunity.create(
        {
            "Name": "Deal",
            "StageName": "Prospecting",
            "CloseDate": "2030-01-31",
            "Amount": 1200.5,
            "AccountId": account,
        }
    )
    sf.Case.create({"Subject": "not selected"})
    events = [client.decode(e) for e in subscription.events(3)]
    entities = [e["ChangeEventHeader"]["entityName"] for e in events]
    assert entities == ["Account", "Contact", "Opportunity"]
    opportunity = events[2]
    assert opportunity["Amount"] == 1200.5
    assert opportunity["StageName"] == "Prospecting"
    assert str(opportunity["CloseDate"]) == "2030-01-31"
    subscription.keepalive()  # the Case made no event
    subscription.close()


def test_unselected_entity_channel_is_not_found(sandbox: SandboxServer, client: Client) -> None:
    with pytest.raises(grpc.RpcError) as caught:
        client.stub.GetTopic(
            pb.TopicRequest(topic_name="/data/CaseChangeEvent"), metadata=client.metadata
        )
    assert caught.value.code() == grpc.StatusCode.NOT_FOUND
    assert "Change Data Capture" in str(caught.value.details())
    subscription = client.subscribe("/data/CaseChangeEvent")
    subscription.ask(1)
    with pytest.raises(grpc.RpcError) as caught:
        subscription.next_response()
    assert caught.value.code() == grpc.StatusCode.NOT_FOUND
    topic = client.stub.GetTopic(
        pb.TopicRequest(topic_name="/data/ContactChangeEvent"), metadata=client.metadata
    )
    assert topic.can_subscribe and not topic.can_publish
    assert client.schema(topic.schema_id)["name"] == "ContactChangeEvent"


def test_bad_token_is_unauthenticated(sandbox: SandboxServer) -> None:
    bad = Client(sandbox, token="00D000000000001!not-a-session")
    try:
        with pytest.raises(grpc.RpcError) as caught:
            bad.stub.GetTopic(
                pb.TopicRequest(topic_name="/data/ChangeEvents"), metadata=bad.metadata
            )
        assert caught.value.code() == grpc.StatusCode.UNAUTHENTICATED
        trailers = dict(caught.value.trailing_metadata() or ())
        assert trailers["error-code"] == "sfdc.platform.eventbus.grpc.service.auth.error"
        subscription = bad.subscribe("/data/ChangeEvents")
        subscription.ask(1)
        with pytest.raises(grpc.RpcError) as caught:
            subscription.next_response()
        assert caught.value.code() == grpc.StatusCode.UNAUTHENTICATED
    finally:
        bad.close()


def test_cdc_selection_on_the_control_plane(sandbox: SandboxServer) -> None:
    assert sandbox.select_cdc(["contact"]) == ["Contact"]
    assert sandbox.cdc_selected() == ["Contact"]
    info = sandbox.control_call("GET", "pubsub")
    assert info["target"] == sandbox.pubsub_target and info["tls"] is True
    with sandbox.http() as http:
        refused = http.put(f"{sandbox.control_url}/cdc", json={"entities": ["Nope"]})
    assert refused.status_code == 400
    assert "cannot be selected" in refused.json()[0]["message"]


def test_invalid_custom_replay_id_is_refused(client: Client) -> None:
    for replay_id, code in (
        (b"\x01\x02", "sfdc.platform.eventbus.grpc.subscription.fetch.replayid.corrupted"),
        (
            (10**9).to_bytes(8, "big"),
            "sfdc.platform.eventbus.grpc.subscription.fetch.replayid.validation.failed",
        ),
    ):
        subscription = client.subscribe(
            "/data/ContactChangeEvent", pb.ReplayPreset.CUSTOM, replay_id
        )
        subscription.ask(1)
        with pytest.raises(grpc.RpcError) as caught:
            subscription.next_response()
        assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert "Replay ID validation failed" in str(caught.value.details())
        assert dict(caught.value.trailing_metadata() or ())["error-code"] == code


def test_abort_fault_ends_open_streams_unavailable(
    sandbox: SandboxServer, sf: Salesforce, client: Client
) -> None:
    """POST /_sandbox/pubsub/abort ends every open stream with UNAVAILABLE; a new Subscribe
    from the last replay id received misses nothing."""
    first = start(client, "/data/ContactChangeEvent")
    second = start(client, "/data/AccountChangeEvent")
    before = sf.Contact.create({"LastName": "Before"})["id"]
    (seen,) = first.events(1)
    # both streams (a stream of an earlier test may still be ending)
    assert sandbox.control_call("POST", "pubsub/abort")["aborted"] >= 2
    for subscription in (first, second):
        with pytest.raises(grpc.RpcError) as caught:
            while True:  # a keepalive may come before the end
                subscription.keepalive()
        assert caught.value.code() == grpc.StatusCode.UNAVAILABLE
        trailers = dict(caught.value.trailing_metadata() or ())
        assert trailers["error-code"] == "sfdc.platform.eventbus.grpc.service.unavailable"
    after = sf.Contact.create({"LastName": "After"})["id"]
    resumed = client.subscribe("/data/ContactChangeEvent", pb.ReplayPreset.CUSTOM, seen.replay_id)
    resumed.ask(10)
    (event,) = resumed.events(1)
    resumed.close()
    assert client.decode(seen)["ChangeEventHeader"]["recordIds"] == [before]
    assert client.decode(event)["ChangeEventHeader"]["recordIds"] == [after]


def test_bulk_ingest_publishes(sandbox: SandboxServer, sf: Salesforce, client: Client) -> None:
    subscription = start(client, "/data/ContactChangeEvent")
    rows = [{"LastName": f"Bulk{i}", "Email": f"b{i}@x.com"} for i in range(3)]
    results = sf.bulk2.Contact.insert(records=rows, wait=0)  # type: ignore[union-attr]
    assert sum(int(r["numberRecordsProcessed"]) for r in results) == 3
    events = [client.decode(e) for e in subscription.events(3)]
    subscription.close()
    assert sorted(e["Name"]["LastName"] for e in events) == ["Bulk0", "Bulk1", "Bulk2"]
    origins = {e["ChangeEventHeader"]["changeOrigin"] for e in events}
    assert origins == {"com/salesforce/api/bulkapi/59.0"}


MEMBER = (
    '<?xml version="1.0" encoding="UTF-8"?>'
    '<PlatformEventChannelMember xmlns="http://soap.sforce.com/2006/04/metadata">'
    "<eventChannel>ChangeEvents</eventChannel><selectedEntity>{entity}</selectedEntity>"
    "</PlatformEventChannelMember>"
)


def test_channel_members_deployed_select_entities(sandbox: SandboxServer) -> None:
    from tests.sandbox.test_salesforce_metadata_api import deploy, messages, package

    sandbox.select_cdc([])
    name = "ChangeEvents_ContactChangeEvent"
    result = deploy(
        sandbox,
        {
            "package.xml": package({"PlatformEventChannelMember": [name]}),
            f"platformEventChannelMembers/{name}.platformEventChannelMember": MEMBER.format(
                entity="ContactChangeEvent"
            ),
        },
    )
    assert result["status"] == "Succeeded"
    assert sandbox.cdc_selected() == ["Contact"]

    bad = "ChangeEvents_NopeChangeEvent"
    refused = deploy(
        sandbox,
        {
            "package.xml": package({"PlatformEventChannelMember": [bad]}),
            f"platformEventChannelMembers/{bad}.platformEventChannelMember": MEMBER.format(
                entity="NopeChangeEvent"
            ),
        },
    )
    assert refused["status"] == "Failed"
    failure = messages(refused, "componentFailures")[("PlatformEventChannelMember", bad)]
    assert "selectedEntity 'NopeChangeEvent'" in failure["problem"]

    deployed = sandbox.deploy_files(
        {
            "platformEventChannelMembers/ChangeEvents_AccountChangeEvent"
            ".platformEventChannelMember-meta.xml": MEMBER.format(entity="AccountChangeEvent")
        }
    )
    assert deployed == ["PlatformEventChannelMember:ChangeEvents_AccountChangeEvent"]
    assert sandbox.cdc_selected() == ["Account", "Contact"]


def test_events_and_replay_ids_survive_a_restart(tmp_path: Path) -> None:
    with run_sandbox(data_dir=tmp_path, pubsub_keepalive_seconds=0.3) as first:
        first.select_cdc(["Contact"])
        sf = first.salesforce()
        before = sf.Contact.create({"LastName": "Before"})["id"]
        client = Client(first)
        subscription = client.subscribe("/data/ContactChangeEvent", pb.ReplayPreset.EARLIEST)
        subscription.ask(1)
        (event,) = subscription.events(1)
        subscription.close()
        assert client.decode(event)["ChangeEventHeader"]["recordIds"] == [before]
        client.close()
    with run_sandbox(data_dir=tmp_path, pubsub_keepalive_seconds=0.3) as second:
        assert second.cdc_selected() == ["Contact"]
        after = second.salesforce().Contact.create({"LastName": "After"})["id"]
        client = Client(second)
        custom = client.subscribe(
            "/data/ContactChangeEvent", pb.ReplayPreset.CUSTOM, event.replay_id
        )
        custom.ask(10)
        (next_event,) = custom.events(1)
        custom.close()
        assert client.decode(next_event)["ChangeEventHeader"]["recordIds"] == [after]
        earliest = client.subscribe("/data/ContactChangeEvent", pb.ReplayPreset.EARLIEST)
        earliest.ask(2)
        replayed = [client.decode(e) for e in earliest.events(2)]
        earliest.close()
        client.close()
        assert [e["ChangeEventHeader"]["recordIds"][0] for e in replayed] == [before, after]


def test_events_older_than_the_retention_are_gone() -> None:
    with run_sandbox(pubsub_keepalive_seconds=0.3, pubsub_retention_hours=1e-7) as short:
        short.select_cdc(["Contact"])
        short.salesforce().Contact.create({"LastName": "Fleeting"})
        time.sleep(0.01)  # older than the 0.36 ms retention (not a timing assertion)
        client = Client(short)
        try:
            earliest = client.subscribe("/data/ContactChangeEvent", pb.ReplayPreset.EARLIEST)
            earliest.ask(1)
            assert earliest.keepalive().pending_num_requested == 1  # nothing left to replay
            earliest.close()
            custom = client.subscribe(
                "/data/ContactChangeEvent", pb.ReplayPreset.CUSTOM, (0).to_bytes(8, "big")
            )
            custom.ask(1)
            with pytest.raises(grpc.RpcError) as caught:
                custom.next_response()
            assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
            assert "retention" in str(caught.value.details())
        finally:
            client.close()
