"""Tooling API subset under ``/services/data/vXX.X/tooling/``: describe global, describe,
basic info, retrieve, and SOQL (with paging and ``columns=true``) over the tooling objects of
``schema/tooling.py``. Objects the sandbox does not have answer like Salesforce does for an org
without them: 404 NOT_FOUND on ``sobjects/{name}[/describe]``, INVALID_TYPE in SOQL."""

from __future__ import annotations

from typing import Any

from salesforce_sandbox.api.http import Call, Reply, ok
from salesforce_sandbox.api.rest import batch_size
from salesforce_sandbox.errors import SalesforceError, not_found
from salesforce_sandbox.models.org import Org
from salesforce_sandbox.models.queries import Cursor
from salesforce_sandbox.schema import describe as describing
from salesforce_sandbox.schema.model import ObjectDef, Schema
from salesforce_sandbox.schema.tooling import ToolingSource, tooling_rows, tooling_schema
from salesforce_sandbox.soql import bind, execute, parse
from salesforce_sandbox.soql.columns import column_metadata


def _tooling(org: Org) -> tuple[Schema, ToolingSource]:
    schema = tooling_schema()
    return schema, ToolingSource(schema, tooling_rows(org.schema))


def _object(schema: Schema, name: str) -> ObjectDef:
    obj = schema.get(name)
    if obj is None:
        raise SalesforceError("NOT_FOUND", "The requested resource does not exist", 404)
    return obj


def tooling_urls(value: Any, version: str) -> Any:
    """Point the REST shapes' ``/services/data/vX/sobjects/...`` URLs (record attributes,
    describe urls) at ``/services/data/vX/tooling/sobjects/...``."""
    rest = f"/services/data/v{version}/sobjects"
    tooling = f"/services/data/v{version}/tooling/sobjects"
    if isinstance(value, dict):
        return {k: tooling_urls(v, version) for k, v in value.items()}
    if isinstance(value, list):
        return [tooling_urls(v, version) for v in value]
    if isinstance(value, str) and value.startswith(rest):
        return tooling + value[len(rest) :]
    return value


def describe_global(org: Org, call: Call) -> Reply:
    schema, _ = _tooling(org)
    return ok(tooling_urls(describing.describe_global(schema, call.version), call.version))


def basic_info(org: Org, call: Call) -> Reply:
    schema, _ = _tooling(org)
    obj = _object(schema, call.params["sobject"])
    return ok(tooling_urls(describing.basic_info(obj, call.version, []), call.version))


def describe(org: Org, call: Call) -> Reply:
    schema, _ = _tooling(org)
    obj = _object(schema, call.params["sobject"])
    return ok(tooling_urls(describing.describe(schema, obj, call.version), call.version))


def retrieve(org: Org, call: Call) -> Reply:
    schema, source = _tooling(org)
    obj = _object(schema, call.params["sobject"])
    record = source.get(call.params["id"]) or source.get(call.params["id"][:15])
    if record is None or schema.of_id(str(record["Id"])) is not obj:
        raise not_found()
    wanted = call.query.get("fields")
    names = [f.strip() for f in wanted.split(",")] if wanted else list(record)
    body: dict[str, Any] = {
        "attributes": {
            "type": obj.name,
            "url": f"/services/data/v{call.version}/tooling/sobjects/{obj.name}/{record['Id']}",
        }
    }
    for name in names:
        definition = obj.field(name)
        if definition is None:
            raise SalesforceError(
                "INVALID_FIELD", f"No such column '{name}' on sobject of type {obj.name}"
            )
        body[definition.name] = record.get(definition.name)
    return ok(body)


def query(org: Org, call: Call) -> Reply:
    soql = call.query.get("q")
    if soql is None:
        raise SalesforceError("MALFORMED_QUERY", "A query string has to be specified")
    schema, source = _tooling(org)
    bound = bind(parse(soql), schema)
    if call.query.get("columns", "").lower() == "true":
        return ok(column_metadata(bound))
    result = execute(bound, source, schema, call.version)
    if bound.count_only:
        return ok(
            {
                "size": result.total_size,
                "totalSize": result.total_size,
                "done": True,
                "queryLocator": None,
                "entityTypeName": bound.obj.name,
                "records": [],
            }
        )
    page = org.queries.page(
        Cursor(tooling_urls(result.records, call.version), result.total_size),
        None,
        0,
        batch_size(call),
        call.version,
    )
    return ok(_tooling_page(page, bound.obj.name, call.version))


def query_more(org: Org, call: Call) -> Reply:
    page = org.queries.more(call.params["locator"], call.version, batch_size(call))
    return ok(_tooling_page(page, None, call.version))


def _tooling_page(page: dict[str, Any], entity: str | None, version: str) -> dict[str, Any]:
    """A tooling query page: ``size`` and ``entityTypeName`` besides the REST keys, and a
    ``nextRecordsUrl`` under ``/tooling/query/``."""
    locator = page.get("nextRecordsUrl")
    body: dict[str, Any] = {
        "size": page["totalSize"],
        "totalSize": page["totalSize"],
        "done": page["done"],
        "queryLocator": None,
        "entityTypeName": entity,
        "records": page["records"],
    }
    if locator:
        segment = str(locator).rsplit("/", 1)[-1]
        body["nextRecordsUrl"] = f"/services/data/v{version}/tooling/query/{segment}"
        body["queryLocator"] = segment
    return body
