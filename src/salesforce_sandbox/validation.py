"""Field-level validation and coercion of write payloads (pure).

``coerce_payload`` turns a JSON (or CSV) field map into stored values, raising
``SalesforceError`` with Salesforce's codes: INVALID_FIELD, INVALID_FIELD_FOR_INSERT_UPDATE,
STRING_TOO_LONG, INVALID_EMAIL_ADDRESS, INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST,
NUMBER_OUTSIDE_VALID_RANGE, MALFORMED_ID, JSON_PARSER_ERROR / INVALID_TYPE_ON_FIELD_IN_RECORD.
``missing_required`` gives REQUIRED_FIELD_MISSING.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from salesforce_sandbox import clock, ids
from salesforce_sandbox.errors import SalesforceError
from salesforce_sandbox.schema.model import FieldDef, ObjectDef

Op = Literal["create", "update"]
Source = Literal["json", "csv"]

_EMAIL_RE = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
SYSTEM_SETTABLE = frozenset(
    {"createddate", "createdbyid", "lastmodifieddate", "lastmodifiedbyid", "systemmodstamp", "id"}
)


@dataclass(frozen=True)
class ExternalRef:
    """A lookup given by a parent's external id: ``"Account": {"Ext__c": "x"}``."""

    field: FieldDef
    target: str
    ext_field: str
    value: str


def _type_error(definition: FieldDef, value: Any, source: Source) -> SalesforceError:
    if source == "json":
        return SalesforceError(
            "JSON_PARSER_ERROR",
            f"Cannot deserialize instance of {definition.type} from VALUE_STRING value "
            f"{value} or request may be missing a required field",
            fields=[definition.name],
        )
    return SalesforceError(
        "INVALID_TYPE_ON_FIELD_IN_RECORD",
        f"{definition.label}: value not of required type: {value}",
        fields=[definition.name],
    )


def coerce_value(definition: FieldDef, value: Any, source: Source = "json") -> Any:
    """Stored form of ``value`` for ``definition``; None means null."""
    if value is None or (isinstance(value, str) and value == ""):
        return None
    kind = definition.type
    if isinstance(value, (dict, list)):
        raise _type_error(definition, value, source)
    if definition.is_text:
        text = value if isinstance(value, str) else _scalar_text(value)
        if kind == "picklist" and definition.picklist:
            match = next((p.value for p in definition.picklist if p.value == text), None)
            if match is None:
                lowered = text.lower()
                match = next(
                    (p.value for p in definition.picklist if p.value.lower() == lowered), None
                )
            if match is None and definition.restricted:
                raise SalesforceError(
                    "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST",
                    f"{definition.label}: bad value for restricted picklist field: {text}",
                    fields=[definition.name],
                )
            text = match or text
        if definition.length and len(text) > definition.length:
            raise SalesforceError(
                "STRING_TOO_LONG",
                f"{definition.label}: data value too large: {text} "
                f"(max length={definition.length})",
                fields=[definition.name],
            )
        if kind == "email" and not _EMAIL_RE.match(text):
            raise SalesforceError(
                "INVALID_EMAIL_ADDRESS",
                f"{definition.label}: invalid email address: {text}",
                fields=[definition.name],
            )
        return text
    if definition.is_number:
        return _number(definition, value, source)
    if kind == "boolean":
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.lower() in ("true", "false", "1", "0"):
            return value.lower() in ("true", "1")
        if isinstance(value, int):
            return bool(value)
        raise _type_error(definition, value, source)
    if kind == "date":
        parsed = clock.parse_date(value) if isinstance(value, str) else None
        if parsed is None:
            raise _type_error(definition, value, source)
        return parsed.isoformat()
    if kind == "datetime":
        parsed_dt = clock.parse_datetime(value) if isinstance(value, str) else None
        if parsed_dt is None:
            raise _type_error(definition, value, source)
        return clock.format_datetime(parsed_dt)
    if kind in ("reference", "id"):
        text = value if isinstance(value, str) else str(value)
        normal = ids.normalize(text)
        if normal is None:
            raise SalesforceError(
                "MALFORMED_ID",
                f"{definition.label}: id value of incorrect type: {text}",
                fields=[definition.name],
            )
        return normal
    return value


