"""Helpers shared by the resource modules."""

from __future__ import annotations

import copy
from typing import Any

from stripe_sandbox.errors import InvalidRequestError, param_invalid, param_required
from stripe_sandbox.params import Params, get_str, merge_metadata
from stripe_sandbox.shapes import ZERO_DECIMAL

Obj = dict[str, Any]


def require(params: Params, name: str) -> Any:
    value = params.get(name)
    if value is None or value == "":
        raise param_required(name)
    return value


def require_str(params: Params, name: str) -> str:
    value = require(params, name)
    if not isinstance(value, str):
        raise param_invalid(name, f"Invalid string: {name}")
    return value


def currency(params: Params, name: str = "currency", required: bool = True) -> str | None:
    value = get_str(params, name)
    if value is None:
        if required:
            raise param_required(name)
        return None
    value = value.lower()
    if len(value) != 3 or not value.isalpha():
        raise InvalidRequestError(
            f"Invalid currency: {value}", code="parameter_invalid", param=name
        )
    return value


def amount(params: Params, name: str, required: bool = True, minimum: int = 0) -> int | None:
    raw = params.get(name)
    if raw is None or raw == "":
        if required:
            raise param_required(name)
        return None
    try:
        value = int(str(raw))
    except ValueError:
        raise param_invalid(name, f"Invalid integer: {raw}") from None
    if value < minimum:
        raise param_invalid(name, f"This value must be greater than or equal to {minimum}.")
    return value


def check_minimum_charge(value: int, cur: str) -> None:
    """Stripe refuses charges below 50 cents (or about that in other currencies)."""
    minimum = 50
    if value < minimum:
        raise InvalidRequestError(
            "Amount must be at least 50 cents"
            if cur not in ZERO_DECIMAL
            else f"Amount must be at least {minimum} {cur}",
            code="amount_too_small",
            param="amount",
        )


def apply_simple(data: Obj, params: Params, fields: tuple[str, ...]) -> None:
    """Copy plain fields; '' clears a field (Stripe's convention)."""
    for name in fields:
        if name in params:
            value = params[name]
            data[name] = None if value == "" else value


def apply_metadata(data: Obj, params: Params) -> None:
    if "metadata" in params:
        data["metadata"] = merge_metadata(data.get("metadata") or {}, params["metadata"])


def snapshot(data: Obj) -> Obj:
    return copy.deepcopy(data)


def check_known(params: Params, allowed: set[str]) -> None:
    for key in params:
        if key not in allowed and key != "expand":
            raise InvalidRequestError(
                f"Received unknown parameter: {key}", code="parameter_unknown", param=key
            )
