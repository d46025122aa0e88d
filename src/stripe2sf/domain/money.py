"""Stripe amounts are integers in the currency's minor unit; Salesforce wants the major unit.

The exponent table follows Stripe's currency guide: zero-decimal currencies (JPY 500 means
500 yen) and three-decimal currencies (KWD 1000 means 1.000 dinar). ISK, HUF and TWD are
*represented* with two decimals in the Stripe API for backwards compatibility, so they keep
the default exponent of 2 here even though they are zero-decimal for payouts.
"""

from __future__ import annotations

from decimal import Decimal

ZERO_DECIMAL = frozenset(
    {
        "BIF",
        "CLP",
        "DJF",
        "GNF",
        "JPY",
        "KMF",
        "KRW",
        "MGA",
        "PYG",
        "RWF",
        "UGX",
        "VND",
        "VUV",
        "XAF",
        "XOF",
        "XPF",
    }
)
THREE_DECIMAL = frozenset({"BHD", "JOD", "KWD", "OMR", "TND"})


def currency_exponent(currency: str) -> int:
    """Number of decimal places of a Stripe API amount in this currency."""
    code = currency.strip().upper()
    if code in ZERO_DECIMAL:
        return 0
    if code in THREE_DECIMAL:
        return 3
    return 2


def to_major_units(amount: int, currency: str) -> Decimal:
    """Convert a Stripe minor-unit integer to an exact Decimal in the major unit."""
    if isinstance(amount, bool) or not isinstance(amount, int):
        raise TypeError(f"Stripe amount must be an integer, got {amount!r}")
    exponent = currency_exponent(currency)
    return Decimal(amount).scaleb(-exponent)