def _scalar_text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _number(definition: FieldDef, value: Any, source: Source) -> float | int:
    if isinstance(value, bool):
        raise _type_error(definition, value, source)
    if isinstance(value, str):
        try:
            number = float(value.strip())
        except ValueError:
            raise _type_error(definition, value, source) from None
    elif isinstance(value, (int, float)):
        number = float(value)
    else:
        raise _type_error(definition, value, source)
    if math.isnan(number) or math.isinf(number):
        raise _type_error(definition, value, source)
    if definition.type == "int":
        if not number.is_integer():
            raise _type_error(definition, value, source)
        limit = 10 ** (definition.precision or 9)
        if abs(number) >= limit:
            raise _out_of_range(definition, value)
        return int(number)
    scale = definition.scale
    number = round(number, scale)
    if definition.precision:
        integer_digits = definition.precision - scale
        if abs(number) >= 10**integer_digits:
            raise _out_of_range(definition, value)
    return number


def _out_of_range(definition: FieldDef, value: Any) -> SalesforceError:
    return SalesforceError(
        "NUMBER_OUTSIDE_VALID_RANGE",
        f"{definition.label}: value outside of valid range on numeric field: {value}",
        fields=[definition.name],
    )


def coerce_payload(
    obj: ObjectDef,
    payload: Mapping[str, Any],
    op: Op,
    source: Source = "json",
    system: bool = False,
) -> tuple[dict[str, Any], list[ExternalRef]]:
    """Validate and coerce a field map; returns stored values and external-id lookups."""
    values: dict[str, Any] = {}
    refs: list[ExternalRef] = []
    for key, raw in payload.items():
        if key == "attributes":
            continue
        definition = obj.field(key)
        if definition is None:
            rel = obj.by_relationship(key)
            if rel is not None and isinstance(raw, dict):
                refs.append(_external_ref(rel, raw))
                continue
            raise SalesforceError(
                "INVALID_FIELD",
                f"No such column '{key}' on sobject of type {obj.name}",
                fields=[key],
            )
        name = definition.name
        if name == "Id" and not system:
            if op == "create":
                raise SalesforceError(
                    "INVALID_FIELD", "cannot specify Id in an insert call", fields=["Id"]
                )
            continue
        allowed = definition.createable if op == "create" else definition.updateable
        if not allowed and not system:
            verb = "create" if op == "create" else "update"
            raise SalesforceError(
                "INVALID_FIELD_FOR_INSERT_UPDATE",
                f"Unable to {verb} fields: {name}. Please check the security settings of this "
                "field and verify that it is read/write for your profile or permission set.",
                fields=[name],
            )
        values[name] = coerce_value(definition, raw, source)
    return values, refs


def _external_ref(rel: FieldDef, raw: Mapping[str, Any]) -> ExternalRef:
    keys = [k for k in raw if k != "attributes"]
    if len(keys) != 1 or not rel.reference_to:
        raise SalesforceError(
            "INVALID_FIELD",
            f"A relationship field ({rel.relationship_name}) must name exactly one external id",
            fields=[rel.name],
        )
    target = rel.reference_to[0]
    attrs = raw.get("attributes")
    if isinstance(attrs, dict) and attrs.get("type"):
        target = str(attrs["type"])
    return ExternalRef(rel, target, keys[0], _scalar_text(raw[keys[0]]))


def missing_required(obj: ObjectDef, record: Mapping[str, Any]) -> SalesforceError | None:
    """REQUIRED_FIELD_MISSING for required fields that are null in ``record``."""
    missing = [f.name for f in obj.required_fields if record.get(f.name) is None]
    if not missing:
        return None
    return SalesforceError(
        "REQUIRED_FIELD_MISSING",
        f"Required fields are missing: [{', '.join(missing)}]",
        fields=missing,
    )
