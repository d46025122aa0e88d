"""Webhook endpoints and event retrieval."""

from __future__ import annotations

from typing import Any

from stripe_sandbox import ids, shapes, versions
from stripe_sandbox.errors import InvalidRequestError, missing, param_invalid
from stripe_sandbox.models.common import Obj, apply_metadata, apply_simple, require_str
from stripe_sandbox.params import Params, get_bool, get_list
from stripe_sandbox.state import Tx

KNOWN_EVENTS: frozenset[str] | None = None


def _known_events() -> frozenset[str]:
    global KNOWN_EVENTS
    if KNOWN_EVENTS is None:
        import typing

        from stripe import Event

        KNOWN_EVENTS = frozenset(typing.get_args(Event.__annotations__["type"]))
    return KNOWN_EVENTS


def _events_param(params: Params) -> list[str]:
    events = [str(e) for e in get_list(params, "enabled_events")]
    if not events:
        raise InvalidRequestError(
            "Missing required param: enabled_events.",
            code="parameter_missing",
            param="enabled_events",
        )
    known = _known_events()
    for i, name in enumerate(events):
        if name != "*" and known and name not in known:
            raise param_invalid(
                f"enabled_events[{i}]",
                f"Invalid enabled_events[{i}]: must be one of {sorted(known)[:3]} ... or *",
            )
    return events


def _check_url(url: str) -> None:
    if not url.startswith(("http://", "https://")):
        raise param_invalid("url", f"Invalid URL: {url}")


def create(tx: Tx, params: Params) -> Obj:
    url = require_str(params, "url")
    _check_url(url)
    if params.get("api_version") is not None:
        # webhooks to this endpoint are rendered in this version (stripe_sandbox.versions)
        versions.check_param(str(params["api_version"]), "api_version")
    data = shapes.webhook_endpoint(
        ids.id_for("webhook_endpoint"), tx.now(), url, _events_param(params)
    )
    apply_simple(data, params, ("description", "api_version"))
    apply_metadata(data, params)
    secret = "whsec_" + ids.random_token(32)
    tx.new_record("webhook_endpoint", data, meta={"secret": secret})
    tx.invalidate_endpoints()
    return {**data, "secret": secret}


def update(tx: Tx, endpoint_id: str, params: Params) -> Obj:
    rec = tx.get("webhook_endpoint", endpoint_id)
    if "url" in params:
        url = require_str(params, "url")
        _check_url(url)
        rec.data["url"] = url
    if "enabled_events" in params:
        rec.data["enabled_events"] = _events_param(params)
    if "disabled" in params:
        rec.data["status"] = "disabled" if get_bool(params, "disabled", False) else "enabled"
    apply_simple(rec.data, params, ("description",))
    apply_metadata(rec.data, params)
    tx.save(rec)
    tx.invalidate_endpoints()
    return rec.data


def delete(tx: Tx, endpoint_id: str) -> Obj:
    tx.get("webhook_endpoint", endpoint_id)
    tx.store.delete(endpoint_id)
    tx.invalidate_endpoints()
    return shapes.deleted(endpoint_id, "webhook_endpoint")


def secret_of(tx: Tx, endpoint_id: str) -> str:
    return str(tx.get("webhook_endpoint", endpoint_id).meta["secret"])


def retention_start(tx: Tx) -> int:
    return tx.now() - tx.sb.settings.event_retention_days * 86400


def retrieve_event(tx: Tx, event_id: str) -> Obj:
    event = tx.store.get_event(event_id)
    if event is None or event["created"] < retention_start(tx):
        raise missing("event", event_id)
    return event


def event_filters(tx: Tx, params: Params) -> list[tuple[str, Any]]:
    filters: list[tuple[str, Any]] = [("created >= ?", retention_start(tx))]
    types = [str(t) for t in get_list(params, "types")]
    if params.get("type"):
        types.append(str(params["type"]))
    if types:
        clauses = []
        values = []
        for t in types:
            if "*" in t:
                clauses.append("type LIKE ?")
                values.append(t.replace("*", "%"))
            else:
                clauses.append("type = ?")
                values.append(t)
        filters.append(("(" + " OR ".join(clauses) + ")", values))
    return filters
