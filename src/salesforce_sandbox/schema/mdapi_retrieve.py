"""What ``retrieve`` and ``listMetadata`` see, and the retrieve zip (pure).

The catalog joins two sources: components deployed through the Metadata API, kept as their
documents (so a retrieve gives back what was deployed), and the org's schema, for custom
objects and fields that came another way (``--metadata`` source directories, the control
plane): those are written from their definitions.

A retrieved ``objects/X.object`` holds X's own properties and every custom field, list view
and compact layout of X when ``CustomObject X`` is asked for; only the named children when
just ``CustomField X.F`` (etc.) are. Standard objects carry their custom fields only.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from salesforce_sandbox.schema.mdapi import (
    CHILD_TYPES,
    SUPPORTED,
    document,
    element,
    file_name_of,
    leaf,
    package_xml,
    strip_namespaces,
    write_zip,
)
from salesforce_sandbox.schema.model import FieldDef, ObjectDef, Schema

# listMetadata shows standard objects with this date and no id, as real orgs do
EPOCH = "1970-01-01T00:00:00.000Z"
_ACTIVITY_OBJECTS = ("task", "event")


@dataclass
class Stored:
    """A component deployed through the Metadata API."""

    xml: str
    id: str
    created: str
    modified: str


@dataclass
class FileProperty:
    type: str
    full_name: str
    file_name: str
    id: str = ""
    created: str = EPOCH
    modified: str = EPOCH

    def wire(self, user_id: str, user_name: str) -> dict[str, Any]:
        return {
            "createdById": user_id,
            "createdByName": user_name,
            "createdDate": self.created,
            "fileName": self.file_name,
            "fullName": self.full_name,
            "id": self.id,
            "lastModifiedById": user_id,
            "lastModifiedByName": user_name,
            "lastModifiedDate": self.modified,
            "manageableState": "unmanaged",
            "type": self.type,
        }


@dataclass
class RetrieveOutput:
    zip_file: bytes
    properties: list[FileProperty] = field(default_factory=list)
    messages: list[tuple[str, str]] = field(default_factory=list)  # (fileName, problem)


class Catalog:
    """The org's components by type, with their documents."""

    def __init__(self, schema: Schema, stored: Mapping[tuple[str, str], Stored]) -> None:
        self.schema = schema
        self.stored = stored

    # membership ---------------------------------------------------------------------------
    def members(self, type_name: str, wildcard: bool = False) -> list[str]:
        """Full names of a type. ``wildcard`` (``*`` in package.xml) leaves standard objects
        out, as Salesforce does."""
        names = {name for (kind, name) in self.stored if kind == type_name}
        if type_name == "CustomObject":
            names |= {obj.name for obj in self.schema.objects() if obj.custom or not wildcard}
            if not wildcard:
                names |= {
                    name.split(".", 1)[0] for (kind, name) in self.stored if kind in CHILD_TYPES
                }
        elif type_name == "CustomField":
            names |= {f"{obj.name}.{f.name}" for obj, f in self._schema_fields()}
        return sorted(names, key=str.lower)

    def _schema_fields(self) -> list[tuple[ObjectDef, FieldDef]]:
        activity = {
            name.split(".", 1)[1].lower()
            for (kind, name) in self.stored
            if kind == "CustomField" and name.lower().startswith("activity.")
        }
        out = []
        for obj in self.schema.objects():
            for definition in obj.fields.values():
                if not definition.custom:
                    continue
                if obj.name.lower() in _ACTIVITY_OBJECTS and definition.lower in activity:
                    continue  # shown once, on Activity, where it was deployed
                out.append((obj, definition))
        return out

    def exists(self, type_name: str, full_name: str) -> bool:
        lowered = full_name.lower()
        return any(m.lower() == lowered for m in self.members(type_name))

    def canonical(self, type_name: str, full_name: str) -> str:
        lowered = full_name.lower()
        return next((m for m in self.members(type_name) if m.lower() == lowered), full_name)

    def property(self, type_name: str, full_name: str, prefix: str = "") -> FileProperty:
        stored = self.stored.get((type_name, full_name))
        out = FileProperty(type_name, full_name, prefix + file_name_of(type_name, full_name))
        if stored is not None:
            out.id, out.created, out.modified = stored.id, stored.created, stored.modified
        return out

    # documents -----------------------------------------------------------------------------
    def _stored_element(self, type_name: str, full_name: str) -> ET.Element | None:
        stored = self.stored.get((type_name, full_name))
        if stored is None:
            return None
        return strip_namespaces(ET.fromstring(stored.xml))

    def child(self, type_name: str, full_name: str) -> ET.Element | None:
        """A child component as it sits in its object's file (``<fields>`` ...)."""
        tag = str(CHILD_TYPES[type_name].tag)
        own = self._stored_element(type_name, full_name)
        if own is None and type_name == "CustomField":
            object_name, _, field_name = full_name.partition(".")
            obj = self.schema.get(object_name)
            definition = obj.field(field_name) if obj is not None else None
            if definition is not None and definition.custom:
                own = field_element(definition)
        if own is None:
            return None
        own.tag = tag
        return own

    def object_element(
        self, name: str, children: Iterable[tuple[str, str]], own: bool = True
    ) -> ET.Element:
        """``objects/X.object``: X's own properties (``own``) and the given children."""
        root = self._stored_element("CustomObject", name) if own else element("x")
        if root is None:
            obj = self.schema.get(name)
            root = object_properties(obj) if obj is not None and obj.custom else element("x")
        root.tag = "CustomObject"
        for type_name, full_name in children:
            child = self.child(type_name, full_name)
            if child is not None:
                root.append(child)
        root[:] = sorted(root, key=lambda e: e.tag)  # stable: children keep their order
        return root

    def children_of(self, object_name: str) -> list[tuple[str, str]]:
        prefix = object_name.lower() + "."
        return [
            (type_name, member)
            for type_name in CHILD_TYPES
            for member in self.members(type_name)
            if member.lower().startswith(prefix)
        ]

    def top_level_document(self, type_name: str, full_name: str) -> str | None:
        stored = self.stored.get((type_name, full_name))
        return stored.xml if stored is not None else None


