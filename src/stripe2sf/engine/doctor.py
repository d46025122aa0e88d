"""`stripe2sf doctor` and the start-up interlock: read what the checks need, let
`domain.setup.doctor` decide."""

from __future__ import annotations

from typing import Any

from stripe2sf.domain.config import SyncConfig
from stripe2sf.domain.errors import SyncError
from stripe2sf.domain.setup.doctor import (
    Check,
    api_version_check,
    budget_check,
    field_checks,
    mixed_modes,
    stripe_key_check,
    stripe_mode,
    webhook_secret_check,
)
from stripe2sf.domain.setup.schema import required_fields
from stripe2sf.salesforce.client import SalesforceClient, connect
from stripe2sf.settings import Settings
from stripe2sf.stripe.reader import StripeReader

RESERVE_SHARE = 0.2


def org_modes(client: SalesforceClient) -> tuple[bool, str]:
    [org] = client.query_all("SELECT IsSandbox, OrganizationType FROM Organization") or [{}]
    return bool(org.get("IsSandbox")), str(org.get("OrganizationType") or "")


def interlock_problem(settings: Settings, client: SalesforceClient) -> str | None:
    """Why this Stripe key must not feed this org (None when they belong together)."""
    mode = stripe_mode(settings.stripe_key)
    if mode is None:
        return None
    is_sandbox, org_type = org_modes(client)
    return mixed_modes(mode == "live", is_sandbox, org_type)


def _versions(client: SalesforceClient) -> list[str]:
    response = client.session.get(
        client.instance_url + "/services/data/",
        headers={"Authorization": f"Bearer {client.sf.session_id}"},
    )
    response.raise_for_status()
    return [str(v["version"]) for v in response.json()]


def run_doctor(settings: Settings, config: SyncConfig) -> list[Check]:
    checks = [
        stripe_key_check(settings.stripe_key),
        webhook_secret_check(settings.stripe_webhook_secrets),
    ]
    if settings.stripe_key:
        reader = StripeReader(settings.stripe_key, settings.stripe_api_base, max_retries=0)
        try:
            reader.client.v1.customers.list({"limit": 1})
            checks.append(
                Check(
                    "Stripe API",
                    True,
                    f"reachable at {settings.stripe_api_base or 'api.stripe.com'}",
                )
            )
        except Exception as exc:
            checks.append(
                Check("Stripe API", False, str(exc), "check STRIPE_API_KEY and STRIPE_API_BASE")
            )
    try:
        client = connect(settings)
    except SyncError as exc:
        names = ", ".join(getattr(exc, "settings", ()) or ("SALESFORCE_*",))
        checks.append(Check("Salesforce login", False, str(exc), f"fix {names}"))
        return checks
    with client:
        checks.append(
            Check("Salesforce login", True, f"{client.login_mode} login to {client.instance_url}")
        )
        checks.append(api_version_check(settings.salesforce_api_version, _versions(client)))
        problem = interlock_problem(settings, client)
        checks.append(
            Check(
                "Stripe mode matches the org",
                problem is None,
                problem or "test with test, live with production",
                "" if problem is None else "use the matching key or org, or --allow-mixed-modes",
            )
        )
        describes: dict[str, Any] = {}
        for sobject in sorted({spec.sobject for spec in required_fields(config)}):
            try:
                describes[sobject] = client.describe(sobject)
            except SyncError:
                describes[sobject] = None
        checks.extend(field_checks(config, describes))
        checks.append(budget_check(client.limits(), RESERVE_SHARE))
    return checks
