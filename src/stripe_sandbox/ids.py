"""Object ids, secrets and card fingerprints in Stripe's formats."""

from __future__ import annotations

import hashlib
import secrets
import string

_ALPHABET = string.ascii_letters + string.digits


def random_token(length: int = 24) -> str:
    return "".join(secrets.choice(_ALPHABET) for _ in range(length))


def new_id(prefix: str, length: int = 24) -> str:
    """``cus_...``-style id: prefix, underscore, base62 token."""
    return f"{prefix}_{random_token(length)}"


def fingerprint(card_number: str) -> str:
    """Stable 16-character fingerprint of a card number (same card -> same fingerprint)."""
    digest = hashlib.sha256(("stripe-sandbox:" + card_number).encode()).digest()
    return "".join(_ALPHABET[b % len(_ALPHABET)] for b in digest[:16])


PREFIXES: dict[str, str] = {
    "customer": "cus",
    "payment_method": "pm",
    "payment_intent": "pi",
    "charge": "ch",
    "refund": "re",
    "dispute": "du",
    "product": "prod",
    "price": "price",
    "subscription": "sub",
    "subscription_item": "si",
    "invoice": "in",
    "invoiceitem": "ii",
    "line_item": "il",
    "invoice_payment": "inpay",
    "test_helpers.test_clock": "clock",
    "event": "evt",
    "webhook_endpoint": "we",
    "balance_transaction": "txn",
    "setup_intent": "seti",
}


def id_for(object_type: str) -> str:
    return new_id(PREFIXES[object_type])
