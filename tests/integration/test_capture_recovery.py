"""Change Data Capture never silently misses a change (against the Salesforce sandbox's Pub/Sub
API): a first start killed before its first position catches up at the next start; a replay id
Salesforce refuses is forgotten and caught up by polling; a GAP_UPDATE event is stored with
the record's current values; a GAP_OVERFLOW event runs a catch-up round; stripe2sf's own
changes are dropped and counted while the position moves on. Edits that must be captured are
made as a sales rep (the capture runs as the admin, stripe2sf's own user here).

The sandbox's keepalives are far apart (60 s): a stream answers only when a change comes, so
each test knows exactly when a subscription has stored its first position. A test that needs
a live stream "pokes" (a rep edit of another Contact) until the stream has answered."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from simple_salesforce import Salesforce
from sqlalchemy import select

from salesforce_sandbox.testing import SandboxServer, run_sandbox
from stripe2sf.domain.capture.change import SalesforceChange, parse_change
from stripe2sf.domain.capture.polling import parse_datetime_ms
from stripe2sf.engine.capture import CdcCapture, ChangeWriter, Poller
from stripe2sf.engine.capture_recovery import CatchUpReader
from stripe2sf.engine.capture_status import capture_lines, capture_status
from stripe2sf.metrics import render
from stripe2sf.runtime import Runtime
from stripe2sf.salesforce import connect
from stripe2sf.salesforce.client import SalesforceClient
from stripe2sf.salesforce.pubsub import PubSub, topic_of
from stripe2sf.settings import Settings
from stripe2sf.store.capture import CaptureStore
from stripe2sf.store.tables import events
from tests.integration.capture_users import as_rep
from tests.integration.salesforce_org import settings_for, write_metadata

TOPIC = topic_of("Contact")
DEADLINE = 30.0  # for what must come; never a timing assertion


@pytest.fixture(scope="module")
def sandbox(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SandboxServer]:
    metadata = write_metadata(tmp_path_factory.mktemp("recovery-metadata"))
    with run_sandbox(metadata=[metadata], pubsub_keepalive_seconds=60) as server:
        server.select_cdc(["Contact"])
        yield server


@pytest.fixture(scope="module")
def rep(sandbox: SandboxServer) -> Salesforce:
    return as_rep(sandbox)


class Capture:
    """A CdcCapture of Contact as the admin (its own user), started and stopped by the test."""

    def __init__(self, sandbox: SandboxServer, db: Path) -> None:
        self.settings: Settings = settings_for(
            sandbox,
            database_url=f"sqlite:///{db}",
            capture="cdc",
            capture_objects=["Contact"],
            salesforce_pubsub_endpoint=sandbox.pubsub_target,
        )
        self.runtime = Runtime.build(self.settings)
        self.store = CaptureStore(self.runtime.inbox.engine, self.runtime.inbox)
        self.client: SalesforceClient = connect(self.settings)
        self.own = str(self.client.userinfo()["user_id"])
        self.stop = threading.Event()
        self.threads: list[threading.Thread] = []
        self.pubsub: PubSub | None = None

    def start(self) -> None:
        self.stop = threading.Event()
        self.pubsub = PubSub.from_client(self.settings, self.client)
        self.pubsub.backoff_base = 0.05
        writer = ChangeWriter(self.store, lambda t: True, "62.0", (self.own,))
        cdc = CdcCapture(
            writer, self.pubsub, ["Contact"], reader=CatchUpReader(self.client), batch=10
        )
        self.threads = cdc.run(self.stop)

    def kill(self) -> None:
        self.stop.set()
        for t in self.threads:
            t.join(timeout=10)
        if self.pubsub is not None:
            self.pubsub.close()

    def close(self) -> None:
        self.kill()
        self.client.close()
        self.runtime.close()

    def changes(self) -> list[SalesforceChange]:
        with self.runtime.engine.connect() as conn:
            rows = conn.execute(select(events.c.payload).order_by(events.c.id)).all()
        return [parse_change(json.loads(r.payload)) for r in rows]

    def of(self, record_id: str) -> list[SalesforceChange]:
        return [c for c in self.changes() if c.record_id == record_id]

    def replay_id(self) -> str | None:
        state = self.store.channel(TOPIC)
        return state.replay_id if state else None


@pytest.fixture
def capture(sandbox: SandboxServer, tmp_path: Path) -> Iterator[Capture]:
    made = Capture(sandbox, tmp_path / "capture.db")
    yield made
    made.close()


def _until(what: str, done: Callable[[], Any], poke: Callable[[], object] | None = None) -> Any:
    deadline = time.monotonic() + DEADLINE
    while True:
        found = done()
        if found:
            return found
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        if poke is not None:
            poke()
        time.sleep(0.3)


def _poker(rep: Salesforce) -> Callable[[], object]:
    contact = rep.Contact.create({"LastName": "Poke"})["id"]
    count = iter(range(1_000_000))
    return lambda: rep.Contact.update(contact, {"Title": f"poke {next(count)}"})


def test_a_first_start_killed_before_its_first_position_catches_up_at_the_next_start(
    capture: Capture, rep: Salesforce
) -> None:
    contact = rep.Contact.create({"LastName": "Early", "Email": "e0@example.com"})["id"]
    capture.start()
    _until("the start position, stored before subscribing", lambda: capture.store.channel(TOPIC))
    capture.kill()  # before any event or keepalive: no replay id was ever stored
    assert capture.replay_id() is None
    rep.Contact.update(contact, {"Email": "e1@example.com"})  # while nobody listens

    capture.start()
    poke = _poker(rep)
    _until("the restarted stream's first position", capture.replay_id, poke)
    (caught,) = _until("the missed edit", lambda: capture.of(contact))
    assert caught.source == "poll" and caught.fields["Email"] == "e1@example.com"
    assert caught.commit_user and caught.commit_user != capture.own
    status = capture_status(capture.settings, capture.runtime.engine)
    (channel,) = status["channels"]
    assert channel["recoveries"] == 1 and channel["replay_id"] == capture.replay_id()
    assert "1 recoveries" in "\n".join(capture_lines(status))
    assert 'stripe2sf_capture_recoveries_total{entity="Contact",reason="restart"}' in (
        render().decode()
    )


def test_a_replay_id_salesforce_refuses_is_forgotten_and_caught_up(
    capture: Capture, rep: Salesforce
) -> None:
    contact = rep.Contact.create({"LastName": "Expired", "Email": "x0@example.com"})["id"]
    # a position from long ago: its replay id is outside what the org keeps (as one older
    # than the 72 h retention is), and the newest change stored is from before the edit
    gone = (2**40).to_bytes(8, "big").hex()
    complete_to = int(time.time() * 1000) - 2_000
    capture.store.store(
        [], datetime.now(UTC), channel=TOPIC, replay_id=gone, last_commit_ms=complete_to
    )
    rep.Contact.update(contact, {"Email": "x1@example.com"})  # lost to the stream

    capture.start()
    poke = _poker(rep)
    _until("a valid position", lambda: capture.replay_id() not in (None, gone), poke)
    (caught,) = _until("the edit the stream could not give", lambda: capture.of(contact))
    assert caught.source == "poll" and caught.fields["Email"] == "x1@example.com"
    assert (
        capture_status(capture.settings, capture.runtime.engine)["channels"][0]["recoveries"] == 1
    )


def _live(capture: Capture, rep: Salesforce) -> None:
    capture.start()
    _until("the stream's first position", capture.replay_id, _poker(rep))


def test_a_gap_update_is_stored_with_the_records_current_values(
    capture: Capture, rep: Salesforce, sandbox: SandboxServer
) -> None:
    contact = rep.Contact.create({"LastName": "Gap", "Email": "g0@example.com"})["id"]
    _live(capture, rep)
    sandbox.control_call("POST", "cdc", {"gap": {"Contact": 1}})
    try:
        rep.Contact.update(contact, {"Email": "g1@example.com", "Phone": "555-0101"})
        (change,) = _until("the gap change", lambda: capture.of(contact))
    finally:
        sandbox.control_call("POST", "cdc", {"gap": {"Contact": 0}})
    assert change.source == "cdc" and change.change == "updated"
    assert change.extra["gap"] and change.extra["gap_filled"]
    assert change.fields["Email"] == "g1@example.com" and change.fields["Phone"] == "555-0101"
    assert change.fields["LastName"] == "Gap" and set(change.changed) == set(change.fields)


def test_a_gap_overflow_runs_a_catch_up_round_for_the_object(
    capture: Capture, rep: Salesforce, sandbox: SandboxServer
) -> None:
    _live(capture, rep)
    sandbox.control_call("POST", "cdc", {"overflow_threshold": 1})
    try:
        records = [
            {"attributes": {"type": "Contact"}, "LastName": f"Bulk{i}", "Email": f"b{i}@x.com"}
            for i in range(4)
        ]
        ids = [
            r["id"]
            for r in rep.restful("composite/sobjects", method="POST", json={"records": records})
        ]
        _until("every record of the transaction", lambda: all(capture.of(i) for i in ids))
    finally:
        sandbox.control_call("POST", "cdc", {"overflow_threshold": 0})
    # the first change came as an event (the catch-up, which reads the object's changes since
    # the overflow's commit minus the overlap, finds it too); the others only by the catch-up
    assert "cdc" in {c.source for c in capture.of(ids[0])}
    for i, record in enumerate(ids[1:], start=1):
        (change,) = capture.of(record)
        assert change.source == "poll" and change.fields["Email"] == f"b{i}@x.com"
    status = capture_status(capture.settings, capture.runtime.engine)
    assert status["channels"][0]["recoveries"] == 1


def test_own_changes_are_dropped_and_counted_and_the_position_moves_on(
    capture: Capture, rep: Salesforce, sandbox: SandboxServer
) -> None:
    contact = rep.Contact.create({"LastName": "Own", "Email": "o0@example.com"})["id"]
    _live(capture, rep)
    admin = sandbox.salesforce()  # the capture's own user
    before = capture.replay_id()
    admin.Contact.update(contact, {"Email": "mine@example.com"})
    _until("the position past the own change", lambda: capture.replay_id() != before)
    rep.Contact.update(contact, {"Email": "theirs@example.com"})
    (change,) = _until("the rep's change", lambda: capture.of(contact))
    assert change.fields["Email"] == "theirs@example.com"
    assert all(c.fields.get("Email") != "mine@example.com" for c in capture.changes())
    status = capture_status(capture.settings, capture.runtime.engine)
    assert status["channels"][0]["own_changes_dropped"] == 1
    assert "1 own changes dropped" in "\n".join(capture_lines(status))
    assert 'stripe2sf_capture_own_changes_total{entity="Contact"}' in render().decode()


def test_a_refused_replay_id_is_forgotten_keeping_where_the_channel_was_complete(
    capture: Capture,
) -> None:
    # a channel that only ever stored keepalives: complete up to the last one it saved
    saved = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)
    capture.store.store([], saved, channel=TOPIC, replay_id="00000000000000aa")
    capture.store.forget_replay(TOPIC)
    state = capture.store.channel(TOPIC)
    assert state is not None and state.replay_id is None
    assert state.last_commit_ms == int(saved.timestamp() * 1000)


def test_polling_drops_own_changes_too(
    capture: Capture, rep: Salesforce, sandbox: SandboxServer
) -> None:
    contact = rep.Contact.create({"LastName": "Polled", "Email": "p0@example.com"})["id"]
    # polling begins 1 ms after the Contact's stamp, not at this process's clock: one loaded CI
    # run saw the creation reported as made after polling began (cause not found)
    stamp = parse_datetime_ms(rep.Contact.get(contact)["SystemModstamp"])
    capture.store.watermark("Contact", stamp + 1)
    writer = ChangeWriter(capture.store, lambda t: True, "62.0", (capture.own,))
    poller = Poller(writer, capture.client, ["Contact"], overlap_seconds=0)
    poller.round()
    time.sleep(1.1)  # SystemModstamp has whole seconds in its window (not an assertion)
    sandbox.salesforce().Contact.update(contact, {"Email": "admin@example.com"})
    other = rep.Contact.create({"LastName": "Other", "Email": "p1@example.com"})["id"]
    poller.round()
    assert capture.of(contact) == [] and [c.change for c in capture.of(other)] == ["created"]
    status = capture_status(capture.settings, capture.runtime.engine)
    (polled,) = status["polling"]
    assert polled["own_changes_dropped"] == 1