def object_properties(obj: ObjectDef) -> ET.Element:
    """A custom object's own properties, written from its definition."""
    name_field = obj.field("Name")
    parts = [leaf("deploymentStatus", "Deployed"), leaf("label", obj.label)]
    if name_field is not None:
        name_parts = []
        if name_field.auto_number is not None:
            name_parts.append(leaf("displayFormat", name_field.auto_number))
        name_parts.append(leaf("label", name_field.label))
        name_parts.append(leaf("type", "AutoNumber" if name_field.auto_number else "Text"))
        parts.append(element("nameField", *name_parts))
    parts += [leaf("pluralLabel", obj.label_plural), leaf("sharingModel", "ReadWrite")]
    return element("CustomObject", *parts)


_SIMPLE_TYPES = {
    "email": "Email",
    "phone": "Phone",
    "url": "Url",
    "date": "Date",
    "datetime": "DateTime",
    "double": "Number",
    "currency": "Currency",
    "percent": "Percent",
}


def field_element(definition: FieldDef) -> ET.Element | None:
    """``<fields>`` for a custom field known only from its definition (None for a kind the
    sandbox cannot write back)."""
    d = definition
    parts: list[ET.Element] = [leaf("fullName", d.name), leaf("label", d.label)]

    def flag(tag: str, value: bool) -> None:
        parts.append(leaf(tag, "true" if value else "false"))

    if d.auto_number is not None:
        parts += [leaf("displayFormat", d.auto_number), leaf("type", "AutoNumber")]
        flag("externalId", d.external_id)
    elif d.type == "string":
        parts += [leaf("length", str(d.length)), leaf("type", "Text")]
        flag("externalId", d.external_id)
        flag("unique", d.unique)
        if d.unique:
            flag("caseSensitive", d.case_sensitive)
        flag("required", d.required)
    elif d.type == "textarea":
        if d.length <= 255:
            parts.append(leaf("type", "TextArea"))
        else:
            parts += [leaf("length", str(d.length)), leaf("type", "LongTextArea")]
            parts.append(leaf("visibleLines", "3"))
    elif d.type in _SIMPLE_TYPES:
        parts.append(leaf("type", _SIMPLE_TYPES[d.type]))
        if d.type in ("double", "currency", "percent"):
            parts += [leaf("precision", str(d.precision)), leaf("scale", str(d.scale))]
            flag("externalId", d.external_id)
        flag("required", d.required)
    elif d.type == "boolean":
        parts += [leaf("defaultValue", "true" if d.default else "false")]
        parts.append(leaf("type", "Checkbox"))
    elif d.type in ("picklist", "multipicklist"):
        values = [
            element(
                "value",
                leaf("fullName", v.value),
                leaf("default", "true" if v.default else "false"),
                leaf("label", v.label),
            )
            for v in d.picklist
        ]
        definition_element = element("valueSetDefinition", leaf("sorted", "false"), *values)
        parts.append(
            element(
                "valueSet",
                leaf("restricted", "true" if d.restricted else "false"),
                definition_element,
            )
        )
        parts.append(leaf("type", "Picklist" if d.type == "picklist" else "MultiselectPicklist"))
        if d.type == "multipicklist":
            parts.append(leaf("visibleLines", "4"))
        flag("required", d.required)
    elif d.type == "reference" and d.reference_to:
        master = d.required
        parts.append(leaf("referenceTo", d.reference_to[0]))
        relationship = (d.child_relationship or d.name).removesuffix("__r")
        parts.append(leaf("relationshipName", relationship))
        parts.append(leaf("type", "MasterDetail" if master else "Lookup"))
        if not master:
            parts += [leaf("deleteConstraint", "SetNull")]
            flag("required", False)
    else:
        return None
    head, rest = parts[0], sorted(parts[1:], key=lambda e: e.tag)
    return element("fields", head, *rest)


