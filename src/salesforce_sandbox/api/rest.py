"""REST API: resources, limits, describe, sObject rows, external-id upsert, query."""

from __future__ import annotations

import datetime as dt
from typing import Any

from salesforce_sandbox import clock, ids
from salesforce_sandbox.api.http import Call, Reply, no_content, ok
from salesforce_sandbox.errors import MultipleRecords, SalesforceError, not_found
from salesforce_sandbox.models.org import Org
from salesforce_sandbox.schema import describe as describing
from salesforce_sandbox.soql import bind, parse
from salesforce_sandbox.soql.columns import column_metadata

RESOURCES = (
    "sobjects",
    "query",
    "queryAll",
    "search",
    "limits",
    "composite",
    "jobs",
    "recent",
    "tooling",
    "tabs",
)


def resources(org: Org, call: Call) -> Reply:
    base = f"/services/data/v{call.version}"
    body: dict[str, Any] = {name: f"{base}/{name}" for name in RESOURCES}
    body["identity"] = f"{call.instance_url}/id/{org_ids(call)}"
    return ok(body)


def org_ids(call: Call) -> str:
    return f"{ids.ORG_ID}/{call.user_id}"


def limits(org: Org, call: Call) -> Reply:
    return ok(org.usage.limits())


def record_counts(org: Org, call: Call) -> Reply:
    """``limits/recordCount[?sObjects=A,B]``: records of each object (all objects without the
    parameter; names the org does not have are left out, as Salesforce does)."""
    wanted = [n.strip() for n in call.query.get("sObjects", "").split(",") if n.strip()]
    objects = [org.schema.get(n) for n in wanted] if wanted else org.schema.objects()
    return ok(
        {"sObjects": [{"count": org.store.count(o.name), "name": o.name} for o in objects if o]}
    )


def describe_global(org: Org, call: Call) -> Reply:
    return ok(describing.describe_global(org.schema, call.version))


def basic_info(org: Org, call: Call) -> Reply:
    obj = org.object(call.params["sobject"])
    return ok(describing.basic_info(obj, call.version, []))


def describe(org: Org, call: Call) -> Reply:
    obj = org.object(call.params["sobject"])
    body = describing.describe(org.schema, obj, call.version)
    body["recordTypeInfos"] = org.rules.describe_infos(obj.name, call.version)
    return ok(body)


