"""Polling reads: several ``queryAll`` windows (deleted records included) in one Composite
request, which Salesforce counts as one API call; up to five queries per request (its limit
for queries in a Composite request), later pages followed one call each."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from stripe2sf.salesforce.client import MAX_COMPOSITE_QUERIES, SalesforceClient

KIND = "capture"  # how these calls count in the usage snapshot


def rounds_calls(objects: int) -> int:
    """API calls of one polling round without extra pages."""
    return max(1, -(-objects // MAX_COMPOSITE_QUERIES))


def query_windows(client: SalesforceClient, soqls: Sequence[str]) -> list[list[dict[str, Any]]]:
    """Every row of each query, in order (deleted and archived rows too: ``queryAll``)."""
    return client.query_many(soqls, include_deleted=True, kind=KIND)


def field_names(client: SalesforceClient, sobject: str) -> set[str]:
    """The fields of an object this user can see (one describe call)."""
    return {str(f.get("name")) for f in client.describe(sobject).get("fields") or []}
