"""Pure parts of the stripe sandbox: param parsing, billing arithmetic, signatures, ids,
test cards, diffs. No server."""

from __future__ import annotations

import datetime as dt

import pytest
import stripe

from stripe_sandbox import cards, ids, schedule
from stripe_sandbox.delivery import retry_delay, sign
from stripe_sandbox.errors import CardError, InvalidRequestError, error_body, missing
from stripe_sandbox.params import merge_metadata, parse_form, range_filter
from stripe_sandbox.settings import Faults, Settings
from stripe_sandbox.state import matches
from stripe_sandbox.versions import previous_attributes as diff


def ts(y: int, m: int, d: int) -> int:
    return int(dt.datetime(y, m, d, tzinfo=dt.UTC).timestamp())


def test_form_parsing_nested_lists_and_expand() -> None:
    params = parse_form(
        "customer=cus_1&items[0][price]=price_1&items[0][quantity]=2&items[1][price]=p2"
        "&metadata[a]=1&expand[]=customer&expand[]=latest_invoice"
        "&recurring[interval]=month&trial_settings[end_behavior][missing_payment_method]=pause"
        "&description="
    )
    assert params["items"] == [{"price": "price_1", "quantity": "2"}, {"price": "p2"}]
    assert params["expand"] == ["customer", "latest_invoice"]
    assert params["metadata"] == {"a": "1"}
    assert params["trial_settings"]["end_behavior"]["missing_payment_method"] == "pause"
    assert params["description"] == ""


def test_form_parsing_indexed_expand_as_the_sdk_sends_it() -> None:
    assert parse_form("expand[0]=a&expand[1]=b.c")["expand"] == ["a", "b.c"]


def test_metadata_merge_and_range_filter() -> None:
    assert merge_metadata({"a": "1", "b": "2"}, {"a": "", "c": 3}) == {"b": "2", "c": "3"}
    assert merge_metadata({"a": "1"}, "") == {}
    assert range_filter({"created": {"gte": "5", "lt": "9"}}, "created") == {"gte": 5, "lt": 9}
    assert range_filter({"created": "7"}, "created") == {"gte": 7, "lte": 7}
    with pytest.raises(InvalidRequestError):
        range_filter({"created": {"near": "1"}}, "created")


def test_month_arithmetic_keeps_the_anchor_day() -> None:
    jan31 = ts(2026, 1, 31)
    assert schedule.add_interval(jan31, "month") == ts(2026, 2, 28)
    assert schedule.add_interval(jan31, "month", periods=2) == ts(2026, 3, 31)
    assert schedule.add_interval(ts(2024, 2, 29), "year") == ts(2025, 2, 28)
    assert schedule.add_interval(ts(2026, 1, 1), "week", 2) == ts(2026, 1, 15)
    assert schedule.period_end(jan31, ts(2026, 2, 28), "month") == ts(2026, 3, 31)


def test_dunning_schedule() -> None:
    days = [3.0, 5.0, 7.0]
    assert schedule.next_retry(0, 1, days) == 3 * schedule.DAY
    assert schedule.next_retry(0, 3, days) == 7 * schedule.DAY
    assert schedule.next_retry(0, 4, days) is None
    assert schedule.trial_will_end_at(10 * schedule.DAY, 0, 3) == 7 * schedule.DAY
    assert schedule.trial_will_end_at(1 * schedule.DAY, 0, 3) == 0


def test_signature_verifies_with_the_sdk() -> None:
    payload = '{"id": "evt_1", "object": "event", "type": "customer.created", "data": {}}'
    secret = "whsec_" + ids.random_token(32)
    header = sign(payload, secret, int(dt.datetime.now(dt.UTC).timestamp()))
    assert header.startswith("t=") and ",v1=" in header
    event = stripe.Webhook.construct_event(payload, header, secret)
    assert event.id == "evt_1"
    with pytest.raises(stripe.SignatureVerificationError):
        stripe.Webhook.construct_event(payload, header, "whsec_other")


def test_retry_intervals_grow() -> None:
    delays = [retry_delay(2.0, n) for n in range(1, 5)]
    assert delays == [2.0, 4.0, 8.0, 16.0]


def test_ids_and_fingerprints() -> None:
    a, b = ids.id_for("customer"), ids.id_for("customer")
    assert a.startswith("cus_") and len(a) == 28 and a != b
    assert ids.fingerprint("4242424242424242") == ids.fingerprint("4242424242424242")
    assert ids.fingerprint("4242424242424242") != ids.fingerprint("5555555555554444")


def test_test_cards() -> None:
    visa = cards.magic("pm_card_visa")
    assert visa is not None and visa.behaviour is cards.OK
    fail = cards.magic("pm_card_chargeCustomerFail")
    assert fail is not None and fail.behaviour.charge_fails and not fail.behaviour.attach_fails
    assert cards.behaviour_for_number("4000000000000002").attach_fails
    assert cards.behaviour_for_number("4000000000000341") is cards.CUSTOMER_FAIL
    assert cards.brand_of("5555555555554444") == "mastercard"
    assert cards.luhn_ok("4242424242424242") and not cards.luhn_ok("4242424242424241")
    with pytest.raises(CardError):
        cards.check_number("1234")


def test_previous_attributes_diff() -> None:
    before = {"a": 1, "b": {"x": 1, "y": 2}, "c": [1], "d": "same"}
    after = {"a": 2, "b": {"x": 1, "y": 3}, "c": [2], "d": "same"}
    assert diff(before, after) == {"a": 1, "b": {"y": 2}, "c": [1]}


def test_event_type_matching() -> None:
    assert matches(["*"], "charge.succeeded")
    assert matches(["charge.succeeded"], "charge.succeeded")
    assert not matches(["charge.failed"], "charge.succeeded")


def test_errors_serialise_in_stripes_shape() -> None:
    body = error_body(missing("customer", "cus_x"), "req_1")["error"]
    assert body["type"] == "invalid_request_error"
    assert body["code"] == "resource_missing"
    assert body["param"] == "id"
    assert "cus_x" in body["message"]


def test_settings_and_faults_updates_are_checked() -> None:
    settings = Settings()
    settings.update({"dunning_retry_days": [1, 2], "dunning_final_status": "unpaid"})
    assert settings.dunning_retry_days == [1.0, 2.0]
    with pytest.raises(InvalidRequestError):
        settings.update({"nope": 1})
    with pytest.raises(InvalidRequestError):
        settings.update({"dunning_final_status": "deleted"})
    faults = Faults()
    faults.update({"drop_rate": 1, "shuffle": True})
    assert faults.drop_rate == 1.0 and faults.shuffle