def _missing(type_name: str, full_name: str) -> str:
    return f"Entity of type '{type_name}' named '{full_name}' cannot be found"


def build_retrieve(
    catalog: Catalog,
    types: Mapping[str, list[str]],
    version: str | None,
    single_package: bool,
    specific_files: Iterable[str] = (),
) -> RetrieveOutput:
    """The retrieve zip for package.xml ``types`` (``*`` allowed) or ``specific_files``
    (``objects/X.object``, ``layouts/L.layout``...)."""
    prefix = "" if single_package else "unpackaged/"
    output = RetrieveOutput(b"")
    package_name = prefix + "package.xml"
    wanted: dict[str, list[str]] = {}
    for type_name, members in types.items():
        if type_name not in SUPPORTED:
            for member in members:
                if member != "*":
                    output.messages.append((package_name, _missing(type_name, member)))
            continue
        for member in members:
            if member == "*":
                wanted.setdefault(type_name, []).extend(catalog.members(type_name, True))
            elif catalog.exists(type_name, member):
                wanted.setdefault(type_name, []).append(catalog.canonical(type_name, member))
            else:
                output.messages.append((package_name, _missing(type_name, member)))
    for path in specific_files:
        for type_name, member in _components_of_file(catalog, path):
            wanted.setdefault(type_name, []).append(member)

    files: dict[str, str] = {}
    by_object: dict[str, list[tuple[str, str]]] = {}
    whole: set[str] = set()
    for type_name, members in wanted.items():
        for member in dict.fromkeys(members):
            output.properties.append(catalog.property(type_name, member, prefix))
            if type_name == "CustomObject":
                whole.add(member)
                by_object.setdefault(member, [])
            elif type_name in CHILD_TYPES:
                by_object.setdefault(member.split(".", 1)[0], []).append((type_name, member))
            else:
                text = catalog.top_level_document(type_name, member)
                if text is not None:
                    files[prefix + file_name_of(type_name, member)] = text
    for object_name, children in by_object.items():
        if object_name in whole:
            children = catalog.children_of(object_name)
        root = catalog.object_element(
            object_name, dict.fromkeys(children), own=object_name in whole
        )
        files[prefix + file_name_of("CustomObject", object_name)] = document(root)
    files[package_name] = package_xml(types, version)
    output.properties.append(FileProperty("Package", package_name, package_name))
    output.zip_file = write_zip(files)
    return output


def _components_of_file(catalog: Catalog, path: str) -> list[tuple[str, str]]:
    directory, _, base = path.strip("/").rpartition("/")
    directory = directory.rsplit("/", 1)[-1]
    for kind in SUPPORTED.values():
        if kind.parent is None and directory == kind.directory and base.endswith(f".{kind.suffix}"):
            name = base[: -len(str(kind.suffix)) - 1]
            if catalog.exists(kind.name, name):
                return [(kind.name, catalog.canonical(kind.name, name))]
    return []
