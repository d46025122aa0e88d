"""``changeOrigin`` of the current API call: which API made the change, and the client id the
caller named in its ``Sforce-Call-Options: client=...`` header.

As Salesforce documents it: ``com/salesforce/api/<api>/<version>;client=<client id>``, without
``;client=...`` when the call named no client, and empty for changes made outside the API
(here: the control plane, seeding, org setup).
"""

from __future__ import annotations

from contextvars import ContextVar

CALL_OPTIONS_HEADER = "sforce-call-options"
CHANGE_ORIGIN: ContextVar[str] = ContextVar("change_origin", default="")


def client_of(call_options: str | None) -> str | None:
    """The ``client`` of a ``Sforce-Call-Options`` header (``client=x, defaultNamespace=y``)."""
    for part in (call_options or "").split(","):
        key, _, value = part.partition("=")
        if key.strip().lower() == "client" and value.strip():
            return value.strip()
    return None


def describe(api: str, version: str, call_options: str | None) -> str:
    """``com/salesforce/api/rest/62.0;client=stripe2sf`` (``api``: rest, bulkapi, soap...)."""
    origin = f"com/salesforce/api/{api}/{version}"
    client = client_of(call_options)
    return f"{origin};client={client}" if client else origin


def api_of(route_name: str) -> str:
    """The API name Salesforce puts in changeOrigin for a data route."""
    if route_name.startswith(("/jobs/ingest", "/async")):
        return "bulkapi"
    if route_name.startswith("/tooling"):
        return "toolingrest"
    return "rest"
