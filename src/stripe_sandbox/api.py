"""HTTP translation: Stripe keys, form-encoded params, idempotency keys, ``expand``, list
pages and errors. Operations themselves live in ``models``; the route table in ``routes``."""

from __future__ import annotations

import hashlib
import json
import random
import re
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from stripe_sandbox import ids, rendering, versions
from stripe_sandbox.errors import (
    AuthenticationError,
    CardError,
    IdempotencyError,
    InvalidRequestError,
    StripeError,
    error_body,
)
from stripe_sandbox.params import Params, get_int, get_list, parse_form, range_filter
from stripe_sandbox.ratelimit import TokenBucket
from stripe_sandbox.state import RequestInfo, Sandbox, Tx
from stripe_sandbox.store import Filter

Obj = dict[str, Any]
PathParams = dict[str, str]
Operation = Callable[[Tx, Params, PathParams], Obj]

_KEY = re.compile(r"^(sk|rk)_(test|live)_[A-Za-z0-9_]+$")


@dataclass
class ListSpec:
    object_type: str | None
    url: Callable[[PathParams], str]
    filters: Callable[[Tx, Params, PathParams], list[Filter]] = lambda tx, p, pp: []
    table: str = "objects"


@dataclass
class Response:
    status: int
    body: str
    headers: dict[str, str] = field(default_factory=dict)


def masked_key(key: str) -> str:
    """A key as Stripe shows it in errors: its prefix, a star per hidden character, its last
    four (``sk_test_**********************abcd``)."""
    prefix = key[:8] if key.startswith(("sk_", "rk_", "pk_")) and key[7:8] == "_" else key[:3]
    if len(key) <= len(prefix) + 4:
        return key
    return prefix + "*" * (len(key) - len(prefix) - 4) + key[-4:]


def authenticate(authorization: str | None, accepted: Sequence[str] = ()) -> str:
    """The request's secret key; `accepted`: the only keys let in (empty: any test key)."""
    if not authorization:
        raise AuthenticationError(
            "You did not provide an API key. You need to provide your API key in the "
            "Authorization header, using Bearer auth (e.g. 'Authorization: Bearer "
            "YOUR_SECRET_KEY')."
        )
    scheme, _, value = authorization.partition(" ")
    key = value.strip()
    if scheme.lower() == "basic":
        import base64

        try:
            key = base64.b64decode(key).decode().split(":", 1)[0]
        except ValueError:
            key = ""
    elif scheme.lower() != "bearer":
        key = ""
    match = _KEY.match(key)
    if not match:
        raise AuthenticationError(f"Invalid API Key provided: {masked_key(key)}")
    if match.group(2) == "live":
        raise AuthenticationError(
            "This is a local Stripe sandbox in test mode: live mode keys are refused. Use a "
            "sk_test_ key."
        )
    if accepted and key not in accepted:
        raise AuthenticationError(f"Invalid API Key provided: {masked_key(key)}")
    return key


def expand_paths(params: Params) -> list[str]:
    return [str(p) for p in get_list(params, "expand")]


INCLUDABLE: dict[tuple[str, str], Callable[[Tx, Obj], Obj]] = {}


def includable(
    object_type: str, field_name: str
) -> Callable[[Callable[[Tx, Obj], Obj]], Callable[[Tx, Obj], Obj]]:
    def register(fn: Callable[[Tx, Obj], Obj]) -> Callable[[Tx, Obj], Obj]:
        INCLUDABLE[(object_type, field_name)] = fn
        return fn

    return register


def expand(tx: Tx, obj: Obj, paths: list[str]) -> Obj:
    for path in paths:
        _expand(tx, obj, path.split("."), path)
    return obj


