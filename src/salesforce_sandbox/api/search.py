"""SOSL search: ``GET …/search?q=FIND {…}`` and parameterized search
(``GET …/parameterizedSearch?q=…&sobject=Account&Account.fields=Id,Name``, or ``POST`` with a
JSON body). Both answer ``{"searchRecords": [{"attributes": {"type", "url"}, …}]}``."""

from __future__ import annotations

from typing import Any

from salesforce_sandbox.api.http import Call, Reply, ok
from salesforce_sandbox.errors import SalesforceError
from salesforce_sandbox.models.org import Org
from salesforce_sandbox.models.records import StoreSource
from salesforce_sandbox.soql import ast
from salesforce_sandbox.soql.search import run_search
from salesforce_sandbox.soql.sosl import DEFAULT_LIMIT, SCOPES, Search, parse_search, parse_term


def search(org: Org, call: Call) -> Reply:
    sosl = call.query.get("q", "")
    if not sosl.strip():
        raise SalesforceError(
            "MALFORMED_SEARCH",
            "No search term found. Pass a SOSL statement as q, e.g. q=FIND {Acme}",
        )
    return _answer(org, call, parse_search(sosl))


def parameterized(org: Org, call: Call) -> Reply:
    body = call.json_object() if call.method == "POST" else _body_from_query(call.query)
    return _answer(org, call, _parameterized_search(body))


def _answer(org: Org, call: Call, plan: Search) -> Reply:
    records = run_search(plan, org.schema, StoreSource(org.store), call.version)
    return ok({"searchRecords": records})


def _body_from_query(query: dict[str, str]) -> dict[str, Any]:
    """The GET parameters in the shape of the POST body."""

    def listed(value: str | None) -> list[str]:
        return [v.strip() for v in (value or "").split(",") if v.strip()]

    body: dict[str, Any] = {
        k: query[k] for k in ("q", "in", "overallLimit", "defaultLimit") if k in query
    }
    if "fields" in query:
        body["fields"] = listed(query["fields"])
    if "sobject" in query:
        objects = []
        for name in listed(query["sobject"]):
            item: dict[str, Any] = {"name": name}
            if f"{name}.fields" in query:
                item["fields"] = listed(query[f"{name}.fields"])
            if f"{name}.limit" in query:
                item["limit"] = query[f"{name}.limit"]
            objects.append(item)
        body["sobjects"] = objects
    return body


def _number(value: Any, name: str) -> int | None:
    if value is None or value == "":
        return None
    try:
        number = int(value)
    except (TypeError, ValueError):
        number = -1
    if number < 0:
        raise SalesforceError("INVALID_SEARCH", f"{name} must be a non-negative integer: {value}")
    return number


def _parameterized_search(body: dict[str, Any]) -> Search:
    text = str(body.get("q") or "")
    if not text.strip():
        raise SalesforceError("MISSING_ARGUMENT", "Missing required parameter q: the search text")
    scope = str(body.get("in") or "ALL").upper()
    if scope not in SCOPES:
        raise SalesforceError(
            "INVALID_SEARCH", f"in must be one of {', '.join(SCOPES)}, not {body.get('in')}"
        )
    fields = [str(f) for f in body.get("fields") or ["Id"]]
    default_limit = _number(body.get("defaultLimit"), "defaultLimit")
    plan = Search(parse_term(text), text, "ALL" if scope == "SIDEBAR" else scope)
    plan.limit = _number(body.get("overallLimit"), "overallLimit") or DEFAULT_LIMIT
    objects = body.get("sobjects")
    if objects:
        plan.targets = []
        for item in objects:
            if not isinstance(item, dict) or not item.get("name"):
                raise SalesforceError("INVALID_SEARCH", "each sobjects item needs a name")
            query = ast.Query(
                [ast.FieldRef(str(f).split("."), 1) for f in item.get("fields") or fields],
                str(item["name"]),
                1,
            )
            limit = _number(item.get("limit"), f"{item['name']}.limit")
            query.limit = limit if limit is not None else default_limit
            plan.targets.append(query)
    return plan
