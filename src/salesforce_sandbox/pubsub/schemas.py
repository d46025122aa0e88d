"""Avro schemas of change events and the bitmap form of their field lists (pure).

A ``<Entity>ChangeEvent`` record starts with ``ChangeEventHeader`` (position 0), then the
object's fields in schema order, each ``["null", T]`` with default null. As in Salesforce:
``Id``, ``IsDeleted``, ``SystemModstamp``, ``LastActivityDate`` and formula fields are left
out; a person's name (Salutation, FirstName, LastName) is the compound record ``Name`` and each
address (``Billing``, ``Shipping``, ``Mailing``, ``Other``) the compound record
``<Prefix>Address``, at the position of its first part. DateTime values are epoch
milliseconds (``long``), Date values days (``int`` with logicalType ``date``), numbers
``double`` (``int`` for integers), the rest strings.

Bitmaps (``changedFields``, ``nulledFields``, ``diffFields``), as the Pub/Sub API sends them
("Event Deserialization Considerations"): a list of strings; the first, ``0x`` + hex, has bit
N set (least significant bit = position 0) for the top-level field at schema position N; then
one ``"{P}-0x{hex}"`` per compound field at position P whose bits are its nested fields'
positions. The first element is left out when only nested fields are named.
"""

from __future__ import annotations

import base64
import hashlib
import json
import xml.etree.ElementTree as ET
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from fastavro import parse_schema

from salesforce_sandbox import clock
from salesforce_sandbox.schema.model import FieldDef, ObjectDef, Schema

NAMESPACE = "com.sforce.eventbus"
CHANGE_TYPES = [
    "CREATE",
    "UPDATE",
    "DELETE",
    "UNDELETE",
    "GAP_CREATE",
    "GAP_UPDATE",
    "GAP_DELETE",
    "GAP_UNDELETE",
    "GAP_OVERFLOW",
    "SNAPSHOT",
]
EXCLUDED = frozenset({"Id", "IsDeleted", "SystemModstamp", "LastActivityDate"})
NAME_PARTS = ("Salutation", "FirstName", "MiddleName", "LastName", "Suffix")
ADDRESS_PREFIXES = ("Billing", "Shipping", "Mailing", "Other")
ADDRESS_PARTS = (
    "Street",
    "City",
    "State",
    "PostalCode",
    "Country",
    "StateCode",
    "CountryCode",
    "Latitude",
    "Longitude",
    "GeocodeAccuracy",
)


def header_schema() -> dict[str, Any]:
    def strings() -> dict[str, Any]:
        return {"type": "array", "items": "string"}

    return {
        "type": "record",
        "name": "ChangeEventHeader",
        "namespace": NAMESPACE,
        "fields": [
            {"name": "entityName", "type": "string"},
            {"name": "recordIds", "type": strings()},
            {
                "name": "changeType",
                "type": {
                    "type": "enum",
                    "name": "ChangeType",
                    "namespace": NAMESPACE,
                    "symbols": CHANGE_TYPES,
                },
            },
            {"name": "changeOrigin", "type": "string"},
            {"name": "transactionKey", "type": "string"},
            {"name": "sequenceNumber", "type": "int"},
            {"name": "commitTimestamp", "type": "long"},
            {"name": "commitNumber", "type": "long"},
            {"name": "commitUser", "type": "string"},
            {"name": "nulledFields", "type": strings()},
            {"name": "diffFields", "type": strings()},
            {"name": "changedFields", "type": strings()},
        ],
        "doc": "Data:EventHeader",
    }


def event_name(entity: str) -> str:
    """``Contact`` -> ``ContactChangeEvent``; ``Foo__c`` -> ``Foo__ChangeEvent``."""
    if entity.endswith("__c"):
        return entity[:-3] + "__ChangeEvent"
    return entity + "ChangeEvent"


def entity_of(name: str) -> str | None:
    """The inverse of ``event_name`` (None when ``name`` is not a change event name)."""
    if name.endswith("__ChangeEvent"):
        return name[: -len("__ChangeEvent")] + "__c"
    if name.endswith("ChangeEvent") and name != "ChangeEvent":
        return name[: -len("ChangeEvent")]
    return None


# objects that publish change events when selected (besides every custom object)
CDC_STANDARD = frozenset({"Account", "Contact", "Opportunity", "Case", "Task", "User"})
CHANGE_EVENTS_CHANNEL = "ChangeEvents"
MEMBER_TYPE = "PlatformEventChannelMember"


def can_capture(obj: ObjectDef) -> bool:
    return obj.name in CDC_STANDARD or obj.name.endswith("__c")


