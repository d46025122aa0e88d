"""`stripe2sf doctor`: does Stripe send this service the events it needs? (pure)

Judged from the account's webhook endpoints as the API lists them (`GET /v1/webhook_endpoints`,
for the key's mode): one must point at this service (`STRIPE2SF_PUBLIC_URL` +
`/webhooks/stripe`), be enabled (Stripe disables an endpoint that kept failing), and subscribe
to every event type stripe2sf handles (or to all, `*`). A missing type is silent otherwise:
those changes would reach Salesforce only through catch-up, minutes late.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any
from urllib.parse import urlsplit

from stripe2sf.domain.setup.doctor import Check

NAME = "Stripe webhook endpoint"
WEBHOOK_PATH = "/webhooks/stripe"
DASHBOARD = "Stripe Dashboard, Developers > Webhooks"


def expected_url(public_url: str) -> str:
    """The endpoint URL for a service at `public_url` (given with or without the path)."""
    base = public_url.rstrip("/")
    return base if base.endswith(WEBHOOK_PATH) else base + WEBHOOK_PATH


def _same_url(a: str, b: str) -> bool:
    left, right = urlsplit(a), urlsplit(b)
    return (
        left.scheme.lower() == right.scheme.lower()
        and left.netloc.lower() == right.netloc.lower()
        and left.path.rstrip("/") == right.path.rstrip("/")
    )


def missing_types(endpoint: Mapping[str, Any], needed: Iterable[str]) -> list[str]:
    enabled = set(endpoint.get("enabled_events") or [])
    if "*" in enabled:
        return []
    return sorted(set(needed) - enabled)


def _listed(types: Sequence[str], limit: int = 6) -> str:
    shown = ", ".join(types[:limit])
    return shown + (f" and {len(types) - limit} more" if len(types) > limit else "")


def _judge(endpoint: Mapping[str, Any], needed: frozenset[str]) -> Check:
    ident = f"{endpoint.get('id')} ({endpoint.get('url')})"
    if endpoint.get("status") != "enabled":
        return Check(
            NAME,
            False,
            f"{ident} is {endpoint.get('status') or 'not enabled'}: Stripe sends it nothing",
            f"enable it ({DASHBOARD}, the endpoint, Enable); Stripe disables an endpoint whose "
            "deliveries kept failing, so check `stripe2sf serve` is reachable at that URL first",
        )
    missing = missing_types(endpoint, needed)
    if missing:
        return Check(
            NAME,
            False,
            f"{ident} does not subscribe to {len(missing)} event type(s) stripe2sf needs: "
            f"{_listed(missing)}",
            f"add them to the endpoint ({DASHBOARD}, the endpoint, Update details); the list "
            f"is in the README (Against real Stripe and Salesforce, step 3): {', '.join(missing)}",
        )
    events = "every event" if "*" in (endpoint.get("enabled_events") or []) else "every type"
    return Check(NAME, True, f"{ident} is enabled and subscribes to {events} stripe2sf needs")


def webhook_checks(
    endpoints: Sequence[Mapping[str, Any]], public_url: str | None, needed: Iterable[str]
) -> list[Check]:
    """The endpoint check, and without `public_url` a warning that which endpoint is this
    service's was guessed from the path."""
    wanted = frozenset(needed)
    checks: list[Check] = []
    if public_url:
        target = expected_url(public_url)
        ours = [e for e in endpoints if _same_url(str(e.get("url") or ""), target)]
        where = f"points at {target} (STRIPE2SF_PUBLIC_URL)"
    else:
        target = f"https://YOUR-HOST{WEBHOOK_PATH}"
        ours = [
            e
            for e in endpoints
            if urlsplit(str(e.get("url") or "")).path.rstrip("/") == WEBHOOK_PATH
        ]
        where = f"has the path {WEBHOOK_PATH}"
        shown = ", ".join(str(e.get("url")) for e in ours) or "none"
        checks.append(
            Check(
                "STRIPE2SF_PUBLIC_URL",
                True,
                f"not set: the endpoint is recognised by its path only (found: {shown})",
                "set STRIPE2SF_PUBLIC_URL to this service's address as Stripe reaches it "
                "(https://stripe2sf.example.com) so doctor checks the endpoint points here",
                warning=True,
            )
        )
    if not ours:
        others = ", ".join(str(e.get("url")) for e in endpoints[:3]) or "none"
        checks.append(
            Check(
                NAME,
                False,
                f"no webhook endpoint of this Stripe account {where} (endpoints: {others})",
                f"add an endpoint with URL {target} ({DASHBOARD}, Add endpoint) subscribed to "
                "the event types in the README (Against real Stripe and Salesforce, step 3), "
                "and put its signing secret in STRIPE_WEBHOOK_SECRET",
            )
        )
        return checks
    judged = [_judge(e, wanted) for e in ours]
    passing = [c for c in judged if c.ok]
    checks.append(passing[0] if passing else judged[0])
    return checks
