"""Polling capture against the Salesforce sandbox: a Contact edited through simple-salesforce is
found by the next round as one inbox event with the captured-change envelope (the linked
customer's lane when customer_links knows the Contact), at one API call per round; a round with
no change stores nothing."""

from __future__ import annotations

import json
import re
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import typer
from fastapi.testclient import TestClient
from sqlalchemy import select

from salesforce_sandbox.testing import SandboxServer
from stripe2sf.cli_capture import ONCE_WHOAMI_TRIES, _poll_once
from stripe2sf.domain.capture.change import parse_change
from stripe2sf.domain.matching.links import Link
from stripe2sf.engine.capture import ChangeWriter, Poller
from stripe2sf.runtime import Runtime
from stripe2sf.salesforce import connect
from stripe2sf.store.capture import CaptureStore
from stripe2sf.store.links import Links
from stripe2sf.store.tables import events
from stripe2sf.web.app import create_app
from stripe2sf.web.dashboard.auth import hash_password
from tests.integration.capture_users import as_rep
from tests.integration.salesforce_org import org, salesforce_org, settings_for  # noqa: F401


@pytest.fixture
def runtime(org: SandboxServer, tmp_path: Path) -> Iterator[Runtime]:  # noqa: F811
    settings = settings_for(
        org,
        database_url=f"sqlite:///{tmp_path / 'capture.db'}",
        capture="poll",
        capture_objects=["Contact", "Account"],
        capture_poll_seconds=0.2,
        capture_poll_overlap_seconds=5,
        dashboard_users=[f"olga:operator:{hash_password('olga-pass', n=2**12)}"],
    )
    rt = Runtime.build(settings)
    yield rt
    rt.close()


def _poller(rt: Runtime, client, start_ms: int | None = None) -> Poller:  # type: ignore[no-untyped-def]
    store = CaptureStore(rt.inbox.engine, rt.inbox)
    writer = ChangeWriter(store, lambda t: True, rt.settings.salesforce_api_version)
    return Poller(
        writer,
        client,
        rt.settings.capture_objects,
        overlap_seconds=rt.settings.capture_poll_overlap_seconds,
        minimum_seconds=rt.settings.capture_poll_seconds,
    )


def _captured(rt: Runtime) -> list:  # type: ignore[type-arg]
    with rt.engine.connect() as conn:
        return list(
            conn.execute(
                select(events).where(events.c.source == "poll").order_by(events.c.id)
            ).all()
        )


def test_a_contact_email_edit_is_one_inbox_event_in_its_customers_lane(
    runtime: Runtime,
    org: SandboxServer,  # noqa: F811
) -> None:
    sf = org.salesforce()
    contact = sf.Contact.create({"LastName": "Poll", "Email": "before@example.com"})["id"]
    Links(runtime.engine).remember({"cus_POLL1": Link(None, contact, None)})
    with connect(runtime.settings) as client:
        poller = _poller(runtime, client)
        first = poller.round()  # polling begins: what changed before is remembered only
        assert first.added == 0 and first.calls == 1  # one Composite call for 2 objects
        time.sleep(1.1)  # SystemModstamp has second precision in SOQL windows
        sf.Contact.update(contact, {"Email": "after@example.com"})
        second = poller.round()
        assert second.added == 1
        assert second.calls == 1
        third = poller.round()  # the same stamp again (the window overlaps): nothing new
        assert third.added == 0
    [row] = _captured(runtime)
    assert row.type == "salesforce.Contact.updated"
    assert row.lane == "cus_POLL1"
    assert row.state == "pending"
    change = parse_change(json.loads(row.payload))
    assert change.record_id == contact and change.source == "poll"
    assert change.changed == ("Email",) and change.fields == {"Email": "after@example.com"}
    assert change.customer_id == "cus_POLL1" and change.commit_user
    assert row.event_id == change.event_id


