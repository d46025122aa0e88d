"""Column metadata of a bound query: the ``columnMetadata`` answer of ``query?columns=true``
(pure).

The Salesforce CLI (``sf data query``) asks for it after every non-empty result and names its
table columns from it: a plain column is a field; a column with ``joinColumns`` and
``aggregate: false`` is a parent relationship (``Owner`` -> ``Owner.Name``); one with
``joinColumns`` and ``aggregate: true`` is a child subquery (``Contacts`` -> ``Contacts.LastName``);
one without ``joinColumns`` and ``aggregate: true`` is an aggregate function, shown by its
``displayName`` (``count(Id)``) and found in the records under its ``columnName`` (``expr0``, or
the alias). Shapes as real orgs answer them (captured in the CLI's own test exemplars).
"""

from __future__ import annotations

from typing import Any

from salesforce_sandbox.schema.model import FieldDef
from salesforce_sandbox.soql.binder import BAggregate, BChild, BoundQuery, Path

Column = dict[str, Any]

# Apex type of a field's value, by describe type (sObject number fields are Decimal in Apex)
_APEX_TYPES = {
    "id": "Id",
    "reference": "Id",
    "boolean": "Boolean",
    "int": "Integer",
    "double": "Decimal",
    "currency": "Decimal",
    "percent": "Decimal",
    "date": "Date",
    "datetime": "Datetime",
    "time": "Time",
    "base64": "Blob",
}

_NUMERIC_FUNCTIONS = frozenset({"COUNT", "COUNT_DISTINCT", "SUM", "AVG"})


def column_metadata(query: BoundQuery) -> dict[str, Any]:
    """The whole ``columns=true`` answer for ``query``."""
    return {
        "columnMetadata": columns(query),
        "entityName": query.obj.name,
        "groupBy": bool(query.group_by),
        "idSelected": any(
            isinstance(f, Path) and f.direct and f.name == "Id" for f in query.fields
        ),
        "keyPrefix": query.obj.key_prefix,
    }


def columns(query: BoundQuery) -> list[Column]:
    """One column per selected item, in select order. Fields reached through the same parent
    relationship share that relationship's column (its ``joinColumns`` list them in order).
    ``SELECT COUNT() ...`` has no columns (its answer is ``totalSize`` alone)."""
    out: list[Column] = []
    parents: dict[tuple[str, ...], Column] = {}  # relationship path -> its column
    for item in query.fields:
        if isinstance(item, BAggregate):
            out.append(_aggregate(item))
        elif isinstance(item, BChild):
            out.append(_child(item))
        elif query.aggregate or item.direct:
            # a grouped field comes back under its own name, even through a relationship
            out.append(_field(item.field))
        else:
            _join(out, parents, item)
    return out


def _base(name: str) -> Column:
    return {
        "aggregate": False,
        "apexType": None,
        "booleanType": False,
        "columnName": name,
        "custom": False,
        "displayName": name,
        "foreignKeyName": None,
        "insertable": False,
        "joinColumns": [],
        "numberType": False,
        "textType": False,
        "updatable": False,
    }


def _field(definition: FieldDef) -> Column:
    column = _base(definition.name)
    column.update(
        {
            "apexType": apex_type(definition),
            "booleanType": definition.type == "boolean",
            "custom": definition.custom,
            "insertable": definition.createable and not definition.calculated,
            "numberType": definition.is_number,
            "textType": definition.is_text,
            "updatable": definition.updateable and not definition.calculated,
        }
    )
    return column


def apex_type(definition: FieldDef) -> str:
    return _APEX_TYPES.get(definition.type, "String")


def _join(out: list[Column], parents: dict[tuple[str, ...], Column], path: Path) -> None:
    """Put ``path`` (``Account.Owner.Name``) under its relationship columns, making the ones
    this query has not shown yet."""
    siblings = out
    for depth, (rel_field, rel_name) in enumerate(
        zip(path.rel_fields, path.rel_names, strict=True)
    ):
        key = tuple(name.lower() for name in path.rel_names[: depth + 1])
        parent = parents.get(key)
        if parent is None:
            parent = _base(rel_name)
            parent["foreignKeyName"] = rel_field
            parent["custom"] = rel_name.lower().endswith("__r")
            parents[key] = parent
            siblings.append(parent)
        siblings = parent["joinColumns"]
    siblings.append(_field(path.field))


def _aggregate(item: BAggregate) -> Column:
    column = _base(item.output)
    argument = item.path.dotted if item.path is not None else ""
    column["aggregate"] = True
    column["displayName"] = f"{item.func.lower()}({argument})"
    definition = item.path.field if item.path is not None else None
    if item.func in _NUMERIC_FUNCTIONS:
        column["numberType"] = True
    elif definition is not None:  # MIN / MAX keep the type of their field
        column["numberType"] = definition.is_number
        column["textType"] = definition.is_text
        column["booleanType"] = definition.type == "boolean"
    return column


def _child(item: BChild) -> Column:
    column = _base(item.relationship)
    column["aggregate"] = True
    column["custom"] = item.relationship.lower().endswith("__r")
    column["joinColumns"] = columns(item.query)
    return column
