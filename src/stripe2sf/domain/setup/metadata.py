"""Salesforce metadata in SFDX source format for what a configuration needs.

`generate_metadata(config)` returns {relative path: file text}; the CLI writes them under
`--out DIR`, ready for `sf project deploy start --source-dir force-app`:

    sfdx-project.json
    force-app/main/default/objects/<Obj>/<Obj>.object-meta.xml        (custom objects)
    force-app/main/default/objects/<Obj>/fields/<Field>.field-meta.xml
    force-app/main/default/permissionsets/<Name>.permissionset-meta.xml

Permission sets (least privilege):
- Stripe2sf_Integration: edit exactly the fields stripe2sf writes (+ read/create/edit on
  the objects it upserts); assign to the integration user.
- Stripe2sf_Viewer: read Subscription_Status__c and Billing_Status__c on Account.
- Stripe2sf_Finance: read the payment object and all its fields.
Fields of Task/Event are defined on Activity; their permissions are listed for both Task
and Event, as Salesforce expects. Required standard fields (Account.Name,
Contact.LastName) are always editable and cannot appear in a permission set.
"""

from __future__ import annotations

import json
from xml.sax.saxutils import escape

from stripe2sf.domain.config import SyncConfig
from stripe2sf.domain.setup.schema import FieldSpec, ObjectSpec, required_fields, required_objects

API_VERSION = "60.0"
NS = "http://soap.sforce.com/2006/04/metadata"
BASE = "force-app/main/default"
NOT_PERMISSIONABLE = frozenset({"Account.Name", "Contact.LastName"})


def _tag(name: str, value: object, indent: int = 1) -> str:
    text = ("true" if value else "false") if isinstance(value, bool) else str(value)
    return f"{'    ' * indent}<{name}>{escape(text)}</{name}>"


def _doc(root: str, body: list[str]) -> str:
    return "\n".join(
        [
            '<?xml version="1.0" encoding="UTF-8"?>',
            f'<{root} xmlns="{NS}">',
            *body,
            f"</{root}>",
            "",
        ]
    )


def field_xml(spec: FieldSpec) -> str:
    lines = [_tag("fullName", spec.name)]
    if spec.type == "Text" and spec.unique:
        lines.append(_tag("caseSensitive", False))
    if spec.type == "Checkbox":
        lines.append(_tag("defaultValue", False))
    if spec.type == "Lookup":
        lines.append(_tag("deleteConstraint", "SetNull"))
    if spec.description:
        lines.append(_tag("description", spec.description[:1000]))
    if spec.type in ("Text", "Number"):
        lines.append(_tag("externalId", spec.external_id))
    if spec.description:
        lines.append(_tag("inlineHelpText", spec.description[:510]))
    lines.append(_tag("label", spec.label))
    if spec.length is not None:
        lines.append(_tag("length", spec.length))
    if spec.precision is not None:
        lines.append(_tag("precision", spec.precision))
    if spec.reference_to:
        lines.append(_tag("referenceTo", spec.reference_to))
        lines.append(_tag("relationshipLabel", spec.relationship_label or spec.label))
        lines.append(_tag("relationshipName", spec.relationship_name or spec.name[:-3]))
    if spec.type != "Checkbox":
        lines.append(_tag("required", False))
    if spec.scale is not None:
        lines.append(_tag("scale", spec.scale))
    lines.append(_tag("trackTrending", False))
    lines.append(_tag("type", spec.type))
    if spec.type == "Text":
        lines.append(_tag("unique", spec.unique))
    if spec.type == "Picklist":
        lines += [
            "    <valueSet>",
            _tag("restricted", True, 2),
            "        <valueSetDefinition>",
            _tag("sorted", False, 3),
        ]
        for value in spec.values:
            lines += [
                "            <value>",
                _tag("fullName", value, 4),
                _tag("default", False, 4),
                _tag("label", value, 4),
                "            </value>",
            ]
        lines += ["        </valueSetDefinition>", "    </valueSet>"]
    return _doc("CustomField", lines)


def object_xml(spec: ObjectSpec) -> str:
    return _doc(
        "CustomObject",
        [
            _tag("deploymentStatus", "Deployed"),
            _tag("description", spec.description),
            _tag("enableActivities", False),
            _tag("enableBulkApi", True),
            _tag("enableHistory", False),
            _tag("enableReports", True),
            _tag("enableSearch", True),
            _tag("enableSharing", True),
            _tag("enableStreamingApi", True),
            _tag("label", spec.label),
            "    <nameField>",
            _tag("displayFormat", spec.name_format, 2),
            _tag("label", f"{spec.label} Number", 2),
            _tag("type", "AutoNumber", 2),
            "    </nameField>",
            _tag("pluralLabel", spec.plural_label),
            _tag("sharingModel", "ReadWrite"),
        ],
    )


