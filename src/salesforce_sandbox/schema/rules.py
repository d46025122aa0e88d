"""An object's rules as metadata deploys them (pure): validation rules and record types.

``ValidationRule`` (``<validationRules>`` in ``objects/X.object``, or
``objects/X/validationRules/R.validationRule-meta.xml``)::

    <fullName>Billing_Status_Allowed</fullName>
    <active>true</active>
    <errorConditionFormula>ISPICKVAL(Billing_Status__c, "Blocked")</errorConditionFormula>
    <errorDisplayField>Billing_Status__c</errorDisplayField>   (optional: top of page)
    <errorMessage>Blocked accounts cannot be billed</errorMessage>

``RecordType`` (``<recordTypes>``, or ``objects/X/recordTypes/D.recordType-meta.xml``)::

    <fullName>Enterprise</fullName>
    <active>true</active>
    <label>Enterprise</label>
    <picklistValues>
        <picklist>Subscription_Status__c</picklist>
        <values><fullName>Active</fullName><default>true</default></values>
    </picklistValues>

A record type's ``picklistValues`` are the values its records may hold in that (restricted)
picklist. Its RecordType row has a stable Id derived from ``Object.DeveloperName``, so a
redeploy, a reset or a restart keeps it.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
import zlib
from dataclasses import dataclass, field
from typing import Any

from salesforce_sandbox import ids

RECORD_TYPE_PREFIX = "012"
MASTER_RECORD_TYPE_ID = "012000000000000AAA"
RECORD_TYPE_FIELD = "RecordTypeId"


def record_type_id(object_name: str, developer_name: str) -> str:
    """The Id of a deployed record type: the same on every deploy, reset and restart."""
    key = f"{object_name}.{developer_name}".lower().encode()
    return ids.make_id(RECORD_TYPE_PREFIX, zlib.crc32(key) + 1)


@dataclass
class ValidationRuleDef:
    name: str
    formula: str
    message: str
    active: bool = True
    display_field: str | None = None
    description: str = ""
    # the compiled condition (a ``formula.Formula``; compiled at deploy or when first needed)
    compiled: Any = field(default=None, compare=False, repr=False)

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "formula": self.formula,
            "message": self.message,
            "active": self.active,
            "display_field": self.display_field,
            "description": self.description,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> ValidationRuleDef:
        return cls(**data)


@dataclass
class RecordTypeDef:
    developer_name: str
    label: str
    active: bool = True
    description: str = ""
    picklists: dict[str, list[str]] = field(default_factory=dict)  # field -> allowed values
    defaults: dict[str, str] = field(default_factory=dict)  # field -> its default value

    def allowed(self, field_name: str) -> list[str] | None:
        """The values allowed in ``field_name`` (None: the record type does not restrict it)."""
        lowered = field_name.lower()
        return next((v for k, v in self.picklists.items() if k.lower() == lowered), None)

    def to_json(self) -> dict[str, Any]:
        return dict(self.__dict__)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> RecordTypeDef:
        return cls(**data)


@dataclass
class ObjectRules:
    """The validation rules and record types of one object (in the order deployed)."""

    validation_rules: list[ValidationRuleDef] = field(default_factory=list)
    record_types: list[RecordTypeDef] = field(default_factory=list)

    def __bool__(self) -> bool:
        return bool(self.validation_rules or self.record_types)

    def put_rule(self, rule: ValidationRuleDef) -> None:
        lowered = rule.name.lower()
        kept = [r for r in self.validation_rules if r.name.lower() != lowered]
        self.validation_rules = [*kept, rule]

    def put_record_type(self, record_type: RecordTypeDef) -> None:
        lowered = record_type.developer_name.lower()
        kept = [r for r in self.record_types if r.developer_name.lower() != lowered]
        self.record_types = [*kept, record_type]

    def record_type(self, developer_name: str) -> RecordTypeDef | None:
        lowered = developer_name.lower()
        return next((r for r in self.record_types if r.developer_name.lower() == lowered), None)

    def to_json(self) -> dict[str, Any]:
        return {
            "validation_rules": [r.to_json() for r in self.validation_rules],
            "record_types": [r.to_json() for r in self.record_types],
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> ObjectRules:
        return cls(
            [ValidationRuleDef.from_json(r) for r in data.get("validation_rules", [])],
            [RecordTypeDef.from_json(r) for r in data.get("record_types", [])],
        )


# metadata XML ---------------------------------------------------------------------------------
def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def _text(node: ET.Element, name: str) -> str:
    for child in node:
        if _local(child.tag) == name:
            return (child.text or "").strip()
    return ""


def _flag(node: ET.Element, name: str, default: bool) -> bool:
    raw = _text(node, name).lower()
    return default if not raw else raw == "true"


class RuleMetadataError(ValueError):
    """A rule document without what it needs; the message is the deploy problem."""


def parse_validation_rule(node: ET.Element, name: str = "") -> ValidationRuleDef:
    """A ``<validationRules>`` element (or a ``<ValidationRule>`` document)."""
    full = _text(node, "fullName") or name
    full = full.split(".", 1)[-1]
    for required in ("errorConditionFormula", "errorMessage"):
        if not _text(node, required):
            raise RuleMetadataError(f"Required field is missing: {required}")
    return ValidationRuleDef(
        full,
        _text(node, "errorConditionFormula"),
        _text(node, "errorMessage"),
        _flag(node, "active", True),
        _text(node, "errorDisplayField") or None,
        _text(node, "description"),
    )


def parse_record_type(node: ET.Element, name: str = "") -> RecordTypeDef:
    """A ``<recordTypes>`` element (or a ``<RecordType>`` document)."""
    full = (_text(node, "fullName") or name).split(".", 1)[-1]
    label = _text(node, "label")
    if not label:
        raise RuleMetadataError("Required field is missing: label")
    out = RecordTypeDef(full, label, _flag(node, "active", True), _text(node, "description"))
    for item in node:
        if _local(item.tag) != "picklistValues":
            continue
        picklist = _text(item, "picklist")
        values = []
        for value in item:
            if _local(value.tag) != "values":
                continue
            text = _text(value, "fullName")
            values.append(text)
            if _flag(value, "default", False):
                out.defaults[picklist] = text
        out.picklists[picklist] = values
    return out


def parse_document(kind: str, xml_text: str, name: str = "") -> ValidationRuleDef | RecordTypeDef:
    """A source-format ``*.validationRule-meta.xml`` or ``*.recordType-meta.xml``."""
    try:
        root = ET.fromstring(xml_text)
    except ET.ParseError as exc:
        raise RuleMetadataError(f"Error parsing file: {exc}") from exc
    if kind == "ValidationRule":
        return parse_validation_rule(root, name)
    return parse_record_type(root, name)
