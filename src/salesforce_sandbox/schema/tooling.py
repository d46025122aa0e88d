"""The Tooling API's view of the org (pure): the few tooling objects the sandbox can answer
truthfully, and their rows, derived from the org's schema on each call.

- ``CustomObject`` and ``CustomField``: the custom objects and fields deployed to the org (their
  ids are stable: derived from the API names).
- ``ValidationRule``: the validation rules deployed to the org, active or not
  (``EntityDefinitionId`` is a standard object's name, a custom object's ``CustomObject`` id).
- ``InstalledSubscriberPackage``, ``SubscriberPackage``, ``SubscriberPackageVersion``: no
  managed or unlocked packages are ever installed here, so always empty (``sf package installed
  list`` answers an empty list).

Not here on purpose: ``SourceMember``. The sandbox is an org without source tracking (like a
production or Developer Edition org), and the Salesforce CLI tells such an org by the 404 that
``tooling/sobjects/SourceMember/describe`` answers in it (``Org.supportsSourceTracking`` in
``@salesforce/core``); a SOQL query on it is INVALID_TYPE, as in such an org. Everything else
(Apex, debug logs, packaging requests) is absent too, with the same errors.
"""

from __future__ import annotations

import zlib
from collections.abc import Iterable
from typing import Any

from salesforce_sandbox import ids
from salesforce_sandbox.schema.model import FieldDef, ObjectDef, Schema

Record = dict[str, Any]

CUSTOM_OBJECT_PREFIX = "01I"
CUSTOM_FIELD_PREFIX = "00N"
VALIDATION_RULE_PREFIX = "03d"


def _read_only(obj: ObjectDef, *fields: FieldDef) -> ObjectDef:
    obj.createable = obj.updateable = obj.deletable = False
    obj.add(FieldDef("Id", "id", f"{obj.label} ID", length=18))
    for definition in fields:
        obj.add(definition)
    for definition in obj.fields.values():
        definition.createable = definition.updateable = False
    return obj


def _text(name: str, length: int = 255, label: str = "") -> FieldDef:
    return FieldDef(name, "string", label or name, length=length)


def _manageable_state() -> FieldDef:
    return FieldDef("ManageableState", "picklist", "Manageable State", length=40)


def _lookup(name: str, target: str, relationship: str) -> FieldDef:
    return FieldDef(
        name, "reference", name, length=18, reference_to=[target], relationship_name=relationship
    )


def tooling_schema() -> Schema:
    """The tooling objects (a fresh ``Schema``: callers may not share it across threads)."""
    return Schema(
        [
            _read_only(
                ObjectDef("CustomObject", CUSTOM_OBJECT_PREFIX, "Custom Object", "Custom Objects"),
                _text("DeveloperName", 40, "Object Name"),
                _text("NamespacePrefix", 15, "Namespace Prefix"),
                _manageable_state(),
            ),
            _read_only(
                ObjectDef("CustomField", CUSTOM_FIELD_PREFIX, "Custom Field", "Custom Fields"),
                _text("DeveloperName", 40, "Field Name"),
                _text("TableEnumOrId", 40, "Table Enum or ID"),
                _text("EntityDefinitionId", 40, "Entity Definition ID"),
                _text("NamespacePrefix", 15, "Namespace Prefix"),
                _manageable_state(),
            ),
            _read_only(
                ObjectDef(
                    "ValidationRule", VALIDATION_RULE_PREFIX, "Validation Rule", "Validation Rules"
                ),
                _text("ValidationName", 40, "Rule Name"),
                FieldDef("Active", "boolean", "Active"),
                _text("Description", 255),
                _text("ErrorDisplayField", 255, "Error Location"),
                _text("ErrorMessage", 255, "Error Message"),
                _text("EntityDefinitionId", 40, "Entity Definition ID"),
                _text("NamespacePrefix", 15, "Namespace Prefix"),
                _manageable_state(),
            ),
            _read_only(
                ObjectDef("SubscriberPackage", "033", "Subscriber Package", "Subscriber Packages"),
                _text("Name", 255, "Package Name"),
                _text("NamespacePrefix", 15, "Namespace Prefix"),
                _text("Description", 255),
            ),
            _read_only(
                ObjectDef(
                    "SubscriberPackageVersion",
                    "04t",
                    "Subscriber Package Version",
                    "Subscriber Package Versions",
                ),
                _text("Name", 255, "Version Name"),
                FieldDef("MajorVersion", "int", "Major Version"),
                FieldDef("MinorVersion", "int", "Minor Version"),
                FieldDef("PatchVersion", "int", "Patch Version"),
                FieldDef("BuildNumber", "int", "Build Number"),
                FieldDef("IsManaged", "boolean", "Managed"),
                _text("Package2ContainerOptions", 40, "Package Container Options"),
                _lookup("SubscriberPackageId", "SubscriberPackage", "SubscriberPackage"),
            ),
            _read_only(
                ObjectDef(
                    "InstalledSubscriberPackage",
                    "0A3",
                    "Installed Package",
                    "Installed Packages",
                ),
                _lookup("SubscriberPackageId", "SubscriberPackage", "SubscriberPackage"),
                _lookup(
                    "SubscriberPackageVersionId",
                    "SubscriberPackageVersion",
                    "SubscriberPackageVersion",
                ),
            ),
        ]
    )


