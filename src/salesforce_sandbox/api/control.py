"""Control plane under ``/_sandbox/`` (loopback only, no auth). See ``salesforce_sandbox``'s
module docstring for the request and response shapes."""

from __future__ import annotations

import os
import resource
from pathlib import Path
from typing import Any

from salesforce_sandbox.api.http import Call, Reply, ok
from salesforce_sandbox.errors import SalesforceError
from salesforce_sandbox.ids import ORG_ID
from salesforce_sandbox.models.faults import invalid_fault
from salesforce_sandbox.models.org import Org
from salesforce_sandbox.pubsub.schemas import can_capture, event_name
from salesforce_sandbox.schema import sfdx


def info(org: Org, call: Call) -> Reply:
    s = org.settings
    return ok(
        {
            "instance_url": call.instance_url,
            "login_domain": call.instance_url.split("://", 1)[-1] + "/login",
            "username": s.username,
            "password": s.password,
            "security_token": s.security_token,
            "client_id": s.client_id,
            "client_secret": s.client_secret,
            "access_token": s.access_token,
            "data_dir": str(s.data_dir) if s.data_dir else None,
            "api_limit": org.usage.daily_limit,
            "objects": [o.name for o in org.schema.objects()],
            # which process answers: a launcher tells its own sandbox from another on the port
            "pid": os.getpid(),
        }
    )


def reset(org: Org, call: Call) -> Reply:
    data = call.json_object() if call.body.strip() else {}
    org.reset(schema=bool(data.get("schema", False)))
    return ok({"reset": True})


def seed(org: Org, call: Call) -> Reply:
    data = call.json_object()
    records = data.get("records")
    if not isinstance(records, list):
        raise SalesforceError("INVALID_INPUT", "records must be a list")
    return ok({"ids": org.seed(records, data.get("sobject"))})


def deploy(org: Org, call: Call) -> Reply:
    data = call.json_object()
    if "path" in data:
        bundle = sfdx.read_dir(Path(str(data["path"])))
    elif isinstance(data.get("files"), dict):
        bundle = sfdx.parse_files({str(k): str(v) for k, v in data["files"].items()})
    else:
        raise SalesforceError("INVALID_INPUT", "give 'path' (a directory) or 'files'")
    return ok({"deployed": org.deploy(bundle)})


def requests(org: Org, call: Call) -> Reply:
    if call.method == "DELETE":
        org.usage.reset()
    return ok(org.usage.snapshot())


def limits(org: Org, call: Call) -> Reply:
    data = call.json_object()
    if "daily_limit" in data:
        org.usage.daily_limit = int(data["daily_limit"])
    if "used" in data:
        org.usage.used = int(data["used"])
    return ok(org.usage.snapshot())


def _number(data: dict[str, Any], key: str, kind: type[int] | type[float]) -> Any:
    """``data[key]`` as an int or float (None when absent), or a 400 that names the knob."""
    value = data.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise invalid_fault(f"{key} must be a number, got {value!r}")
    try:
        number = kind(value)
    except ValueError:
        raise invalid_fault(f"{key} must be a number, got {value!r}") from None
    if kind is int and number != float(value):
        raise invalid_fault(f"{key} must be a whole number, got {value!r}")
    return number


def _flag(data: dict[str, Any], key: str) -> bool | None:
    value = data.get(key)
    if value is None or isinstance(value, bool):
        return value
    raise invalid_fault(f"{key} must be true or false, got {value!r}")


FAULT_KEYS = (
    "route",
    "mode",
    "count",
    "rate",
    "hang_seconds",
    "after",
    "per_record",
    "record_rate",
)


def faults(org: Org, call: Call) -> Reply:
    if call.method == "DELETE":
        org.faults.rules.clear()
    elif call.method == "POST":
        data = call.json_object()
        unknown = sorted(set(data) - set(FAULT_KEYS))
        if unknown:
            raise invalid_fault(
                f"unknown fault option {unknown[0]!r}; the options are {', '.join(FAULT_KEYS)}"
            )
        hang_seconds = _number(data, "hang_seconds", float)
        rule = org.faults.add(
            route=str(data.get("route", "*")),
            mode=str(data.get("mode", "503")),
            count=_number(data, "count", int),
            rate=_number(data, "rate", float),
            hang_seconds=30.0 if hang_seconds is None else hang_seconds,
            after=str(data.get("after", "error")),
            per_record=_flag(data, "per_record"),
            record_rate=_number(data, "record_rate", float),
        )
        return ok(rule.to_json(), 201)
    return ok(org.faults.snapshot())


def remove_fault(org: Org, call: Call) -> Reply:
    """``DELETE /_sandbox/faults/{id}``: remove one rule, answer it."""
    raw = call.params["id"]
    removed = org.faults.remove(int(raw)) if raw.isdigit() else None
    if removed is None:
        ids = ", ".join(str(r.id) for r in org.faults.rules) or "none"
        raise SalesforceError(
            "NOT_FOUND",
            f"no fault rule with id {raw!r} (current rule ids: {ids}; "
            "GET /_sandbox/faults lists them)",
            404,
        )
    return ok(removed.to_json())


