"""Route table: (method, path pattern) -> handler, with the endpoint names that request counts,
faults and latency use (``"PATCH /sobjects/{sobject}/{field}/{value}"``).

Data routes are matched on the decoded path segments after ``/services/data/vXX.X``; login
routes on any path *ending* in ``/services/oauth2/token`` or ``/services/Soap/u/{version}`` (so
simple-salesforce's ``domain="127.0.0.1:8701/x"`` works).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit

from salesforce_sandbox.api import (
    auth,
    bulk,
    bulk1,
    composite,
    metadata,
    rest,
    search,
    tooling,
    ui_api,
)
from salesforce_sandbox.api.http import Call, Reply, dumps, error_reply
from salesforce_sandbox.errors import SalesforceError
from salesforce_sandbox.models.org import Org

Handler = Callable[[Org, Call], Reply]


@dataclass(frozen=True)
class Route:
    methods: frozenset[str]
    pattern: re.Pattern[str]
    name: str
    handler: Handler
    spool: bool = False
    session_header: str | None = None  # the session comes in this header, not Authorization


def _route(methods: str, template: str, handler: Handler, spool: bool = False) -> Route:
    regex = ""
    for part in template.strip("/").split("/"):
        if not part:
            continue
        if part.startswith("{") and part.endswith("}"):
            regex += f"/(?P<{part[1:-1]}>[^/]+)"
        elif part.startswith("(?"):
            regex += "/" + part
        else:
            regex += "/" + re.escape(part)
    pattern = re.compile("^" + regex + "/?$", re.IGNORECASE)
    name = "/" + template.strip("/")
    return Route(frozenset(methods.split("|")), pattern, name, handler, spool)


def _dispatching(handler: Callable[[Org, Call, composite.Dispatch], Reply]) -> Handler:
    """A composite handler, given ``internal`` to run its subrequests through this table."""

    def bound(org: Org, call: Call) -> Reply:
        return handler(org, call, internal)

    return bound


DATA_ROUTES: list[Route] = [
    _route("GET", "/", rest.resources),
    _route("GET", "/limits", rest.limits),
    _route("GET", "/limits/recordCount", rest.record_counts),
    _route("GET", "/sobjects", rest.describe_global),
    _route("GET", "/sobjects/{sobject}", rest.basic_info),
    _route("POST", "/sobjects/{sobject}", rest.create),
    _route("GET", "/sobjects/{sobject}/describe", rest.describe),
    _route("GET", "/sobjects/{sobject}/updated", rest.updated),
    _route("GET", "/sobjects/{sobject}/deleted", rest.deleted),
    _route("POST", "/sobjects/{sobject}/{field}", rest.upsert),
    _route("GET", "/sobjects/{sobject}/{id}", rest.retrieve),
    _route("PATCH", "/sobjects/{sobject}/{id}", rest.update),
    _route("DELETE", "/sobjects/{sobject}/{id}", rest.delete),
    _route("GET", "/sobjects/{sobject}/{field}/{value}", rest.external_get),
    _route("PATCH|POST", "/sobjects/{sobject}/{field}/{value}", rest.upsert),
    _route("DELETE", "/sobjects/{sobject}/{field}/{value}", rest.external_delete),
    _route("GET", "/query", rest.query),
    _route("GET", "/queryAll", rest.query_all),
    _route("GET", "/query/{locator}", rest.query_more),
    _route("GET", "/queryAll/{locator}", rest.query_more),
    _route("GET", "/search", search.search),
    _route("GET|POST", "/parameterizedSearch", search.parameterized),
    _route("POST", "/composite", _dispatching(composite.composite)),
    _route("POST", "/composite/graph", _dispatching(composite.graph)),
    _route("POST", "/composite/batch", _dispatching(composite.batch)),
    _route("POST", "/composite/tree/{sobject}", composite.tree),
    _route("POST", "/composite/sobjects", composite.collection_create),
    _route("PATCH", "/composite/sobjects", composite.collection_update),
    _route("DELETE", "/composite/sobjects", composite.collection_delete),
    _route("GET|POST", "/composite/sobjects/{sobject}", composite.collection_retrieve),
    _route("PATCH", "/composite/sobjects/{sobject}/{field}", composite.collection_upsert),
    _route("POST", "/jobs/ingest", bulk.create_ingest),
    _route("GET", "/jobs/ingest", bulk.list_ingest),
    _route("GET", "/jobs/ingest/{job}", bulk.get_ingest),
    _route("PATCH", "/jobs/ingest/{job}", bulk.patch_ingest),
    _route("DELETE", "/jobs/ingest/{job}", bulk.delete_ingest),
    _route("PUT", "/jobs/ingest/{job}/batches", bulk.upload, spool=True),
    _route("GET", "/jobs/ingest/{job}/successfulResults", bulk.successful_results),
    _route("GET", "/jobs/ingest/{job}/failedResults", bulk.failed_results),
    _route("GET", "/jobs/ingest/{job}/unprocessedrecords", bulk.unprocessed_records),
    _route("POST", "/jobs/query", bulk.create_query),
    _route("GET", "/jobs/query", bulk.list_query),
    _route("GET", "/jobs/query/{job}", bulk.get_query),
    _route("PATCH", "/jobs/query/{job}", bulk.patch_query),
    _route("DELETE", "/jobs/query/{job}", bulk.delete_query),
    _route("GET", "/jobs/query/{job}/results", bulk.query_results),
    _route("POST", "/metadata/deployRequest", metadata.deploy_request),
    _route("GET", "/metadata/deployRequest/{id}", metadata.deploy_request_status),
    _route("PATCH", "/metadata/deployRequest/{id}", metadata.deploy_request_cancel),
    _route("GET", "/tooling/sobjects", tooling.describe_global),
    _route("GET", "/tooling/sobjects/{sobject}", tooling.basic_info),
    _route("GET", "/tooling/sobjects/{sobject}/describe", tooling.describe),
    _route("GET", "/tooling/sobjects/{sobject}/{id}", tooling.retrieve),
    _route("GET", "/tooling/query", tooling.query),
    _route("GET", "/tooling/query/{locator}", tooling.query_more),
    _route(
        "GET",
        "/ui-api/object-info/{sobject}/picklist-values/{record_type}",
        ui_api.picklist_values,
    ),
]


# Bulk API 1.0, under /services/async/{version} (the session in X-SFDC-Session)
ASYNC_ROUTES: list[Route] = [
    replace(r, name="/async" + r.name, session_header="x-sfdc-session")
    for r in (
        _route("POST", "/job", bulk1.create_job),
        _route("GET", "/job/{job}", bulk1.get_job),
        _route("POST", "/job/{job}", bulk1.update_job),
        _route("GET", "/job/{job}/batch", bulk1.list_batches),
        _route("POST", "/job/{job}/batch", bulk1.add_batch),
        _route("GET", "/job/{job}/batch/{batch}", bulk1.get_batch),
        _route("GET", "/job/{job}/batch/{batch}/request", bulk1.batch_request),
        _route("GET", "/job/{job}/batch/{batch}/result", bulk1.batch_result),
        _route("GET", "/job/{job}/batch/{batch}/result/{result}", bulk1.query_result),
    )
]


def _segments(path: str) -> tuple[str, int]:
    """First segment (lowercased) and number of segments: a route's pattern can only match a
    path with the same two (its ``[^/]+`` parts match one non-empty segment each)."""
    parts = path.strip("/").split("/")
    return parts[0].lower(), len(parts)


_BY_SEGMENTS: dict[tuple[str, int], list[Route]] = {}
for _r in DATA_ROUTES:
    assert "/(?" not in _r.name, "a raw regex part may span segments: index it differently"
    _BY_SEGMENTS.setdefault(_segments(_r.name), []).append(_r)

_DATA_PREFIX = re.compile(r"^/services/data/v(?P<version>\d+\.\d+)(?P<rest>/.*)?$")
_ASYNC_PREFIX = re.compile(r"^/services/async/(?P<version>\d+\.\d+)(?P<rest>/.*)?$")
_ASYNC_BY_SEGMENTS: dict[tuple[str, int], list[Route]] = {}
for _r in ASYNC_ROUTES:
    _ASYNC_BY_SEGMENTS.setdefault(_segments(_r.name.removeprefix("/async")), []).append(_r)


@dataclass
class Match:
    route: Route
    params: dict[str, str]
    version: str

    @property
    def endpoint(self) -> str:
        return f"{self.route.name}"


def decode_path(raw_path: str) -> str:
    return "/".join(unquote(p) for p in raw_path.split("/"))


def match_data(method: str, raw_path: str) -> Match | SalesforceError | None:
    """Find the data route for ``raw_path`` (still percent-encoded)."""
    return _match(_DATA_PREFIX, _BY_SEGMENTS, method, raw_path)


def match_async(method: str, raw_path: str) -> Match | SalesforceError | None:
    """Find the Bulk API 1.0 route for ``raw_path`` (``/services/async/{version}/...``)."""
    return _match(_ASYNC_PREFIX, _ASYNC_BY_SEGMENTS, method, raw_path)


def _match(
    prefix: re.Pattern[str],
    index: dict[tuple[str, int], list[Route]],
    method: str,
    raw_path: str,
) -> Match | SalesforceError | None:
    found = prefix.match(raw_path)
    if found is None:
        return None
    rest_path = found.group("rest") or "/"
    allowed: set[str] = set()
    for route in index.get(_segments(rest_path), ()):
        hit = route.pattern.match(rest_path)
        if hit is None:
            continue
        if method not in route.methods:
            allowed |= route.methods
            continue
        params = {k: unquote(v) for k, v in hit.groupdict().items()}
        return Match(route, params, found.group("version"))
    if allowed:
        return SalesforceError(
            "METHOD_NOT_ALLOWED",
            f"HTTP Method '{method}' not allowed. Allowed are {','.join(sorted(allowed))}",
            405,
        )
    return SalesforceError("NOT_FOUND", "The requested resource does not exist", 404)


def internal(
    org: Org, parent: Call, method: str, url: str, body: Any, headers: dict[str, str]
) -> Reply:
    """Run a composite subrequest through the same handlers (no auth, not counted)."""
    parts = urlsplit(url)
    found = match_data(method.upper(), parts.path)
    if found is None:
        found = SalesforceError("NOT_FOUND", "The requested resource does not exist", 404)
    if isinstance(found, SalesforceError):
        return error_reply(found)
    call = Call(
        method=method.upper(),
        params=found.params,
        query=dict(parse_qsl(parts.query, keep_blank_values=True)),
        headers=headers,
        body=b"" if body is None else dumps(body),
        version=found.version,
        instance_url=parent.instance_url,
        user_id=parent.user_id,
    )
    try:
        return found.route.handler(org, call)
    except SalesforceError as error:
        return error_reply(error)


# login and identity routes (matched on the path's end) --------------------------------------
AUTH_ROUTES: list[tuple[str, re.Pattern[str], str, Handler]] = [
    ("POST", re.compile(r"/services/oauth2/token/?$"), "/services/oauth2/token", auth.token),
    (
        "POST",
        re.compile(r"/services/Soap/u/(?P<version>[\d.]+)(?:/[^/]*)?/?$"),
        "/services/Soap/u/{version}",
        auth.soap,
    ),
    (
        "POST",
        re.compile(r"/services/Soap/m/(?P<version>[\d.]+)(?:/[^/]*)?/?$"),
        "/services/Soap/m/{version}",
        metadata.soap,
    ),
    (
        "GET",
        re.compile(r"/services/oauth2/userinfo/?$"),
        "/services/oauth2/userinfo",
        auth.userinfo,
    ),
    ("POST", re.compile(r"/services/oauth2/revoke/?$"), "/services/oauth2/revoke", auth.revoke),
    (
        "GET",
        re.compile(r"^/id/(?P<org>[\w]+)/(?P<user>[\w]+)/?$"),
        "/id/{org}/{user}",
        auth.identity,
    ),
    ("GET", re.compile(r"^/services/data/?$"), "/services/data", auth.versions),
]


def match_auth(method: str, path: str) -> tuple[str, Handler, dict[str, str]] | None:
    for route_method, pattern, name, handler in AUTH_ROUTES:
        hit = pattern.search(path)
        userinfo_post = method == "POST" and name == "/services/oauth2/userinfo"
        if hit is not None and (method == route_method or userinfo_post):
            return name, handler, dict(hit.groupdict())
    return None