def _expand(tx: Tx, node: Any, parts: list[str], path: str) -> None:
    if not parts:
        return
    if isinstance(node, list):
        for item in node:
            _expand(tx, item, parts, path)
        return
    if not isinstance(node, dict):
        return
    key, rest = parts[0], parts[1:]
    fn = INCLUDABLE.get((str(node.get("object")), key))
    if fn is not None:
        node[key] = fn(tx, node)
    elif key not in node:
        raise InvalidRequestError(f"This property cannot be expanded ({path}).", param="expand")
    value = node.get(key)
    if isinstance(value, str):
        rec = tx.store.get(value)
        if rec is not None:
            node[key] = rec.data
        else:
            event = tx.store.get_event(value) if value.startswith("evt_") else None
            if event is not None:
                node[key] = event
    _expand(tx, node[key], rest, path)


def _versioned_rows(tx: Tx, spec: ListSpec, rows: list[str], version: str) -> list[str]:
    """List rows (stored JSON) in the version asked for; events each in their own version."""
    if spec.table == "events":
        mark = f'"api_version":"{versions.CURRENT}"'
        return [
            row
            if mark in row
            else json.dumps(
                rendering.render_event(tx.store, event := json.loads(row), event["api_version"])
            )
            for row in rows
        ]
    if not versions.changes_for(version):
        return rows
    return [json.dumps(rendering.render(tx.store, json.loads(row), version)) for row in rows]


def render_list(
    tx: Tx, spec: ListSpec, params: Params, path: PathParams, version: str = versions.CURRENT
) -> str:
    limit = get_int(params, "limit", 10)
    assert limit is not None
    if not 1 <= limit <= 100:
        raise InvalidRequestError("Invalid integer: limit must be between 1 and 100", param="limit")
    created = range_filter(params, "created")
    starting_after = params.get("starting_after") or None
    ending_before = params.get("ending_before") or None
    page = tx.store.page(
        spec.object_type,
        spec.filters(tx, params, path),
        created,
        limit,
        str(starting_after) if starting_after else None,
        str(ending_before) if ending_before else None,
        spec.table,
    )
    rows = page.rows
    paths = [p[5:] for p in expand_paths(params) if p.startswith("data.")]
    if paths:
        rows = [json.dumps(expand(tx, json.loads(r), paths)) for r in rows]
    rows = _versioned_rows(tx, spec, rows, version)
    return (
        '{"object":"list","data":['
        + ",".join(rows)
        + '],"has_more":'
        + ("true" if page.has_more else "false")
        + ',"url":'
        + json.dumps(spec.url(path))
        + "}"
    )


class ApiFault(StripeError):
    type = "api_error"


class RateLimitFault(StripeError):
    status = 429
    type = "invalid_request_error"


