"""SFDX source-format metadata: ``*.object-meta.xml``, ``*.field-meta.xml`` and
``*.permissionset-meta.xml``.

Layout (as ``sf project generate`` writes it; any parent directories are fine)::

    objects/Stripe_Payment__c/Stripe_Payment__c.object-meta.xml
    objects/Stripe_Payment__c/fields/Stripe_Charge_Id__c.field-meta.xml
    objects/Account/fields/Stripe_Customer_Id__c.field-meta.xml
    objects/Account/validationRules/Billing_Status_Allowed.validationRule-meta.xml
    objects/Account/recordTypes/Enterprise.recordType-meta.xml
    permissionsets/Stripe2sf_Integration.permissionset-meta.xml
    matchingRules/Contact.matchingRule-meta.xml            (MatchingRules, kept as they came)
    duplicateRules/Contact.Contact_Email.duplicateRule-meta.xml       (DuplicateRule, the same)

Permission sets are kept as their XML (``Bundle.permission_sets``); the org parses and applies
them (``schema.permission_set``, ``models.permission_sets``).

Supported field types: Text, TextArea, LongTextArea, Html, Email, Phone, Url, Number, Currency,
Percent, Date, DateTime, Checkbox, Picklist, MultiselectPicklist, Lookup, MasterDetail,
AutoNumber.
"""

from __future__ import annotations

import copy
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from pathlib import Path

from salesforce_sandbox.errors import SalesforceError
from salesforce_sandbox.formula import FormulaError, compile_formula
from salesforce_sandbox.ids import custom_prefix
from salesforce_sandbox.schema.model import FieldDef, ObjectDef, PicklistValue, Schema
from salesforce_sandbox.schema.rules import (
    RECORD_TYPE_FIELD,
    RecordTypeDef,
    RuleMetadataError,
    ValidationRuleDef,
    parse_document,
)
from salesforce_sandbox.schema.standard import lookup, system_fields

_NS = "{http://soap.sforce.com/2006/04/metadata}"
# duplicate management: kept as they came (``Bundle.components``), the org applies them
_KEPT_SUFFIXES = {
    ".matchingRule-meta.xml": ("MatchingRules", "matchingRules"),
    ".duplicateRule-meta.xml": ("DuplicateRule", "duplicateRules"),
    # Change Data Capture's entity selection: the org selects the entities (``pubsub.bus``)
    ".platformEventChannelMember-meta.xml": (
        "PlatformEventChannelMember",
        "platformEventChannelMembers",
    ),
}
_RULE_SUFFIXES = {
    ".validationRule-meta.xml": ("ValidationRule", "validationRules"),
    ".recordType-meta.xml": ("RecordType", "recordTypes"),
}
_SUFFIXES = (
    ".object-meta.xml",
    ".field-meta.xml",
    ".permissionset-meta.xml",
    *_RULE_SUFFIXES,
)


@dataclass
class ObjectSpec:
    name: str
    label: str = ""
    label_plural: str = ""
    name_label: str = "Name"
    name_type: str = "Text"
    display_format: str | None = None


@dataclass
class Bundle:
    """Parsed metadata: custom objects and fields (keyed by object API name), validation
    rules and record types (keyed the same way), permission sets (API name -> their XML,
    applied by the org's permission model) and other components kept as they came
    ((metadata type, full name) -> XML: list views, layouts, ...)."""

    objects: list[ObjectSpec] = field(default_factory=list)
    fields: list[tuple[str, FieldDef]] = field(default_factory=list)
    permission_sets: dict[str, str] = field(default_factory=dict)
    components: dict[tuple[str, str], str] = field(default_factory=dict)
    validation_rules: list[tuple[str, ValidationRuleDef]] = field(default_factory=list)
    record_types: list[tuple[str, RecordTypeDef]] = field(default_factory=list)

    @property
    def changes_schema(self) -> bool:
        return bool(self.objects or self.fields or self.validation_rules or self.record_types)

    def extend(self, other: Bundle) -> None:
        self.objects.extend(other.objects)
        self.fields.extend(other.fields)
        self.validation_rules.extend(other.validation_rules)
        self.record_types.extend(other.record_types)
        self.permission_sets.update(other.permission_sets)
        self.components.update(other.components)


