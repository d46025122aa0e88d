"""Every reference event stripe2sf handles parses and plans, whatever its API version.

The events under ../shared/reference/stripe/events were captured by other projects from
API versions 2016..2026. Full envelopes carry their type; the pay-rails files are the
`data` part only, so their type comes from the file name.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from stripe2sf.domain.batch.calls import batch
from stripe2sf.domain.config import SyncConfig
from stripe2sf.domain.events import parse_event
from stripe2sf.domain.flows.handled import HANDLED_TYPES
from stripe2sf.domain.flows.planner import plan
from stripe2sf.domain.setup.schema import required_fields
from stripe2sf.domain.stripe_views import (
    charge_view,
    customer_view,
    dispute_view,
    invoice_view,
    payment_intent_view,
    payment_method_view,
    subscription_view,
)
from tests.support.reference import STRIPE_EVENTS
from tests.unit.test_domain_support import FakeOrg, account_row, contact_row, gather

EVENTS = STRIPE_EVENTS
PAY_RAILS_TYPES = {
    "subscription.created.json": "customer.subscription.created",
    "subscription.updated.json": "customer.subscription.updated",
    "subscription.deleted.json": "customer.subscription.deleted",
    "subscription.trial_will_end.json": "customer.subscription.trial_will_end",
}


def _cases() -> list[tuple[str, str]]:
    if not (EVENTS / "manifest.json").exists():
        return []
    cases = []
    for entry in json.loads((EVENTS / "manifest.json").read_text()):
        file = entry["file"]
        etype = entry.get("event_type")
        if file.startswith("pay-rails/"):
            name = file.split("/", 1)[1]
            etype = PAY_RAILS_TYPES.get(name, name.removesuffix(".json"))
        if etype in HANDLED_TYPES:
            cases.append((file, etype))
    return cases


CASES = _cases()


def test_the_reference_set_is_there_and_covers_every_flow() -> None:
    assert len(CASES) >= 40
    covered = {etype for _, etype in CASES}
    for must in (
        "charge.succeeded",
        "invoice.payment_failed",
        "customer.subscription.updated",
        "charge.dispute.created",
        "payment_method.attached",
        "customer.deleted",
    ):
        assert must in covered


def _load(file: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((EVENTS / file).read_text())
    return data


@pytest.mark.parametrize(("file", "etype"), CASES, ids=[c[0] for c in CASES])
def test_parses_and_plans_with_default_and_existing_account_context(file: str, etype: str) -> None:
    raw = _load(file)
    view = parse_event(raw, event_type=etype)
    assert view.type == etype
    config = SyncConfig()

    empty = plan(view, None, config)
    json.loads(empty.to_json())
    assert empty.render().startswith(f"Plan for {etype}")
    batch(empty.operations)

    customer_id = view.customer_id or "cus_unknown"
    org = FakeOrg(
        stripe={view.object_id or "x": dict(view.object)},
        accounts=[account_row(customer_id=customer_id)],
        contacts=[contact_row(customer_id=customer_id)],
    )
    full = plan(view, gather(view, config, org), config)
    json.loads(full.to_json())
    batch(full.operations)
    for op in full.operations:
        assert op.key_field and op.key_value
        if op.sobject == "Account":
            assert op.action == "upsert" and op.key_field == "Stripe_Customer_Id__c"
    assert not full.refusals and not empty.refusals
    for op in (*empty.operations, *full.operations):
        for name in op.fields:
            if name.endswith("__c"):
                assert (op.sobject, name) in CUSTOM_FIELDS, f"{op.sobject}.{name} not in metadata"
            else:
                assert name in STANDARD_FIELDS, name


CUSTOM_FIELDS = {(f.sobject, f.name) for f in required_fields(SyncConfig())}
STANDARD_FIELDS = {
    "Name",
    "Email",
    "FirstName",
    "LastName",
    "Subject",
    "Description",
    "Priority",
    "Status",
    "OwnerId",
    "ActivityDate",
    "Origin",
}

VIEWERS = {
    "charge": charge_view,
    "customer": customer_view,
    "dispute": dispute_view,
    "invoice": invoice_view,
    "payment_intent": payment_intent_view,
    "payment_method": payment_method_view,
    "subscription": subscription_view,
}


def test_every_bare_object_reads_through_its_view() -> None:
    seen = 0
    for path in sorted((EVENTS / "dj-stripe").glob("*.json")):
        obj = json.loads(path.read_text())
        obj = obj.get("data", {}).get("object", obj) if obj.get("object") == "event" else obj
        viewer = VIEWERS.get(obj.get("object"))
        if viewer is not None:
            viewer(obj)
            seen += 1
    assert seen >= 10
