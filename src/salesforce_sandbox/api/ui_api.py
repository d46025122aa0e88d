"""User Interface API subset: ``ui-api/object-info/{object}/picklist-values/{recordTypeId}``,
the picklist values a record type allows (what Lightning's ``getPicklistValuesByRecordType``
reads, and the one API that tells them). The master record type
(``012000000000000AAA``) allows every active value; a deployed record type the values its
``picklistValues`` list, in the field's order, and every value of a picklist it does not
list."""

from __future__ import annotations

from typing import Any

from salesforce_sandbox.api.http import Call, Reply, ok
from salesforce_sandbox.errors import not_found
from salesforce_sandbox.models.org import Org
from salesforce_sandbox.schema.model import FieldDef
from salesforce_sandbox.schema.rules import MASTER_RECORD_TYPE_ID, RecordTypeDef


def _value(label: str, value: str) -> dict[str, Any]:
    return {"attributes": None, "label": label, "validFor": [], "value": value}


def _field(definition: FieldDef, record_type: RecordTypeDef | None, url: str) -> dict[str, Any]:
    allowed = record_type.allowed(definition.name) if record_type is not None else None
    values = [
        p for p in definition.picklist if p.active and (allowed is None or p.value in allowed)
    ]
    default_value = record_type.defaults.get(definition.name) if record_type else None
    default = next((p for p in values if p.value == default_value), None) or next(
        (p for p in values if p.default and record_type is None), None
    )
    return {
        "controllerValues": {},
        "defaultValue": _value(default.label, default.value) if default else None,
        "eTag": f"{definition.name}:{len(values)}",
        "url": url,
        "values": [_value(p.label, p.value) for p in values],
    }


def picklist_values(org: Org, call: Call) -> Reply:
    obj = org.object(call.params["sobject"])
    wanted = call.params["record_type"]
    record_type: RecordTypeDef | None = None
    if wanted[:15] != MASTER_RECORD_TYPE_ID[:15]:
        row = next((r for r in org.rules.rows(obj.name) if r.id[:15] == wanted[:15]), None)
        if row is None:
            raise not_found()
        record_type = obj.rules.record_type(row.developer_name)
    base = f"/services/data/v{call.version}/ui-api/object-info/{obj.name}/picklist-values/{wanted}"
    fields = {
        d.name: _field(d, record_type, f"{base}/{d.name}")
        for d in obj.fields.values()
        if d.type in ("picklist", "multipicklist")
    }
    return ok({"eTag": f"{obj.name}:{wanted}", "picklistFieldValues": fields})