def channel_member_entity(full_name: str, xml: str, schema: Schema) -> str:
    """The entity a PlatformEventChannelMember selects (``eventChannel`` ChangeEvents,
    ``selectedEntity`` ContactChangeEvent); ValueError saying what is wrong otherwise."""
    try:
        root = ET.fromstring(xml)
    except ET.ParseError as exc:
        raise ValueError(f"{full_name}: not XML ({exc})") from exc
    values = {_local(child.tag): (child.text or "").strip() for child in root}
    channel = values.get("eventChannel", "")
    selected = values.get("selectedEntity", "")
    if channel != CHANGE_EVENTS_CHANNEL:
        raise ValueError(
            f"{full_name}: eventChannel must be {CHANGE_EVENTS_CHANNEL} (the standard Change "
            f"Data Capture channel; custom channels are not supported), not {channel!r}"
        )
    entity = entity_of(selected)
    obj = schema.get(entity) if entity else None
    if obj is None or not can_capture(obj):
        raise ValueError(
            f"{full_name}: selectedEntity {selected!r} is not a change event of an object "
            "that supports Change Data Capture (e.g. ContactChangeEvent, Thing__ChangeEvent)"
        )
    return obj.name


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


@dataclass(frozen=True)
class Slot:
    """One top-level field of the event: a plain field, or a compound of ``parts``
    (nested name, sObject field)."""

    name: str
    position: int
    field: FieldDef | None
    parts: tuple[tuple[str, FieldDef], ...] = ()


class ChangeEventSchema:
    """The change event schema of one object as it is now."""

    def __init__(self, obj: ObjectDef) -> None:
        self.entity = obj.name
        self.slots: list[Slot] = []
        self.where: dict[str, tuple[int, int | None]] = {}  # sObject field -> (pos, nested)
        avro_fields: list[dict[str, Any]] = [
            {"name": "ChangeEventHeader", "type": header_schema(), "doc": "Data:EventHeader"}
        ]
        groups = _compounds(obj)
        placed: set[str] = set()
        address_defined = False
        for definition in obj.fields.values():
            name = definition.name
            if name in placed or name in EXCLUDED:
                continue
            group = groups.get(name)
            position = len(avro_fields)
            if group is not None:
                compound, parts = group
                placed.update(f.name for _, f in parts)
                record_name = "PersonName" if compound == "Name" else "Address"
                nested = [_avro_field(part, f) for part, f in parts]
                if record_name == "Address" and address_defined:
                    nested_type: Any = "Address"  # named types are defined once per schema
                else:
                    nested_type = {"type": "record", "name": record_name, "fields": nested}
                    address_defined = address_defined or record_name == "Address"
                avro_fields.append(
                    {
                        "name": compound,
                        "type": ["null", nested_type],
                        "doc": "Data:Compound",
                        "default": None,
                    }
                )
                self.slots.append(Slot(compound, position, None, tuple(parts)))
                for index, (_, f) in enumerate(parts):
                    self.where[f.name] = (position, index)
                continue
            if definition.calculated or definition.type in ("id", "base64", "address"):
                continue
            avro_fields.append(_avro_field(name, definition))
            self.slots.append(Slot(name, position, definition))
            self.where[name] = (position, None)
        self.schema: dict[str, Any] = {
            "type": "record",
            "name": event_name(obj.name),
            "namespace": NAMESPACE,
            "fields": avro_fields,
        }
        self.json = json.dumps(self.schema, separators=(",", ":"))
        digest = hashlib.sha256(self.json.encode()).digest()
        self.schema_id = base64.urlsafe_b64encode(digest).decode()[:22]
        self.parsed = parse_schema(self.schema)

    # bodies ---------------------------------------------------------------------------------
    def body(
        self,
        header: dict[str, Any],
        record: Mapping[str, Any],
        fields: Iterable[str] | None,
    ) -> dict[str, Any]:
        """The event as a dict for the Avro writer: ``header``, then ``fields`` of ``record``
        (None: every field) with their values; every other field null."""
        wanted = None if fields is None else set(fields)
        out: dict[str, Any] = {"ChangeEventHeader": header}
        for slot in self.slots:
            if slot.field is not None:
                take = wanted is None or slot.name in wanted
                out[slot.name] = _avro_value(slot.field, record.get(slot.name)) if take else None
                continue
            nested: dict[str, Any] = {}
            any_part = False
            for part, definition in slot.parts:
                if wanted is None or definition.name in wanted:
                    value = _avro_value(definition, record.get(definition.name))
                    any_part = any_part or wanted is not None or value is not None
                    nested[part] = value
                else:
                    nested[part] = None
            out[slot.name] = nested if any_part else None
        return out

    def bitmap(self, fields: Iterable[str]) -> list[str]:
        """``fields`` (sObject field names) as a Pub/Sub API bitmap list."""
        top = 0
        nested: dict[int, int] = {}
        for name in fields:
            found = self.where.get(name)
            if found is None:
                continue
            position, index = found
            if index is None:
                top |= 1 << position
            else:
                nested[position] = nested.get(position, 0) | (1 << index)
        out = [_hex(top)] if top else []
        out.extend(f"{p}-{_hex(bits)}" for p, bits in sorted(nested.items()))
        return out


