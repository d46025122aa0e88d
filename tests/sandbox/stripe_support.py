"""Fixtures and helpers for the stripe sandbox tests (import the fixtures you use)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest
import stripe

from stripe_sandbox.settings import Settings
from stripe_sandbox.testing import RunningSandbox, WebhookReceiver, run_sandbox, webhook_receiver
from tests.support.reference import REFERENCE as SHARED_REFERENCE

REFERENCE = SHARED_REFERENCE / "stripe"
SUMMARY = REFERENCE / "stripe-cli-triggers" / "SUMMARY.txt"


def fast_settings() -> Settings:
    return Settings(webhook_retry_base_seconds=0.05, webhook_max_attempts=4)


@pytest.fixture(scope="module")
def stripe_server() -> Iterator[RunningSandbox]:
    with run_sandbox(settings=fast_settings()) as running:
        yield running


@pytest.fixture
def sb(stripe_server: RunningSandbox) -> RunningSandbox:
    """The module's sandbox, reset for this test."""
    stripe_server.reset()
    stripe_server.settings(**fast_settings().as_dict())
    return stripe_server


@pytest.fixture
def client(sb: RunningSandbox) -> stripe.StripeClient:
    return sb.client()


@pytest.fixture
def receiver() -> Iterator[WebhookReceiver]:
    with webhook_receiver() as rx:
        yield rx


def listen(
    client: stripe.StripeClient, rx: WebhookReceiver, events: list[str] | None = None
) -> str:
    """Register ``rx`` as a webhook endpoint; returns its signing secret."""
    endpoint = client.v1.webhook_endpoints.create(
        {"url": rx.url, "enabled_events": events or ["*"]}
    )
    assert endpoint.secret is not None and endpoint.secret.startswith("whsec_")
    return endpoint.secret


def event_types(client: stripe.StripeClient) -> list[str]:
    """All retained events, oldest first."""
    events = list(client.v1.events.list({"limit": 100}).auto_paging_iter())
    return [e.type for e in reversed(events)]


def all_events(client: stripe.StripeClient) -> list[stripe.Event]:
    return list(reversed(list(client.v1.events.list({"limit": 100}).auto_paging_iter())))


def verify_deliveries(rx: WebhookReceiver, secret: str, count: int) -> list[stripe.Event]:
    """Wait for ``count`` deliveries and verify each with ``stripe.Webhook.construct_event``."""
    received = rx.wait_for(count)
    return [
        stripe.Webhook.construct_event(r.text, r.headers["stripe-signature"], secret)
        for r in received
    ]


# ---- the stripe CLI's trigger fixtures (SUMMARY.txt) -------------------------------------


def parse_triggers(text: str) -> dict[str, list[tuple[str, str, str, dict[str, Any], bool]]]:
    """``{event: [(step, METHOD, path, params, expect_error)]}``."""
    out: dict[str, list[tuple[str, str, str, dict[str, Any], bool]]] = {}
    current: list[tuple[str, str, str, dict[str, Any], bool]] | None = None
    for line in text.splitlines():
        if line.startswith("## "):
            current = out.setdefault(line[3:].split()[0], [])
            continue
        match = re.match(
            r"^\s+- (\S+): (GET|POST|DELETE) (\S+) (\{.*\})(\s+expect_error=\S+)?$", line
        )
        if match and current is not None:
            params, _ = _parse_value(match.group(4), 0)
            assert isinstance(params, dict)
            current.append(
                (match.group(1), match.group(2), match.group(3), params, bool(match.group(5)))
            )
    return out


def _parse_value(s: str, i: int) -> tuple[Any, int]:
    if s[i] == "{":
        result: dict[str, Any] = {}
        i += 1
        while s[i] != "}":
            eq = s.index("=", i)
            key = s[i:eq].strip()
            value, i = _parse_value(s, eq + 1)
            result[key] = value
            if s[i] == ",":
                i += 1
            while s[i] == " ":
                i += 1
        return result, i + 1
    if s[i] == "[":
        items: list[Any] = []
        i += 1
        while s[i] != "]":
            value, i = _parse_value(s, i)
            items.append(value)
            if s[i] == ",":
                i += 1
            while s[i] == " ":
                i += 1
        return items, i + 1
    j = i
    depth = 0
    while j < len(s) and (depth or s[j] not in ",}]"):
        if s.startswith("${", j):
            j = s.index("}", j) + 1
            continue
        if s[j] == "(":
            depth += 1
        elif s[j] == ")":
            depth -= 1
        j += 1
    raw = s[i:j].strip()
    return {"True": "true", "False": "false"}.get(raw, raw), j


def substitute(value: Any, results: dict[str, Any]) -> Any:
    if isinstance(value, dict):
        return {k: substitute(v, results) for k, v in value.items()}
    if isinstance(value, list):
        return [substitute(v, results) for v in value]
    if isinstance(value, str) and "${" in value:

        def repl(m: re.Match[str]) -> str:
            node = results[m.group(1)]
            for part in m.group(2).split("."):
                node = node[int(part)] if isinstance(node, list) else node[part]
            return str(node)

        return re.sub(r"\$\{([^:}]+):([^}]+)\}", repl, value)
    return value


def run_trigger(
    client: stripe.StripeClient, steps: list[tuple[str, str, str, dict[str, Any], bool]]
) -> dict[str, Any]:
    """Replay one trigger's API calls through the SDK; returns each step's response."""
    import json

    results: dict[str, Any] = {}
    for name, method, path, params, expect_error in steps:
        path = substitute(path, results)
        params = substitute(params, results)
        try:
            response = client.raw_request(method.lower(), path, **params)
        except stripe.StripeError as exc:
            assert expect_error, f"{name}: unexpected {exc!r}"
            continue
        assert not expect_error, f"{name}: expected an error"
        results[name] = json.loads(response.body)
    return results
