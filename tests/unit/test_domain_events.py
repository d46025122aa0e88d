"""Event envelopes and version-dependent object shapes."""

from __future__ import annotations

from typing import Any

import pytest

from stripe2sf.domain.events import EventParseError, parse_event
from stripe2sf.domain.stripe_views import (
    charge_view,
    customer_view,
    invoice_view,
    payment_intent_view,
    payment_method_view,
)
from tests.unit.test_domain_support import charge, envelope, invoice


def test_envelope_fields() -> None:
    view = parse_event(envelope("charge.succeeded", charge(), created=123, event_id="evt_9"))
    assert (view.id, view.type, view.created, view.livemode) == (
        "evt_9",
        "charge.succeeded",
        123,
        False,
    )
    assert (view.object_type, view.object_id, view.customer_id) == ("charge", "ch_1", "cus_1")
    assert view.api_version == "2026-04-22.dahlia"


def test_expanded_customer_and_customer_object() -> None:
    view = parse_event(
        envelope("charge.succeeded", charge(customer={"id": "cus_X", "object": "customer"}))
    )
    assert view.customer_id == "cus_X"
    cust = parse_event(envelope("customer.updated", {"id": "cus_Y", "object": "customer"}))
    assert cust.customer_id == "cus_Y"


def test_data_only_payload_needs_a_type() -> None:
    data = {"object": charge(), "previous_attributes": {"amount_refunded": 0}}
    with pytest.raises(EventParseError, match="no type"):
        parse_event(data)
    view = parse_event(data, event_type="charge.refunded")
    assert view.type == "charge.refunded"
    assert view.previous_attributes == {"amount_refunded": 0}


def test_object_type_inferred_when_missing() -> None:
    obj = {k: v for k, v in charge().items() if k != "object"}
    assert parse_event({"object": obj}, event_type="charge.succeeded").object_type == "charge"


@pytest.mark.parametrize("bad", [{}, {"data": {}}, {"type": "x", "data": {"object": {"id": "1"}}}])
def test_bad_payloads(bad: dict[str, Any]) -> None:
    with pytest.raises(EventParseError):
        parse_event(bad)


def test_invoice_subscription_in_both_places() -> None:
    assert invoice_view(invoice()).subscription_id == "sub_1"
    assert invoice_view(invoice(parent=None, subscription="sub_2")).subscription_id == "sub_2"


def test_invoice_charge_before_and_after_basil() -> None:
    assert invoice_view(invoice(charge="ch_old")).charge_id == "ch_old"
    new = invoice(payments={"data": [{"payment": {"type": "charge", "charge": "ch_new"}}]})
    assert invoice_view(new).charge_id == "ch_new"


def test_invoice_paid_flag_old_and_new() -> None:
    assert invoice_view(invoice(paid=True, status=None)).paid
    assert invoice_view(invoice(status="paid")).paid
    assert not invoice_view(invoice()).paid


def test_charge_status_and_card_shapes() -> None:
    old = charge(
        status=None, paid=True, payment_method_details=None, card={"brand": "Amex", "last4": "0005"}
    )
    view = charge_view(old)
    assert view.payment_status == "Succeeded"
    assert (view.card.brand, view.card.last4) == ("Amex", "0005")


def test_last4_must_be_four_digits() -> None:
    view = charge_view(
        charge(payment_method_details={"card": {"brand": "visa", "last4": "4242424242424242"}})
    )
    assert view.card.last4 is None


def test_payment_intent_charge_in_both_shapes() -> None:
    assert payment_intent_view({"id": "pi", "latest_charge": "ch_a"}).latest_charge_id == "ch_a"
    old = {"id": "pi", "charges": {"data": [charge(id="ch_b")]}}
    assert payment_intent_view(old).latest_charge_id == "ch_b"


def test_old_card_source_as_payment_method() -> None:
    pm = payment_method_view(
        {
            "id": "card_1",
            "object": "card",
            "brand": "Visa",
            "last4": "4242",
            "exp_month": 1,
            "exp_year": 2030,
            "customer": "cus_1",
        }
    )
    assert (pm.type, pm.card.last4, pm.customer_id) == ("card", "4242", "cus_1")


def test_customer_names() -> None:
    assert customer_view({"id": "cus", "name": "Grace Brewster Hopper"}).first_last == (
        "Grace Brewster",
        "Hopper",
    )
    assert customer_view({"id": "cus", "email": "x@y.z"}).first_last == (None, "x")
    assert customer_view({"id": "cus"}).first_last == (None, "cus")
    assert (
        customer_view({"id": "cus", "email": "A@Mail.Example.COM"}).email_domain
        == "mail.example.com"
    )
