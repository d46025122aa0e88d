"""Value transforms applied between a Stripe source value and a Salesforce field."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any, Literal

from stripe2sf.domain.money import to_major_units

Transform = Literal["none", "money", "datetime", "date", "picklist", "upper", "lower", "boolean"]


@dataclass(frozen=True)
class Money:
    """A Stripe amount with its currency, still in the minor unit."""

    amount: int
    currency: str


class TransformError(ValueError):
    """A value could not be transformed (the message names value and transform)."""


def to_sf_datetime(ts: int) -> str:
    """Unix seconds -> Salesforce DateTime literal in UTC (`2024-05-01T12:00:00.000Z`)."""
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%dT%H:%M:%S.000Z")


def to_sf_date(ts: int) -> str:
    """Unix seconds -> Salesforce Date (`2024-05-01`), the UTC calendar day."""
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%d")


def apply_transform(
    value: Any, transform: Transform, values: Mapping[str, str] | None = None
) -> Any:
    """Transform one value; None stays None (the field is cleared or left as is)."""
    if value is None:
        return None
    if transform == "none":
        return value
    if transform == "money":
        if isinstance(value, Money):
            return to_major_units(value.amount, value.currency)
        if isinstance(value, Decimal):
            return value
        raise TransformError(f"money transform needs an amount with currency, got {value!r}")
    if transform in ("datetime", "date"):
        if isinstance(value, bool) or not isinstance(value, int):
            raise TransformError(f"{transform} transform needs a Unix timestamp, got {value!r}")
        return to_sf_datetime(value) if transform == "datetime" else to_sf_date(value)
    if transform == "picklist":
        key = str(value)
        table = values or {}
        if key in table:
            return table[key]
        raise TransformError(f"no picklist value for {key!r} (known: {sorted(table)})")
    if transform == "upper":
        return str(value).upper()
    if transform == "lower":
        return str(value).lower()
    if transform == "boolean":
        return bool(value)
    raise TransformError(f"unknown transform {transform!r}")