def _hex(bits: int) -> str:
    digits = f"{bits:X}"
    if len(digits) % 2:
        digits = "0" + digits
    return "0x" + digits


def _compounds(obj: ObjectDef) -> dict[str, tuple[str, list[tuple[str, FieldDef]]]]:
    """First part's field name -> (compound name, [(nested name, field)])."""
    out: dict[str, tuple[str, list[tuple[str, FieldDef]]]] = {}
    name_field = obj.field("Name")
    if obj.field("LastName") is not None and (name_field is None or name_field.calculated):
        parts = [(p, f) for p in NAME_PARTS if (f := obj.field(p)) is not None]
        first = _first_in_order(obj, [f for _, f in parts])
        out[first] = ("Name", parts)
    for prefix in ADDRESS_PREFIXES:
        parts = [(p, f) for p in ADDRESS_PARTS if (f := obj.field(prefix + p)) is not None]
        if parts:
            first = _first_in_order(obj, [f for _, f in parts])
            out[first] = (prefix + "Address", parts)
    return out


def _first_in_order(obj: ObjectDef, parts: list[FieldDef]) -> str:
    names = {f.name for f in parts}
    return next(f.name for f in obj.fields.values() if f.name in names)


def _avro_type(definition: FieldDef) -> Any:
    kind = definition.type
    if kind == "boolean":
        return "boolean"
    if kind == "int":
        return "int"
    if kind in ("double", "currency", "percent"):
        return "double"
    if kind == "datetime":
        return "long"
    if kind == "date":
        return {"type": "int", "logicalType": "date"}
    return "string"


def _avro_field(name: str, definition: FieldDef) -> dict[str, Any]:
    doc = f"Data:{definition.type}"
    return {"name": name, "type": ["null", _avro_type(definition)], "doc": doc, "default": None}


def _avro_value(definition: FieldDef, value: Any) -> Any:
    """A stored value in the field's Avro type."""
    if value is None:
        return None
    kind = definition.type
    if kind == "boolean":
        return bool(value)
    if kind == "int":
        return int(value)
    if kind in ("double", "currency", "percent"):
        return float(value)
    if kind == "datetime":
        parsed = clock.parse_datetime(str(value))
        return None if parsed is None else int(parsed.timestamp() * 1000)
    if kind == "date":
        day = clock.parse_date(str(value))
        return None if day is None else day
    if isinstance(value, list):
        return ";".join(str(v) for v in value)
    return str(value)


# reading a stored schema back (delivery filters events by field-level security) ---------------
def positions_of(doc: Mapping[str, Any]) -> dict[str, tuple[int, int | None]]:
    """sObject field -> (top-level position, nested index or None) of a change event schema
    (its JSON, as ``ChangeEventSchema.schema`` or GetSchema gives it): the inverse of
    ``ChangeEventSchema.where`` for an event written with an older schema too."""
    records: dict[str, Mapping[str, Any]] = {}
    out: dict[str, tuple[int, int | None]] = {}
    for position, item in enumerate(doc["fields"]):
        if position == 0:
            continue  # ChangeEventHeader
        nested = next((t for t in item["type"] if t != "null"), None)
        if isinstance(nested, dict) and nested.get("type") == "record":
            records[str(nested["name"])] = nested
        record = records.get(nested) if isinstance(nested, str) else nested
        if item.get("doc") != "Data:Compound" or not isinstance(record, Mapping):
            out[str(item["name"])] = (position, None)
            continue
        compound = str(item["name"])
        prefix = "" if compound == "Name" else compound.removesuffix("Address")
        for index, part in enumerate(record["fields"]):
            out[prefix + str(part["name"])] = (position, index)
    return out


def clear_bits(bitmap: Iterable[str], positions: Iterable[tuple[int, int | None]]) -> list[str]:
    """A bitmap list (``changedFields`` ...) without the fields at ``positions``."""
    top_mask = 0
    nested_mask: dict[int, int] = {}
    for position, index in positions:
        if index is None:
            top_mask |= 1 << position
        else:
            nested_mask[position] = nested_mask.get(position, 0) | (1 << index)
    top = 0
    nested: dict[int, int] = {}
    for item in bitmap:
        if item.startswith("0x"):
            top = int(item, 16)
        else:
            where, _, hex_bits = item.partition("-")
            nested[int(where)] = int(hex_bits, 16)
    top &= ~top_mask
    out = [_hex(top)] if top else []
    for position, nested_bits in sorted(nested.items()):
        kept = nested_bits & ~nested_mask.get(position, 0)
        if kept:
            out.append(f"{position}-{_hex(kept)}")
    return out
