"""A Change Data Capture event (Avro-decoded, with its schema) -> one `SalesforceChange` per
record id it names. Pure.

The event is a record of the entity's fields plus ``ChangeEventHeader`` (entityName,
recordIds, changeType, changeOrigin, transactionKey, sequenceNumber, commitTimestamp,
commitNumber, commitUser, nulledFields, diffFields, changedFields). What the fields mean
depends on the change type (Salesforce's "Change Event Body Fields"):

- CREATE / UNDELETE: every field that has a value is in the event; the bitmaps are empty.
- UPDATE: only changed fields have a value; ``changedFields`` names them, ``nulledFields`` the
  ones set to null (their value is null like an absent field's), ``diffFields`` long text
  fields sent as a diff against the old value (the diff goes to ``extra["diffs"]``, not into
  `fields`: it is not the new value).
- DELETE: no field values.
- GAP_*: Salesforce could not build the event body (too large, an internal change): only the
  header; the change carries ``extra["gap"] = True`` and no fields (capture reads the record's
  current values before storing it: `domain.capture.recovery.fill_gap`). GAP_OVERFLOW names no
  record ids (over 100,000 changes in one transaction) and is returned in `Decoded.overflows`
  (capture runs a catch-up round for the object from its commit time).

Compound fields arrive nested and are flattened to the REST API's names (`flatten_name`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

from stripe2sf.domain.capture.bitmap import HEADER_FIELD, decode, value_schema
from stripe2sf.domain.capture.change import ChangeKind, SalesforceChange

CHANGE_TYPES: dict[str, ChangeKind] = {
    "CREATE": "created",
    "UPDATE": "updated",
    "DELETE": "deleted",
    "UNDELETE": "undeleted",
}
_EPOCH = date(1970, 1, 1)


class CdcEventError(ValueError):
    """The decoded event lacks what a change event must have; the message says what."""


@dataclass(frozen=True)
class Overflow:
    """A GAP_OVERFLOW event: too many changes of `entity` in one transaction for Salesforce to
    send each; the subscriber must read the object's changes since `commit_ts_ms` itself."""

    entity: str
    commit_ts_ms: int


@dataclass(frozen=True)
class Decoded:
    changes: list[SalesforceChange]
    overflows: list[Overflow] = field(default_factory=list)  # its GAP_OVERFLOW events


def flatten_name(parent: str, child: str) -> str:
    """The REST name of a compound field's part: ``BillingAddress.City`` -> ``BillingCity``,
    ``Name.FirstName`` -> ``FirstName``, ``Location__c.Latitude`` -> ``Location__Latitude__s``
    (a custom geolocation field)."""
    if parent.endswith("Address"):
        return parent[: -len("Address")] + child
    if parent.endswith("__c"):
        return f"{parent[:-3]}__{child}__s"
    return child


def flat(name: str) -> str:
    """``Parent.Child`` -> its REST name; a top-level name as is."""
    parent, dot, child = name.partition(".")
    return flatten_name(parent, child) if dot else name


def _datetime_text(ms: int) -> str:
    moment = datetime.fromtimestamp(ms / 1000, UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}+0000"


_SYSTEM_DATETIMES = frozenset(
    {"CreatedDate", "LastModifiedDate", "SystemModstamp", "LastReferencedDate", "LastViewedDate"}
)


def _date_kind(field_schema: Mapping[str, Any], name: str) -> str | None:
    """ "datetime", "date" or None. Salesforce's schemas say a field's Salesforce type in its
    ``doc`` (``Data:DateTime``, ``Data:Date``); an Avro logical type says it too."""
    doc = str(field_schema.get("doc") or "")
    inner = value_schema(field_schema.get("type"))
    logical = inner.get("logicalType") if isinstance(inner, Mapping) else None
    if "DateTime" in doc or logical in ("timestamp-millis", "timestamp-micros"):
        return "datetime"
    if doc.endswith(":Date") or logical == "date":
        return "date"
    return "datetime" if name in _SYSTEM_DATETIMES else None


def rest_value(field_schema: Mapping[str, Any], name: str, value: Any) -> Any:
    """A field value as the REST API would give it: a DateTime (epoch ms) as
    ``2024-05-01T10:00:00.000+0000``, a Date (epoch days, or epoch ms at midnight UTC) as
    ``2024-05-01``."""
    if value is None:
        return None
    if isinstance(value, datetime):
        return _datetime_text(int(value.timestamp() * 1000))
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, bytes):
        return value.hex()
    if isinstance(value, int) and not isinstance(value, bool):
        kind = _date_kind(field_schema, name)
        if kind == "datetime":
            return _datetime_text(value)
        if kind == "date":
            days = value // 86_400_000 if abs(value) > 1_000_000 else value
            return (_EPOCH + timedelta(days=days)).isoformat()
    return value


