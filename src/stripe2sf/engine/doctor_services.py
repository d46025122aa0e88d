"""`stripe2sf doctor`'s checks of what surrounds the org: stripe2sf's database, the Stripe API
and the account's webhook endpoint, and a Salesforce that cannot be reached. Each failure is
told in sentences (`domain.setup.plain_errors`), never as the library's error text."""

from __future__ import annotations

from typing import Any

from stripe2sf.domain.errors import RetryableError, SyncError
from stripe2sf.domain.flows.handled import HANDLED_TYPES
from stripe2sf.domain.setup.doctor import Check
from stripe2sf.domain.setup.doctor_database import NAME as DATABASE
from stripe2sf.domain.setup.doctor_database import database_check
from stripe2sf.domain.setup.doctor_webhooks import NAME as WEBHOOK
from stripe2sf.domain.setup.doctor_webhooks import webhook_checks
from stripe2sf.domain.setup.plain_errors import unreachable
from stripe2sf.network_failure import network_problem
from stripe2sf.settings import Settings
from stripe2sf.stripe.plain_errors import explain
from stripe2sf.stripe.reader import StripeReader

STRIPE_API = "Stripe API"


def database(settings: Settings) -> Check:
    """Reachable, and migrated to this stripe2sf's latest revision; creates nothing."""
    from stripe2sf.store.db import describe
    from stripe2sf.store.schema_state import read_schema_state

    where = describe(settings.database_url)
    try:
        state = read_schema_state(settings.database_url)
    except Exception as exc:  # the driver's error: say why in words
        detail, fix = unreachable(
            "the database", where, network_problem(exc), "STRIPE2SF_DATABASE_URL", str(exc)
        )
        return Check(DATABASE, False, detail, fix)
    return database_check(where, state)


def stripe_api(reader: StripeReader, settings: Settings) -> Check:
    try:
        reader.client.v1.customers.list({"limit": 1})
    except Exception as exc:
        detail, fix = explain(exc, settings.stripe_api_base, "list customers", "Customers")
        return Check(STRIPE_API, False, detail, fix)
    where = settings.stripe_api_base or "https://api.stripe.com"
    return Check(STRIPE_API, True, f"reachable at {where}; the key is accepted")


def webhook_endpoint(reader: StripeReader, settings: Settings) -> list[Check]:
    """The account's webhook endpoints as the API lists them, judged by `doctor_webhooks`.
    A restricted key may not read them: then a warning (the sync itself does not need it)."""
    import stripe

    try:
        page = reader.client.v1.webhook_endpoints.list({"limit": 100})
        endpoints: list[dict[str, Any]] = [e.to_dict() for e in page.auto_paging_iter()]
    except Exception as exc:
        detail, fix = explain(
            exc, settings.stripe_api_base, "list webhook endpoints", "Webhook Endpoints"
        )
        restricted = isinstance(exc, stripe.PermissionError)
        return [Check(WEBHOOK, restricted, detail, fix, warning=restricted)]
    return webhook_checks(endpoints, settings.public_url, HANDLED_TYPES)


def salesforce_login_failure(settings: Settings, exc: SyncError) -> Check:
    """A login that failed: Salesforce's refusal is already explained (`salesforce.login`);
    a Salesforce that cannot be reached is told in words, not as requests' error."""
    if isinstance(exc, RetryableError):
        from stripe2sf.salesforce.login import DEFAULT_LOGIN_URL

        if settings.salesforce_login_url:
            where, setting = settings.salesforce_login_url, "SALESFORCE_LOGIN_URL"
        elif settings.salesforce_instance_url:
            where, setting = settings.salesforce_instance_url, "SALESFORCE_INSTANCE_URL"
        else:
            where, setting = DEFAULT_LOGIN_URL, "SALESFORCE_LOGIN_URL (not set: the default)"
        detail, fix = unreachable("Salesforce", where, network_problem(exc), setting, str(exc))
        return Check("Salesforce login", False, detail, fix)
    names = ", ".join(getattr(exc, "settings", ()) or ("SALESFORCE_*",))
    return Check("Salesforce login", False, str(exc), f"fix {names}")
