"""How the dashboard writes numbers, money, times and reasons (pure: no I/O).

One place for every figure a page shows, so that "10000 JPY" and "1045 / 100000" never appear:
counts get thousands separators, money the decimals of its currency (JPY none, USD two, KWD
three, from domain.money), times are second-precise, booleans are words. `for_viewer` takes
the ids, e-mail addresses and amounts out of a reason a viewer may read.
"""

from __future__ import annotations

import re
from datetime import datetime
from decimal import Decimal

from stripe2sf.domain.money import currency_exponent, to_major_units

DASH = "-"


def number(value: int | float | Decimal | None, decimals: int = 0) -> str:
    """`10000` -> `10,000`; `1234.5, 1` -> `1,234.5`; None -> `-`."""
    if value is None:
        return DASH
    if decimals <= 0 and (isinstance(value, int) or float(value).is_integer()):
        return f"{int(value):,}"
    return f"{value:,.{max(decimals, 0)}f}"


def usage(used: int | None, limit: int | None) -> str:
    """`1045, 100000` -> `1,045 / 100,000`."""
    if used is None:
        return DASH
    return number(used) if limit is None else f"{number(used)} / {number(limit)}"


def money_major(amount: Decimal, currency: str) -> str:
    """A major-unit amount with its currency's decimals: `Decimal(10000), JPY` -> `10,000 JPY`,
    `Decimal("43.2"), usd` -> `43.20 USD`."""
    code = currency.strip().upper()
    places = currency_exponent(code)
    quantum = Decimal(1).scaleb(-places)
    return f"{amount.quantize(quantum):,.{places}f} {code}"


def money(minor: int, currency: str) -> str:
    """A Stripe minor-unit amount: `10000, jpy` -> `10,000 JPY`; `4321, usd` -> `43.21 USD`."""
    return money_major(to_major_units(minor, currency), currency)


def percent(value: float | None, decimals: int = 1) -> str:
    return DASH if value is None else f"{value:.{decimals}%}"


def seconds(value: float | None) -> str:
    """A duration: `0.123` -> `0.12 s`, `75` -> `75 s`, `4000` -> `1.1 h`."""
    if value is None:
        return DASH
    if value < 10:
        return f"{value:.2f} s"
    if value < 120:
        return f"{value:.0f} s"
    if value < 7200:
        return f"{value / 60:.0f} min"
    return f"{value / 3600:.1f} h"


def when(value: datetime | str | None) -> str:
    """A timestamp to the second, `2024-05-01 12:34:56` (no microseconds, no offset)."""
    if value is None or value == "":
        return DASH
    if isinstance(value, str):
        try:
            parsed = datetime.fromisoformat(value)
        except ValueError:
            return value[:19].replace("T", " ")
        return parsed.strftime("%Y-%m-%d %H:%M:%S")
    return value.strftime("%Y-%m-%d %H:%M:%S")


def ago(value: datetime | None, now: datetime) -> str:
    """`12 s ago` / `in 3 s` for recent times, the timestamp otherwise."""
    if value is None:
        return DASH
    delta = (now - value).total_seconds()
    if delta < 0:
        return f"in {-delta:.0f} s"
    return f"{delta:.0f} s ago" if delta < 120 else when(value)


def yes_no(value: object) -> str:
    return "yes" if value else "no"


def took(start: datetime | None, end: datetime | None) -> str:
    if start is None or end is None:
        return DASH
    return seconds(max(0.0, (end - start).total_seconds()))


_EMAIL = re.compile(r"[^\s@,;:()<>]+@[^\s@,;:()<>]+")
# Stripe ids (cus_, ch_, in_, evt_, pi_, pm_, sub_, ...), Salesforce ids (15/18 characters
# holding a digit), review keys.
_STRIPE_ID = re.compile(r"\b[a-z]{1,6}_[A-Za-z0-9_]{3,}\b")
_SALESFORCE_ID = re.compile(r"\b(?=[A-Za-z0-9]*\d)[A-Za-z0-9]{15}(?:[A-Za-z0-9]{3})?\b")
_NUMBER = re.compile(r"(?<![\w.])[-+]?\d[\d,]*(?:\.\d+)?")


def for_viewer(text: str | None) -> str:
    """A reason with every e-mail address, id and number replaced by `…`: a viewer reads
    why ("late event: payment … already written from newer state"), never what about."""
    if not text:
        return ""
    text = _EMAIL.sub("…", text)
    text = _STRIPE_ID.sub("…", text)
    text = _SALESFORCE_ID.sub("…", text)
    return _NUMBER.sub("…", text)


def refusal_reason(error: str | None) -> str:
    """A refusal's stored text is `reason: value`; the reason alone (no value)."""
    if not error:
        return ""
    return error.split(": ", 1)[0]