def _field_names(spec: FieldSpec) -> list[str]:
    if spec.metadata_object == "Activity":
        return [f"Task.{spec.name}", f"Event.{spec.name}"]
    return [f"{spec.sobject}.{spec.name}"]


def permission_set_xml(
    label: str,
    description: str,
    fields: dict[str, bool],
    objects: dict[str, tuple[bool, bool, bool]],
) -> str:
    """`fields`: field -> editable; `objects`: object -> (create, edit, read)."""
    lines = [_tag("description", description)]
    for name in sorted(fields):
        lines += [
            "    <fieldPermissions>",
            _tag("editable", fields[name], 2),
            _tag("field", name, 2),
            _tag("readable", True, 2),
            "    </fieldPermissions>",
        ]
    lines.append(_tag("hasActivationRequired", False))
    lines.append(_tag("label", label))
    for name in sorted(objects):
        create, edit, read = objects[name]
        lines += [
            "    <objectPermissions>",
            _tag("allowCreate", create, 2),
            _tag("allowDelete", False, 2),
            _tag("allowEdit", edit, 2),
            _tag("allowRead", read, 2),
            _tag("modifyAllRecords", False, 2),
            _tag("object", name, 2),
            _tag("viewAllRecords", False, 2),
            "    </objectPermissions>",
        ]
    return _doc("PermissionSet", lines)


STANDARD_WITH_FLS = frozenset({"Contact.Email", "Contact.FirstName", "Contact.Phone"})


def written_fields(config: SyncConfig) -> list[str]:
    """'Object.Field' of every field stripe2sf writes that a permission set can grant.

    Custom fields, plus the mapped standard fields that have field-level security
    (Contact.Email, FirstName, Phone). Standard Task/Case fields (Subject, WhatId, ...) are
    governed by object and user permissions, not field permissions.
    """
    names: set[str] = set()
    for spec in required_fields(config):
        names.update(_field_names(spec))
    for m in config.effective_mappings:
        if (
            m.target in STANDARD_WITH_FLS
            and config.owner_of(m.target_object, m.target_field) != "salesforce"
        ):
            names.add(m.target)
    return sorted(n for n in names if n not in NOT_PERMISSIONABLE)


def generate_metadata(config: SyncConfig) -> dict[str, str]:
    """All files, keyed by path relative to the project directory."""
    files: dict[str, str] = {
        "sfdx-project.json": json.dumps(
            {
                "packageDirectories": [{"path": "force-app", "default": True}],
                "name": "stripe2sf",
                "namespace": "",
                "sfdcLoginUrl": "https://login.salesforce.com",
                "sourceApiVersion": API_VERSION,
            },
            indent=2,
        )
        + "\n"
    }
    for obj in required_objects(config):
        files[f"{BASE}/objects/{obj.name}/{obj.name}.object-meta.xml"] = object_xml(obj)
    for spec in required_fields(config):
        path = f"{BASE}/objects/{spec.metadata_object}/fields/{spec.name}.field-meta.xml"
        files[path] = field_xml(spec)
    o = config.objects
    writes = written_fields(config)
    objects = {
        "Account": (True, True, True),
        "Contact": (True, True, True),
        "Case": (True, True, True),
        o.payment_object: (True, True, True),
    }
    if config.subscriptions.per_subscription_records:
        objects[o.subscription_object] = (True, True, True)
    files[f"{BASE}/permissionsets/Stripe2sf_Integration.permissionset-meta.xml"] = (
        permission_set_xml(
            "stripe2sf Integration",
            "Edit exactly the fields stripe2sf writes. Assign to the integration user only.",
            dict.fromkeys(writes, True),
            objects,
        )
    )
    viewer = [f"Account.{o.subscription_status_field}", f"Account.{o.billing_status_field}"]
    files[f"{BASE}/permissionsets/Stripe2sf_Viewer.permissionset-meta.xml"] = permission_set_xml(
        "stripe2sf Viewer",
        "Read the Stripe subscription and billing status of Accounts.",
        dict.fromkeys(viewer, False),
        {"Account": (False, False, True)},
    )
    finance = [
        f"{o.payment_object}.{spec.name}"
        for spec in required_fields(config)
        if spec.sobject == o.payment_object
    ]
    files[f"{BASE}/permissionsets/Stripe2sf_Finance.permissionset-meta.xml"] = permission_set_xml(
        "stripe2sf Finance",
        "Read Stripe payments (amounts, currency, status, card brand and last 4).",
        dict.fromkeys(finance, False),
        {
            o.payment_object: (False, False, True),
            "Account": (False, False, True),
            "Contact": (False, False, True),
        },
    )
    return files