def _strip(tag: str) -> str:
    return tag[len(_NS) :] if tag.startswith(_NS) else tag.split("}")[-1]


def _text(node: ET.Element, name: str, default: str = "") -> str:
    for child in node:
        if _strip(child.tag) == name:
            return (child.text or "").strip()
    return default


def _child(node: ET.Element, name: str) -> ET.Element | None:
    for child in node:
        if _strip(child.tag) == name:
            return child
    return None


def _bool(node: ET.Element, name: str) -> bool:
    return _text(node, name).lower() == "true"


def _int(node: ET.Element, name: str, default: int = 0) -> int:
    raw = _text(node, name)
    try:
        return int(raw) if raw else default
    except ValueError:
        return default


def _invalid(message: str) -> SalesforceError:
    return SalesforceError("INVALID_METADATA", message)


def parse_field(object_name: str, xml_text: str, file_name: str = "") -> FieldDef:
    try:
        root = ET.fromstring(xml_text)
    except ET.ParseError as exc:
        raise _invalid(f"{file_name}: {exc}") from exc
    name = _text(root, "fullName") or Path(file_name).name.split(".")[0]
    if "." in name:
        name = name.split(".", 1)[1]
    kind = _text(root, "type")
    label = _text(root, "label") or name.removesuffix("__c").replace("_", " ")
    common = {
        "label": label,
        "custom": name.endswith("__c"),
        "required": _bool(root, "required"),
        "unique": _bool(root, "unique"),
        "external_id": _bool(root, "externalId"),
        "case_sensitive": _bool(root, "caseSensitive"),
    }
    if kind in ("Text", "Email", "Phone", "Url"):
        default_len = {"Text": 255, "Email": 80, "Phone": 40, "Url": 255}[kind]
        sf_type = {"Text": "string", "Email": "email", "Phone": "phone", "Url": "url"}[kind]
        return FieldDef(name, sf_type, length=_int(root, "length", default_len), **common)  # type: ignore[arg-type]
    if kind in ("TextArea", "LongTextArea", "Html"):
        default_len = 255 if kind == "TextArea" else 32768
        return FieldDef(name, "textarea", length=_int(root, "length", default_len), **common)  # type: ignore[arg-type]
    if kind in ("Number", "Currency", "Percent"):
        sf_type = {"Number": "double", "Currency": "currency", "Percent": "percent"}[kind]
        return FieldDef(
            name,
            sf_type,
            precision=_int(root, "precision", 18),
            scale=_int(root, "scale", 0),
            **common,  # type: ignore[arg-type]
        )
    if kind in ("Date", "DateTime"):
        return FieldDef(name, "date" if kind == "Date" else "datetime", **common)  # type: ignore[arg-type]
    if kind == "Checkbox":
        common["required"] = False
        default = _text(root, "defaultValue", "false").lower() == "true"
        return FieldDef(name, "boolean", default=default, **common)  # type: ignore[arg-type]
    if kind in ("Picklist", "MultiselectPicklist"):
        values: list[PicklistValue] = []
        restricted = False
        value_set = _child(root, "valueSet")
        if value_set is not None:
            restricted = _bool(value_set, "restricted")
            definition = _child(value_set, "valueSetDefinition")
            for item in definition if definition is not None else []:
                if _strip(item.tag) != "value":
                    continue
                full = _text(item, "fullName")
                values.append(
                    PicklistValue(full, _text(item, "label") or full, _bool(item, "default"))
                )
        default_value = next((v.value for v in values if v.default), None)
        return FieldDef(
            name,
            "picklist" if kind == "Picklist" else "multipicklist",
            length=255 if kind == "Picklist" else 4099,
            picklist=values,
            restricted=restricted,
            default=default_value,
            **common,  # type: ignore[arg-type]
        )
    if kind in ("Lookup", "MasterDetail"):
        target = _text(root, "referenceTo")
        if not target:
            raise _invalid(f"{name}: referenceTo is required for {kind}")
        child = _text(root, "relationshipName") or name.removesuffix("__c")
        if kind == "MasterDetail":
            common["required"] = True
        return FieldDef(
            name,
            "reference",
            length=18,
            reference_to=[target],
            relationship_name=name[:-3] + "__r" if name.endswith("__c") else name,
            child_relationship=child + "__r" if not child.endswith("__r") else child,
            **common,  # type: ignore[arg-type]
        )
    if kind == "AutoNumber":
        return FieldDef(
            name,
            "string",
            length=30,
            createable=False,
            updateable=False,
            auto_number=_text(root, "displayFormat") or "{0}",
            label=label,
            custom=True,
        )
    raise _invalid(f"{name}: unsupported field type {kind!r}")


