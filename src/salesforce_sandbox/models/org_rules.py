"""The org's validation rules and record types: kept with the schema (``ObjectDef.rules``,
saved in the store's ``meta`` as ``schema.rules``), their RecordType rows, and their checks
on every record write (a ``RecordHook``, see ``rule_checks`` for the decisions).

Record types deployed as metadata get RecordType rows with stable Ids; an object with record
types has ``RecordTypeId``. Rows other features create (person accounts) count as well: the
check reads the active rows of the object, and the picklist values of the record types that
metadata defines. Rules apply to every write, the control plane's seeding included.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from salesforce_sandbox.errors import one_or_all
from salesforce_sandbox.models.records import Records
from salesforce_sandbox.models.store import Record, Store
from salesforce_sandbox.rule_checks import (
    RecordTypeRow,
    apply_picklist_defaults,
    chosen_record_type,
    picklist_error,
    record_type_infos,
    validation_errors,
)
from salesforce_sandbox.schema.model import ObjectDef, Schema
from salesforce_sandbox.schema.rules import RECORD_TYPE_FIELD, ObjectRules, record_type_id
from salesforce_sandbox.schema.sfdx import record_type_field
from salesforce_sandbox.validation import missing_required

RULES_META = "schema.rules"


def ensure_record_type_field(obj: ObjectDef) -> None:
    if obj.field(RECORD_TYPE_FIELD) is None:
        obj.add(record_type_field())


class OrgRules:
    """Validation rules and record types of one org."""

    def __init__(self, store: Store, records: Records, schema: Callable[[], Schema]) -> None:
        self.store = store
        self.records = records
        self._schema = schema

    # the schema's rules ---------------------------------------------------------------------
    def load(self, schema: Schema) -> None:
        """Attach the saved rules to ``schema``'s objects."""
        saved: dict[str, Any] = self.store.meta_get(RULES_META) or {}
        for name, data in saved.items():
            obj = schema.get(name)
            if obj is None:
                continue
            obj.rules = ObjectRules.from_json(data)
            if obj.rules.record_types:
                ensure_record_type_field(obj)

    def save(self, schema: Schema) -> None:
        """Keep every object's rules (in the caller's transaction)."""
        self.store.meta_set(
            RULES_META, {o.name: o.rules.to_json() for o in schema.objects() if o.rules}
        )

    def sync_rows(self, schema: Schema) -> None:
        """A RecordType row for each record type metadata defines, as it is defined now."""
        kind = schema.get("RecordType")
        if kind is None:
            return
        for obj in schema.objects():
            for definition in obj.rules.record_types:
                row_id = record_type_id(obj.name, definition.developer_name)
                values = {
                    "Name": definition.label,
                    "DeveloperName": definition.developer_name,
                    "SobjectType": obj.name,
                    "IsActive": definition.active,
                    "Description": definition.description or None,
                }
                found = self.store.get(row_id)
                if found is None:
                    self.records.create(kind, {"Id": row_id, **values}, system=True)
                elif any(found[2].get(k) != v for k, v in values.items()):
                    self.records.update(kind, row_id, values, system=True)

    def rows(self, object_name: str) -> list[RecordTypeRow]:
        """The active record types of an object."""
        found = self.store.get_many(
            self.store.lookup("RecordType", "SobjectType", object_name.lower())
        )
        return [
            RecordTypeRow(
                rid,
                str(data.get("DeveloperName")),
                bool(data.get("IsPersonType")),
                str(data.get("Name") or data.get("DeveloperName")),
            )
            for rid, (_kind, deleted, data) in sorted(found.items())
            if not deleted and data.get("IsActive", True)
        ]

    def describe_infos(self, object_name: str, version: str) -> list[dict[str, Any]]:
        """``recordTypeInfos`` of the object's describe."""
        return record_type_infos(object_name, self.rows(object_name), version)

    # the checks of a write (RecordHook) -------------------------------------------------------
    def before_write(
        self, obj: ObjectDef, record: Record, current: Record | None, user: str
    ) -> None:
        if obj.name == "RecordType":
            return
        if obj.field(RECORD_TYPE_FIELD) is not None:
            chosen = chosen_record_type(record, current, self.rows(obj.name))
            if chosen is not None:
                record[RECORD_TYPE_FIELD] = chosen.id
                defined = obj.rules.record_type(chosen.developer_name)
                if defined is not None:
                    if current is None:
                        apply_picklist_defaults(obj, defined, record)
                    error = picklist_error(obj, defined, record, current)
                    if error is not None:
                        raise error
        if not obj.rules.validation_rules or missing_required(obj, record) is not None:
            return  # required fields are checked first, as Salesforce does
        failed = one_or_all(validation_errors(obj, self._schema(), record, current, self._parent))
        if failed is not None:
            raise failed

    def after_write(self, obj: ObjectDef, record: Record) -> None:
        return None

    def _parent(self, record_id: str) -> Record | None:
        found = self.store.get(record_id)
        return found[2] if found is not None and not found[1] else None
