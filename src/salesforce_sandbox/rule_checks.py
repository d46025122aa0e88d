"""The org's rules applied when a record is saved (pure): its record type (the default one on
insert, a valid one always), the picklist values that record type allows, and the active
validation rules, with Salesforce's error codes and texts:

- ``INVALID_CROSS_REFERENCE_KEY`` "Record Type ID: this ID value isn't valid for the user:
  <id>" for a record type that is not an active one of the object;
- ``INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST`` "<label>: bad value for restricted picklist
  field: <value>" for a value the record type does not allow in a restricted picklist
  (unrestricted picklists take any value through the API, as in Salesforce);
- ``FIELD_CUSTOM_VALIDATION_EXCEPTION`` with the rule's message and ``fields`` = [its error
  display field] (none when the message shows at the top of the page), one error per rule
  whose condition is true.

Salesforce's order of save is kept by the caller: required fields first, then these.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from salesforce_sandbox.errors import SalesforceError
from salesforce_sandbox.formula import Env, FormulaError, compile_formula, evaluate
from salesforce_sandbox.schema.model import ObjectDef, Schema
from salesforce_sandbox.schema.rules import (
    MASTER_RECORD_TYPE_ID,
    RECORD_TYPE_FIELD,
    RecordTypeDef,
    ValidationRuleDef,
)

Record = Mapping[str, Any]


@dataclass(frozen=True)
class RecordTypeRow:
    """An active record type of an object, as its RecordType row says."""

    id: str
    developer_name: str
    person: bool = False
    name: str = ""


def default_record_type(rows: Sequence[RecordTypeRow]) -> RecordTypeRow | None:
    """The record type a new record gets when none is given: the first active business
    record type by developer name (person account record types only when there is no
    other). Profiles, which choose it in Salesforce, are not deployable here."""
    ordered = sorted(rows, key=lambda r: (r.person, r.developer_name.lower()))
    return ordered[0] if ordered else None


def record_type_infos(
    object_name: str, rows: Sequence[RecordTypeRow], version: str
) -> list[dict[str, Any]]:
    """Describe's ``recordTypeInfos``: the active record types and the master one (the
    default, and available, only when the object has no other)."""
    default = default_record_type(rows)
    base = f"/services/data/v{version}/sobjects/{object_name}/describe/layouts/"

    def info(record_id: str, developer: str, name: str, master: bool) -> dict[str, Any]:
        chosen = record_id == default.id if default is not None else master
        return {
            "active": True,
            "available": not master or default is None,
            "defaultRecordTypeMapping": chosen,
            "developerName": developer,
            "master": master,
            "name": name,
            "recordTypeId": record_id,
            "urls": {"layout": base + record_id},
        }

    ordered = sorted(rows, key=lambda r: (r.name or r.developer_name).lower())
    out = [info(r.id, r.developer_name, r.name or r.developer_name, False) for r in ordered]
    out.append(info(MASTER_RECORD_TYPE_ID, "Master", "Master", True))
    return out


def invalid_record_type(value: Any) -> SalesforceError:
    return SalesforceError(
        "INVALID_CROSS_REFERENCE_KEY",
        f"Record Type ID: this ID value isn't valid for the user: {value}",
        fields=[RECORD_TYPE_FIELD],
    )


def chosen_record_type(
    record: Record, current: Record | None, rows: Sequence[RecordTypeRow]
) -> RecordTypeRow | None:
    """The record type the record is saved with (None: the master record type). Raises
    INVALID_CROSS_REFERENCE_KEY for a given Id that is not an active record type of the
    object; an unchanged one on update stays, active or not."""
    given = record.get(RECORD_TYPE_FIELD)
    if given is None:
        return default_record_type(rows) if current is None else None
    found = next((r for r in rows if r.id == given), None)
    unchanged = current is not None and current.get(RECORD_TYPE_FIELD) == given
    if found is None and not unchanged:
        raise invalid_record_type(given)
    return found


def apply_picklist_defaults(
    obj: ObjectDef, record_type: RecordTypeDef, record: dict[str, Any]
) -> None:
    """On insert: a picklist left at its field default (or empty) that the record type does
    not allow takes the record type's default value."""
    for name, value in record_type.defaults.items():
        definition = obj.field(name)
        if definition is None:
            continue
        current = record.get(definition.name)
        allowed = record_type.allowed(name) or []
        if current is None or (current == definition.default and current not in allowed):
            record[definition.name] = value


def picklist_error(
    obj: ObjectDef, record_type: RecordTypeDef, record: Record, current: Record | None
) -> SalesforceError | None:
    """The first restricted picklist value (set or changed now) the record type does not
    allow."""
    for name, allowed in record_type.picklists.items():
        definition = obj.field(name)
        if definition is None or not definition.restricted:
            continue
        value = record.get(definition.name)
        if value is None:
            continue
        if (
            current is not None
            and current.get(definition.name) == value
            and current.get(RECORD_TYPE_FIELD) == record.get(RECORD_TYPE_FIELD)
        ):
            continue
        values = str(value).split(";") if definition.type == "multipicklist" else [str(value)]
        for each in values:
            if each not in allowed:
                return SalesforceError(
                    "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST",
                    f"{definition.label}: bad value for restricted picklist field: {each}",
                    fields=[definition.name],
                )
    return None


def compiled(rule: ValidationRuleDef, obj: ObjectDef, schema: Schema | None) -> Any:
    """The rule's compiled condition (compiled once, when first needed)."""
    if rule.compiled is None:
        rule.compiled = compile_formula(rule.formula, obj, schema)
    return rule.compiled


def validation_errors(
    obj: ObjectDef,
    schema: Schema | None,
    record: Record,
    current: Record | None,
    parent: Callable[[str], Record | None],
) -> list[SalesforceError]:
    """FIELD_CUSTOM_VALIDATION_EXCEPTION for every active rule whose condition is true."""
    out: list[SalesforceError] = []
    env: Env | None = None
    for rule in obj.rules.validation_rules:
        if not rule.active:
            continue
        try:
            formula = compiled(rule, obj, schema)
        except FormulaError:  # checked at deploy; a later schema change cannot break it here
            continue
        env = env or Env(record, current, parent)
        if evaluate(formula, env) is True:
            display = obj.field(rule.display_field) if rule.display_field else None
            out.append(
                SalesforceError(
                    "FIELD_CUSTOM_VALIDATION_EXCEPTION",
                    rule.message,
                    fields=[display.name] if display is not None else [],
                )
            )
    return out
