"""Reading dotted paths out of Stripe JSON without tripping over versions or expansion."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


def get_path(obj: Any, path: str) -> Any:
    """`get_path(charge, "payment_method_details.card.brand")`; None when any step is missing.

    Integer steps index lists (`"items.data.0.price"`).
    """
    current = obj
    for step in path.split("."):
        if isinstance(current, Mapping):
            current = current.get(step)
        elif isinstance(current, list) and step.isdigit():
            index = int(step)
            current = current[index] if index < len(current) else None
        else:
            return None
        if current is None:
            return None
    return current


def id_of(value: Any) -> str | None:
    """The id of a reference that may be a bare id string or an expanded object."""
    if isinstance(value, str) and value:
        return value
    if isinstance(value, Mapping):
        oid = value.get("id")
        return oid if isinstance(oid, str) and oid else None
    return None


def as_int(value: Any) -> int | None:
    """An integer, or None (booleans are not integers here)."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str) and value.lstrip("-").isdigit():
        return int(value)
    return None


def as_str(value: Any) -> str | None:
    """A non-empty string, or None."""
    return value if isinstance(value, str) and value else None


def list_data(value: Any) -> list[Mapping[str, Any]]:
    """Items of a Stripe list object (`{"object": "list", "data": [...]}`) or a plain list."""
    if isinstance(value, Mapping):
        value = value.get("data")
    if isinstance(value, list):
        return [item for item in value if isinstance(item, Mapping)]
    return []
