"""Stripe's test cards: magic payment method ids and card numbers, and how each behaves.

Only brand, last 4, expiry and fingerprint are ever stored; the behaviour is kept by name.
"""

from __future__ import annotations

from dataclasses import dataclass

from stripe_sandbox.errors import CardError


@dataclass(frozen=True)
class Behaviour:
    """What happens when a card is attached or charged."""

    name: str
    attach_fails: bool = False
    charge_fails: bool = False
    decline_code: str = "generic_decline"
    dispute: bool = False


OK = Behaviour("ok")
DECLINED = Behaviour("declined", attach_fails=True, charge_fails=True)
CUSTOMER_FAIL = Behaviour("customer_fail", charge_fails=True)
INSUFFICIENT = Behaviour(
    "insufficient_funds", attach_fails=False, charge_fails=True, decline_code="insufficient_funds"
)
DISPUTE = Behaviour("dispute", dispute=True)

BEHAVIOURS = {b.name: b for b in (OK, DECLINED, CUSTOMER_FAIL, INSUFFICIENT, DISPUTE)}


@dataclass(frozen=True)
class TestCard:
    number: str
    behaviour: Behaviour


_CARDS = {
    "visa": TestCard("4242424242424242", OK),
    "mastercard": TestCard("5555555555554444", OK),
    "amex": TestCard("378282246310005", OK),
    "discover": TestCard("6011111111111117", OK),
    "chargeDeclined": TestCard("4000000000000002", DECLINED),
    "visa_chargeDeclined": TestCard("4000000000000002", DECLINED),
    "chargeDeclinedInsufficientFunds": TestCard("4000000000009995", INSUFFICIENT),
    "insufficientFunds": TestCard("4000000000009995", INSUFFICIENT),
    "chargeCustomerFail": TestCard("4000000000000341", CUSTOMER_FAIL),
    "createDispute": TestCard("4000000000000259", DISPUTE),
    "createDisputeInquiry": TestCard("4000000000000259", DISPUTE),
}

_BY_NUMBER = {card.number: card.behaviour for card in _CARDS.values()}


def magic(pm_or_token: str) -> TestCard | None:
    """``pm_card_visa`` / ``tok_visa`` -> the test card, or None."""
    for prefix in ("pm_card_", "tok_"):
        if pm_or_token.startswith(prefix):
            return _CARDS.get(pm_or_token[len(prefix) :])
    return None


def behaviour_for_number(number: str) -> Behaviour:
    return _BY_NUMBER.get(number, OK)


def brand_of(number: str) -> str:
    if number.startswith("4"):
        return "visa"
    if number[:2] in ("51", "52", "53", "54", "55") or 2221 <= int(number[:4] or 0) <= 2720:
        return "mastercard"
    if number[:2] in ("34", "37"):
        return "amex"
    if number.startswith(("6011", "65")):
        return "discover"
    return "unknown"


def luhn_ok(number: str) -> bool:
    if not number.isdigit() or not 12 <= len(number) <= 19:
        return False
    total = 0
    for i, ch in enumerate(reversed(number)):
        d = int(ch)
        if i % 2:
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return total % 10 == 0


def check_number(number: str) -> None:
    if not luhn_ok(number):
        raise CardError("Your card number is incorrect.", code="incorrect_number", param="number")


DECLINE_MESSAGES = {
    "generic_decline": "Your card was declined.",
    "insufficient_funds": "Your card has insufficient funds.",
}
