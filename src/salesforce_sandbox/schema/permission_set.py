"""PermissionSet metadata and field-level security rules (pure).

A permission set comes as ``*.permissionset-meta.xml`` (SFDX source format) or
``permissionsets/*.permissionset`` (Metadata API format): the same XML::

    <PermissionSet xmlns="http://soap.sforce.com/2006/04/metadata">
        <label>stripe2sf Integration</label>
        <userPermissions><enabled>true</enabled><name>ApiEnabled</name></userPermissions>
        <objectPermissions>
            <allowCreate>true</allowCreate> <allowDelete>false</allowDelete>
            <allowEdit>true</allowEdit> <allowRead>true</allowRead>
            <modifyAllRecords>false</modifyAllRecords> <viewAllRecords>false</viewAllRecords>
            <object>Account</object>
        </objectPermissions>
        <fieldPermissions>
            <editable>true</editable><field>Account.Billing_Status__c</field>
            <readable>true</readable>
        </fieldPermissions>
    </PermissionSet>

Other elements (tab settings, class accesses, ...) are accepted and ignored. ``Activity.X``
field permissions stand for ``Task.X`` and ``Event.X``.

Which fields field-level security governs (``permissionable``): custom fields and the
standard fields of the CRM objects (Account, Contact, Case, ...) that are neither required
nor system-maintained; never Id, Name, OwnerId or the audit fields. Standard fields of Task and
Event follow the "Edit Tasks"/"Edit Events" user permissions only, and the setup objects
(User, Profile, PermissionSet, ...) have no field-level security here.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from dataclasses import dataclass, field

from salesforce_sandbox.errors import SalesforceError
from salesforce_sandbox.schema.model import FieldDef, Schema

# User permissions the org stores as PermissionSet.Permissions<Name> (the metadata's
# userPermissions names); others in a file are accepted and ignored.
USER_PERMISSIONS = (
    "ApiEnabled",
    "ApiUserOnly",
    "AssignPermissionSets",
    "AuthorApex",
    "CustomizeApplication",
    "EditEvent",
    "EditTask",
    "ManageUsers",
    "ModifyAllData",
    "ViewAllData",
    "ViewAllUsers",
    "ViewSetup",
)

# Objects whose records are the org's configuration: readable by every API user (those in
# VIEW_SETUP_OBJECTS need View Setup), written by administrators; no field-level security.
SETUP_OBJECTS = frozenset(
    {
        "user",
        "group",
        "organization",
        "recordtype",
        "profile",
        "permissionset",
        "permissionsetassignment",
        "objectpermissions",
        "fieldpermissions",
        "currencytype",
        "duplicaterule",
        "matchingrule",
        "matchingruleitem",
    }
)
VIEW_SETUP_OBJECTS = frozenset(
    {"objectpermissions", "fieldpermissions", "duplicaterule", "matchingrule", "matchingruleitem"}
)
# Activities: no object permissions; writing them takes a user permission.
ACTIVITY_PERMISSION = {"task": "EditTask", "event": "EditEvent"}

_NOT_PERMISSIONABLE = frozenset(
    {
        "id",
        "isdeleted",
        "name",
        "ownerid",
        "createddate",
        "createdbyid",
        "lastmodifieddate",
        "lastmodifiedbyid",
        "systemmodstamp",
        "currencyisocode",  # multi-currency: the record's currency follows its object
        "recordtypeid",  # record type visibility, not field-level security, governs it
    }
)

_NS = "{http://soap.sforce.com/2006/04/metadata}"


def permissionable(object_name: str, definition: FieldDef) -> bool:
    """Whether field-level security governs ``object_name.definition`` (see the module doc)."""
    lowered = object_name.lower()
    if lowered in SETUP_OBJECTS or definition.required:
        return False
    if definition.custom:
        return True
    if lowered in ACTIVITY_PERMISSION or definition.lower in _NOT_PERMISSIONABLE:
        return False
    return definition.createable or definition.updateable


@dataclass(frozen=True)
class ObjectGrant:
    """One objectPermissions element (or ObjectPermissions row), with the implied rights
    filled in: create, edit and view all imply read; delete implies edit; modify all implies
    everything."""

    object: str
    read: bool = False
    create: bool = False
    edit: bool = False
    delete: bool = False
    view_all: bool = False
    modify_all: bool = False

    def implied(self) -> ObjectGrant:
        modify_all = self.modify_all
        delete = self.delete or modify_all
        edit = self.edit or delete
        view_all = self.view_all or modify_all
        read = self.read or self.create or edit or view_all
        return ObjectGrant(
            self.object, read, self.create or modify_all, edit, delete, view_all, modify_all
        )

    @property
    def any(self) -> bool:
        return self.read or self.create or self.edit or self.delete or self.view_all


@dataclass(frozen=True)
class FieldGrant:
    """One fieldPermissions element: ``field`` is ``Object.Field``; edit implies read."""

    field: str
    read: bool = False
    edit: bool = False

    @property
    def object(self) -> str:
        return self.field.split(".", 1)[0]

    @property
    def name(self) -> str:
        return self.field.split(".", 1)[1]


@dataclass
class PermissionSetSpec:
    name: str
    label: str
    description: str = ""
    has_activation_required: bool = False
    user_permissions: frozenset[str] = frozenset()
    objects: list[ObjectGrant] = field(default_factory=list)
    fields: list[FieldGrant] = field(default_factory=list)


def _invalid(message: str) -> SalesforceError:
    return SalesforceError("INVALID_METADATA", message)


def _local(tag: str) -> str:
    return tag[len(_NS) :] if tag.startswith(_NS) else tag.rsplit("}", 1)[-1]


def _children(node: ET.Element) -> dict[str, str]:
    return {_local(child.tag): (child.text or "").strip() for child in node}


def _true(values: dict[str, str], name: str) -> bool:
    return values.get(name, "").lower() == "true"


def parse_permission_set(name: str, xml_text: str) -> PermissionSetSpec:
    """Parse one permission set file; ``name`` is its API name (the file name's stem)."""
    try:
        root = ET.fromstring(xml_text)
    except ET.ParseError as exc:
        raise _invalid(f"permission set {name}: {exc}") from exc
    if _local(root.tag) != "PermissionSet":
        raise _invalid(f"permission set {name}: the root element must be PermissionSet")
    top = _children(root)
    spec = PermissionSetSpec(
        name,
        top.get("label") or name,
        top.get("description", ""),
        _true(top, "hasActivationRequired"),
    )
    enabled: set[str] = set()
    for node in root:
        kind = _local(node.tag)
        values = _children(node)
        if kind == "userPermissions":
            if _true(values, "enabled") and values.get("name") in USER_PERMISSIONS:
                enabled.add(values["name"])
        elif kind == "objectPermissions":
            target = values.get("object", "")
            if not target:
                raise _invalid(f"permission set {name}: objectPermissions needs an object")
            grant = ObjectGrant(
                target,
                _true(values, "allowRead"),
                _true(values, "allowCreate"),
                _true(values, "allowEdit"),
                _true(values, "allowDelete"),
                _true(values, "viewAllRecords"),
                _true(values, "modifyAllRecords"),
            )
            spec.objects.append(grant.implied())
        elif kind == "fieldPermissions":
            target = values.get("field", "")
            if target.count(".") != 1:
                raise _invalid(
                    f"permission set {name}: fieldPermissions field must be Object.Field, "
                    f"got {target!r}"
                )
            editable = _true(values, "editable")
            readable = _true(values, "readable") or editable
            obj, _, field_name = target.partition(".")
            for object_name in ("Task", "Event") if obj.lower() == "activity" else (obj,):
                spec.fields.append(FieldGrant(f"{object_name}.{field_name}", readable, editable))
    spec.user_permissions = frozenset(enabled)
    return spec


def check_against(spec: PermissionSetSpec, schema: Schema) -> None:
    """Refuse what Salesforce refuses to deploy: custom objects or custom fields that do not
    exist, and field permissions on required fields. Standard objects the org does not model
    (Event, Lead, ...) are let through."""
    where = f"permission set {spec.name}"
    for grant in spec.objects:
        if schema.get(grant.object) is None and grant.object.endswith("__c"):
            raise _invalid(
                f"{where}: In field: object - no CustomObject named {grant.object} found"
            )
    for fgrant in spec.fields:
        obj = schema.get(fgrant.object)
        if obj is None:
            if fgrant.object.endswith("__c"):
                raise _invalid(
                    f"{where}: In field: field - no CustomObject named {fgrant.object} found"
                )
            continue
        definition = obj.field(fgrant.name)
        if definition is None:
            if fgrant.name.endswith("__c"):
                raise _invalid(
                    f"{where}: In field: field - no CustomField named {fgrant.field} found"
                )
            continue
        if definition.required:
            raise _invalid(f"{where}: You cannot deploy to a required field: {fgrant.field}")