class Api:
    """Turns one HTTP request into one unit of work and a Stripe-shaped response."""

    def __init__(self, sandbox: Sandbox) -> None:
        self.sb = sandbox
        self.request_counts: dict[str, int] = {}
        # "GET 2024-06-20" -> requests answered in that API version (the control plane's stats)
        self.version_counts: dict[str, int] = {}
        self._rng = random.Random()
        self._bucket = TokenBucket()

    def _injected_fault(self, method: str, path: str) -> StripeError | None:
        faults, limit = self.sb.faults, self.sb.settings.api_rate_limit
        if limit > 0 and not self._bucket.take(limit, time.monotonic()):
            return RateLimitFault(
                "Request rate limit exceeded. You made too many requests in too short a time "
                f"(this sandbox allows {limit:g} per second; set by --rate-limit or the "
                "api_rate_limit setting). Retry after a short wait.",
                code="rate_limit",
                status=429,
            )
        latency = faults.api_latency_ms
        if faults.api_latency_jitter_ms > 0:
            latency += self._rng.uniform(0.0, faults.api_latency_jitter_ms)
        if latency > 0:
            time.sleep(latency / 1000)
        status: int | None = None
        cause = ""
        with self.sb.lock:
            if faults.api_fail_next > 0:
                faults.api_fail_next -= 1
                status = faults.api_fail_status
            elif faults.api_error_rate > 0 and self._rng.random() < faults.api_error_rate:
                status = faults.api_fail_status
            else:
                for outage in faults.api_outage:
                    if not outage.matches(method, path):
                        continue
                    if outage.count is not None and outage.count <= 0:
                        continue
                    if outage.rate < 1.0 and self._rng.random() >= outage.rate:
                        continue
                    if outage.count is not None:
                        outage.count -= 1
                    outage.hits += 1
                    status, cause = outage.status, f": an outage of {outage.path}"
                    break
        if status is None:
            return None
        if status == 429:
            return RateLimitFault(
                f"Request rate limit exceeded. (injected by the sandbox{cause})",
                code="rate_limit",
                status=429,
            )
        return ApiFault(
            f"An unknown error occurred (injected by the sandbox{cause}).", status=status
        )

    def handle(
        self,
        method: str,
        route: str,
        target: Operation | ListSpec,
        path: PathParams,
        query: str,
        body: bytes,
        headers: dict[str, str],
        request_path: str | None = None,
    ) -> Response:
        """One request; ``request_path`` is the concrete path (``route`` with its parameters
        filled in when not given), which API outages match."""
        request_id = "req_" + ids.random_token(14)
        label = f"{method} {route}"
        self.request_counts[label] = self.request_counts.get(label, 0) + 1
        out_headers = {"Request-Id": request_id, "Stripe-Version": self.sb.settings.api_version}
        idem_key = headers.get("idempotency-key") if method == "POST" else None
        fingerprint = ""
        injected = self._injected_fault(method, request_path or route.format_map(path))
        if injected is not None:
            if isinstance(injected, RateLimitFault):
                out_headers["Stripe-Rate-Limited-Reason"] = "global-rate"
            return Response(
                injected.status, json.dumps(error_body(injected, request_id)), out_headers
            )
        try:
            authenticate(headers.get("authorization"), self.sb.settings.api_keys)
            version = self.sb.settings.api_version
            if headers.get("stripe-version"):
                version = versions.check(headers["stripe-version"].strip())
            out_headers["Stripe-Version"] = version
            counted = f"{method} {version}"
            self.version_counts[counted] = self.version_counts.get(counted, 0) + 1
            params = parse_form(query) if query else {}
            if method == "POST" and body:
                params.update(parse_form(body.decode("utf-8")))
            if idem_key:
                fingerprint = hashlib.sha256(
                    f"{method} {route} {path} {body!r}".encode()
                ).hexdigest()
                with self.sb.lock:
                    stored = self.sb.store.get_idempotent(idem_key)
                if stored is not None:
                    if stored[0] != fingerprint:
                        raise IdempotencyError(
                            "Keys for idempotent requests can only be used with the same "
                            "parameters they were first used with. Try using a key other than "
                            f"'{idem_key}' if you meant to execute a different request.",
                        )
                    out_headers["Idempotent-Replayed"] = "true"
                    out_headers["Idempotency-Key"] = idem_key
                    return Response(stored[1], stored[2], out_headers)
            card_error: CardError | None = None
            with self.sb.tx(RequestInfo(request_id, idem_key)) as tx:
                if isinstance(target, ListSpec):
                    text = render_list(tx, target, params, path, version)
                else:
                    try:
                        result = expand(tx, target(tx, params, path), expand_paths(params))
                        if result.get("object") == "event":
                            result = rendering.render_event(tx.store, result, result["api_version"])
                        else:
                            result = rendering.render(tx.store, result, version)
                        text = json.dumps(result)
                    except CardError as exc:
                        if exc.rollback:
                            raise
                        card_error = exc
                        text = ""
            if card_error is not None:
                raise card_error
            response = Response(200, text, out_headers)
        except StripeError as exc:
            response = Response(exc.status, json.dumps(error_body(exc, request_id)), out_headers)
        if idem_key and response.status < 500:
            out_headers["Idempotency-Key"] = idem_key
            with self.sb.lock:
                self.sb.store.put_idempotent(
                    idem_key, fingerprint, response.status, response.body, self.sb.wall_time()
                )
        return response
