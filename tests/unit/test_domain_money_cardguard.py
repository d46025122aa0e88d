"""Currency exponents and the card-data guard."""

from __future__ import annotations

import random
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from stripe2sf.domain.flows.cardguard import (
    contains_card_number,
    is_cvc_like_name,
    luhn_ok,
    redact,
    scan_fields,
)
from stripe2sf.domain.money import currency_exponent, to_major_units


@pytest.mark.parametrize(
    ("currency", "amount", "expected"),
    [
        ("usd", 1999, Decimal("19.99")),
        ("EUR", 5, Decimal("0.05")),
        ("jpy", 5000, Decimal(5000)),
        ("krw", 12345, Decimal(12345)),
        ("vnd", 1, Decimal(1)),
        ("kwd", 12345, Decimal("12.345")),
        ("bhd", 1000, Decimal("1.000")),
        ("isk", 50000, Decimal("500.00")),  # two-decimal in the API despite zero-decimal cash
    ],
)
def test_major_units(currency: str, amount: int, expected: Decimal) -> None:
    assert to_major_units(amount, currency) == expected


def test_exponents() -> None:
    assert [currency_exponent(c) for c in ("usd", "jpy", "tnd")] == [2, 0, 3]


def test_amount_must_be_int() -> None:
    with pytest.raises(TypeError):
        to_major_units(True, "usd")
    not_an_int: Any = 1.5
    with pytest.raises(TypeError):
        to_major_units(not_an_int, "usd")


@given(st.integers(min_value=-(10**15), max_value=10**15), st.sampled_from(["usd", "jpy", "kwd"]))
def test_conversion_is_exact(amount: int, currency: str) -> None:
    major = to_major_units(amount, currency)
    assert major.scaleb(currency_exponent(currency)) == amount


TEST_CARDS = [
    "4242424242424242",
    "4000056655665556",
    "5555555555554444",
    "378282246310005",
    "6011111111111117",
    "3056930009020004",
    "4222222222222",
    "6200000000000005",
]


@pytest.mark.parametrize("pan", TEST_CARDS)
def test_known_test_cards_are_detected_plain_spaced_dashed(pan: str) -> None:
    assert luhn_ok(pan)
    spaced = " ".join(pan[i : i + 4] for i in range(0, len(pan), 4))
    dashed = spaced.replace(" ", "-")
    for text in (pan, f"note: {spaced}.", f"x{dashed}y"):
        assert contains_card_number(text), text
        assert pan not in redact(text).replace(" ", "").replace("-", "")


def test_non_luhn_and_short_numbers_are_not_cards() -> None:
    assert not contains_card_number("4242424242424241")
    assert not contains_card_number("123456789012")  # 12 digits
    assert not contains_card_number("order 1700000000 at 1700000001")
    assert not contains_card_number("cus_00000000000000")  # zeros pass Luhn, not a card
    assert not contains_card_number("+1 (555) 010-9999")


def test_card_inside_longer_digit_run_is_found_at_group_boundaries() -> None:
    assert contains_card_number("ref 12345 4242-4242-4242-4242")
    assert redact("ref 12345 4242-4242-4242-4242") == "ref 12345 [REDACTED]"


def _luhn_complete(prefix: str) -> str:
    for d in "0123456789":
        if luhn_ok(prefix + d):
            return prefix + d
    raise AssertionError


@given(st.integers(min_value=12, max_value=18), st.randoms(use_true_random=False))
def test_any_luhn_valid_number_is_refused(length: int, rnd: random.Random) -> None:
    body = str(rnd.randint(1, 9)) + "".join(str(rnd.randint(0, 9)) for _ in range(length - 1))
    pan = _luhn_complete(body)
    if len(set(pan)) == 1:
        return
    clean, refused = scan_fields("Stripe_Payment__c", {"Note__c": f"pay with {pan} thanks"})
    assert clean == {}
    assert refused[0].field == "Note__c"
    assert pan not in refused[0].value


@pytest.mark.parametrize("name", ["CVC__c", "cvv", "Card_Security_Code__c", "card_number__c"])
def test_cvc_like_names_are_refused(name: str) -> None:
    assert is_cvc_like_name(name)
    clean, refused = scan_fields("Account", {name: "123"})
    assert clean == {} and refused[0].reason == "card-data field name"


def test_ordinary_fields_pass() -> None:
    fields = {
        "Card_Last4__c": "4242",
        "Amount__c": Decimal("19.99"),
        "Paid_At__c": 1_700_000_000_000,
    }
    clean, refused = scan_fields("Stripe_Payment__c", fields)
    assert clean == fields and refused == []