def field_values(schema: Mapping[str, Any], record: Mapping[str, Any]) -> dict[str, Any]:
    """Every field of the event body (compound fields flattened) -> its REST value; null
    fields included, so a caller can tell a nulled field from one the event lacks."""
    out: dict[str, Any] = {}
    for f in schema.get("fields") or []:
        name = str(f["name"])
        if name == HEADER_FIELD:
            continue
        value = record.get(name)
        inner = value_schema(f.get("type"))
        if isinstance(inner, Mapping) and inner.get("type") == "record":
            parts = value if isinstance(value, Mapping) else {}
            for p in inner.get("fields") or []:
                child = str(p["name"])
                out[flatten_name(name, child)] = rest_value(p, child, parts.get(child))
        else:
            out[name] = rest_value(f, name, value)
    return out


def _header(record: Mapping[str, Any]) -> Mapping[str, Any]:
    header = record.get(HEADER_FIELD)
    if not isinstance(header, Mapping):
        raise CdcEventError(f"a change event needs {HEADER_FIELD}; this one has none")
    for key in ("entityName", "changeType", "transactionKey", "commitTimestamp"):
        if header.get(key) in (None, ""):
            raise CdcEventError(f"{HEADER_FIELD}.{key} is missing")
    return header


def _ordered(names: Sequence[str]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(names))


def changes_of(
    schema: Mapping[str, Any], record: Mapping[str, Any], replay_id: str | None = None
) -> Decoded:
    """The changes one decoded change event stands for (one per record id, in its order)."""
    header = _header(record)
    entity = str(header["entityName"])
    raw_type = str(header["changeType"])
    gap = raw_type.startswith("GAP_")
    kind = CHANGE_TYPES.get(raw_type.removeprefix("GAP_"))
    if raw_type == "GAP_OVERFLOW":
        return Decoded([], [Overflow(entity, int(header["commitTimestamp"]))])
    if kind is None:
        raise CdcEventError(
            f"{HEADER_FIELD}.changeType {raw_type!r} is not one of CREATE, UPDATE, DELETE, "
            "UNDELETE or their GAP_ forms"
        )
    values = field_values(schema, record)
    fields: dict[str, Any]
    changed: tuple[str, ...]
    extra: dict[str, Any] = {"commit_number": header.get("commitNumber")}
    if replay_id is not None:
        extra["replay_id"] = replay_id
    if gap:
        fields, changed = {}, ()
        extra["gap"] = True
    elif kind in ("created", "undeleted"):
        fields = {k: v for k, v in values.items() if v is not None}
        changed = tuple(fields)
    elif kind == "deleted":
        fields, changed = {}, ()
    else:
        changed_names = [flat(n) for n in decode(schema, header.get("changedFields") or [])]
        nulled = [flat(n) for n in decode(schema, header.get("nulledFields") or [])]
        diffed = [flat(n) for n in decode(schema, header.get("diffFields") or [])]
        fields = {n: values.get(n) for n in changed_names if n not in diffed}
        fields.update(dict.fromkeys(nulled))
        if diffed:
            extra["diffs"] = {n: values.get(n) for n in diffed}
        changed = _ordered([*changed_names, *nulled, *diffed])
    ids = [str(i) for i in header.get("recordIds") or []]
    if not ids:
        raise CdcEventError(f"{HEADER_FIELD}.recordIds is empty for a {raw_type} event")
    position = f"{header['transactionKey']}:{header.get('sequenceNumber') or 0}"
    commit_user = header.get("commitUser") or None
    changes = [
        SalesforceChange(
            entity=entity,
            change=kind,
            record_id=record_id,
            fields=dict(fields),
            changed=changed,
            commit_ts_ms=int(header["commitTimestamp"]),
            source="cdc",
            position=position,
            commit_user=str(commit_user) if commit_user else None,
            origin=str(header.get("changeOrigin") or "") or None,
            transaction_key=str(header["transactionKey"]),
            extra=dict(extra),
        )
        for record_id in ids
    ]
    return Decoded(changes)
