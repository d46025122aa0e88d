"""Echoes: stripe2sf's own writes coming back, which must never be written again.

    Salesforce -> Stripe   a change whose CommitUser is stripe2sf's own Salesforce user (or a
                           user `[salesforce_to_stripe] ignore_user_ids` names) is skipped
    Stripe -> Salesforce   an event a stripe2sf request caused carries that request's
                           idempotency key (`request.idempotency_key`, always
                           ``stripe2sf-...``); its Salesforce writes are skipped

Ownership alone would stop most loops (a field is written only towards the side that does not
own it); these rules stop the rest (a no-op write, a create_only field) and say so in the
audit trail.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from stripe2sf.domain.capture.change import IDEMPOTENCY_PREFIX, SalesforceChange, made_by

ECHO = "echo"


def request_key(raw_event: Mapping[str, Any]) -> str | None:
    """The idempotency key of the API request that caused a Stripe event (None: a dashboard or
    automatic change; API versions before 2017-05-25 name only the request id)."""
    request = raw_event.get("request")
    if isinstance(request, Mapping):
        key = request.get("idempotency_key")
        return key if isinstance(key, str) and key else None
    return None


def is_own_key(key: str | None) -> bool:
    """Whether an idempotency key is one of stripe2sf's own requests'."""
    return key is not None and key.startswith(IDEMPOTENCY_PREFIX)


def caused_by_stripe2sf(raw_event: Mapping[str, Any]) -> bool:
    """Whether a stripe2sf request caused this Stripe event."""
    return is_own_key(request_key(raw_event))


def stripe_echo_reason(raw_event: Mapping[str, Any]) -> str | None:
    """Why a Stripe event is not written to Salesforce (None: it is not an echo)."""
    if not caused_by_stripe2sf(raw_event):
        return None
    return (
        f"echo: {raw_event.get('type', 'the event')} was caused by stripe2sf's own Stripe "
        f"request ({request_key(raw_event)}) writing Salesforce's values; nothing to write back"
    )


def salesforce_echo_reason(change: SalesforceChange, user_ids: Iterable[str]) -> str | None:
    """Why a captured Salesforce change is not sent to Stripe (None: it is not an echo)."""
    if not made_by(change, user_ids):
        return None
    return (
        f"echo: {change.entity} {change.record_id} was changed by {change.commit_user} "
        "(stripe2sf's own Salesforce user, or one [salesforce_to_stripe] ignore_user_ids "
        "names); not sent to Stripe"
    )