def latency(org: Org, call: Call) -> Reply:
    """``{"route", "ms", "jitter_ms"}`` (a uniform extra of 0..jitter_ms) or
    ``{"route", "min_ms", "max_ms"}``."""
    if call.method == "DELETE":
        org.faults.latency.clear()
    elif call.method == "POST":
        data = call.json_object()
        ms = _number(data, "ms", float)
        jitter = _number(data, "jitter_ms", float)
        low, high = _number(data, "min_ms", float), _number(data, "max_ms", float)
        if low is not None or high is not None:
            if ms is not None or jitter is not None:
                raise invalid_fault("give either ms (and jitter_ms) or min_ms and max_ms")
            if low is None or high is None or high < low:
                raise invalid_fault(
                    f"min_ms and max_ms go together, with min_ms <= max_ms; got {low}, {high}"
                )
            ms, jitter = low, high - low
        org.faults.set_latency(str(data.get("route", "*")), ms or 0.0, jitter or 0.0)
    return ok(org.faults.snapshot())


def expire_sessions(org: Org, call: Call) -> Reply:
    data = call.json_object() if call.body.strip() else {}
    token = data.get("token")
    return ok({"expired": org.sessions.expire(str(token) if token else None)})


def new_session(org: Org, call: Call) -> Reply:
    """``{"username"}`` -> an access token acting as that user (its permissions apply)."""
    data = call.json_object()
    session = org.session_for(str(data.get("username", "")))
    return ok(
        {
            "access_token": session.token,
            "user_id": session.user_id,
            "instance_url": call.instance_url,
        }
    )


def records(org: Org, call: Call) -> Reply:
    obj = org.object(call.params["sobject"])
    include_deleted = call.query.get("deleted", "").lower() == "true"
    rows = list(org.store.scan(obj.name, include_deleted))
    return ok({"totalSize": len(rows), "records": rows})


def stats(org: Org, call: Call) -> Reply:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    counts: dict[str, Any] = {
        row[0]: row[1]
        for row in org.store.conn.execute(
            "SELECT sobject, count(*) FROM records WHERE deleted = 0 GROUP BY sobject"
        )
    }
    return ok(
        {
            "peak_rss_mb": round(usage.ru_maxrss / 1024, 1),
            "cpu_seconds": round(usage.ru_utime + usage.ru_stime, 3),
            "records": counts,
        }
    )


def duplicate_rules(org: Org, call: Call) -> Reply:
    """``GET``: the duplicate rules; ``DELETE``: remove them (body ``{"names": [...]}`` for
    some duplicate rules only, else every duplicate and matching rule)."""
    if call.method == "DELETE":
        data = call.json_object() if call.body.strip() else {}
        names = data.get("names")
        if names is not None and not isinstance(names, list):
            raise SalesforceError("INVALID_INPUT", "names must be a list of Object.Rule_Name")
        removed = org.duplicates.remove([str(n) for n in names] if names is not None else None)
        return ok({"removed": removed, "rules": org.duplicates.summary()})
    return ok({"rules": org.duplicates.summary()})


def standard_duplicate_rules(org: Org, call: Call) -> Reply:
    """``POST duplicate-rules/standard`` ``{"objects": ["Contact"]}`` (default Account and
    Contact): Salesforce's standard matching and duplicate rules, active."""
    data = call.json_object() if call.body.strip() else {}
    objects = data.get("objects")
    if objects is not None and not isinstance(objects, list):
        raise SalesforceError("INVALID_INPUT", "objects must be a list of object names")
    deployed = org.duplicates.enable_standard([str(o) for o in objects] if objects else None)
    return ok({"deployed": deployed, "rules": org.duplicates.summary()})


def features(org: Org, call: Call) -> Reply:
    """``GET``: the org features, which are on; ``POST {"enable": [...], "disable":
    [...]}`` turns them on and off (kept with the org)."""
    if call.method == "POST":
        data = call.json_object() if call.body.strip() else {}
        lists = {key: data.get(key) or [] for key in ("enable", "disable")}
        for key, value in lists.items():
            if not isinstance(value, list | str):
                raise SalesforceError("INVALID_FEATURE", f"{key} must be a list of names")
        org.features.set(lists["enable"], lists["disable"])
    return ok(org.features.describe())


def currencies(org: Org, call: Call) -> Reply:
    """``GET``: the org's CurrencyType records (multi-currency); ``POST {"activate": [...],
    "deactivate": [...]}`` turns currencies on (creating them when the org has none yet) and
    off, as an admin does in Setup > Manage Currencies."""
    if call.method == "POST":
        data = call.json_object() if call.body.strip() else {}
        for key, active in (("activate", True), ("deactivate", False)):
            codes = data.get(key) or []
            if not isinstance(codes, list):
                raise SalesforceError("INVALID_INPUT", f"{key} must be a list of ISO codes")
            if codes:
                org.currencies.activate(codes, active)
    return ok(
        {
            "currencies": [
                {
                    "iso_code": c.iso_code,
                    "active": c.active,
                    "corporate": c.corporate,
                    "conversion_rate": c.conversion_rate,
                    "decimal_places": c.decimal_places,
                }
                for c in org.currencies.all()
            ],
            "active": org.currencies.active_codes(),
        }
    )


