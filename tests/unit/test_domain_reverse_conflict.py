"""Echoes of stripe2sf's own Stripe requests, and Stripe edits of Salesforce-owned fields."""

from __future__ import annotations

from typing import Any

from stripe2sf.domain.config import SyncConfig, from_toml_text
from stripe2sf.domain.context import PlanContext
from stripe2sf.domain.events import parse_event
from stripe2sf.domain.flows.planner import plan
from stripe2sf.domain.reverse.conflict import contested, reassert, stripe_edits
from stripe2sf.domain.reverse.echo import caused_by_stripe2sf, stripe_echo_reason

CONFIG = from_toml_text(
    '[salesforce_to_stripe]\nenabled = true\n[ownership]\n"Contact.Email" = "salesforce"\n'
)


def updated(previous: dict[str, Any], key: str | None = None, **obj: Any) -> dict[str, Any]:
    customer = {"id": "cus_1", "object": "customer", "email": "x@stripe.test", **obj}
    return {
        "id": "evt_1",
        "object": "event",
        "type": "customer.updated",
        "created": 1_700_000_000,
        "livemode": False,
        "request": {"id": "req_1", "idempotency_key": key},
        "data": {"object": customer, "previous_attributes": previous},
    }


def test_own_requests_are_recognised_by_their_key() -> None:
    assert caused_by_stripe2sf(updated({"email": "a"}, "stripe2sf-abc"))
    assert not caused_by_stripe2sf(updated({"email": "a"}, "stripe-python-retry-1"))
    assert not caused_by_stripe2sf(updated({"email": "a"}, None))
    old = updated({"email": "a"})
    old["request"] = "req_1"  # API versions before 2017-05-25
    assert not caused_by_stripe2sf(old)
    assert "echo" in (stripe_echo_reason(updated({}, "stripe2sf-abc")) or "")


def test_the_stripe_to_salesforce_planner_leaves_an_echo_alone() -> None:
    echo = parse_event(updated({"email": "old@x.test"}, "stripe2sf-abc"))
    assert echo.request_key == "stripe2sf-abc"
    the_plan = plan(echo, PlanContext(), SyncConfig())
    assert the_plan.operations == ()
    assert any(s.startswith("echo:") for s in the_plan.skipped)


def test_stripe_edits_name_fields_and_address_parts() -> None:
    event = updated(
        {"email": "old", "address": {"city": "Paris", "line1": "1 rue X"}},
        address={"city": "Lyon", "line1": "1 rue X"},
    )
    assert stripe_edits(event) == ("address.city", "email")


def test_contested_only_for_others_edits_of_salesforce_owned_fields() -> None:
    edit = updated({"email": "rep@sf.test"})
    assert [m.stripe_field for m in contested(edit, CONFIG)] == ["email"]
    assert contested(updated({"email": "a"}, "stripe2sf-1"), CONFIG) == ()  # our echo
    assert contested(updated({"description": "a"}), CONFIG) == ()  # not mapped
    assert contested(edit, SyncConfig()) == ()  # flow off
    default = from_toml_text("[salesforce_to_stripe]\nenabled = true\n")
    assert contested(edit, default) == ()  # email is Stripe's: no conflict
    off = from_toml_text(
        "[salesforce_to_stripe]\nenabled = true\nreassert_on_conflict = false\n"
        '[ownership]\n"Contact.Email" = "salesforce"\n'
    )
    assert contested(edit, off) == ()
    # one address part edited: the whole address is put back
    city = updated({"address": {"city": "Paris"}}, address={"city": "Lyon"})
    assert {m.stripe_field for m in contested(city, CONFIG)} >= {"address.city", "address.line1"}


def test_reassert_puts_salesforces_value_back_and_records_the_conflict() -> None:
    edit = updated({"email": "rep@sf.test"}, email="other@stripe.test")
    mappings = contested(edit, CONFIG)
    current = {"id": "cus_1", "email": "other@stripe.test"}
    sf = {"Contact": {"Email": "rep@sf.test"}}
    update, notes = reassert("evt_1", "cus_1", edit["data"]["object"], current, mappings, sf)
    assert update is not None and update.params == {"email": "rep@sf.test"}
    assert update.idempotency_key.startswith("stripe2sf-")
    [(field, note)] = notes
    assert field == "email"
    assert note.startswith("conflict: customer.email of cus_1 was changed in Stripe to")
    assert "'other@stripe.test'" in note and "'rep@sf.test'" in note
    assert note.endswith("kept Salesforce's value")
    # Stripe holds Salesforce's value again (the change was sent since): recorded, not written
    same = {"id": "cus_1", "email": "rep@sf.test"}
    update, notes = reassert("evt_1", "cus_1", edit["data"]["object"], same, mappings, sf)
    assert update is None and "already" in notes[0][1]
    # the edit set Salesforce's own value: no conflict
    agree = updated({"email": "a@b.c"}, email="rep@sf.test")["data"]["object"]
    assert reassert("evt_1", "cus_1", agree, same, mappings, sf) == (None, ())
    # the record was not read: nothing guessed
    assert reassert("evt_1", "cus_1", edit["data"]["object"], current, mappings, {}) == (None, ())
