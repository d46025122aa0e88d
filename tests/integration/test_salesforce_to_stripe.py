"""Salesforce-owned fields -> Stripe, end to end: both sandboxes, stripe2sf's app and worker.

The capture (CDC / polling -> inbox) is not under test here: each test puts the captured
change into the inbox as the capture does (`SalesforceChange` -> `NewEvent`), after making the
same edit in the Salesforce org, and lets the running worker apply it. Stripe's own events
come back through the webhook as usual.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from stripe2sf.domain.capture.change import SalesforceChange
from stripe2sf.domain.flows.handled import HANDLED_TYPES
from stripe2sf.engine.doctor import whoami
from stripe2sf.store.audit_trail import AuditTrail
from stripe2sf.store.capture import to_new_event
from tests.support.sync_env import SyncEnv, sync_env

CONFIG = """
[salesforce_to_stripe]
enabled = true

[ownership]
"Contact.Email" = "create_only"     # set from Stripe on creation, then Salesforce's
"Account.BillingCity" = "stripe"    # so one mapped field stays Stripe's (never sent)
"""
REP = "005000000000REPAAA"
UPDATE = "POST /v1/customers/{id}"


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SyncEnv]:
    tmp = tmp_path_factory.mktemp("reverse")
    config = tmp / "stripe2sf.toml"
    config.write_text(CONFIG)
    with sync_env(f"sqlite:///{tmp / 'stripe2sf.db'}", config_path=config) as e:
        yield e


class Customer:
    """A Stripe customer synced to Salesforce, with its Contact and Account Ids."""

    def __init__(self, env: SyncEnv, email: str) -> None:
        self.env = env
        self.id = str(env.client.v1.customers.create({"email": email, "name": "Acme"}).id)
        env.drain()
        [contact] = env.query(
            f"SELECT Id, AccountId, Email FROM Contact WHERE Stripe_Customer_Id__c = '{self.id}'"
        )
        self.contact_id, self.account_id = contact["Id"], contact["AccountId"]
        self.n = 0

    def stripe(self) -> dict[str, Any]:
        return dict(self.env.client.v1.customers.retrieve(self.id).to_dict())

    def contact_email(self) -> str:
        [row] = self.env.query(f"SELECT Email FROM Contact WHERE Id = '{self.contact_id}'")
        return str(row["Email"])

    def captured(
        self,
        fields: dict[str, Any],
        *,
        entity: str = "Contact",
        user: str = REP,
        source: str = "cdc",
        with_customer: bool = False,
    ) -> SalesforceChange:
        """The change the capture would store for this edit, put in the inbox."""
        self.n += 1
        change = SalesforceChange(
            entity=entity,
            change="updated",
            record_id=self.contact_id if entity == "Contact" else self.account_id,
            fields=fields,
            changed=tuple(fields),
            commit_ts_ms=int(time.time() * 1000),
            source=source,  # type: ignore[arg-type]
            position=f"tx{self.n}:{self.id}",
            commit_user=user,
            customer_id=self.id if with_customer else None,
        )
        assert deliver(self.env, change)
        return change


def deliver(env: SyncEnv, change: SalesforceChange) -> bool:
    """Store the change as the capture does; False when the inbox already had it."""
    assert env.runtime.registry.handles(change.type)
    event = to_new_event(change, handled=True, api_version=None)
    return env.runtime.inbox.add_many([event], datetime.now(UTC))[0]


def counts(env: SyncEnv) -> tuple[int, int]:
    """(Stripe customer updates, Salesforce writes) made so far."""
    stripe_updates = env.stripe.stats()["requests"].get(UPDATE, 0)
    by_endpoint = env.salesforce.requests()["by_endpoint"]
    writes = sum(n for k, n in by_endpoint.items() if not k.startswith("GET"))
    return stripe_updates, writes


def audit(env: SyncEnv, event_id: str) -> list[dict[str, Any]]:
    return AuditTrail(env.runtime.engine).rows(event_id=event_id)


def test_a_rep_edit_reaches_stripe_once_and_nothing_bounces(env: SyncEnv) -> None:
    customer = Customer(env, "first@acme.test")
    env.sf.Contact.update(customer.contact_id, {"Email": "rep@acme.test"})
    before = counts(env)
    change = customer.captured({"Email": "rep@acme.test"})
    env.drain()
    assert customer.stripe()["email"] == "rep@acme.test"
    # exactly one Stripe update; its customer.updated came back and wrote nothing to Salesforce
    stripe_updates, sf_writes = counts(env)
    assert (stripe_updates - before[0], sf_writes - before[1]) == (1, 0)
    [write] = [r for r in audit(env, change.event_id) if r["action"] == "update"]
    assert write["sobject"] == "stripe.customer" and write["external_id"] == customer.id
    assert write["outcome"] == "ok" and json.loads(write["fields"]) == ["email"]
    echoes = [
        e
        for e in env.stripe.client().v1.events.list({"type": "customer.updated", "limit": 100})
        if e.data.object["id"] == customer.id
    ]
    assert echoes and str(echoes[0].request.idempotency_key).startswith("stripe2sf-")
    echo_id = echoes[0].id
    assert env.runtime.inbox.get(echo_id) is not None  # the echo came in ...
    skipped = [r for r in audit(env, echo_id) if r["action"] == "skipped"]
    assert any("echo" in (r["error"] or "") for r in skipped)  # ... and was left alone
    assert customer.contact_email() == "rep@acme.test"

    # the same change delivered again (a redelivery), and captured by polling as well
    assert not deliver(env, change)
    customer.captured({"Email": "rep@acme.test"}, source="poll", with_customer=True)
    # and stripe2sf's own Salesforce user's change (its own write captured): an echo
    own = whoami(env.runtime.salesforce.client)[1]  # type: ignore[union-attr]
    assert own
    mine = customer.captured({"Email": "mine@acme.test"}, user=own)
    env.drain()
    assert counts(env) == (stripe_updates, sf_writes)  # no further write either way
    assert customer.stripe()["email"] == "rep@acme.test"
    [skip] = audit(env, mine.event_id)
    assert skip["action"] == "skipped" and skip["error"].startswith("echo:")


def test_a_stripe_500_is_retried_with_the_same_key_and_applied_once(env: SyncEnv) -> None:
    customer = Customer(env, "retry@acme.test")
    before = counts(env)[0]
    # the SDK tries 3 times (2 retries): all fail, the worker retries the event later
    env.stripe.faults(
        api_outage=[{"path": f"/v1/customers/{customer.id}", "method": "POST", "count": 3}]
    )
    change = customer.captured({"Phone": "+33 1 02 03 04 05"})
    env.drain()
    env.stripe.clear_faults()
    assert customer.stripe()["phone"] == "+33 1 02 03 04 05"
    row = env.runtime.inbox.row(change.event_id)
    assert row is not None and row["state"] == "done" and row["attempts"] == 2
    assert counts(env)[0] - before == 4  # 3 refused, 1 applied
    phone_events = [
        e
        for e in env.stripe.client().v1.events.list({"type": "customer.updated", "limit": 100})
        if e.data.object["id"] == customer.id
    ]
    assert len(phone_events) == 1


def test_a_conflict_is_resolved_by_ownership_and_audited(env: SyncEnv) -> None:
    customer = Customer(env, "conflict@acme.test")
    # a colleague edits the email in Stripe while a rep edits it in Salesforce
    env.client.v1.customers.update(customer.id, {"email": "colleague@acme.test"})
    env.sf.Contact.update(customer.contact_id, {"Email": "owner@acme.test"})
    customer.captured({"Email": "owner@acme.test"})
    env.drain()
    assert customer.stripe()["email"] == "owner@acme.test"
    assert customer.contact_email() == "owner@acme.test"
    rows = AuditTrail(env.runtime.engine).rows(customer_id=customer.id)
    [conflict] = [r for r in rows if r["action"] == "conflict"]
    assert "colleague@acme.test" in conflict["error"] and "owner@acme.test" in conflict["error"]
    assert "kept Salesforce's value" in conflict["error"]
    # a later Stripe edit alone is put back too: both systems keep the owner's value
    env.client.v1.customers.update(customer.id, {"email": "again@acme.test"})
    env.drain()
    assert customer.stripe()["email"] == "owner@acme.test"
    assert customer.contact_email() == "owner@acme.test"


def test_a_stripe_owned_field_is_not_sent_and_an_invalid_value_is_a_readable_dead_letter(
    env: SyncEnv,
) -> None:
    customer = Customer(env, "owned@acme.test")
    before = counts(env)[0]
    city = customer.captured({"BillingCity": "Lyon"}, entity="Account")
    env.drain()
    assert counts(env)[0] == before
    [skip] = audit(env, city.event_id)
    assert "Account.BillingCity" in skip["error"] and "Stripe owns it" in skip["error"]

    bad = customer.captured({"Email": "not an email"})
    env.drain()
    row = env.runtime.inbox.row(bad.event_id)
    assert row is not None and row["state"] == "dead"
    assert "Invalid email address: not an email" in row["last_error"]
    assert "correct Contact.Email in Salesforce" in row["last_error"]
    assert customer.stripe()["email"] == "owned@acme.test"


def test_mapping_document_shows_both_directions(env: SyncEnv, tmp_path: Path) -> None:
    from stripe2sf.domain.setup.mapping_doc import to_markdown
    from stripe2sf.settings import load_sync_config

    text = to_markdown(load_sync_config(env.runtime.settings))
    assert "| customer.email | Stripe customer field | Contact.Email |" in text
    assert "salesforce -> stripe" in text and "stripe -> salesforce" in text


def test_a_wave_of_stripe_events_stays_one_batch_with_the_conflict_check_on(env: SyncEnv) -> None:
    """The worker gives a wave to each distinct handler: customer.updated (checked for
    conflicts) and the other Stripe types must share one, or a customer's burst costs two
    Salesforce round trips; the dashboard's dry-run plan still reaches the sync handler."""
    registry = env.runtime.registry
    handlers = {id(registry.get(t)) for t in HANDLED_TYPES}
    assert len(handlers) == 1
    guard = registry.get("customer.updated")
    assert callable(getattr(guard, "plan_event", None))