def cdc(org: Org, call: Call) -> Reply:
    """Change Data Capture's entity selection (Setup > Change Data Capture): GET it, PUT
    ``{"entities": [...]}`` to replace it, POST ``{"add": [...], "remove": [...]}``; POST
    faults ``{"gap": {"Contact": 2}, "overflow_threshold": K}`` (the next 2 Contact changes
    are GAP_* events; more than K changes of an entity in one transaction end in one
    GAP_OVERFLOW event; 0 turns it off)."""
    bus = org.pubsub_bus
    if call.method == "POST":
        data = call.json_object()
        gaps = data.get("gap")
        if gaps is not None and not isinstance(gaps, dict):
            raise SalesforceError("INVALID_INPUT", 'give {"gap": {"Contact": 2}}')
        bus.set_faults(gaps, data.get("overflow_threshold"))
    if call.method == "PUT":
        entities = call.json_object().get("entities")
        if not isinstance(entities, list):
            raise SalesforceError("INVALID_INPUT", 'give {"entities": ["Contact", ...]}')
        bus.select([str(e) for e in entities], org.full_schema)
    elif call.method == "POST":
        data = call.json_object()
        bus.add([str(e) for e in data.get("add") or []], org.full_schema)
        bus.remove([str(e) for e in data.get("remove") or []])
    return ok(
        {
            "selected": bus.selected(),
            "channels": ["/data/ChangeEvents"] + [f"/data/{event_name(e)}" for e in bus.selected()],
            "available": sorted(o.name for o in org.full_schema.objects() if can_capture(o)),
            "gap": dict(bus.gaps),
            "overflow_threshold": bus.overflow_threshold,
        }
    )


def pubsub(org: Org, call: Call) -> Reply:
    """Where the Pub/Sub API listens and how to call it."""
    s = org.settings
    host = "127.0.0.1" if s.host in ("0.0.0.0", "::") else s.host
    return ok(
        {
            "target": f"{host}:{s.pubsub_port}",
            "port": s.pubsub_port,
            "tls": not s.pubsub_insecure,
            "ca_path": str(s.data_dir / "ca.pem") if s.data_dir else None,
            "metadata": ["accesstoken", "instanceurl", "tenantid"],
            "tenant_id": ORG_ID,
            "keepalive_seconds": s.pubsub_keepalive_seconds,
            "retention_hours": s.pubsub_retention_hours,
            "latest_replay": org.pubsub_bus.latest(),
            "selected": org.pubsub_bus.selected(),
        }
    )


def pubsub_abort(org: Org, call: Call) -> Reply:
    """``POST /_sandbox/pubsub/abort``: a fault, every open Subscribe stream ends with
    UNAVAILABLE (clients reconnect from their last replay id); answers how many were open."""
    return ok({"aborted": org.pubsub_bus.abort_streams()})


ROUTES: dict[tuple[str, str], Any] = {
    ("GET", ""): info,
    ("POST", "reset"): reset,
    ("POST", "seed"): seed,
    ("POST", "deploy"): deploy,
    ("GET", "requests"): requests,
    ("DELETE", "requests"): requests,
    ("POST", "limits"): limits,
    ("GET", "faults"): faults,
    ("POST", "faults"): faults,
    ("DELETE", "faults"): faults,
    ("GET", "latency"): latency,
    ("POST", "latency"): latency,
    ("DELETE", "latency"): latency,
    ("POST", "sessions/expire"): expire_sessions,
    ("POST", "sessions"): new_session,
    ("GET", "stats"): stats,
    ("GET", "features"): features,
    ("POST", "features"): features,
    ("GET", "currencies"): currencies,
    ("POST", "currencies"): currencies,
    ("GET", "duplicate-rules"): duplicate_rules,
    ("DELETE", "duplicate-rules"): duplicate_rules,
    ("POST", "duplicate-rules/standard"): standard_duplicate_rules,
    ("GET", "cdc"): cdc,
    ("PUT", "cdc"): cdc,
    ("POST", "cdc"): cdc,
    ("GET", "pubsub"): pubsub,
    ("POST", "pubsub/abort"): pubsub_abort,
}


def find(method: str, subpath: str) -> tuple[Any, dict[str, str]] | None:
    subpath = subpath.strip("/")
    handler = ROUTES.get((method, subpath))
    if handler is not None:
        return handler, {}
    if method == "DELETE" and subpath.startswith("faults/"):
        return remove_fault, {"id": subpath.split("/", 1)[1]}
    if method == "GET" and subpath.startswith("records/"):
        return records, {"sobject": subpath.split("/", 1)[1]}
    return None
