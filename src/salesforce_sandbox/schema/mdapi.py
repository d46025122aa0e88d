"""Metadata API *metadata format* (what ``deploy`` receives as a zip): the types the sandbox
supports, ``package.xml``, and checking each component of a deploy against a trial copy of
the schema.

A zip holds ``package.xml`` and one file per top-level component (at the root, or under one
directory such as ``unpackaged/``)::

    package.xml
    objects/Stripe_Payment__c.object      CustomObject, its fields/listViews/compactLayouts inside
    objects/Account.object                a standard object: only the child components named
    layouts/Stripe_Payment__c-Stripe Payment Layout.layout
    permissionsets/Stripe2sf_Finance.permissionset

``package.xml`` decides what is deployed: ``CustomObject X`` deploys X and every child in
``objects/X.object``; ``CustomField X.F`` (or ``ListView X.V``) deploys that child alone; ``*``
names every component of the type in the zip. Each component gets a message of its own
(success or failure, with Salesforce's problem texts where the sandbox knows them).

Pure: no I/O beyond reading the zip in memory. Stored documents are namespace-stripped and
re-serialized (4-space indent), so a component deployed twice unchanged compares equal.
"""

from __future__ import annotations

import copy
import io
import posixpath
import xml.etree.ElementTree as ET
import zipfile
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from salesforce_sandbox.errors import SalesforceError
from salesforce_sandbox.formula import FormulaError, compile_formula
from salesforce_sandbox.pubsub.schemas import MEMBER_TYPE, channel_member_entity
from salesforce_sandbox.schema import duplicate_rules, sfdx
from salesforce_sandbox.schema.model import ObjectDef, Schema
from salesforce_sandbox.schema.rules import (
    RuleMetadataError,
    parse_record_type,
    parse_validation_rule,
)

MD_NS = "http://soap.sforce.com/2006/04/metadata"
XML_DECLARATION = '<?xml version="1.0" encoding="UTF-8"?>\n'


@dataclass(frozen=True)
class MetadataType:
    """One metadata type as ``describeMetadata`` shows it. Child types (``parent`` set) live
    inside their parent's file, under the element ``tag``."""

    name: str
    directory: str
    suffix: str | None
    parent: str | None = None
    tag: str | None = None
    in_folder: bool = False
    meta_file: bool = False


SUPPORTED: dict[str, MetadataType] = {
    t.name: t
    for t in (
        MetadataType("CustomObject", "objects", "object"),
        MetadataType("CustomField", "objects", None, "CustomObject", "fields"),
        MetadataType("ListView", "objects", None, "CustomObject", "listViews"),
        MetadataType("CompactLayout", "objects", None, "CustomObject", "compactLayouts"),
        MetadataType("ValidationRule", "objects", None, "CustomObject", "validationRules"),
        MetadataType("RecordType", "objects", None, "CustomObject", "recordTypes"),
        MetadataType("Layout", "layouts", "layout"),
        MetadataType("PermissionSet", "permissionsets", "permissionset"),
        MetadataType("MatchingRules", "matchingRules", "matchingRule"),
        MetadataType("DuplicateRule", "duplicateRules", "duplicateRule"),
        MetadataType(
            "PlatformEventChannelMember",
            "platformEventChannelMembers",
            "platformEventChannelMember",
        ),
    )
}
TOP_LEVEL = [t for t in SUPPORTED.values() if t.parent is None]
CHILD_TAGS = {t.tag: t.name for t in SUPPORTED.values() if t.tag}
CHILD_TYPES = {t.name: t for t in SUPPORTED.values() if t.parent}
# addressable children of a CustomObject that the sandbox does not model (a rule it would
# not enforce is worse than a refused deploy)
UNSUPPORTED_CHILD_TAGS = {
    "webLinks": "WebLink",
    "fieldSets": "FieldSet",
    "businessProcesses": "BusinessProcess",
    "sharingReasons": "SharingReason",
    "indexes": "Index",
}
# real Metadata API types the sandbox refuses as "not supported" (any other name is unknown)
KNOWN_UNSUPPORTED = frozenset(
    {
        *UNSUPPORTED_CHILD_TAGS.values(),
        "ApexClass",
        "ApexComponent",
        "ApexPage",
        "ApexTrigger",
        "AuraDefinitionBundle",
        "CustomApplication",
        "CustomLabels",
        "CustomMetadata",
        "CustomPermission",
        "CustomTab",
        "Dashboard",
        "Document",
        "EmailTemplate",
        "ExternalDataSource",
        "FlexiPage",
        "Flow",
        "FlowDefinition",
        "GlobalValueSet",
        "Group",
        "LightningComponentBundle",
        "MatchingRule",  # one rule of a MatchingRules file: the sandbox deploys the file
        "NamedCredential",
        "PermissionSetGroup",
        "Profile",
        "Queue",
        "QuickAction",
        "RemoteSiteSetting",
        "Report",
        "ReportType",
        "Role",
        "SharingRules",
        "StandardValueSet",
        "StaticResource",
        "Workflow",
    }
)
# what Bundle.components carries (the UI components the sandbox keeps but does not model)
_KEPT_AS_THEY_CAME = frozenset({"ListView", "CompactLayout", "Layout"})
# deploy order: parents before what refers to them
_RANK = {
    "CustomObject": 0,
    "CustomField": 1,
    "ListView": 2,
    "CompactLayout": 2,
    "RecordType": 2,
    "ValidationRule": 2,
    "Layout": 3,
    "PermissionSet": 4,
    "MatchingRules": 5,  # after the fields they compare
    "DuplicateRule": 6,  # after the matching rules they use
    "PlatformEventChannelMember": 7,  # after the custom objects it selects
}