def stable_id(prefix: str, name: str) -> str:
    """The id of a metadata component, the same on every call and restart."""
    return ids.make_id(prefix, zlib.crc32(name.lower().encode()) + 1)


def _developer_name(api_name: str) -> str:
    return api_name.removesuffix("__c")


def tooling_rows(schema: Schema) -> dict[str, list[Record]]:
    """Rows of each tooling object for an org with ``schema``."""
    objects: list[Record] = []
    fields: list[Record] = []
    rules: list[Record] = []
    for obj in schema.objects():
        table = obj.name
        if obj.custom:
            table = stable_id(CUSTOM_OBJECT_PREFIX, obj.name)
            objects.append(
                {
                    "Id": table,
                    "DeveloperName": _developer_name(obj.name),
                    "NamespacePrefix": None,
                    "ManageableState": "unmanaged",
                }
            )
        for rule in obj.rules.validation_rules:
            rules.append(
                {
                    "Id": stable_id(VALIDATION_RULE_PREFIX, f"{obj.name}.{rule.name}"),
                    "ValidationName": rule.name,
                    "Active": rule.active,
                    "Description": rule.description or None,
                    "ErrorDisplayField": rule.display_field,
                    "ErrorMessage": rule.message,
                    "EntityDefinitionId": table,
                    "NamespacePrefix": None,
                    "ManageableState": "unmanaged",
                }
            )
        for definition in obj.fields.values():
            if not definition.custom:
                continue
            fields.append(
                {
                    "Id": stable_id(CUSTOM_FIELD_PREFIX, f"{obj.name}.{definition.name}"),
                    "DeveloperName": _developer_name(definition.name),
                    "TableEnumOrId": table,
                    "EntityDefinitionId": table,
                    "NamespacePrefix": None,
                    "ManageableState": "unmanaged",
                }
            )
    return {
        "CustomObject": objects,
        "CustomField": fields,
        "ValidationRule": rules,
        "SubscriberPackage": [],
        "SubscriberPackageVersion": [],
        "InstalledSubscriberPackage": [],
    }


class ToolingSource:
    """Tooling rows as a SOQL ``RecordSource`` (nothing is ever deleted in them)."""

    def __init__(self, tooling: Schema, rows: dict[str, list[Record]]) -> None:
        self.tooling = tooling
        self.rows = {name.lower(): records for name, records in rows.items()}
        self._by_id = {str(r["Id"]): r for records in rows.values() for r in records}

    def scan(self, sobject: str, include_deleted: bool) -> Iterable[Record]:
        return list(self.rows.get(sobject.lower(), []))

    def by_ids(self, sobject: str, id_list: list[str], include_deleted: bool) -> Iterable[Record]:
        wanted = set(id_list)
        return [r for r in self.scan(sobject, include_deleted) if r["Id"] in wanted]

    def by_key(
        self, sobject: str, field: str, keys: list[str], include_deleted: bool
    ) -> Iterable[Record]:
        obj = self.tooling.get(sobject)
        definition = obj.field(field) if obj is not None else None
        if definition is None:
            return []
        wanted = set(keys)
        return [
            r
            for r in self.scan(sobject, include_deleted)
            if r.get(definition.name) is not None
            and definition.normalize_key(r[definition.name]) in wanted
        ]

    def get(self, record_id: str) -> Record | None:
        return self._by_id.get(record_id)