def test_polling_loop_picks_up_a_change_within_an_interval_and_counts_its_calls(
    runtime: Runtime,
    org: SandboxServer,  # noqa: F811
) -> None:
    sf = org.salesforce()
    with connect(runtime.settings) as client:
        poller = _poller(runtime, client)
        stop = threading.Event()
        thread = threading.Thread(target=poller.run, args=(stop,), daemon=True)
        thread.start()
        try:
            deadline = time.monotonic() + 10
            while poller.calls == 0:  # the first round: polling has begun
                assert time.monotonic() < deadline
                time.sleep(0.05)
            created = sf.Contact.create({"LastName": "New", "Email": "n@example.com"})["id"]
            while not _captured(runtime):
                assert time.monotonic() < deadline, "no change captured"
                time.sleep(0.05)
        finally:
            stop.set()
            thread.join(timeout=5)
        rounds_calls = poller.calls
        capture_calls = sum(
            n for (kind, _), n in dict(client.usage().calls).items() if kind == "capture"
        )
    [row] = _captured(runtime)
    assert row.type == "salesforce.Contact.created" and row.lane == f"sf:{created}"
    change = parse_change(json.loads(row.payload))
    assert change.fields["LastName"] == "New" and "Email" in change.changed
    # every call polling made is one Composite round (two objects in one call)
    assert rounds_calls == capture_calls and rounds_calls >= 2


def test_serve_captures_when_capture_is_on(
    runtime: Runtime,
    org: SandboxServer,  # noqa: F811
) -> None:
    sf = as_rep(org)  # serve's capture drops its own user's (the admin's) changes
    with TestClient(create_app(runtime)) as web:
        deadline = time.monotonic() + 20
        store = CaptureStore(runtime.inbox.engine, runtime.inbox)
        while not store.watermarks():  # the first round: polling has begun
            assert time.monotonic() < deadline
            time.sleep(0.05)
        account = sf.Account.create({"Name": "Served"})["id"]
        while not _captured(runtime):
            assert time.monotonic() < deadline, "serve captured nothing"
            time.sleep(0.05)
        org.salesforce().Contact.create({"LastName": "Own"})  # serve's own user: dropped
        while ("poll:Contact", "own") not in store.counters():
            assert time.monotonic() < deadline, "serve's own change not counted"
            time.sleep(0.05)
        # the overview says how changes are captured, how many, and the own ones dropped
        form = web.get("/login").text
        token = re.search(r'name="csrf" value="([^"]+)"', form)
        assert token is not None
        login = {"username": "olga", "password": "olga-pass", "csrf": token[1]}
        web.post("/login", data=login)
        overview = web.get("/").text
        panel = overview[overview.index("Salesforce changes to Stripe") :]
        assert 'data-testid="capture-state">polling<' in panel
        stored = re.search(r'data-testid="capture-stored">([\d,]+)<', panel)
        assert stored is not None and int(stored[1].replace(",", "")) >= 1
        assert 'data-testid="capture-own">1<' in panel
        assert 'data-testid="capture-recoveries">0<' in panel
    [row] = _captured(runtime)
    assert row.type == "salesforce.Account.created" and row.lane == f"sf:{account}"


def test_once_gives_up_when_userinfo_keeps_failing(
    runtime: Runtime,
    org: SandboxServer,  # noqa: F811
    capsys: pytest.CaptureFixture[str],
) -> None:
    """`stripe2sf capture --once` cannot tell its own changes without userinfo: after a few
    tries it exits 2 saying why and what to do, polling nothing (the loop would wait)."""
    expired = "00D000000000001!expired"  # userinfo answers 401; a given session cannot re-login
    with connect(settings_for(org, "session"), session_id=expired) as client:
        with pytest.raises(typer.Exit) as exited:
            _poll_once(runtime.settings, runtime, client, whoami_wait=0)
        calls = dict(client.usage().calls)
    assert exited.value.exit_code == 2
    said = " ".join(capsys.readouterr().err.split())
    assert f"userinfo failed {ONCE_WHOAMI_TRIES} times" in said
    assert "STRIPE2SF_CAPTURE_OWN_CHANGES=keep" in said
    assert sum(n for (kind, _), n in calls.items() if kind == "identity") == ONCE_WHOAMI_TRIES
    assert CaptureStore(runtime.inbox.engine, runtime.inbox).watermarks() == []
