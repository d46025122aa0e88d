"""The captured-change envelope: what capture stores and the Salesforce -> Stripe handlers read."""

import json

import pytest

from stripe2sf.domain.capture.change import (
    ChangeParseError,
    SalesforceChange,
    is_change_type,
    made_by,
    parse_change,
)


def _change(**kw):
    base = dict(
        entity="Contact",
        change="updated",
        record_id="003000000000001AAA",
        fields={"Email": "new@example.com"},
        changed=("Email",),
        commit_ts_ms=1_764_000_000_123,
        source="cdc",
        position="0001-abc:1",
        commit_user="005000000000002AAA",
    )
    base.update(kw)
    return SalesforceChange(**base)


def test_envelope_round_trips_through_json():
    change = _change(customer_id="cus_1")
    assert change.event_id == "sf:cdc:Contact:003000000000001AAA:0001-abc:1"
    assert change.type == "salesforce.Contact.updated" and is_change_type(change.type)
    assert change.lane == "cus_1" and change.created == 1_764_000_000
    assert parse_change(json.loads(json.dumps(change.to_payload()))) == change


def test_unlinked_record_has_a_lane_of_its_own():
    assert _change().lane == "sf:003000000000001AAA"


@pytest.mark.parametrize(
    ("broken", "message"),
    [
        ({"object": "event"}, "salesforce_change"),
        ({"change": "renamed"}, "'change' must be one of"),
        ({"source": "bus"}, "'source'"),
        ({"record_id": ""}, "'record_id'"),
        ({"commit_ts_ms": "soon"}, "commit_ts_ms"),
    ],
)
def test_malformed_payload_says_what_is_wrong(broken, message):
    payload = _change().to_payload() | broken
    with pytest.raises(ChangeParseError, match=message):
        parse_change(payload)


def test_own_user_compares_15_and_18_character_ids():
    assert made_by(_change(), ["005000000000002"])
    assert not made_by(_change(), ["005000000000003AAA"])
    assert not made_by(_change(commit_user=None), ["005000000000002AAA"])