class ArchiveError(Exception):
    """A zip or package.xml the Metadata API cannot read at all."""


# XML -----------------------------------------------------------------------------------------
def local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def strip_namespaces(root: ET.Element) -> ET.Element:
    """The same tree with plain tags and no namespaced attributes (a copy)."""
    out = copy.deepcopy(root)
    for element in out.iter():
        element.tag = local(element.tag)
        for key in [k for k in element.attrib if k.startswith("{")]:
            del element.attrib[key]
    return out


def child_text(element: ET.Element, name: str) -> str:
    for child in element:
        if local(child.tag) == name:
            return (child.text or "").strip()
    return ""


def document(root: ET.Element, tag: str | None = None) -> str:
    """A metadata document: ``root`` (namespace-stripped) renamed to ``tag``, in the metadata
    namespace, indented with 4 spaces as Salesforce writes them."""
    out = copy.deepcopy(root)
    if tag is not None:
        out.tag = tag
    out.attrib.clear()
    out.set("xmlns", MD_NS)
    ET.indent(out, space="    ")
    return XML_DECLARATION + ET.tostring(out, encoding="unicode") + "\n"


def element(tag: str, *children: ET.Element, text: str | None = None) -> ET.Element:
    out = ET.Element(tag)
    out.text = text
    out.extend(children)
    return out


def leaf(tag: str, text: str) -> ET.Element:
    return element(tag, text=text)


# package.xml ---------------------------------------------------------------------------------
@dataclass
class Manifest:
    """``package.xml``: members by type (in file order) and the version."""

    types: dict[str, list[str]] = field(default_factory=dict)
    version: str | None = None


def parse_package(text: bytes | str) -> Manifest:
    try:
        root = ET.fromstring(text)
    except ET.ParseError as exc:
        raise ArchiveError(f"Error parsing file: {exc}") from exc
    manifest = Manifest(version=child_text(root, "version") or None)
    for item in root:
        if local(item.tag) != "types":
            continue
        name = child_text(item, "name")
        members = [(m.text or "").strip() for m in item if local(m.tag) == "members"]
        manifest.types.setdefault(name, []).extend(m for m in members if m)
    return manifest


def package_xml(types: Mapping[str, Iterable[str]], version: str | None) -> str:
    root = ET.Element("Package")
    for name in sorted(types):
        members = [leaf("members", m) for m in sorted(set(types[name]))]
        root.append(element("types", *members, leaf("name", name)))
    if version:
        root.append(leaf("version", version))
    return document(root)


# zips ------------------------------------------------------------------------------------------
def read_zip(data: bytes) -> dict[str, bytes]:
    """Files of a zip (directories left out)."""
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            return {
                info.filename: archive.read(info)
                for info in archive.infolist()
                if not info.is_dir() and not info.filename.endswith("/")
            }
    except (zipfile.BadZipFile, ValueError) as exc:
        raise ArchiveError(f"The deploy zip file could not be read: {exc}") from exc


