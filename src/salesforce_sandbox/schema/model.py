"""Field and object definitions and the case-insensitive schema registry (pure)."""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from salesforce_sandbox.schema.rules import ObjectRules

# describe "type" values used here
TEXT_TYPES = frozenset(
    {"string", "email", "phone", "url", "textarea", "picklist", "multipicklist", "combobox"}
)
NUMBER_TYPES = frozenset({"double", "currency", "percent", "int"})
ID_TYPES = frozenset({"id", "reference"})


@dataclass
class PicklistValue:
    value: str
    label: str
    default: bool = False
    active: bool = True

    def to_json(self) -> dict[str, Any]:
        return {"value": self.value, "label": self.label, "default": self.default}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> PicklistValue:
        return cls(str(data["value"]), str(data.get("label", data["value"])), bool(data["default"]))


@dataclass
class FieldDef:
    """One field as describe shows it, with what validation needs."""

    name: str
    type: str
    label: str = ""
    length: int = 0
    precision: int = 0
    scale: int = 0
    required: bool = False
    unique: bool = False
    external_id: bool = False
    case_sensitive: bool = False
    custom: bool = False
    createable: bool = True
    updateable: bool = True
    reference_to: list[str] = field(default_factory=list)
    relationship_name: str | None = None
    child_relationship: str | None = None
    picklist: list[PicklistValue] = field(default_factory=list)
    restricted: bool = False
    default: Any = None
    auto_number: str | None = None
    calculated: bool = False
    indexed: bool = False

    def __post_init__(self) -> None:
        if not self.label:
            self.label = self.name.removesuffix("__c").replace("_", " ")
        if self.external_id or self.unique or (self.type == "reference" and self.createable):
            self.indexed = True
        if self.type == "boolean" and self.default is None:
            self.default = False  # checkboxes are never null

    @property
    def lower(self) -> str:
        return self.name.lower()

    @property
    def is_text(self) -> bool:
        return self.type in TEXT_TYPES

    @property
    def is_number(self) -> bool:
        return self.type in NUMBER_TYPES

    @property
    def keyed(self) -> bool:
        """Whether a value index is kept for this field (external id, unique, lookups)."""
        return self.indexed

    @property
    def nillable(self) -> bool:
        return not self.required and self.type not in ("boolean", "id")

    def normalize_key(self, value: Any) -> str:
        """Index form of a value: ids and case-sensitive values as is, other text lowered."""
        text = value if isinstance(value, str) else _key_text(value)
        if self.type in ID_TYPES or self.case_sensitive:
            return text
        return text.lower()

    def to_json(self) -> dict[str, Any]:
        data = {k: v for k, v in self.__dict__.items() if k != "picklist"}
        data["picklist"] = [p.to_json() for p in self.picklist]
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> FieldDef:
        values = dict(data)
        values["picklist"] = [PicklistValue.from_json(p) for p in values.get("picklist", [])]
        return cls(**values)


def _key_text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


@dataclass
class ObjectDef:
    """One sObject type."""

    name: str
    key_prefix: str
    label: str = ""
    label_plural: str = ""
    custom: bool = False
    createable: bool = True
    updateable: bool = True
    deletable: bool = True
    fields: dict[str, FieldDef] = field(default_factory=dict)
    # validation rules and record types (saved apart from the schema: models.org_rules)
    rules: ObjectRules = field(default_factory=ObjectRules, repr=False, compare=False)
    _cache: dict[str, list[FieldDef]] = field(default_factory=dict, repr=False, compare=False)

    def __post_init__(self) -> None:
        if not self.label:
            self.label = self.name.removesuffix("__c").replace("_", " ")
        if not self.label_plural:
            self.label_plural = self.label + "s"

    def add(self, definition: FieldDef) -> None:
        self.fields[definition.lower] = definition
        self._cache.clear()

    def remove(self, name: str) -> None:
        """Drop a field (an org feature turned off); nothing when it is absent."""
        if self.fields.pop(name.lower(), None) is not None:
            self._cache.clear()

    def _select(self, name: str, keep: Callable[[FieldDef], bool]) -> list[FieldDef]:
        found = self._cache.get(name)
        if found is None:
            found = [f for f in self.fields.values() if keep(f)]
            self._cache[name] = found
        return found

    @property
    def keyed_fields(self) -> list[FieldDef]:
        """Fields with a value index (external ids, unique fields, lookups, a few others)."""
        return self._select("keyed", lambda f: f.keyed and f.type != "id")

    @property
    def required_fields(self) -> list[FieldDef]:
        return self._select("required", lambda f: f.required and f.createable)

    @property
    def default_fields(self) -> list[FieldDef]:
        return self._select("default", lambda f: f.default is not None)

    @property
    def autonumber_fields(self) -> list[FieldDef]:
        return self._select("autonumber", lambda f: f.auto_number is not None)

    def field(self, name: str) -> FieldDef | None:
        return self.fields.get(name.lower())

    def by_relationship(self, name: str) -> FieldDef | None:
        lowered = name.lower()
        for definition in self.fields.values():
            rel = definition.relationship_name
            if rel is not None and rel.lower() == lowered:
                return definition
        return None

    @property
    def has_owner(self) -> bool:
        return "ownerid" in self.fields

    def to_json(self) -> dict[str, Any]:
        data = {k: v for k, v in self.__dict__.items() if k not in ("fields", "rules", "_cache")}
        data["fields"] = [f.to_json() for f in self.fields.values()]
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> ObjectDef:
        values = dict(data)
        fields = values.pop("fields")
        obj = cls(**values)
        for item in fields:
            obj.add(FieldDef.from_json(item))
        return obj


class Schema:
    """Case-insensitive registry of sObject types."""

    def __init__(self, objects: list[ObjectDef] | None = None) -> None:
        self._objects: dict[str, ObjectDef] = {}
        self._prefixes: dict[str, ObjectDef] = {}
        for obj in objects or []:
            self.add(obj)

    def add(self, obj: ObjectDef) -> None:
        self._objects[obj.name.lower()] = obj
        self._prefixes[obj.key_prefix] = obj

    def remove(self, name: str) -> None:
        """Drop an object (an org feature turned off); nothing when it is absent."""
        obj = self._objects.pop(name.lower(), None)
        if obj is not None:
            self._prefixes.pop(obj.key_prefix, None)

    def get(self, name: str) -> ObjectDef | None:
        return self._objects.get(name.lower())

    def by_prefix(self, prefix: str) -> ObjectDef | None:
        return self._prefixes.get(prefix)

    def of_id(self, record_id: str) -> ObjectDef | None:
        return self._prefixes.get(record_id[:3])

    def objects(self) -> list[ObjectDef]:
        return sorted(self._objects.values(), key=lambda o: o.name)

    def custom_prefixes(self) -> set[str]:
        return {o.key_prefix for o in self._objects.values() if o.custom}

    def child_relationships(self, parent: str) -> list[tuple[ObjectDef, FieldDef]]:
        """(child object, lookup field) pairs whose lookup points at ``parent``."""
        lowered = parent.lower()
        out = []
        for obj in self._objects.values():
            for definition in obj.fields.values():
                if definition.child_relationship and any(
                    t.lower() == lowered for t in definition.reference_to
                ):
                    out.append((obj, definition))
        return out

    def copy(self) -> Schema:
        return Schema([copy.deepcopy(o) for o in self._objects.values()])
