"""Composite resources: /composite, /composite/graph, /composite/batch, sObject Collections."""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable
from typing import Any

from salesforce_sandbox.api.http import Call, Reply, error_reply, ok
from salesforce_sandbox.errors import (
    SalesforceError,
    processing_halted,
    rolled_back,
)
from salesforce_sandbox.models.org import Org

MAX_SUBREQUESTS = 25
MAX_RECORDS = 200
_REF_RE = re.compile(r"@\{([A-Za-z0-9_]+)((?:\.[A-Za-z0-9_]+|\[\d+\])*)\}")
_STEP_RE = re.compile(r"\.([A-Za-z0-9_]+)|\[(\d+)\]")

# Runs one subrequest (org, parent call, method, url, body, headers) through the same handlers:
# ``routes.internal``, which the route table passes in (it also holds these handlers).
Dispatch = Callable[[Org, Call, str, str, Any, dict[str, str]], Reply]


class _Rollback(Exception):
    pass


class _MissingReference(Exception):
    def __init__(self, reference: str, name: str) -> None:
        super().__init__(reference)
        self.reference = reference
        self.name = name


# references -------------------------------------------------------------------------------
def _lookup(results: dict[str, Any], name: str, steps: str, whole: str) -> Any:
    if name not in results:
        raise _MissingReference(whole, name)
    value = results[name]
    for attr, index in _STEP_RE.findall(steps):
        try:
            if attr:
                value = value[attr] if attr in value else value[attr[0].lower() + attr[1:]]
            else:
                value = value[int(index)]
        except (KeyError, IndexError, TypeError):
            raise _MissingReference(whole, name) from None
    return value


def _substitute(value: Any, results: dict[str, Any]) -> Any:
    if isinstance(value, str):
        whole = _REF_RE.fullmatch(value)
        if whole:
            return _lookup(results, whole.group(1), whole.group(2), value)
        return _REF_RE.sub(
            lambda m: str(_lookup(results, m.group(1), m.group(2), m.group(0))), value
        )
    if isinstance(value, dict):
        return {k: _substitute(v, results) for k, v in value.items()}
    if isinstance(value, list):
        return [_substitute(v, results) for v in value]
    return value


def _item(reply: Reply, reference: str) -> dict[str, Any]:
    return {
        "body": None if reply.status == 204 else reply.body,
        "httpHeaders": reply.headers,
        "httpStatusCode": reply.status,
        "referenceId": reference,
    }


def _halted(reference: str, message: str | None = None) -> dict[str, Any]:
    error = processing_halted(message) if message else processing_halted()
    return {
        "body": [{"errorCode": error.code, "message": error.message}],
        "httpHeaders": {},
        "httpStatusCode": 400,
        "referenceId": reference,
    }


def _run_series(
    org: Org, call: Call, requests: list[dict[str, Any]], all_or_none: bool, internal: Dispatch
) -> tuple[list[dict[str, Any]], bool]:
    """Run composite subrequests in order; returns (responses, all succeeded)."""
    responses: list[dict[str, Any]] = []
    results: dict[str, Any] = {}
    failed_at: int | None = None
    try:
        with org.store.transaction():
            for index, sub in enumerate(requests):
                reference = str(sub.get("referenceId", ""))
                try:
                    url = _substitute(str(sub.get("url", "")), results)
                    body = _substitute(sub.get("body"), results)
                except _MissingReference as missing:
                    responses.append(
                        _halted(
                            reference,
                            f"Invalid reference specified. No value for {missing.reference} "
                            f"found in {missing.name}. Provided referenceId ({missing.name}) "
                            "must be valid and must refer to a successful request.",
                        )
                    )
                    if all_or_none:
                        failed_at = index
                        break
                    continue
                headers = {k.lower(): str(v) for k, v in (sub.get("httpHeaders") or {}).items()}
                method = str(sub.get("method", "GET"))
                injected = (
                    call.record_fault()
                    if call.record_fault is not None and method.upper() != "GET"
                    else None
                )
                if injected is not None:
                    reply = error_reply(injected)
                else:
                    reply = internal(org, call, method, url, body, headers)
                responses.append(_item(reply, reference))
                if reply.status < 300:
                    results[reference] = reply.body
                elif all_or_none:
                    failed_at = index
                    break
            if failed_at is not None:
                raise _Rollback
    except _Rollback:
        out = []
        for index, sub in enumerate(requests):
            if index == failed_at:
                out.append(responses[index])
            else:
                out.append(_halted(str(sub.get("referenceId", ""))))
        return out, False
    return responses, all(r["httpStatusCode"] < 300 for r in responses)


