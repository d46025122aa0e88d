"""What `stripe2sf doctor` says when Stripe, Salesforce or the database cannot be used: what
failed and what to do, in sentences (pure). The I/O side classifies the library's error
(`stripe2sf.network_failure`, `stripe2sf.stripe.plain_errors`) and hands in the kind.

A library's own wording stays out: the stripe SDK's "let us know at support@stripe.com" for a
refused connection, urllib3's pool and object reprs."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Literal

NetworkProblem = Literal["refused", "dns", "timeout", "tls", "reset", "unreachable", "other"]
Plain = tuple[str, str]  # (what failed, what to do)

_WHY: Mapping[NetworkProblem, str] = {
    "refused": "the connection was refused: nothing listens at that address and port (the "
    "service is stopped, or the address or port is wrong)",
    "dns": "its host name does not resolve (a typo in the address, or no name service here)",
    "timeout": "it did not answer in time (a firewall dropping the connection, or the server "
    "is overloaded)",
    "tls": "its TLS certificate is not trusted here",
    "reset": "it closed the connection without answering (often HTTPS spoken to a plain HTTP "
    "port, or the reverse, or a proxy in between)",
    "unreachable": "this machine has no route to it (network or VPN down)",
    "other": "the connection failed",
}

_SUPPORT = re.compile(
    r"\s*If this problem persists,?\s*let us know at support@stripe\.com\.?", re.I
)


def without_support_line(message: str) -> str:
    """A library message without the stripe SDK's "let us know at support@stripe.com", its
    "Request req_...:" prefix and runs of blank space."""
    text = _SUPPORT.sub("", message)
    text = re.sub(r"^Request req_\w+:\s*", "", text)
    return " ".join(text.split())


def unreachable(
    service: str, where: str, problem: NetworkProblem, check: str, raw: str = ""
) -> Plain:
    """`service` ("Stripe", "Salesforce", "the database") could not be reached at `where`;
    `check`: what the operator should look at (the setting naming the address)."""
    detail = f"cannot reach {service} at {where}: {_WHY[problem]}"
    if problem == "other" and raw:
        shown = without_support_line(raw)
        detail += f" ({shown[:200]}{'...' if len(shown) > 200 else ''})"
    fix = f"check {check} and that {service} is up and reachable from this machine"
    if problem == "tls":
        fix = f"check {check}; for a private CA, give its PEM file to the setting that takes one"
    return detail, fix + "; then run `stripe2sf doctor` again"


def stripe_unreachable(api_base: str | None, problem: NetworkProblem, raw: str = "") -> Plain:
    if api_base:
        where, check = api_base, f"STRIPE_API_BASE ({api_base}; unset it to use Stripe itself)"
    else:
        where = "https://api.stripe.com"
        check = "this machine's connection to api.stripe.com (firewall, HTTPS_PROXY)"
    return unreachable("Stripe", where, problem, check, raw)


def stripe_key_refused(stripe_message: str) -> Plain:
    """A 401: Stripe does not know the key (mistyped, revoked, rolled, expired)."""
    said = without_support_line(stripe_message)
    return (
        f"Stripe refused STRIPE_API_KEY ({said}): the key is mistyped, or was revoked, rolled "
        "or has expired",
        "copy a current secret key (sk_test_/sk_live_) or restricted key (rk_) from the Stripe "
        "Dashboard, Developers > API keys, into STRIPE_API_KEY",
    )


def stripe_permission_denied(what: str, resource: str, stripe_message: str) -> Plain:
    """A 403: a restricted key without the permission `what` needs (`resource`: the
    Dashboard's name of the resource, such as "Webhook Endpoints")."""
    said = without_support_line(stripe_message)
    return (
        f"the key in STRIPE_API_KEY may not {what} ({said})",
        f"give the restricted key Read on {resource} (Stripe Dashboard, Developers > API keys, "
        "edit the key), or use the account's secret key",
    )


def stripe_failed(status: int | None, stripe_message: str) -> Plain:
    """Any other answer: a 5xx, a rate limit, a refused request."""
    said = without_support_line(stripe_message) or "no message"
    answer = f"Stripe answered {status}" if status else "the Stripe request failed"
    return (
        f"{answer}: {said}",
        "run `stripe2sf doctor` again in a minute; if it stays, see https://status.stripe.com",
    )
