"""A failed Stripe call as sentences (what failed, what to do), for `stripe2sf doctor`.

The stripe SDK's errors, found anywhere in the chain (`StripeReader` wraps them in the
domain's errors): `AuthenticationError` (401: the key is unknown), `PermissionError` (403: a
restricted key without the permission), `APIConnectionError` (nothing answered; the SDK's text
asks to "let us know at support@stripe.com", which is never what to do here), any other
`StripeError` (a 5xx, a rate limit, a refused request)."""

from __future__ import annotations

import stripe

from stripe2sf.domain.setup.plain_errors import (
    Plain,
    stripe_failed,
    stripe_key_refused,
    stripe_permission_denied,
    stripe_unreachable,
)
from stripe2sf.network_failure import network_problem


def _stripe_error(exc: BaseException) -> stripe.StripeError | None:
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        if isinstance(current, stripe.StripeError):
            return current
        seen.add(id(current))
        current = current.__cause__ or current.__context__
    return None


def explain(exc: BaseException, api_base: str | None, what: str, resource: str) -> Plain:
    """(detail, fix) for a Stripe call that raised `exc`; `what` is what the call does
    ("list webhook endpoints"), `resource` the Dashboard's name of what it reads, for a
    restricted key's missing permission."""
    error = _stripe_error(exc)
    if isinstance(error, stripe.AuthenticationError):
        return stripe_key_refused(error.user_message or str(error))
    if isinstance(error, stripe.PermissionError):
        return stripe_permission_denied(what, resource, error.user_message or str(error))
    if isinstance(error, stripe.APIConnectionError) or error is None:
        return stripe_unreachable(api_base, network_problem(exc), str(exc))
    return stripe_failed(error.http_status, error.user_message or str(error))
