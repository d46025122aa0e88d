"""The bitmap fields of a Change Data Capture event header (``changedFields``, ``nulledFields``,
``diffFields``) decoded into field names, as the Pub/Sub API documents them ("Event
Deserialization Considerations"):

- The array's element ``0x...`` is a hexadecimal bitmap over the event schema's top-level
  fields: bit ``i`` (least significant first) set means field ``i`` of the Avro record schema.
- An element ``P-0x...`` is a bitmap over the nested fields of the compound field at top-level
  position ``P`` (``Name``, ``MailingAddress``): bit ``i`` means that record's field ``i``.

A top-level bit on a compound field names the whole compound field (Salesforce does this when
all its parts were nulled at once); it is given as each of its parts.

The Pub/Sub API over CometD (and some tools) give names instead of bitmaps: an element that is
neither form is taken as a field name (``Name.FirstName`` or ``Email``).

The schema is the parsed Avro JSON (`dict`), as `GetSchema` returns it; pure code.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

HEADER_FIELD = "ChangeEventHeader"


class BitmapError(ValueError):
    """A bitmap element that does not fit the schema (a stale schema, a corrupt event)."""


def value_schema(field_type: Any) -> Any:
    """The non-null branch of an optional field's type (``["null", T]`` -> ``T``); a union of
    several non-null branches yields its record branch if it has one (Salesforce's switchable
    compound fields), else the type as given."""
    if isinstance(field_type, list):
        branches = [t for t in field_type if t != "null"]
        if len(branches) == 1:
            return branches[0]
        records = [t for t in branches if isinstance(t, Mapping) and t.get("type") == "record"]
        return records[0] if records else field_type
    return field_type


def nested_fields(schema: Mapping[str, Any], position: int) -> list[Mapping[str, Any]] | None:
    """The fields of the compound field at top-level `position`, or None if it is not one."""
    fields = schema.get("fields") or []
    if not 0 <= position < len(fields):
        raise BitmapError(
            f"bitmap names field position {position}, but the schema "
            f"{schema.get('name')!r} has {len(fields)} fields: fetch its schema again"
        )
    inner = value_schema(fields[position].get("type"))
    if isinstance(inner, Mapping) and inner.get("type") == "record":
        return list(inner.get("fields") or [])
    return None


def _bits(hex_text: str) -> list[int]:
    digits = hex_text[2:] if hex_text.lower().startswith("0x") else hex_text
    try:
        value = int(digits, 16) if digits else 0
    except ValueError as exc:
        raise BitmapError(f"bitmap {hex_text!r} is not hexadecimal") from exc
    out = []
    i = 0
    while value:
        if value & 1:
            out.append(i)
        value >>= 1
        i += 1
    return out


def _names_at(fields: Sequence[Mapping[str, Any]], bits: list[int], what: str) -> list[str]:
    out = []
    for i in bits:
        if i >= len(fields):
            raise BitmapError(
                f"bitmap bit {i} is past the {len(fields)} fields of {what}: fetch its schema again"
            )
        out.append(str(fields[i]["name"]))
    return out


def decode(schema: Mapping[str, Any], elements: Sequence[str]) -> list[str]:
    """Field names a bitmap array stands for: top-level ``Email``, nested ``Name.FirstName``;
    in schema order, each once."""
    top = list(schema.get("fields") or [])
    names: list[str] = []
    for element in elements:
        if not element:
            continue
        head, sep, tail = element.partition("-")
        if element.lower().startswith("0x"):
            for name in _names_at(top, _bits(element), str(schema.get("name"))):
                position = next(i for i, f in enumerate(top) if f["name"] == name)
                parts = nested_fields(schema, position)
                if parts is None:
                    names.append(name)
                else:  # the whole compound field
                    names.extend(f"{name}.{p['name']}" for p in parts)
        elif sep and head.isdigit() and tail.lower().startswith("0x"):
            position = int(head)
            parts = nested_fields(schema, position)
            parent = str(top[position]["name"])
            if parts is None:
                raise BitmapError(
                    f"bitmap {element!r} names nested fields of {parent!r}, which is not a "
                    "compound field in this schema"
                )
            names.extend(f"{parent}.{n}" for n in _names_at(parts, _bits(tail), parent))
        else:
            names.append(element)
    return [n for n in dict.fromkeys(names) if n != HEADER_FIELD]


def encode(schema: Mapping[str, Any], names: Sequence[str]) -> list[str]:
    """The bitmap array for field names (the inverse of `decode`; used by tests and by anyone
    building events the way Salesforce does)."""
    top = list(schema.get("fields") or [])
    index = {str(f["name"]): i for i, f in enumerate(top)}
    top_bits = 0
    nested: dict[int, int] = {}
    for name in names:
        parent, dot, child = name.partition(".")
        if parent not in index:
            raise BitmapError(f"{parent!r} is not a field of {schema.get('name')!r}")
        position = index[parent]
        if not dot:
            top_bits |= 1 << position
            continue
        parts = nested_fields(schema, position) or []
        child_index = {str(p["name"]): i for i, p in enumerate(parts)}
        if child not in child_index:
            raise BitmapError(f"{child!r} is not a part of {parent!r}")
        nested[position] = nested.get(position, 0) | (1 << child_index[child])
    out = [f"0x{top_bits:X}"] if top_bits or nested else []
    out.extend(f"{p}-0x{bits:X}" for p, bits in sorted(nested.items()))
    return out