def composite(org: Org, call: Call, internal: Dispatch) -> Reply:
    data = call.json_object()
    requests = data.get("compositeRequest")
    if not isinstance(requests, list) or not requests:
        raise SalesforceError("INVALID_INPUT", "compositeRequest is required")
    if len(requests) > MAX_SUBREQUESTS:
        raise SalesforceError(
            "LIMIT_EXCEEDED",
            f"Composite request must contain no more than {MAX_SUBREQUESTS} subrequests",
        )
    seen = Counter(str(r.get("referenceId", "")) for r in requests)
    duplicates = [ref for ref, n in seen.items() if n > 1]
    if duplicates:
        raise SalesforceError("INVALID_INPUT", f"Duplicate referenceId provided: {duplicates[0]}")
    responses, _ = _run_series(org, call, requests, bool(data.get("allOrNone", False)), internal)
    return ok({"compositeResponse": responses})


def graph(org: Org, call: Call, internal: Dispatch) -> Reply:
    data = call.json_object()
    graphs = data.get("graphs")
    if not isinstance(graphs, list) or not graphs:
        raise SalesforceError("INVALID_INPUT", "graphs is required")
    if len(graphs) > 75:
        raise SalesforceError("LIMIT_EXCEEDED", "A request may contain at most 75 graphs")
    out = []
    for item in graphs:
        requests = item.get("compositeRequest") or []
        if len(requests) > 500:
            raise SalesforceError("LIMIT_EXCEEDED", "A graph may contain at most 500 nodes")
        responses, success = _run_series(org, call, requests, True, internal)
        out.append(
            {
                "graphId": item.get("graphId"),
                "graphResponse": {"compositeResponse": responses},
                "isSuccessful": success,
            }
        )
    return ok({"graphs": out})


def batch(org: Org, call: Call, internal: Dispatch) -> Reply:
    data = call.json_object()
    requests = data.get("batchRequests")
    if not isinstance(requests, list) or not requests:
        raise SalesforceError("INVALID_INPUT", "batchRequests is required")
    if len(requests) > MAX_SUBREQUESTS:
        raise SalesforceError("LIMIT_EXCEEDED", "A batch may contain at most 25 subrequests")
    halt = bool(data.get("haltOnError", False))
    results: list[dict[str, Any]] = []
    has_errors = False
    for sub in requests:
        if halt and has_errors:
            results.append(
                {
                    "statusCode": 412,
                    "result": [
                        {
                            "errorCode": "BATCH_PROCESSING_HALTED",
                            "message": "Batch processing halted per request",
                        }
                    ],
                }
            )
            continue
        url = str(sub.get("url", ""))
        if not url.startswith("/"):
            url = "/services/data/" + url
        reply = internal(org, call, str(sub.get("method", "GET")), url, sub.get("richInput"), {})
        has_errors = has_errors or reply.status >= 400
        results.append(
            {"statusCode": reply.status, "result": None if reply.status == 204 else reply.body}
        )
    return ok({"hasErrors": has_errors, "results": results})


# sObject Collections ------------------------------------------------------------------------
def _records(call: Call) -> tuple[list[dict[str, Any]], bool]:
    data = call.json_object()
    records = data.get("records")
    if not isinstance(records, list):
        raise SalesforceError("INVALID_INPUT", "records is required")
    if len(records) > MAX_RECORDS:
        raise SalesforceError(
            "EXCEEDED_ID_LIMIT",
            f"record limit reached. cannot submit more than {MAX_RECORDS} records into this call",
        )
    return records, bool(data.get("allOrNone", False))


