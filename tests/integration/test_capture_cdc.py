"""Change Data Capture against the Salesforce sandbox's Pub/Sub API (gRPC, TLS with its CA):
a Contact email edited through simple-salesforce becomes one inbox event with the
captured-change envelope, in the linked customer's lane when customer_links knows the Contact,
without a single REST call by stripe2sf; a `stripe2sf capture` process killed (SIGKILL) in the
middle of a stream resumes from the stored replay id with nothing missed and nothing doubled."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from salesforce_sandbox.testing import SandboxServer, run_sandbox
from stripe2sf.domain.capture.change import parse_change
from stripe2sf.domain.matching.links import Link
from stripe2sf.engine.capture import CdcCapture, ChangeWriter
from stripe2sf.metrics import render
from stripe2sf.runtime import Runtime
from stripe2sf.salesforce import connect
from stripe2sf.salesforce.pubsub import PubSub, topic_of
from stripe2sf.settings import Settings
from stripe2sf.store.capture import CaptureStore
from stripe2sf.store.links import Links
from stripe2sf.store.tables import events
from tests.integration.capture_users import as_rep
from tests.integration.salesforce_org import settings_for, write_metadata

TOPIC = topic_of("Contact")


@pytest.fixture(scope="module")
def sandbox(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SandboxServer]:
    metadata = write_metadata(tmp_path_factory.mktemp("capture-metadata"))
    # keepalives every 0.3 s: a new subscription stores its starting position at once
    with run_sandbox(metadata=[metadata], pubsub_keepalive_seconds=0.3) as server:
        server.select_cdc(["Contact"])
        yield server


def _settings(sandbox: SandboxServer, db: Path) -> Settings:
    return settings_for(
        sandbox,
        database_url=f"sqlite:///{db}",
        capture="cdc",
        capture_objects=["Contact"],
        salesforce_pubsub_endpoint=sandbox.pubsub_target,
        capture_batch=5,
    )


def _cdc_rows(engine: Any) -> list[Any]:
    with engine.connect() as conn:
        return list(
            conn.execute(select(events).where(events.c.source == "cdc").order_by(events.c.id)).all()
        )


def _replay_id(store: CaptureStore) -> str | None:
    """The channel's stored replay id (a first start stores its start time before it
    subscribes: the row alone does not say the subscription is live)."""
    state = store.channel(TOPIC)
    return state.replay_id if state else None


def _wait(predicate: Any, what: str, timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


def test_a_contact_email_edit_is_one_inbox_event_with_no_rest_call(
    sandbox: SandboxServer, tmp_path: Path
) -> None:
    settings = _settings(sandbox, tmp_path / "cdc.db")
    runtime = Runtime.build(settings)
    sf = sandbox.salesforce()
    linked = sf.Contact.create({"LastName": "Linked", "Email": "one@example.com"})["id"]
    loose = sf.Contact.create({"LastName": "Loose", "Email": "loose@example.com"})["id"]
    Links(runtime.engine).remember({"cus_CDC1": Link(None, linked, None)})
    store = CaptureStore(runtime.inbox.engine, runtime.inbox)
    stop = threading.Event()
    with connect(settings) as client:
        pubsub = PubSub.from_client(settings, client)
        cdc = CdcCapture(ChangeWriter(store, lambda t: True, "62.0"), pubsub, ["Contact"], batch=5)
        threads = cdc.run(stop)
        try:
            _wait(lambda: _replay_id(store), "the subscription's first position")
            before = sandbox.requests()["by_endpoint"]
            sf.Contact.update(linked, {"Email": "two@example.com"})
            sf.Contact.update(loose, {"Email": "loose2@example.com", "FirstName": "Lo"})
            _wait(lambda: len(_cdc_rows(runtime.engine)) >= 2, "two captured changes")
            after = sandbox.requests()["by_endpoint"]
        finally:
            stop.set()
            for t in threads:
                t.join(timeout=10)
            pubsub.close()
    # the only API calls meanwhile are the test's own two updates: capture made none
    spent = {k: after.get(k, 0) - before.get(k, 0) for k in after}
    assert {k: n for k, n in spent.items() if n} == {"PATCH /sobjects/{sobject}/{id}": 2}
    assert pubsub.rpc_counts.get("Subscribe") == 1 and pubsub.rpc_counts.get("GetSchema") == 1

    first, second = _cdc_rows(runtime.engine)
    assert first.type == "salesforce.Contact.updated" and first.lane == "cus_CDC1"
    change = parse_change(json.loads(first.payload))
    assert change.record_id == linked and change.source == "cdc"
    assert change.fields["Email"] == "two@example.com" and "Email" in change.changed
    assert change.customer_id == "cus_CDC1" and change.commit_user
    assert first.event_id == change.event_id == f"sf:cdc:Contact:{linked}:{change.position}"
    other = parse_change(json.loads(second.payload))
    assert second.lane == f"sf:{loose}"
    assert other.fields["FirstName"] == "Lo" and other.fields["Email"] == "loose2@example.com"
    state = store.channel(TOPIC)
    assert state is not None and state.replay_id == other.extra["replay_id"]
    exposition = render().decode()
    assert 'stripe2sf_capture_events_total{entity="Contact",source="cdc"}' in exposition
    assert 'stripe2sf_capture_lag_seconds{source="cdc"}' in exposition
    runtime.close()


def _env(settings: Settings, sandbox: SandboxServer) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SALESFORCE_", "STRIPE"))}
    env.update(
        {
            "SALESFORCE_LOGIN_URL": sandbox.instance_url,
            "SALESFORCE_USERNAME": sandbox.username,
            "SALESFORCE_PASSWORD": sandbox.password,
            "SALESFORCE_SECURITY_TOKEN": sandbox.security_token,
            "SALESFORCE_CA_BUNDLE": str(sandbox.ca_path),
            "SALESFORCE_PUBSUB_ENDPOINT": sandbox.pubsub_target,
            "STRIPE2SF_DATABASE_URL": settings.database_url,
            "STRIPE2SF_CAPTURE": "cdc",
            "STRIPE2SF_CAPTURE_OBJECTS": "Contact",
            "STRIPE2SF_CAPTURE_BATCH": "3",
        }
    )
    return env


def _start(env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "stripe2sf", "capture"],
        env=env,
        stdout=log.open("ab"),
        stderr=subprocess.STDOUT,
    )


def test_a_killed_capture_process_resumes_with_nothing_lost_or_doubled(
    sandbox: SandboxServer, tmp_path: Path
) -> None:
    settings = _settings(sandbox, tmp_path / "kill.db")
    runtime = Runtime.build(settings)  # migrates; the process shares the file
    store = CaptureStore(runtime.inbox.engine, runtime.inbox)
    env = _env(settings, sandbox)
    log = tmp_path / "capture.log"
    sf = as_rep(sandbox)  # the process drops its own user's (the admin's) changes
    contact = sf.Contact.create({"LastName": "Kill", "Email": "k0@example.com"})["id"]
    total = 24
    process = _start(env, log)
    try:
        _wait(lambda: _replay_id(store), "the process's first position", 60)
        for i in range(1, 9):
            sf.Contact.update(contact, {"Email": f"k{i}@example.com"})
        _wait(lambda: len(_cdc_rows(runtime.engine)) >= 3, "some changes captured")
        process.send_signal(signal.SIGKILL)  # mid-stream: changes are still arriving
        process.wait(timeout=10)
        for i in range(9, total + 1):  # while nobody listens
            sf.Contact.update(contact, {"Email": f"k{i}@example.com"})
        stored_before_restart = len(_cdc_rows(runtime.engine))
        assert stored_before_restart < total
        process = _start(env, log)
        _wait(lambda: len(_cdc_rows(runtime.engine)) >= total, "every change", 60)
        time.sleep(0.5)  # a doubled change would arrive now
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
    rows = _cdc_rows(runtime.engine)
    emails = Counter(parse_change(json.loads(r.payload)).fields.get("Email") for r in rows)
    assert emails == Counter({f"k{i}@example.com": 1 for i in range(1, total + 1)}), log.read_text()
    assert len({r.event_id for r in rows}) == total
    last = parse_change(json.loads(rows[-1].payload))
    state = store.channel(TOPIC)
    assert state is not None and state.replay_id is not None
    assert int(state.replay_id, 16) >= int(last.extra["replay_id"], 16)
    runtime.close()


def test_an_expired_session_logs_in_again_and_capture_goes_on(
    sandbox: SandboxServer, tmp_path: Path
) -> None:
    settings = _settings(sandbox, tmp_path / "relogin.db")
    runtime = Runtime.build(settings)
    store = CaptureStore(runtime.inbox.engine, runtime.inbox)
    sf = sandbox.salesforce()
    contact = sf.Contact.create({"LastName": "Expired", "Email": "e0@example.com"})["id"]
    stop = threading.Event()
    with connect(settings) as client:
        pubsub = PubSub.from_client(settings, client)
        pubsub.metadata()  # credentials read now, then the session expires
        assert sandbox.expire_sessions() >= 1
        logins = dict(client.usage().calls).get(("login", "ok"), 0)
        cdc = CdcCapture(ChangeWriter(store, lambda t: True, "62.0"), pubsub, ["Contact"])
        threads = cdc.run(stop)
        try:
            _wait(lambda: _replay_id(store), "a subscription after logging in")
            sf.Contact.update(contact, {"Email": "e1@example.com"})
            _wait(lambda: len(_cdc_rows(runtime.engine)) == 1, "the change")
        finally:
            stop.set()
            for t in threads:
                t.join(timeout=10)
            pubsub.close()
        assert dict(client.usage().calls).get(("login", "ok"), 0) == logins + 1
    assert parse_change(json.loads(_cdc_rows(runtime.engine)[0].payload)).record_id == contact
    runtime.close()
