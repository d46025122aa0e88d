"""Polling reads: several ``queryAll`` windows (deleted records included) in one Composite
request, which Salesforce counts as one API call; up to five queries per request (its limit
for queries in a Composite request), later pages followed one call each."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any
from urllib.parse import quote

from stripe2sf.salesforce.client import MAX_COMPOSITE_QUERIES, SalesforceClient
from stripe2sf.salesforce.errors import error_for_answer, retry_after_header
from stripe2sf.salesforce.transport import body_of

KIND = "capture"  # how these calls count in the usage snapshot


def rounds_calls(objects: int) -> int:
    """API calls of one polling round without extra pages."""
    return max(1, -(-objects // MAX_COMPOSITE_QUERIES))


def query_windows(client: SalesforceClient, soqls: Sequence[str]) -> list[list[dict[str, Any]]]:
    """Every row of each query, in order (deleted and archived rows too: ``queryAll``)."""
    results: list[list[dict[str, Any]]] = []
    for start in range(0, len(soqls), MAX_COMPOSITE_QUERIES):
        chunk = soqls[start : start + MAX_COMPOSITE_QUERIES]
        body = {
            "allOrNone": False,
            "compositeRequest": [
                {
                    "method": "GET",
                    "url": client.data_path("queryAll/") + "?q=" + quote(q, safe=""),
                    "referenceId": f"q{i}",
                }
                for i, q in enumerate(chunk)
            ],
        }
        response = client.send("POST", client.data_path("composite"), kind=KIND, json=body)
        answer = body_of(response)
        if not 200 <= response.status_code < 300:
            wait = retry_after_header(response.headers.get("Retry-After"))
            raise error_for_answer(response.status_code, answer, "polling queries", wait)
        for soql, sub in zip(chunk, answer["compositeResponse"], strict=True):
            status, page = int(sub.get("httpStatusCode", 500)), sub.get("body")
            if not 200 <= status < 300:
                raise error_for_answer(status, page, f"query {soql!r}", None)
            rows: list[dict[str, Any]] = list(page.get("records") or [])
            while not page.get("done", True) and page.get("nextRecordsUrl"):
                response = client.send("GET", str(page["nextRecordsUrl"]), kind=KIND)
                page = body_of(response)
                if not 200 <= response.status_code < 300:
                    raise error_for_answer(response.status_code, page, f"query {soql!r}", None)
                rows.extend(page.get("records") or [])
            results.append(rows)
    return results


def field_names(client: SalesforceClient, sobject: str) -> set[str]:
    """The fields of an object this user can see (one describe call)."""
    return {str(f.get("name")) for f in client.describe(sobject).get("fields") or []}
