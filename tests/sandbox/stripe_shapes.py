"""Shape checks for the stripe sandbox tests: objects against the SDK's typed resource classes
(the pinned API version) and against the reference JSON Schema (API 2024-04-10)."""

from __future__ import annotations

import copy
import importlib
import json
import typing
from functools import cache
from typing import Any

from stripe._list_object import ListObject
from stripe._object_classes import OBJECT_CLASSES
from stripe._stripe_object import StripeObject

from stripe_sandbox.shapes import OMITTED
from tests.sandbox.stripe_support import REFERENCE

SCHEMA = REFERENCE / "schema" / "stripe-2024-04-10.loose.schema.json"


def sdk_class(object_type: str) -> type[StripeObject] | None:
    entry = OBJECT_CLASSES.get(object_type)
    if entry is None:
        return None
    module, name = entry
    cls: type[StripeObject] = getattr(importlib.import_module(module), name)
    return cls


@cache
def _annotations(cls: type[Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for klass in reversed(cls.__mro__):
        out.update(getattr(klass, "__annotations__", {}))
    out.pop("OBJECT_NAME", None)
    return {
        k: v
        for k, v in out.items()
        if not k.startswith("_") and typing.get_origin(v) is not typing.ClassVar
    }


def _candidates(tp: Any) -> list[Any]:
    """Classes an annotation may hold (unwrapping Optional/Union/List)."""
    origin = typing.get_origin(tp)
    if origin in (typing.Union,) or str(origin) == "types.UnionType":
        return [c for a in typing.get_args(tp) for c in _candidates(a)]
    if origin in (list, typing.List):  # noqa: UP006
        return [c for a in typing.get_args(tp) for c in _candidates(a)]
    if origin is not None and isinstance(origin, type) and issubclass(origin, ListObject):
        return [ListObject]
    if isinstance(tp, type) and issubclass(tp, StripeObject):
        return [tp]
    return []


def conformance(obj: dict[str, Any], where: str = "") -> list[str]:
    """Problems of ``obj`` against the SDK class for ``obj["object"]``: missing or unknown
    fields, recursively through typed nested hashes."""
    object_type = str(obj.get("object"))
    cls = sdk_class(object_type)
    if cls is None:
        return [f"{where or object_type}: no SDK class for object={object_type}"]
    omitted = set(OMITTED.get(object_type, ()))
    if object_type == "payment_method":
        omitted |= {
            k
            for k in _annotations(cls)
            if k != obj.get("type") and isinstance(getattr(cls, _camel(k), None), type)
        } | {"radar_options"}
    return _check(obj, cls, where or object_type, omitted, top=True)


def _camel(name: str) -> str:
    return "".join(part.capitalize() for part in name.split("_"))


def _check(
    obj: dict[str, Any], cls: type[Any], where: str, omitted: set[str], top: bool
) -> list[str]:
    fields = _annotations(cls)
    problems: list[str] = []
    unknown = set(obj) - set(fields)
    if unknown:
        problems.append(f"{where}: unknown fields {sorted(unknown)}")
    # Stripe leaves out fields its spec marks optional (absent unless they apply); nested
    # hashes are checked for unknown fields only, since most of their members are optional
    missing = set(fields) - set(obj) - omitted - optional_fields(str(obj.get("object")))
    if missing and top:
        problems.append(f"{where}: missing fields {sorted(missing)}")
    for key, value in obj.items():
        if key not in fields:
            continue
        problems.extend(_check_value(value, fields[key], f"{where}.{key}"))
    return problems


@cache
def optional_fields(object_type: str) -> frozenset[str]:
    """Fields the reference schema knows but does not require (Stripe omits them when they do
    not apply)."""
    defs = _raw_defs()
    schema = defs.get(object_type)
    if not schema:
        return frozenset()
    required = set(schema.get("required", []))
    return frozenset(
        name
        for name, prop in schema.get("properties", {}).items()
        if name not in required and not _nullable(prop, defs)
    )


@cache
def _raw_defs() -> dict[str, Any]:
    defs: dict[str, Any] = json.loads(SCHEMA.read_text())["$defs"]
    return defs


def _nullable(prop: dict[str, Any], defs: dict[str, Any]) -> bool:
    """Whether a property accepts null (nullable fields are always present, as null)."""
    kinds = prop.get("type")
    if kinds == "null" or (isinstance(kinds, list) and "null" in kinds):
        return True
    return any(_nullable(alt, defs) for alt in prop.get("anyOf", []))


def _check_value(value: Any, annotation: Any, where: str) -> list[str]:
    if isinstance(value, list):
        return [
            p for i, v in enumerate(value) for p in _check_value(v, annotation, f"{where}[{i}]")
        ]
    if not isinstance(value, dict):
        return []
    candidates = _candidates(annotation)
    if "object" in value and value["object"] == "list":
        return (
            [
                p
                for i, v in enumerate(value.get("data", []))
                for p in conformance(v, f"{where}.data[{i}]")
            ]
            if isinstance(value.get("data"), list)
            else []
        )
    if "object" in value and sdk_class(str(value["object"])) is not None:
        return conformance(value, where)
    typed = [
        c
        for c in candidates
        if c is not ListObject
        and not c.__name__.startswith("UntypedStripeObject")
        and c.__name__ != "StripeObject"
    ]
    if not typed:
        return []
    return _check(value, typed[0], where, set(), top=False)


# ---- reference JSON Schema ---------------------------------------------------------------


@cache
def _bundle() -> dict[str, Any]:
    defs = copy.deepcopy(_raw_defs())
    # where the versions disagree (fields removed since 2024-04-10) the SDK's pinned version wins
    for name, schema in defs.items():
        cls = sdk_class(name)
        if cls is not None and isinstance(schema.get("required"), list):
            current = _annotations(cls)
            schema["required"] = [f for f in schema["required"] if f in current]
    return {"$defs": defs}


def schema_errors(obj: dict[str, Any], def_name: str | None = None) -> list[str]:
    """Validation errors against the reference schema, limited to fields that both the
    schema's version and the pinned version have with the same meaning."""
    import jsonschema

    name = def_name or str(obj.get("object"))
    bundle = _bundle()
    if name not in bundle["$defs"]:
        return []
    props = bundle["$defs"][name].get("properties", {})
    cls = sdk_class(str(obj.get("object")))
    agreed = set(props) & set(_annotations(cls) if cls else props)
    trimmed = {k: v for k, v in obj.items() if k in agreed or k in ("id", "object")}
    validator = jsonschema.Draft202012Validator(
        {"$defs": bundle["$defs"], "$ref": f"#/$defs/{name}"}
    )
    return [
        f"{name}.{'.'.join(map(str, e.absolute_path))}: {e.message[-300:]}"
        for e in validator.iter_errors(trimmed)
    ]
