"""Salesforce metadata in SFDX source format for what a configuration needs.

`generate_metadata(config)` returns {relative path: file text}; the CLI writes them under
`--out DIR`, ready for `sf project deploy start --source-dir force-app`:

    sfdx-project.json
    force-app/main/default/objects/<Obj>/<Obj>.object-meta.xml        (custom objects)
    force-app/main/default/objects/<Obj>/fields/<Field>.field-meta.xml
    force-app/main/default/objects/<Obj>/listViews/<View>.listView-meta.xml
    force-app/main/default/layouts/Account-Stripe Account Layout.layout-meta.xml
    force-app/main/default/permissionsets/<Name>.permissionset-meta.xml
    force-app/main/default/platformEventChannelMembers/ChangeEvents_<Entity>ChangeEvent
        .platformEventChannelMember-meta.xml      (Change Data Capture; with [actions] or
                                                   [salesforce_to_stripe] on)

What goes in the permission sets is decided in `access` (Stripe2sf_Integration for the
integration user, Stripe2sf_Viewer, Stripe2sf_Finance); the list views and the layout in
`org_views`. This module only writes XML, with elements in the order the Metadata API's
schema gives them.
"""

from __future__ import annotations

import json
from xml.sax.saxutils import escape

from stripe2sf.domain.actions.schema import (
    action_fields,
    action_objects,
    change_event_name,
    channel_member_name,
)
from stripe2sf.domain.config import SyncConfig
from stripe2sf.domain.setup.access import (
    Access,
    captured_objects,
    finance_access,
    integration_access,
    viewer_access,
)
from stripe2sf.domain.setup.org_views import (
    LayoutSpec,
    ListViewSpec,
    account_layout,
    list_views,
)
from stripe2sf.domain.setup.schema import FieldSpec, ObjectSpec, required_fields, required_objects

API_VERSION = "60.0"
NS = "http://soap.sforce.com/2006/04/metadata"
BASE = "force-app/main/default"


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
    if spec.type == "LongTextArea":
        lines.append(_tag("visibleLines", 3))
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


def permission_set_xml(label: str, description: str, access: Access) -> str:
    """A PermissionSet: field permissions (readable, editable as `access` says), object
    permissions (never delete or modify all; view all only where `access` says: Change Data
    Capture), record type visibilities, enabled user permissions."""
    lines = [_tag("description", description)]
    for name, editable in access.fields.items():
        lines += [
            "    <fieldPermissions>",
            _tag("editable", editable, 2),
            _tag("field", name, 2),
            _tag("readable", True, 2),
            "    </fieldPermissions>",
        ]
    lines.append(_tag("hasActivationRequired", False))
    lines.append(_tag("label", label))
    for name, rights in access.objects.items():
        lines += [
            "    <objectPermissions>",
            _tag("allowCreate", rights.create, 2),
            _tag("allowDelete", False, 2),
            _tag("allowEdit", rights.edit, 2),
            _tag("allowRead", rights.read, 2),
            _tag("modifyAllRecords", False, 2),
            _tag("object", name, 2),
            _tag("viewAllRecords", rights.view_all, 2),
            "    </objectPermissions>",
        ]
    for name in access.record_types:
        lines += [
            "    <recordTypeVisibilities>",
            _tag("recordType", name, 2),
            _tag("visible", True, 2),
            "    </recordTypeVisibilities>",
        ]
    for name in sorted(access.user_permissions):
        lines += [
            "    <userPermissions>",
            _tag("enabled", True, 2),
            _tag("name", name, 2),
            "    </userPermissions>",
        ]
    return _doc("PermissionSet", lines)


def channel_member_xml(sobject: str) -> str:
    """A PlatformEventChannelMember selecting `sobject`'s change events on the standard
    ChangeEvents channel (what Setup > Change Data Capture does)."""
    return _doc(
        "PlatformEventChannelMember",
        [_tag("eventChannel", "ChangeEvents"), _tag("selectedEntity", change_event_name(sobject))],
    )