def write_zip(files: Mapping[str, str]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name in sorted(files):
            archive.writestr(name, files[name].encode("utf-8"))
    return buffer.getvalue()


def package_roots(files: Mapping[str, bytes]) -> list[str]:
    """Directories (``""`` for the zip root, else ``"name/"``) holding a package.xml, at most
    one level down: the root if it has one, else each top-level directory that does."""
    if "package.xml" in files:
        return [""]
    return sorted(
        name[: -len("package.xml")]
        for name in files
        if name.count("/") == 1 and name.endswith("/package.xml")
    )


# deploy -----------------------------------------------------------------------------------------
@dataclass
class DeployMessage:
    """One component's result, as ``componentSuccesses``/``componentFailures`` carry it."""

    component_type: str
    full_name: str
    file_name: str
    success: bool
    created: bool = False
    changed: bool = False
    deleted: bool = False
    problem: str | None = None
    problem_type: str | None = None
    line: int | None = None
    column: int | None = None

    @property
    def is_package(self) -> bool:
        return self.full_name == "package.xml" and self.component_type == ""


@dataclass
class DeployPlan:
    """What a deploy would do: a message per component, the bundle of the components that
    passed (for ``Org.deploy``) and their documents to keep for ``retrieve``."""

    messages: list[DeployMessage] = field(default_factory=list)
    bundle: sfdx.Bundle = field(default_factory=sfdx.Bundle)
    documents: dict[tuple[str, str], str] = field(default_factory=dict)

    @property
    def components(self) -> list[DeployMessage]:
        return [m for m in self.messages if not m.is_package]

    @property
    def failures(self) -> list[DeployMessage]:
        return [m for m in self.components if not m.success]

    @property
    def successes(self) -> list[DeployMessage]:
        return [m for m in self.components if m.success]


@dataclass
class _Piece:
    """A component found in the zip: its element, or why its file could not be read."""

    type: str
    full_name: str
    file_name: str
    element: ET.Element | None
    problem: str | None = None
    line: int | None = None
    column: int | None = None


def _parse_file(data: bytes) -> tuple[ET.Element | None, str | None, int | None, int | None]:
    try:
        return strip_namespaces(ET.fromstring(data)), None, None, None
    except ET.ParseError as exc:
        line, column = exc.position
        return None, f"Error parsing file: {exc.msg}", line, column


def _scan(files: Mapping[str, bytes], root: str) -> dict[tuple[str, str], _Piece]:
    """Every component of a supported (or refused child) type in the package at ``root``."""
    pieces: dict[tuple[str, str], _Piece] = {}
    for path, data in files.items():
        if not path.startswith(root):
            continue
        relative = path[len(root) :]
        directory, _, base = relative.partition("/")
        for kind in TOP_LEVEL:
            if directory != kind.directory or not base.endswith("." + str(kind.suffix)):
                continue
            if "/" in base:
                continue
            name = base[: -len(str(kind.suffix)) - 1]
            parsed, problem, line, column = _parse_file(data)
            pieces[(kind.name, name)] = _Piece(kind.name, name, path, parsed, problem, line, column)
            if kind.name != "CustomObject" or parsed is None:
                continue
            for child in parsed:
                type_name = CHILD_TAGS.get(child.tag) or UNSUPPORTED_CHILD_TAGS.get(child.tag)
                child_name = child_text(child, "fullName")
                if type_name and child_name:
                    key = (type_name, f"{name}.{child_name}")
                    pieces[key] = _Piece(type_name, key[1], path, child)
    return pieces


def _wanted(
    manifest: Manifest, pieces: Mapping[tuple[str, str], _Piece], root: str
) -> tuple[list[_Piece], list[DeployMessage]]:
    """The components package.xml names (children of a named CustomObject included), and
    failures for names the zip or the sandbox cannot deploy."""
    chosen: dict[tuple[str, str], _Piece] = {}
    refused: list[DeployMessage] = []
    package = root + "package.xml"
    for type_name, members in manifest.types.items():
        if type_name not in SUPPORTED:
            problem = (
                f"The Salesforce sandbox does not support {type_name} metadata "
                f"(it deploys {', '.join(SUPPORTED)})"
                if type_name in KNOWN_UNSUPPORTED
                else f"Unknown type name '{type_name}' specified in package.xml"
            )
            for member in members or ["*"]:
                refused.append(_failure(type_name, member, package, problem))
            continue
        for member in members:
            if member == "*":
                for key, each in pieces.items():
                    if key[0] == type_name:
                        chosen[key] = each
                continue
            piece = pieces.get((type_name, member))
            if piece is None:
                parent_key = ("CustomObject", member.split(".", 1)[0])
                parent = pieces.get(parent_key)
                if type_name in CHILD_TYPES and parent is not None and parent.problem:
                    chosen[(type_name, member)] = _Piece(
                        type_name,
                        member,
                        parent.file_name,
                        None,
                        parent.problem,
                        parent.line,
                        parent.column,
                    )
                    continue
                refused.append(
                    _failure(
                        type_name,
                        member,
                        package,
                        f"An object '{member}' of type {type_name} was named in package.xml, "
                        "but was not found in zipped directory",
                    )
                )
                continue
            chosen[(type_name, member)] = piece
    for (type_name, name), _piece in list(chosen.items()):
        if type_name != "CustomObject":
            continue
        for key, child in pieces.items():
            if key[0] != "CustomObject" and key[1].startswith(name + "."):
                chosen.setdefault(key, child)
    ordered = sorted(chosen.values(), key=lambda p: (_RANK.get(p.type, 9), p.full_name.lower()))
    return ordered, refused


def _failure(
    type_name: str,
    full_name: str,
    file_name: str,
    problem: str,
    line: int | None = None,
    column: int | None = None,
) -> DeployMessage:
    return DeployMessage(
        type_name,
        full_name,
        file_name,
        success=False,
        problem=problem,
        problem_type="Error",
        line=line,
        column=column,
    )


def _object_document(element: ET.Element) -> str:
    """A CustomObject's own document: its file without child components."""
    own = copy.deepcopy(element)
    for child in list(own):
        if child.tag in CHILD_TAGS or child.tag in UNSUPPORTED_CHILD_TAGS:
            own.remove(child)
    return document(own, "CustomObject")


def _child_document(type_name: str, element: ET.Element, name: str) -> str:
    """A child component as a document of its own (``<CustomField>`` with ``fullName`` F)."""
    own = copy.deepcopy(element)
    for child in own:
        if child.tag == "fullName":
            child.text = name
    return document(own, type_name)


def _object(schema: Schema, name: str) -> ObjectDef | None:
    """An object by name; Activity (and Event, which the sandbox may not model) answer with
    Task, where activity fields land."""
    found = schema.get(name)
    if found is None and name.lower() in ("activity", "event"):
        found = schema.get("Task")
    return found


def _object_exists(schema: Schema, name: str) -> bool:
    return _object(schema, name) is not None


def _field_exists(schema: Schema, reference: str) -> bool:
    object_name, _, field_name = reference.partition(".")
    obj = _object(schema, object_name)
    return obj is not None and obj.field(field_name) is not None


class _Refused(Exception):
    def __init__(self, problem: str) -> None:
        super().__init__(problem)
        self.problem = problem


def _problem(error: SalesforceError) -> str:
    return error.message


def _check_object(trial: Schema, piece: _Piece, element: ET.Element) -> sfdx.Bundle:
    name = piece.full_name
    if trial.get(name) is None and not name.endswith("__c"):
        raise _Refused(f"Cannot create a new standard object: {name} (custom names end in __c)")
    if trial.get(name) is None and not child_text(element, "label"):
        raise _Refused("Required field is missing: label")
    spec = sfdx.parse_object(name, ET.tostring(element, encoding="unicode"))
    return sfdx.Bundle(objects=[spec])


def _check_field(trial: Schema, piece: _Piece, element: ET.Element) -> sfdx.Bundle | None:
    object_name, _, field_name = piece.full_name.partition(".")
    if not _object_exists(trial, object_name):
        raise _Refused(f"Cannot find the object {object_name} of the field {field_name}")
    if not field_name.endswith("__c"):
        if _field_exists(trial, piece.full_name):
            return None  # a standard field's settings: nothing the sandbox models
        raise _Refused("Could not resolve standard field's name.")
    if child_text(element, "formula"):
        raise _Refused(
            f"Formula fields are not supported by the Salesforce sandbox: {piece.full_name} "
            "would be a stored field that nothing computes"
        )
    target = child_text(element, "referenceTo")
    if target and trial.get(target) is None:
        raise _Refused(f"referenceTo value of '{target}' does not resolve to a valid sObject type")
    definition = sfdx.parse_field(
        object_name,
        _child_document("CustomField", element, field_name),
        piece.file_name,
    )
    return sfdx.Bundle(fields=[(object_name, definition)])


def _check_validation_rule(trial: Schema, piece: _Piece, element: ET.Element) -> sfdx.Bundle:
    """A rule whose formula compiles against the object, with Salesforce's problem texts
    (``Field X does not exist. Check spelling.``, ``Syntax error. Missing ')'``, ...)."""
    object_name, _, name = piece.full_name.partition(".")
    obj = trial.get(object_name)
    if obj is None:
        raise _Refused(f"Cannot find the object {object_name} of the validation rule {name}")
    try:
        rule = parse_validation_rule(element, name)
        rule.compiled = compile_formula(rule.formula, obj, trial)
    except (RuleMetadataError, FormulaError) as exc:
        raise _Refused(str(exc)) from exc
    if rule.display_field and obj.field(rule.display_field) is None:
        raise _Refused(
            f"In field: errorDisplayField - no CustomField named "
            f"{object_name}.{rule.display_field} found"
        )
    return sfdx.Bundle(validation_rules=[(obj.name, rule)])


def _check_record_type(trial: Schema, piece: _Piece, element: ET.Element) -> sfdx.Bundle:
    """A record type whose picklist values are values of the object's picklists."""
    object_name, _, name = piece.full_name.partition(".")
    obj = trial.get(object_name)
    if obj is None:
        raise _Refused(f"Cannot find the object {object_name} of the record type {name}")
    try:
        record_type = parse_record_type(element, name)
    except RuleMetadataError as exc:
        raise _Refused(str(exc)) from exc
    for picklist, values in record_type.picklists.items():
        definition = obj.field(picklist)
        if definition is None or definition.type not in ("picklist", "multipicklist"):
            raise _Refused(f"In field: picklist - no Picklist named {object_name}.{picklist} found")
        known = {v.value for v in definition.picklist}
        for value in values:
            if value not in known:
                raise _Refused(f"Picklist value: {value} in picklist: {picklist} not found")
    return sfdx.Bundle(record_types=[(obj.name, record_type)])


def _check_permission_set(trial: Schema, element: ET.Element) -> None:
    for item in element:
        if item.tag == "objectPermissions":
            name = child_text(item, "object")
            if not _object_exists(trial, name):
                raise _Refused(f"In field: object - no CustomObject named {name} found")
        elif item.tag == "fieldPermissions":
            reference = child_text(item, "field")
            if not _field_exists(trial, reference):
                raise _Refused(f"In field: field - no CustomField named {reference} found")


def _check(
    trial: Schema, piece: _Piece, element: ET.Element
) -> tuple[sfdx.Bundle | None, str, str]:
    """Check one component against ``trial`` (and apply it there); returns its bundle part,
    the document to keep, and the key under which ``Bundle.components`` holds it."""
    kind = piece.type
    if kind in UNSUPPORTED_CHILD_TAGS.values():
        raise _Refused(
            f"The Salesforce sandbox does not support {kind} metadata "
            f"(it deploys {', '.join(SUPPORTED)})"
        )
    if kind == "CustomObject":
        return _check_object(trial, piece, element), _object_document(element), kind
    if kind == "CustomField":
        field_name = piece.full_name.split(".", 1)[1]
        return (
            _check_field(trial, piece, element),
            _child_document(kind, element, field_name),
            kind,
        )
    if kind in ("ValidationRule", "RecordType"):
        name = piece.full_name.split(".", 1)[1]
        check = _check_validation_rule if kind == "ValidationRule" else _check_record_type
        return check(trial, piece, element), _child_document(kind, element, name), kind
    if kind in ("ListView", "CompactLayout"):
        object_name, _, name = piece.full_name.partition(".")
        if not _object_exists(trial, object_name):
            raise _Refused(f"In field: sobjectType - no CustomObject named {object_name} found")
        return None, _child_document(kind, element, name), kind
    if kind == "Layout":
        object_name = piece.full_name.split("-", 1)[0]
        if "-" not in piece.full_name or not _object_exists(trial, object_name):
            raise _Refused(
                f"Layout name {piece.full_name!r} must be <Object>-<Layout Name> "
                f"for an object that exists: no CustomObject named {object_name} found"
            )
        return None, document(element, "Layout"), kind
    if kind == MEMBER_TYPE:  # Change Data Capture's entity selection
        text = document(element, kind)
        try:
            channel_member_entity(piece.full_name, text, trial)
        except ValueError as exc:
            raise _Refused(str(exc)) from exc
        return sfdx.Bundle(components={(kind, piece.full_name): text}), text, kind
    if kind == "PermissionSet":
        _check_permission_set(trial, element)
        text = document(element, "PermissionSet")
        return sfdx.Bundle(permission_sets={piece.full_name: text}), text, kind
    raise _Refused(f"The Salesforce sandbox does not support {kind} metadata")


def _existed(schema: Schema, stored: Mapping[tuple[str, str], str], piece: _Piece) -> bool:
    if piece.type == "CustomObject":
        return schema.get(piece.full_name) is not None
    if piece.type == "CustomField":
        return _field_exists(schema, piece.full_name)
    return (piece.type, piece.full_name) in stored


def plan_deploy(
    files: Mapping[str, bytes], schema: Schema, stored: Mapping[tuple[str, str], str]
) -> DeployPlan:
    """Check every component a deploy zip names against a copy of ``schema``.

    ``stored`` holds the documents deployed earlier (a component deployed again unchanged is
    neither created nor changed). The plan's bundle holds only the components that passed;
    applying it is the caller's choice (``rollbackOnError``, ``checkOnly``).
    """
    plan = DeployPlan()
    roots = package_roots(files)
    if not roots:
        plan.messages.append(_failure("", "package.xml", "package.xml", "No package.xml found"))
        return plan
    trial = schema.copy()
    for root in roots:
        package = root + "package.xml"
        try:
            manifest = parse_package(files[package])
        except ArchiveError as exc:
            plan.messages.append(_failure("", "package.xml", package, str(exc)))
            continue
        plan.messages.append(DeployMessage("", "package.xml", package, success=True, changed=True))
        pieces = _scan(files, root)
        chosen, refused = _wanted(manifest, pieces, root)
        plan.messages.extend(refused)
        for piece in chosen:
            plan.messages.append(_deploy_piece(plan, trial, schema, stored, piece))
    return plan


def _check_duplicate_management(
    trial: Schema,
    stored: Mapping[tuple[str, str], str],
    plan: DeployPlan,
    piece: _Piece,
    element: ET.Element,
) -> tuple[sfdx.Bundle | None, str, str]:
    """A MatchingRules file or a DuplicateRule, checked with the org's other rules and those
    this deploy has accepted so far (a duplicate rule's matching rule may come with it)."""
    kind = piece.type
    text = document(element, kind)
    documents: duplicate_rules.Documents = {t: {} for t in duplicate_rules.TYPES}
    for source in (stored, plan.documents):
        for (type_name, name), xml in source.items():
            if type_name in documents:
                documents[type_name][name] = xml
    documents = duplicate_rules.merged(documents, {(kind, piece.full_name): text})
    try:
        duplicate_rules.parse_documents(documents, trial)
    except duplicate_rules.RuleError as exc:
        raise _Refused(exc.message) from exc
    return sfdx.Bundle(components={(kind, piece.full_name): text}), text, kind


def _deploy_piece(
    plan: DeployPlan,
    trial: Schema,
    schema: Schema,
    stored: Mapping[tuple[str, str], str],
    piece: _Piece,
) -> DeployMessage:
    if piece.element is None:
        return _failure(
            piece.type,
            piece.full_name,
            piece.file_name,
            piece.problem or "Error parsing file",
            piece.line,
            piece.column,
        )
    try:
        if piece.type in duplicate_rules.TYPES:
            part, text, kind = _check_duplicate_management(
                trial, stored, plan, piece, piece.element
            )
        else:
            part, text, kind = _check(trial, piece, piece.element)
        if part is not None and part.changes_schema:
            sfdx.apply(trial, copy.deepcopy(part), len(trial.custom_prefixes()))
    except _Refused as refused:
        return _failure(piece.type, piece.full_name, piece.file_name, refused.problem)
    except SalesforceError as error:
        return _failure(piece.type, piece.full_name, piece.file_name, _problem(error))
    if part is not None:
        plan.bundle.extend(part)
    key = (kind, piece.full_name)
    plan.documents[key] = text
    if kind in _KEPT_AS_THEY_CAME:
        plan.bundle.components[key] = text
    created = not _existed(schema, stored, piece)
    changed = not created and stored.get(key) != text
    return DeployMessage(
        piece.type,
        piece.full_name,
        piece.file_name,
        success=True,
        created=created,
        changed=changed,
    )


def file_name_of(type_name: str, full_name: str) -> str:
    """Where a component lives in a metadata-format package (``objects/X.object``)."""
    kind = SUPPORTED[type_name]
    if kind.parent is not None:
        parent = SUPPORTED[kind.parent]
        return posixpath.join(parent.directory, f"{full_name.split('.', 1)[0]}.{parent.suffix}")
    return posixpath.join(kind.directory, f"{full_name}.{kind.suffix}")