def _success(record_id: str, created: bool | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {"id": record_id, "success": True, "errors": []}
    if created is not None:
        out["created"] = created
    return out


def _failure(error: SalesforceError, record_id: str | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {"success": False, "errors": error.record_errors()}
    if record_id:
        out = {"id": record_id, **out}
    return out


def _collection(
    org: Org, call: Call, items: list[Any], all_or_none: bool, operate: Any
) -> list[dict[str, Any]]:
    """Run ``operate(item) -> result dict`` per item; allOrNone rolls back on any failure.
    An injected record fault (``call.record_fault``) fails its item without running it."""
    results: list[dict[str, Any]] = []
    try:
        with org.store.transaction():
            for item in items:
                injected = call.record_fault() if call.record_fault is not None else None
                if injected is not None:
                    results.append(_failure(injected, _given_id(item)))
                    continue
                try:
                    results.append(operate(item))
                except SalesforceError as error:
                    results.append(_failure(error, _given_id(item)))
            if all_or_none and any(not r["success"] for r in results):
                raise _Rollback
    except _Rollback:
        return [
            r if not r["success"] else _failure(rolled_back(), _given_id(item))
            for item, r in zip(items, results, strict=True)
        ]
    return results


def _given_id(item: Any) -> str | None:
    if isinstance(item, dict):
        value = item.get("id") or item.get("Id")
        return str(value) if value else None
    return str(item) if isinstance(item, str) else None


def _type_of(org: Org, record: dict[str, Any]) -> Any:
    attrs = record.get("attributes")
    name = attrs.get("type") if isinstance(attrs, dict) else None
    if not name:
        raise SalesforceError("INVALID_TYPE", "Must send a concrete entity type.")
    obj = org.schema.get(str(name))
    if obj is None:
        raise SalesforceError("INVALID_TYPE", f"sObject type '{name}' is not supported.")
    return obj


def collection_create(org: Org, call: Call) -> Reply:
    records, all_or_none = _records(call)

    def create(record: dict[str, Any]) -> dict[str, Any]:
        if not isinstance(record, dict):
            raise SalesforceError("JSON_PARSER_ERROR", "each record must be an object")
        if record.get("id") or record.get("Id"):
            raise SalesforceError(
                "INVALID_FIELD", "cannot specify Id in an insert call", fields=["Id"]
            )
        obj = _type_of(org, record)
        return _success(org.records.create(obj, record, user=call.user_id))

    return ok(_collection(org, call, records, all_or_none, create))


def collection_update(org: Org, call: Call) -> Reply:
    records, all_or_none = _records(call)

    def update(record: dict[str, Any]) -> dict[str, Any]:
        obj = _type_of(org, record)
        record_id = record.get("id") or record.get("Id")
        if not record_id:
            raise SalesforceError("MISSING_ARGUMENT", "Id not specified in an update call")
        body = {k: v for k, v in record.items() if k not in ("id", "Id")}
        rid = org.records.update(obj, str(record_id), body, user=call.user_id, deleted_status=400)
        return _success(rid)

    return ok(_collection(org, call, records, all_or_none, update))


def collection_delete(org: Org, call: Call) -> Reply:
    raw = call.query.get("ids", "")
    id_list = [i for i in raw.split(",") if i]
    if len(id_list) > MAX_RECORDS:
        raise SalesforceError("EXCEEDED_ID_LIMIT", "record limit reached")
    all_or_none = call.query.get("allOrNone", "false").lower() == "true"

    def delete(record_id: str) -> dict[str, Any]:
        obj = org.schema.of_id(record_id)
        if obj is None:
            raise SalesforceError("MALFORMED_ID", f"malformed id {record_id}", fields=["Id"])
        try:
            return _success(org.records.delete(obj, record_id, user=call.user_id))
        except SalesforceError as error:
            if error.code == "NOT_FOUND":
                raise SalesforceError(
                    "INVALID_CROSS_REFERENCE_KEY", "invalid cross reference id"
                ) from None
            if error.code == "ENTITY_IS_DELETED":
                raise SalesforceError("ENTITY_IS_DELETED", "entity is deleted") from None
            raise

    return ok(_collection(org, call, id_list, all_or_none, delete))


def collection_retrieve(org: Org, call: Call) -> Reply:
    obj = org.object(call.params["sobject"])
    if call.method == "POST":
        data = call.json_object()
        id_list = [str(i) for i in data.get("ids") or []]
        fields = [str(f) for f in data.get("fields") or []]
    else:
        id_list = [i for i in call.query.get("ids", "").split(",") if i]
        fields = [f for f in call.query.get("fields", "").split(",") if f]
    if len(id_list) > 2000:
        raise SalesforceError("EXCEEDED_ID_LIMIT", "record limit reached")
    out: list[Any] = []
    for record_id in id_list:
        try:
            out.append(org.records.retrieve(obj, record_id, fields or None, call.version))
        except SalesforceError as error:
            if error.code in ("NOT_FOUND", "ENTITY_IS_DELETED"):
                out.append(None)
            else:
                raise
    return ok(out)


def collection_upsert(org: Org, call: Call) -> Reply:
    obj = org.object(call.params["sobject"])
    definition = org.records.external_field(obj, call.params["field"])
    records, all_or_none = _records(call)
    values = [
        str(r.get(definition.name, r.get(call.params["field"], ""))) if isinstance(r, dict) else ""
        for r in records
    ]
    counts = Counter(definition.normalize_key(v) for v in values if v)

    def upsert(record: dict[str, Any]) -> dict[str, Any]:
        if not isinstance(record, dict):
            raise SalesforceError("JSON_PARSER_ERROR", "each record must be an object")
        attrs = record.get("attributes")
        if (
            isinstance(attrs, dict)
            and attrs.get("type")
            and str(attrs["type"]).lower() != obj.name.lower()
        ):
            raise SalesforceError("INVALID_TYPE", "Records must all be of the URI's sObject type")
        value = record.get(definition.name)
        if value is None:
            value = next((v for k, v in record.items() if k.lower() == definition.lower), None)
        if value is not None and counts[definition.normalize_key(str(value))] > 1:
            raise SalesforceError(
                "DUPLICATE_EXTERNAL_ID",
                f"Duplicate external id specified: {value}",
                fields=[definition.name],
            )
        if definition.type == "id":
            record_id = record.get("Id") or record.get("id")
            body = {k: v for k, v in record.items() if k not in ("Id", "id")}
            rid, created = org.records.upsert(obj, "Id", record_id, body, user=call.user_id)
        else:
            rid, created = org.records.upsert(
                obj, definition.name, value, record, user=call.user_id, version=call.version
            )
        return _success(rid, created)

    return ok(_collection(org, call, records, all_or_none, upsert))


def tree(org: Org, call: Call) -> Reply:
    obj = org.object(call.params["sobject"])
    records, _ = _records(call)
    results: list[dict[str, Any]] = []
    try:
        with org.store.transaction():
            for record in records:
                _tree_insert(org, call, obj, record, {}, results)
    except SalesforceError as error:
        reference = getattr(error, "reference", "")
        return Reply(
            400,
            {
                "hasErrors": True,
                "results": [
                    {
                        "referenceId": reference,
                        "errors": [
                            {
                                "statusCode": error.code,
                                "message": error.message,
                                "fields": error.fields,
                            }
                        ],
                    }
                ],
            },
        )
    return ok({"hasErrors": False, "results": results}, 201)


def _tree_insert(
    org: Org,
    call: Call,
    obj: Any,
    record: dict[str, Any],
    extra: dict[str, Any],
    results: list[dict[str, Any]],
) -> None:
    attrs = record.get("attributes") or {}
    reference = str(attrs.get("referenceId", ""))
    fields: dict[str, Any] = {}
    children: list[tuple[str, list[dict[str, Any]]]] = []
    for key, value in record.items():
        if key == "attributes":
            continue
        if isinstance(value, dict) and isinstance(value.get("records"), list):
            children.append((key, value["records"]))
        else:
            fields[key] = value
    fields.update(extra)
    try:
        record_id = org.records.create(obj, fields, user=call.user_id)
    except SalesforceError as error:
        error.reference = reference  # type: ignore[attr-defined]
        raise
    results.append({"referenceId": reference, "id": record_id})
    for relationship, items in children:
        match = next(
            (
                (child, lookup)
                for child, lookup in org.schema.child_relationships(obj.name)
                if (lookup.child_relationship or "").lower() == relationship.lower()
            ),
            None,
        )
        if match is None:
            raise SalesforceError("INVALID_FIELD", f"No such relationship {relationship}")
        for item in items:
            _tree_insert(org, call, match[0], item, {match[1].name: record_id}, results)