def list_view_xml(view: ListViewSpec) -> str:
    lines = [_tag("fullName", view.name)]
    lines += [_tag("columns", column) for column in view.columns]
    lines.append(_tag("filterScope", "Everything"))
    for f in view.filters:
        lines += [
            "    <filters>",
            _tag("field", f.field, 2),
            _tag("operation", f.operation, 2),
            _tag("value", f.value, 2),
            "    </filters>",
        ]
    lines.append(_tag("label", view.label))
    return _doc("ListView", lines)


def layout_xml(layout: LayoutSpec) -> str:
    lines: list[str] = []
    for section in layout.sections:
        lines += [
            "    <layoutSections>",
            _tag("customLabel", section.custom_label, 2),
            _tag("detailHeading", section.detail_heading, 2),
            _tag("editHeading", True, 2),
            _tag("label", section.label, 2),
        ]
        for column in section.columns:
            lines.append("        <layoutColumns>")
            for item in column:
                lines += [
                    "            <layoutItems>",
                    _tag("behavior", item.behavior, 4),
                    _tag("field", item.field, 4),
                    "            </layoutItems>",
                ]
            lines.append("        </layoutColumns>")
        lines += [_tag("style", "TwoColumnsTopToBottom", 2), "    </layoutSections>"]
    for related in layout.related_lists:
        lines.append("    <relatedLists>")
        lines += [_tag("fields", name, 2) for name in related.fields]
        lines.append(_tag("relatedList", related.name, 2))
        if related.sort_field:
            lines += [_tag("sortField", related.sort_field, 2)]
            lines += [_tag("sortOrder", related.sort_order, 2)]
        lines.append("    </relatedLists>")
    for flag in (
        "showEmailCheckbox",
        "showHighlightsPanel",
        "showInteractionLogPanel",
        "showRunAssignmentRulesCheckbox",
        "showSubmitAndAttachButton",
    ):
        lines.append(_tag(flag, False))
    return _doc("Layout", lines)


PERMISSION_SETS = (
    (
        "Stripe2sf_Integration",
        "stripe2sf Integration",
        "What stripe2sf reads and writes (no delete, no modify all; view all only on the "
        "objects whose changes it captures). Assign to the integration user only.",
        integration_access,
    ),
    (
        "Stripe2sf_Viewer",
        "stripe2sf Viewer",
        "Read the Stripe subscription and billing status of Accounts.",
        viewer_access,
    ),
    (
        "Stripe2sf_Finance",
        "stripe2sf Finance",
        "Read Stripe payments (amounts, currency, status, card brand and last 4) and the "
        "billing and subscription fields of Accounts.",
        finance_access,
    ),
)


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
    for obj in [*required_objects(config), *action_objects(config.actions)]:
        files[f"{BASE}/objects/{obj.name}/{obj.name}.object-meta.xml"] = object_xml(obj)
    for spec in [*required_fields(config), *action_fields(config.actions)]:
        path = f"{BASE}/objects/{spec.metadata_object}/fields/{spec.name}.field-meta.xml"
        files[path] = field_xml(spec)
    for view in list_views(config):
        path = f"{BASE}/objects/{view.sobject}/listViews/{view.name}.listView-meta.xml"
        files[path] = list_view_xml(view)
    layout = account_layout(config)
    files[f"{BASE}/layouts/{layout.name}.layout-meta.xml"] = layout_xml(layout)
    for name, label, description, access in PERMISSION_SETS:
        path = f"{BASE}/permissionsets/{name}.permissionset-meta.xml"
        files[path] = permission_set_xml(label, description, access(config))
    for sobject in captured_objects(config):
        name = channel_member_name(sobject)
        path = f"{BASE}/platformEventChannelMembers/{name}.platformEventChannelMember-meta.xml"
        files[path] = channel_member_xml(sobject)
    return files
