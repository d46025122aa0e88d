"""Capture's store on SQLite and PostgreSQL (no other servers): the events of a response and
the channel's replay id are one transaction (a failure in between stores neither), the same
change stored twice is one event, and a change event that cannot be decoded is kept as refused
without blocking those after it."""

from __future__ import annotations

import contextlib
import io
import json
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import fastavro
import pytest
from sqlalchemy import select

from pubsub_api import pubsub_api_pb2 as pb2
from stripe2sf.domain.capture.bitmap import encode
from stripe2sf.engine.capture import CdcCapture, ChangeWriter
from stripe2sf.salesforce.pubsub import PubSub, PubSubAuth
from stripe2sf.store import db
from stripe2sf.store.capture import CaptureStore
from stripe2sf.store.inbox import Inbox
from stripe2sf.store.tables import events
from tests.support.pg import fresh_database
from tests.unit.test_domain_capture_cdc import CONTACT, _event

TOPIC = "/data/ContactChangeEvent"


@pytest.fixture(params=["sqlite", "postgresql"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[CaptureStore]:
    with contextlib.ExitStack() as stack:
        if request.param == "sqlite":
            url = f"sqlite:///{tmp_path / 'c.db'}"
        else:
            url = stack.enter_context(fresh_database())
        db.upgrade(url)
        engine = db.make_engine(url)
        yield CaptureStore(engine, Inbox(engine))
        engine.dispose()


def _pubsub() -> PubSub:
    auth = PubSubAuth("token", "https://x", "00D")
    pubsub = PubSub("127.0.0.1:9", lambda fresh: auth)  # never called: schema known
    pubsub._schemas["S1"] = (CONTACT, fastavro.parse_schema(CONTACT))
    return pubsub


def _consumer(replay: int, record: dict) -> pb2.ConsumerEvent:  # type: ignore[type-arg]
    buffer = io.BytesIO()
    fastavro.schemaless_writer(buffer, fastavro.parse_schema(CONTACT), record)
    return pb2.ConsumerEvent(
        event=pb2.ProducerEvent(id=f"e{replay}", schema_id="S1", payload=buffer.getvalue()),
        replay_id=replay.to_bytes(8, "big"),
    )


def _rows(store: CaptureStore) -> list:  # type: ignore[type-arg]
    with store.engine.connect() as conn:
        return list(conn.execute(select(events).order_by(events.c.id)).all())


def _update(seq: int, email: str) -> dict:  # type: ignore[type-arg]
    record = _event(changed=encode(CONTACT, ["Email"]), Email=email)
    record["ChangeEventHeader"]["sequenceNumber"] = seq
    return record


def test_events_and_replay_id_are_one_transaction(store: CaptureStore) -> None:
    cdc = CdcCapture(ChangeWriter(store, lambda t: True, "62.0"), _pubsub(), ["Contact"])
    response = pb2.FetchResponse(events=[_consumer(1, _update(1, "a@x.io"))])
    assert cdc.handle(TOPIC, response) == 1
    assert store.channel(TOPIC).replay_id == (1).to_bytes(8, "big").hex()

    def broken(*args, **kwargs):  # type: ignore[no-untyped-def]
        raise RuntimeError("disk full")

    store._move_channel = broken  # type: ignore[method-assign]
    with pytest.raises(RuntimeError):
        cdc.handle(TOPIC, pb2.FetchResponse(events=[_consumer(2, _update(2, "b@x.io"))]))
    assert len(_rows(store)) == 1, "the events of a failed position write are not stored"
    assert store.channel(TOPIC).replay_id == (1).to_bytes(8, "big").hex()
    del store._move_channel
    # delivered again (a restart resumes after replay 1): stored once
    for _ in range(2):
        cdc.handle(TOPIC, pb2.FetchResponse(events=[_consumer(2, _update(2, "b@x.io"))]))
    assert [json.loads(r.payload)["fields"]["Email"] for r in _rows(store)] == ["a@x.io", "b@x.io"]
    assert store.channel(TOPIC).events == 3  # positions moved with each stored response


def test_an_unreadable_event_is_kept_refused_and_the_channel_moves_on(store: CaptureStore) -> None:
    cdc = CdcCapture(ChangeWriter(store, lambda t: True, "62.0"), _pubsub(), ["Contact"])
    bad = _event(changed=["0x4000"])  # a bit past the schema's fields
    response = pb2.FetchResponse(events=[_consumer(7, bad), _consumer(8, _update(3, "c@x.io"))])
    assert cdc.handle(TOPIC, response) == 1
    good, refused = _rows(store)  # the changes first, then what was refused
    assert refused.state == "refused" and refused.error_kind == "capture.unreadable"
    assert "fetch its schema again" in refused.last_error
    assert json.loads(refused.payload)["replay_id"] == (7).to_bytes(8, "big").hex()
    assert good.state == "pending" and good.type == "salesforce.Contact.updated"
    assert store.channel(TOPIC).replay_id == (8).to_bytes(8, "big").hex()


def test_a_keepalive_moves_the_position_only(store: CaptureStore) -> None:
    cdc = CdcCapture(ChangeWriter(store, lambda t: True, "62.0"), _pubsub(), ["Contact"])
    assert cdc.handle(TOPIC, pb2.FetchResponse(latest_replay_id=(5).to_bytes(8, "big"))) == 0
    assert store.channel(TOPIC).replay_id == (5).to_bytes(8, "big").hex()
    assert cdc.resume(TOPIC) == (5).to_bytes(8, "big") and _rows(store) == []
    assert datetime.now(UTC) >= store.channel(TOPIC).updated_at


def test_record_ids_find_their_stripe_customer_from_stored_links(store: CaptureStore) -> None:
    from stripe2sf.domain.matching.links import Link
    from stripe2sf.store.links import Links

    account, contact = "001000000000001AAA", "003000000000001AAA"
    Links(store.engine).remember({"cus_A": Link(account, contact, None)})
    found = store.customers_of([account, contact[:15], "003000000000009AAA"])
    assert found == {account: "cus_A", contact[:15]: "cus_A"}
    # an Opportunity's change finds the customer through its AccountId
    writer = ChangeWriter(store, lambda t: True, "62.0")
    from stripe2sf.domain.capture.change import SalesforceChange

    opp = SalesforceChange(
        "Opportunity",
        "updated",
        "006000000000001AAA",
        {"AccountId": account},
        ("AccountId",),
        1,
        "cdc",
        "t:1",
    )
    unknown = SalesforceChange(
        "Contact",
        "updated",
        "003000000000002AAA",
        {"Stripe_Customer_Id__c": "cus_HELD"},
        ("Stripe_Customer_Id__c",),
        1,
        "cdc",
        "t:2",
    )
    assert [c.lane for c in writer.link([opp, unknown])] == ["cus_A", "cus_HELD"]
