"""The sandbox's Change Data Capture faults (``POST /_sandbox/cdc``): the next N changes of an
entity as GAP_* events (header only, as Salesforce sends when it cannot build a body), and past
an overflow threshold one GAP_OVERFLOW event for the rest of a transaction's changes."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import requests
from simple_salesforce import Salesforce

from salesforce_sandbox.testing import SandboxServer, run_sandbox
from tests.sandbox.test_salesforce_pubsub import Client, start


@pytest.fixture(scope="module")
def server() -> Iterator[SandboxServer]:
    with run_sandbox(pubsub_keepalive_seconds=0.3) as sandbox:
        yield sandbox


@pytest.fixture
def sandbox(server: SandboxServer) -> Iterator[SandboxServer]:
    server.reset()
    server.select_cdc(["Contact", "Account"])
    yield server
    server.control_call("POST", "cdc", {"gap": {"Contact": 0}, "overflow_threshold": 0})


@pytest.fixture
def client(sandbox: SandboxServer) -> Iterator[Client]:
    made = Client(sandbox)
    yield made
    made.close()


def test_the_next_changes_of_an_entity_are_gap_events_with_only_the_header(
    sandbox: SandboxServer, client: Client
) -> None:
    sf: Salesforce = sandbox.salesforce()
    subscription = start(client, "/data/ContactChangeEvent")
    answer = sandbox.control_call("POST", "cdc", {"gap": {"Contact": 2}})
    assert answer["gap"] == {"Contact": 2}
    contact = sf.Contact.create({"LastName": "Gap", "Email": "g0@example.com"})["id"]
    sf.Contact.update(contact, {"Email": "g1@example.com"})
    sf.Contact.update(contact, {"Email": "g2@example.com"})  # the gaps are used up
    created, updated, normal = (client.decode(e) for e in subscription.events(3))
    subscription.close()

    for event, kind in ((created, "GAP_CREATE"), (updated, "GAP_UPDATE")):
        header = event["ChangeEventHeader"]
        assert header["changeType"] == kind and header["recordIds"] == [contact]
        assert header["changedFieldsNames"] == [] and header["commitUser"]
        assert event["Email"] is None
    assert normal["ChangeEventHeader"]["changeType"] == "UPDATE"
    assert normal["Email"] == "g2@example.com"
    assert sandbox.control_call("GET", "cdc")["gap"] == {"Contact": 0}


def test_past_the_threshold_a_transaction_ends_in_one_overflow_event(
    sandbox: SandboxServer, client: Client
) -> None:
    sf: Salesforce = sandbox.salesforce()
    subscription = start(client, "/data/ContactChangeEvent")
    sandbox.control_call("POST", "cdc", {"overflow_threshold": 2})
    records = [{"attributes": {"type": "Contact"}, "LastName": f"Over{i}"} for i in range(5)]
    result = sf.restful("composite/sobjects", method="POST", json={"records": records})
    assert all(r["success"] for r in result)
    single = sf.Contact.create({"LastName": "Alone"})["id"]  # another transaction: normal
    events = [client.decode(e) for e in subscription.events(4)]
    subscription.close()

    kinds = [e["ChangeEventHeader"]["changeType"] for e in events]
    assert kinds == ["CREATE", "CREATE", "GAP_OVERFLOW", "CREATE"]
    overflow = events[2]["ChangeEventHeader"]
    assert overflow["recordIds"] == [] and overflow["entityName"] == "Contact"
    assert overflow["transactionKey"] == events[0]["ChangeEventHeader"]["transactionKey"]
    assert events[3]["ChangeEventHeader"]["recordIds"] == [single]


def test_a_bad_fault_is_refused_in_words(sandbox: SandboxServer) -> None:
    with pytest.raises(requests.HTTPError) as caught:
        sandbox.control_call("POST", "cdc", {"gap": {"Contact": -1}})
    assert "count" in caught.value.response.text
