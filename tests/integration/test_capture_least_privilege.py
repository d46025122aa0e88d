"""The integration user, not the administrator, receives Salesforce's change events: the metadata
`stripe2sf metadata` writes for a configuration with [salesforce_to_stripe] on (the CLI, run
as a process) is deployed to the Salesforce sandbox (channel members for Account and Contact,
Stripe2sf_Integration with View All Records on them), the set is assigned to the API-only
integration user as `sf org assign permset --on-behalf-of` does, and stripe2sf's capture logs
in as that user (JWT bearer) and stores a rep's Contact edit. Before the assignment the
sandbox refuses the subscription; fields the set does not grant never arrive."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from salesforce_sandbox.testing import SandboxServer, run_sandbox
from stripe2sf.demo.integration_user import assign_permission_set
from stripe2sf.domain.capture.change import parse_change
from stripe2sf.engine.capture import CdcCapture, ChangeWriter
from stripe2sf.runtime import Runtime
from stripe2sf.salesforce import connect
from stripe2sf.salesforce.pubsub import PubSub, topic_of
from stripe2sf.store.capture import CaptureStore
from stripe2sf.store.tables import events
from tests.integration.test_doctor_capture import settings_for
from tests.support.procs import clean_env

CONFIG = "[salesforce_to_stripe]\nenabled = true\n"


@pytest.fixture(scope="module")
def generated(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """`stripe2sf metadata --out DIR` with [salesforce_to_stripe] on, as the admin runs it."""
    work = tmp_path_factory.mktemp("least-privilege")
    (work / "stripe2sf.toml").write_text(CONFIG)
    env = clean_env()
    env["STRIPE2SF_CONFIG"] = str(work / "stripe2sf.toml")
    subprocess.run(
        [sys.executable, "-m", "stripe2sf", "metadata", "--out", str(work / "sf-metadata")],
        env=env,
        cwd=work,
        check=True,
        capture_output=True,
        timeout=120,
    )
    return work / "sf-metadata"


@pytest.fixture(scope="module")
def org(generated: Path) -> Iterator[SandboxServer]:
    with run_sandbox(metadata=[generated / "force-app"], pubsub_keepalive_seconds=0.3) as server:
        yield server


def _rows(engine: Any) -> list[Any]:
    with engine.connect() as conn:
        query = select(events).where(events.c.source == "cdc").order_by(events.c.id)
        return list(conn.execute(query).all())


def _wait(predicate: Any, what: str, timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


def test_the_integration_user_receives_a_contact_edit(
    generated: Path, org: SandboxServer, tmp_path: Path
) -> None:
    sets = generated / "force-app/main/default/permissionsets"
    assert (
        "<viewAllRecords>true</viewAllRecords>"
        in (sets / "Stripe2sf_Integration.permissionset-meta.xml").read_text()
    )
    assert sorted(org.cdc_selected()) == ["Account", "Contact"]  # the deployed channel members
    settings = settings_for(
        org, tmp_path, capture="cdc", capture_objects=["Account", "Contact"], capture_batch=5
    )
    runtime = Runtime.build(settings)
    admin = org.salesforce()
    contact = admin.Contact.create(
        {"LastName": "Lovelace", "Email": "ada@example.com", "Phone": "555-0100"}
    )["id"]
    store = CaptureStore(runtime.inbox.engine, runtime.inbox)
    topic = topic_of("Contact")

    def capture(until: Any, what: str) -> None:
        stop = threading.Event()
        with connect(settings) as client:
            pubsub = PubSub.from_client(settings, client)
            cdc = CdcCapture(
                ChangeWriter(store, lambda t: True, "62.0"), pubsub, ["Contact"], batch=5
            )
            threads = cdc.run(stop)
            try:
                _wait(until, what)
            finally:
                stop.set()
                for t in threads:
                    t.join(timeout=10)
                pubsub.close()

    # before the assignment: the API-only user may not receive Contact's change events
    refused = _refusal(settings, topic)
    assert "may not subscribe" in refused and "View All" in refused

    assign_permission_set(org.instance_url, org.ca_path)  # as `sf org assign permset` does
    try:
        capture(lambda: _replay_id(store, topic), "the subscription's first position")
        # a rep edits the Contact (the admin session stands for any Salesforce user)
        admin.Contact.update(contact, {"Phone": "555-0199", "Department": "Research"})
        capture(lambda: len(_rows(runtime.engine)) >= 1, "the captured Contact edit")
    finally:
        runtime.close()
    [row] = _rows(runtime.engine)
    change = parse_change(json.loads(row.payload))
    assert row.type == "salesforce.Contact.updated"
    assert change.record_id == contact
    # the integration user reads Phone (sent to Stripe): it arrives with its new value
    assert change.fields["Phone"] == "555-0199" and "Phone" in change.changed
    # Department is not in the set: field-level security keeps it out of the event
    assert change.fields.get("Department") is None and "Department" not in change.changed
    users = admin.query(f"SELECT Id FROM User WHERE Username = '{org.integration_username}'")
    assert change.commit_user != users["records"][0]["Id"]  # the rep's change, not its own


def _replay_id(store: CaptureStore, topic: str) -> str | None:
    """The channel's stored replay id (a first start stores its start time before it
    subscribes: the row alone does not say the subscription is live)."""
    state = store.channel(topic)
    return state.replay_id if state else None


def _refusal(settings: Any, topic: str) -> str:
    with connect(settings) as client:
        pubsub = PubSub.from_client(settings, client)
        try:
            pubsub.topic(topic)
        except Exception as exc:  # PubSubError: what the capture thread would log
            return str(exc)
        finally:
            pubsub.close()
    raise AssertionError("the subscription was allowed before the assignment")
