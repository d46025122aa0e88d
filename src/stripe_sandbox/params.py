"""Stripe's form encoding: ``a[b][c]=v``, ``items[0][price]=p``, ``expand[]=x``.

Pure functions; no HTTP here.
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import parse_qsl

from stripe_sandbox.errors import InvalidRequestError, param_invalid

_KEY = re.compile(r"^([^\[\]]+)((?:\[[^\[\]]*\])*)$")
_PART = re.compile(r"\[([^\[\]]*)\]")

Params = dict[str, Any]


def parse_form(body: str) -> Params:
    """Decode a form/query string into nested dicts and lists."""
    return build(parse_qsl(body, keep_blank_values=True))


def build(pairs: list[tuple[str, str]]) -> Params:
    root: Params = {}
    for key, value in pairs:
        match = _KEY.match(key)
        if not match:
            raise InvalidRequestError(f"Invalid parameter name: {key}", param=key)
        path = [match.group(1), *_PART.findall(match.group(2))]
        _assign(root, path, value, key)
    return _listify(root)


def _assign(node: Params, path: list[str], value: str, key: str) -> None:
    for i, part in enumerate(path[:-1]):
        nxt = path[i + 1]
        child = node.get(part)
        if child is None:
            child = {}
            node[part] = child
        if not isinstance(child, dict):
            raise InvalidRequestError(f"Invalid nesting for parameter: {key}", param=key)
        if nxt == "":
            # a[] style: append as the next numeric index
            if i + 1 == len(path) - 1:
                child[str(len(child))] = value
                return
            path[i + 1] = str(len(child))
        node = child
    last = path[-1]
    if last == "":
        last = str(len(node))
    node[last] = value


def _listify(node: Any) -> Any:
    if isinstance(node, dict):
        converted = {k: _listify(v) for k, v in node.items()}
        if converted and all(k.isdigit() for k in converted):
            return [converted[k] for k in sorted(converted, key=int)]
        return converted
    return node


# ---- typed accessors -------------------------------------------------------------------------


def get_str(params: Params, name: str, default: str | None = None) -> str | None:
    value = params.get(name, default)
    if value is None:
        return None
    if not isinstance(value, str):
        raise param_invalid(name, f"Invalid string: {name}")
    return value


def get_int(params: Params, name: str, default: int | None = None) -> int | None:
    value = params.get(name)
    if value is None or value == "":
        return default
    return to_int(value, name)


def to_int(value: Any, name: str) -> int:
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    try:
        return int(str(value))
    except ValueError:
        raise param_invalid(name, f"Invalid integer: {value}") from None


def get_bool(params: Params, name: str, default: bool | None = None) -> bool | None:
    value = params.get(name)
    if value is None or value == "":
        return default
    if isinstance(value, bool):
        return value
    if value in ("true", "True", "1"):
        return True
    if value in ("false", "False", "0"):
        return False
    raise param_invalid(name, f"Invalid boolean: {value}")


def get_dict(params: Params, name: str) -> Params:
    value = params.get(name)
    if value is None or value == "":
        return {}
    if isinstance(value, list):
        return {str(i): v for i, v in enumerate(value)}
    if not isinstance(value, dict):
        raise param_invalid(name, f"Invalid hash: {name}")
    return value


def get_list(params: Params, name: str) -> list[Any]:
    value = params.get(name)
    if value is None or value == "":
        return []
    if isinstance(value, dict):
        return [value[k] for k in sorted(value, key=lambda k: (not k.isdigit(), k))]
    if isinstance(value, list):
        return value
    return [value]


def merge_metadata(current: dict[str, str], update: Any) -> dict[str, str]:
    """Stripe's metadata update: keys set to '' are removed; metadata='' clears all."""
    if update == "":
        return {}
    if not isinstance(update, dict):
        raise param_invalid("metadata", "Invalid hash: metadata")
    merged = dict(current)
    for key, value in update.items():
        if value == "" or value is None:
            merged.pop(key, None)
        else:
            merged[key] = str(value)
    return merged


def range_filter(params: Params, name: str) -> dict[str, int]:
    """``created=123`` or ``created[gte]=...`` -> ``{"gte": 123, ...}`` (eq stored as gte+lte)."""
    value = params.get(name)
    if value is None or value == "":
        return {}
    if isinstance(value, dict):
        out: dict[str, int] = {}
        for op, raw in value.items():
            if op not in ("gt", "gte", "lt", "lte"):
                raise param_invalid(f"{name}[{op}]", f"Invalid range operator: {op}")
            out[op] = to_int(raw, f"{name}[{op}]")
        return out
    exact = to_int(value, name)
    return {"gte": exact, "lte": exact}