def _result(record_id: str, created: bool | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {"id": record_id, "success": True, "errors": []}
    if created is not None:
        body["created"] = created
    return body


def _location(call: Call, sobject: str, record_id: str) -> dict[str, str]:
    return {"Location": f"/services/data/v{call.version}/sobjects/{sobject}/{record_id}"}


def create(org: Org, call: Call) -> Reply:
    obj = org.object(call.params["sobject"])
    with org.store.transaction():
        record_id = org.records.create(obj, call.json_object(), user=call.user_id)
    return ok(_result(record_id), 201, _location(call, obj.name, record_id))


def _fields(call: Call) -> list[str] | None:
    raw = call.query.get("fields")
    return [f for f in raw.split(",") if f.strip()] if raw else None


def retrieve(org: Org, call: Call) -> Reply:
    obj = org.object(call.params["sobject"])
    return ok(org.records.retrieve(obj, call.params["id"], _fields(call), call.version))


def update(org: Org, call: Call) -> Reply:
    obj = org.object(call.params["sobject"])
    with org.store.transaction():
        org.records.update(obj, call.params["id"], call.json_object(), user=call.user_id)
    return no_content()


def delete(org: Org, call: Call) -> Reply:
    obj = org.object(call.params["sobject"])
    with org.store.transaction():
        org.records.delete(obj, call.params["id"], user=call.user_id)
    return no_content()


def _ext_value(call: Call) -> str:
    """The external id from the path, percent-decoded once by the router ('+' stays '+')."""
    return call.params.get("value", "")


def _matches(org: Org, call: Call) -> tuple[Any, list[str]]:
    obj = org.object(call.params["sobject"])
    definition = org.records.external_field(obj, call.params["field"])
    value = _ext_value(call)
    if definition.type == "id":
        return obj, [value]
    return obj, org.records.find_external(obj, definition, value)


def external_get(org: Org, call: Call) -> Reply:
    obj, matches = _matches(org, call)
    if not matches:
        raise not_found(
            f"Provided external ID field does not exist or is not accessible: {_ext_value(call)}"
        )
    if len(matches) > 1:
        raise _multiple(call, obj.name, matches)
    return ok(org.records.retrieve(obj, matches[0], _fields(call), call.version))


def _multiple(call: Call, sobject: str, matches: list[str]) -> MultipleRecords:
    return MultipleRecords(
        [f"/services/data/v{call.version}/sobjects/{sobject}/{m}" for m in matches], matches
    )


def external_delete(org: Org, call: Call) -> Reply:
    obj, matches = _matches(org, call)
    if not matches:
        raise not_found()
    if len(matches) > 1:
        raise _multiple(call, obj.name, matches)
    with org.store.transaction():
        org.records.delete(obj, matches[0], user=call.user_id)
    return no_content()


def upsert(org: Org, call: Call) -> Reply:
    obj = org.object(call.params["sobject"])
    field = call.params["field"]
    value: str | None = _ext_value(call) if "value" in call.params else None
    body = call.json_object()
    if call.query.get("updateOnly", "").lower() == "true":
        definition = org.records.external_field(obj, field)
        if definition.type != "id" and not org.records.find_external(obj, definition, value):
            raise not_found()
    with org.store.transaction():
        record_id, created = org.records.upsert(
            obj, field, value, body, user=call.user_id, version=call.version
        )
    headers = _location(call, obj.name, record_id)
    if call.api_version >= 46.0:
        return ok(_result(record_id, created), 201 if created else 200, headers)
    if created:
        return ok(_result(record_id), 201, headers)
    return no_content()


def batch_size(call: Call) -> int:
    options = call.headers.get("sforce-query-options", "")
    for part in options.split(","):
        name, _, value = part.partition("=")
        if name.strip().lower() == "batchsize" and value.strip().isdigit():
            return min(max(int(value.strip()), 200), 2000)
    return 2000


def query(org: Org, call: Call) -> Reply:
    return _query(org, call, include_deleted=False)


def query_all(org: Org, call: Call) -> Reply:
    return _query(org, call, include_deleted=True)


def _query(org: Org, call: Call, include_deleted: bool) -> Reply:
    soql = call.query.get("q")
    if soql is None:
        raise SalesforceError("MALFORMED_QUERY", "A query string has to be specified")
    if call.query.get("explain"):
        raise SalesforceError("MALFORMED_QUERY", "explain is not supported")
    if call.query.get("columns", "").lower() == "true":
        return ok(column_metadata(bind(parse(soql), org.schema)))
    return ok(org.queries.run(soql, org.schema, call.version, include_deleted, batch_size(call)))


def query_more(org: Org, call: Call) -> Reply:
    return ok(org.queries.more(call.params["locator"], call.version, batch_size(call)))


REPLICATION_DAYS = {"updated": 30, "deleted": 15}  # how far back Salesforce answers
MAX_REPLICATION_IDS = 600_000


def _window(call: Call, kind: str) -> tuple[str, str]:
    """``start`` and ``end`` as Salesforce reads them (UTC, seconds dropped): the window's
    start and its latest date covered (``end``, or now when ``end`` is later), both in
    Salesforce's date-time text, which sorts like the stored SystemModstamp values."""
    bounds: list[dt.datetime] = []
    for name in ("start", "end"):
        text = call.query.get(name, "")
        if not text.strip():
            raise SalesforceError(
                "MISSING_ARGUMENT",
                f"{name}: a date-time in ISO 8601 (e.g. 2024-05-01T12:00:00Z, URL-encoded) "
                "is required",
            )
        parsed = clock.parse_datetime(text)
        if parsed is None:
            raise SalesforceError(
                "INVALID_REPLICATION_DATE",
                f"{name}: {text!r} is not an ISO 8601 date-time (e.g. 2024-05-01T12:00:00Z)",
            )
        bounds.append(parsed.replace(second=0, microsecond=0))
    start, end = bounds
    if end - start < dt.timedelta(minutes=1):
        raise SalesforceError(
            "INVALID_REPLICATION_DATE",
            "startDate must chronologically precede endDate by more than one minute",
        )
    now = clock.now()
    days = REPLICATION_DAYS[kind]
    if start < now.replace(hour=0, minute=0, second=0, microsecond=0) - dt.timedelta(days=days):
        raise SalesforceError(
            "INVALID_REPLICATION_DATE", f"startDate cannot be more than {days} days ago"
        )
    return clock.format_datetime(start), clock.format_datetime(min(end, now))


def _at_most(found: list[Any]) -> list[Any]:
    if len(found) > MAX_REPLICATION_IDS:
        raise SalesforceError(
            "EXCEEDED_ID_LIMIT",
            f"More than {MAX_REPLICATION_IDS} ids: choose start and end dates closer together",
        )
    return found


def updated(org: Org, call: Call) -> Reply:
    """sObject Get Updated: ids of records added or changed (SystemModstamp) in the window,
    deleted ones excluded; ``latestDateCovered`` is where the next call should start."""
    obj = org.object(call.params["sobject"])
    start, latest = _window(call, "updated")
    found = [
        str(r["Id"])
        for r in org.store.scan(obj.name, False)
        if start <= str(r.get("SystemModstamp", "")) < latest
    ]
    return ok({"ids": _at_most(found), "latestDateCovered": latest})


def deleted(org: Org, call: Call) -> Reply:
    """sObject Get Deleted: records sent to the recycle bin in the window (``deletedDate`` is
    their SystemModstamp). Nothing is ever physically deleted here, so
    ``earliestDateAvailable`` is when the org began (its Organization record's CreatedDate)."""
    obj = org.object(call.params["sobject"])
    start, latest = _window(call, "deleted")
    found = [
        {"id": str(r["Id"]), "deletedDate": str(r.get("SystemModstamp"))}
        for r in org.store.scan(obj.name, True)
        if r.get("IsDeleted") and start <= str(r.get("SystemModstamp", "")) < latest
    ]
    organization = org.store.get(ids.ORG_ID)
    earliest = str(organization[2].get("CreatedDate")) if organization else start
    return ok(
        {
            "deletedRecords": _at_most(found),
            "earliestDateAvailable": earliest,
            "latestDateCovered": latest,
        }
    )
