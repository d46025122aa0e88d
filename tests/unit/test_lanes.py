from __future__ import annotations

from stripe2sf.domain.batch.lanes import lane_key, settled_lane


def ev(obj: dict) -> dict:
    return {"id": "evt_1", "data": {"object": obj}}


def test_customer_objects_use_their_own_id() -> None:
    assert lane_key(ev({"object": "customer", "id": "cus_1"})) == "cus_1"


def test_customer_owned_objects_use_the_customer() -> None:
    assert lane_key(ev({"object": "charge", "id": "ch_1", "customer": "cus_2"})) == "cus_2"
    expanded = {"object": "invoice", "id": "in_1", "customer": {"id": "cus_3"}}
    assert lane_key(ev(expanded)) == "cus_3"


def test_objects_without_customer_use_object_id() -> None:
    assert lane_key(ev({"object": "product", "id": "prod_1"})) == "obj:prod_1"
    assert lane_key(ev({"object": "charge", "id": "ch_9", "customer": None})) == "obj:ch_9"


def test_event_without_object_uses_event_id() -> None:
    assert lane_key({"id": "evt_9", "data": {}}) == "evt:evt_9"


def test_a_dispute_moves_into_its_charges_lane_once_the_customer_is_known() -> None:
    assert settled_lane("obj:dp_1", "cus_1", "ch_1") == "cus_1"
    assert settled_lane("obj:dp_1", None, "ch_1") == "obj:ch_1"  # a charge without customer
    assert settled_lane("obj:dp_1", None, None) is None  # nothing known: it stays
    assert settled_lane("cus_1", "cus_1", "ch_1") is None  # already there
    assert settled_lane("obj:ch_1", None, "ch_1") is None
    assert settled_lane("cus_1", "cus_2", None) is None  # customer lanes are never left
