"""Describe JSON (global describe, sObject describe, basic info) from the schema (pure).

Given a user's view of the schema (``models.permissions.visible_schema``), it describes what that
user may see: objects and fields it cannot read are absent, createable/updateable/deletable
follow its permissions."""

from __future__ import annotations

from typing import Any

from salesforce_sandbox.schema.model import FieldDef, ObjectDef, Schema
from salesforce_sandbox.schema.permission_set import permissionable

_SOAP_TYPES = {
    "id": "tns:ID",
    "reference": "tns:ID",
    "boolean": "xsd:boolean",
    "double": "xsd:double",
    "currency": "xsd:double",
    "percent": "xsd:double",
    "int": "xsd:int",
    "date": "xsd:date",
    "datetime": "xsd:dateTime",
}


def global_entry(obj: ObjectDef, version: str) -> dict[str, Any]:
    base = f"/services/data/v{version}/sobjects/{obj.name}"
    return {
        "activateable": False,
        "createable": obj.createable,
        "custom": obj.custom,
        "customSetting": False,
        "deepCloneable": False,
        "deletable": obj.deletable,
        "deprecatedAndHidden": False,
        "feedEnabled": False,
        "hasSubtypes": False,
        "isInterface": False,
        "isSubtype": False,
        "keyPrefix": obj.key_prefix,
        "label": obj.label,
        "labelPlural": obj.label_plural,
        "layoutable": True,
        "mergeable": False,
        "mruEnabled": True,
        "name": obj.name,
        "queryable": True,
        "replicateable": True,
        "retrieveable": True,
        "searchable": True,
        "triggerable": True,
        "undeletable": obj.deletable,
        "updateable": obj.updateable,
        "urls": {
            "sobject": base,
            "describe": base + "/describe",
            "rowTemplate": base + "/{ID}",
        },
    }


def describe_global(schema: Schema, version: str) -> dict[str, Any]:
    return {
        "encoding": "UTF-8",
        "maxBatchSize": 200,
        "sobjects": [global_entry(o, version) for o in schema.objects()],
    }


def field_json(definition: FieldDef, object_name: str = "") -> dict[str, Any]:
    """One describe field; ``permissionable`` (field-level security applies) needs the object."""
    kind = definition.type
    is_text = definition.is_text or kind in ("id", "reference")
    length = definition.length if is_text else 0
    defaulted = (
        definition.default is not None
        or definition.name in ("Id", "OwnerId", "CreatedDate", "CreatedById", "CurrencyIsoCode")
        or kind == "boolean"
        or definition.auto_number is not None
    )
    return {
        "aggregatable": kind not in ("textarea",),
        "autoNumber": definition.auto_number is not None,
        "byteLength": length * 3,
        "calculated": definition.calculated,
        "calculatedFormula": None,
        "cascadeDelete": False,
        "caseSensitive": definition.case_sensitive,
        "compoundFieldName": None,
        "controllerName": None,
        "createable": definition.createable,
        "custom": definition.custom,
        "defaultValue": definition.default if kind in ("boolean",) else None,
        "defaultValueFormula": None,
        "defaultedOnCreate": defaulted,
        "dependentPicklist": False,
        "deprecatedAndHidden": False,
        "digits": definition.precision if kind == "int" else 0,
        "displayLocationInDecimal": False,
        "encrypted": False,
        "externalId": definition.external_id,
        "extraTypeInfo": None,
        "filterable": kind != "textarea" or definition.length <= 255,
        "filteredLookupInfo": None,
        "groupable": kind not in ("double", "currency", "percent", "datetime", "textarea"),
        "highScaleNumber": False,
        "htmlFormatted": False,
        "idLookup": kind == "id" or definition.external_id or definition.unique,
        "inlineHelpText": None,
        "label": definition.label,
        "length": length,
        "mask": None,
        "maskType": None,
        "name": definition.name,
        "nameField": definition.name == "Name",
        "namePointing": len(definition.reference_to) > 1,
        "nillable": definition.nillable,
        "permissionable": permissionable(object_name, definition),
        "picklistValues": [
            {
                "active": p.active,
                "defaultValue": p.default,
                "label": p.label,
                "validFor": None,
                "value": p.value,
            }
            for p in definition.picklist
        ],
        "polymorphicForeignKey": len(definition.reference_to) > 1,
        "precision": definition.precision if definition.is_number and kind != "int" else 0,
        "queryByDistance": False,
        "referenceTargetField": None,
        "referenceTo": list(definition.reference_to),
        "relationshipName": definition.relationship_name,
        "relationshipOrder": None,
        "restrictedDelete": False,
        "restrictedPicklist": definition.restricted,
        "scale": definition.scale if definition.is_number and kind != "int" else 0,
        "soapType": _SOAP_TYPES.get(kind, "xsd:string"),
        "sortable": kind != "textarea" or definition.length <= 255,
        "type": kind,
        "unique": definition.unique,
        "updateable": definition.updateable,
        "writeRequiresMasterRead": False,
    }


def describe(schema: Schema, obj: ObjectDef, version: str) -> dict[str, Any]:
    data = global_entry(obj, version)
    data["fields"] = [field_json(f, obj.name) for f in obj.fields.values()]
    data["childRelationships"] = [
        {
            "cascadeDelete": False,
            "childSObject": child.name,
            "deprecatedAndHidden": False,
            "field": lookup.name,
            "junctionIdListNames": [],
            "junctionReferenceTo": [],
            "relationshipName": lookup.child_relationship,
            "restrictedDelete": False,
        }
        for child, lookup in schema.child_relationships(obj.name)
    ]
    data["recordTypeInfos"] = []
    data["actionOverrides"] = []
    data["namedLayoutInfos"] = []
    data["supportedScopes"] = [{"label": "All " + obj.label_plural, "name": "everything"}]
    data["compactLayoutable"] = True
    data["listviewable"] = None
    data["lookupLayoutable"] = None
    data["searchLayoutable"] = True
    data["networkScopeFieldName"] = None
    return data


def basic_info(obj: ObjectDef, version: str, recent: list[dict[str, Any]]) -> dict[str, Any]:
    return {"objectDescribe": global_entry(obj, version), "recentItems": recent}