def parse_object(name: str, xml_text: str) -> ObjectSpec:
    try:
        root = ET.fromstring(xml_text)
    except ET.ParseError as exc:
        raise _invalid(f"{name}: {exc}") from exc
    spec = ObjectSpec(name, _text(root, "label"), _text(root, "pluralLabel"))
    name_field = _child(root, "nameField")
    if name_field is not None:
        spec.name_label = _text(name_field, "label") or "Name"
        spec.name_type = _text(name_field, "type") or "Text"
        spec.display_format = _text(name_field, "displayFormat") or None
    return spec


def parse_files(files: dict[str, str]) -> Bundle:
    """Parse a mapping of relative path -> XML text."""
    bundle = Bundle()
    for path_text, content in sorted(files.items()):
        path = Path(path_text)
        if path.name.endswith(".object-meta.xml"):
            bundle.objects.append(parse_object(path.name.split(".")[0], content))
        elif path.name.endswith(".field-meta.xml"):
            if path.parent.name != "fields":
                raise _invalid(f"{path_text}: a field file must live in <Object>/fields/")
            bundle.fields.append((path.parent.parent.name, parse_field("", content, path.name)))
        elif path.name.endswith(".permissionset-meta.xml"):
            bundle.permission_sets[path.name.removesuffix(".permissionset-meta.xml")] = content
        elif path.name.endswith(tuple(_KEPT_SUFFIXES)):
            suffix = next(x for x in _KEPT_SUFFIXES if path.name.endswith(x))
            kind, directory = _KEPT_SUFFIXES[suffix]
            if path.parent.name != directory:
                raise _invalid(f"{path_text}: a {kind} file must live in {directory}/")
            bundle.components[(kind, path.name.removesuffix(suffix))] = content
        else:
            _parse_rule(bundle, path, path_text, content)
    return bundle


def _parse_rule(bundle: Bundle, path: Path, path_text: str, content: str) -> None:
    for suffix, (kind, directory) in _RULE_SUFFIXES.items():
        if not path.name.endswith(suffix):
            continue
        if path.parent.name != directory:
            raise _invalid(f"{path_text}: a {kind} file must live in <Object>/{directory}/")
        try:
            parsed = parse_document(kind, content, path.name.removesuffix(suffix))
        except RuleMetadataError as exc:
            raise _invalid(f"{path_text}: {exc}") from exc
        object_name = path.parent.parent.name
        if isinstance(parsed, ValidationRuleDef):
            bundle.validation_rules.append((object_name, parsed))
        else:
            bundle.record_types.append((object_name, parsed))


def read_dir(root: Path) -> Bundle:
    """Read every object, field and permission set file under ``root``."""
    if not root.is_dir():
        raise _invalid(f"metadata directory not found: {root}")
    files = {
        str(p.relative_to(root)): p.read_text(encoding="utf-8")
        for p in root.rglob("*-meta.xml")
        if p.name.endswith(_SUFFIXES) or p.name.endswith(tuple(_KEPT_SUFFIXES))
    }
    return parse_files(files)


def new_custom_object(spec: ObjectSpec, prefix: str) -> ObjectDef:
    obj = ObjectDef(spec.name, prefix, spec.label, spec.label_plural, custom=True)
    system_fields(obj)
    if spec.name_type == "AutoNumber":
        obj.add(
            FieldDef(
                "Name",
                "string",
                spec.name_label,
                length=80,
                createable=False,
                updateable=False,
                auto_number=spec.display_format or "{0}",
                indexed=True,
            )
        )
    else:
        obj.add(FieldDef("Name", "string", spec.name_label, length=80, indexed=True))
    return obj


def apply(schema: Schema, bundle: Bundle, next_prefix: int) -> list[str]:
    """Add the bundle's objects and fields to ``schema``; returns what changed.

    New custom objects get key prefixes ``custom_prefix(next_prefix)``, ``+1``, ...
    Redeploying a field replaces its definition.
    """
    changed: list[str] = []
    index = next_prefix
    for spec in bundle.objects:
        existing = schema.get(spec.name)
        if existing is None:
            if not spec.name.endswith("__c"):
                raise _invalid(f"{spec.name}: custom object names end in __c")
            while schema.by_prefix(custom_prefix(index)) is not None:
                index += 1
            schema.add(new_custom_object(spec, custom_prefix(index)))
            index += 1
        else:
            if spec.label:
                existing.label = spec.label
            if spec.label_plural:
                existing.label_plural = spec.label_plural
        changed.append(spec.name)
    expanded: list[tuple[str, FieldDef]] = []
    for object_name, definition in bundle.fields:
        if object_name.lower() == "activity":  # Task and Event fields live on Activity
            expanded.extend((name, copy.deepcopy(definition)) for name in ("Task", "Event"))
        else:
            expanded.append((object_name, definition))
    for object_name, definition in expanded:
        obj = schema.get(object_name)
        if obj is None and object_name == "Event":
            continue
        if obj is None:
            raise _invalid(f"{object_name}.{definition.name}: object {object_name} does not exist")
        targets = []
        for target in definition.reference_to:
            target_obj = schema.get(target)
            if target_obj is None:
                raise _invalid(f"{definition.name}: referenceTo {target} does not exist")
            targets.append(target_obj.name)
        definition.reference_to = targets
        current = obj.field(definition.name)
        if current is not None and not current.custom:
            raise _invalid(f"{object_name}.{definition.name}: cannot redefine a standard field")
        obj.add(definition)
        changed.append(f"{obj.name}.{definition.name}")
    changed += _apply_rules(schema, bundle)
    return changed


def record_type_field() -> FieldDef:
    """``RecordTypeId``, which an object has once it has record types."""
    return lookup(RECORD_TYPE_FIELD, ["RecordType"], "RecordType", None, label="Record Type ID")


def _apply_rules(schema: Schema, bundle: Bundle) -> list[str]:
    """Add validation rules and record types; every rule of a touched object is compiled
    again (a field it reads may have changed), and must still compile."""
    changed: list[str] = []
    for object_name, record_type in bundle.record_types:
        obj = _rule_object(schema, object_name, record_type.developer_name)
        obj.rules.put_record_type(record_type)
        if obj.field(RECORD_TYPE_FIELD) is None:
            obj.add(record_type_field())
        changed.append(f"{obj.name}.{record_type.developer_name}")
    for object_name, rule in bundle.validation_rules:
        obj = _rule_object(schema, object_name, rule.name)
        obj.rules.put_rule(rule)
        changed.append(f"{obj.name}.{rule.name}")
    touched = {name.split(".", 1)[0].lower() for name in changed}
    for obj in schema.objects():
        if obj.name.lower() not in touched:
            continue
        for rule in obj.rules.validation_rules:
            try:
                rule.compiled = compile_formula(rule.formula, obj, schema)
            except FormulaError as exc:
                raise _invalid(f"{obj.name}.{rule.name}: {exc}") from exc
    return changed


def _rule_object(schema: Schema, object_name: str, name: str) -> ObjectDef:
    obj = schema.get(object_name)
    if obj is None:
        raise _invalid(f"{object_name}.{name}: object {object_name} does not exist")
    return obj
