"""`stripe2sf doctor` and the start-up interlock: read what the checks need, let
`domain.setup.doctor` decide.

Everything is read as the user stripe2sf is configured with (its own login): its describes show
what its profile and permission sets let it see and change, which is what the sync will meet.
"""

from __future__ import annotations

from typing import Any

from stripe2sf.domain.config import SyncConfig
from stripe2sf.domain.errors import SyncError
from stripe2sf.domain.org_profile import has_field
from stripe2sf.domain.setup.account_model import account_model_check
from stripe2sf.domain.setup.currencies import currency_check, stripe_currencies
from stripe2sf.domain.setup.doctor import (
    ORG_QUERY,
    Check,
    UserView,
    access_checks,
    api_version_check,
    budget_check,
    mixed_modes,
    stripe_key_check,
    stripe_mode,
    webhook_secret_check,
)
from stripe2sf.domain.setup.needs import integration_grants, needs
from stripe2sf.domain.soql import quote
from stripe2sf.domain.sources import CURRENCY_FIELD
from stripe2sf.engine.capture_status import capture_estimate
from stripe2sf.engine.doctor_capture import capture_access
from stripe2sf.engine.doctor_duplicates import duplicate_rules
from stripe2sf.engine.doctor_rules import org_rule_checks
from stripe2sf.engine.doctor_services import (
    database,
    salesforce_login_failure,
    stripe_api,
    webhook_endpoint,
)
from stripe2sf.engine.org_profile import org_config
from stripe2sf.salesforce.client import SalesforceClient, connect
from stripe2sf.settings import Settings
from stripe2sf.stripe.reader import StripeReader

RESERVE_SHARE = 0.2


def org_modes(client: SalesforceClient) -> tuple[bool, str]:
    [org] = client.query_all(ORG_QUERY) or [{}]
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


def whoami(client: SalesforceClient) -> tuple[str | None, str | None]:
    """(username, user id) of the session's user, from the OAuth userinfo endpoint."""
    try:
        body = client.userinfo()
    except SyncError:
        return None, None
    return body.get("preferred_username"), body.get("user_id")


def assigned_permission_sets(client: SalesforceClient, user_id: str) -> frozenset[str] | None:
    """Names of the permission sets assigned to the user (None when it may not read them)."""
    soql = (
        "SELECT PermissionSet.Name FROM PermissionSetAssignment "
        f"WHERE AssigneeId = {quote(user_id)}"
    )
    try:
        rows = client.query_all(soql)
    except SyncError:
        return None
    return frozenset(str((row.get("PermissionSet") or {}).get("Name")) for row in rows)


def user_view(
    client: SalesforceClient, config: SyncConfig, settings: Settings
) -> tuple[UserView, list[Check]]:
    """The configured user's describes of every object the configuration uses, and the checks
    of describes that failed for another reason than the object being out of its sight."""
    username, user_id = whoami(client)
    username = username or settings.salesforce_username or "the integration user"
    describes: dict[str, dict[str, Any] | None] = {}
    failures: list[Check] = []
    for sobject in sorted({need.sobject for need in needs(config)}):
        try:
            describes[sobject] = client.describe(sobject)
        except SyncError as exc:
            if exc.kind == "salesforce.NOT_FOUND":
                describes[sobject] = None
            else:
                failures.append(
                    Check(
                        sobject,
                        False,
                        str(exc),
                        "run `stripe2sf doctor` again; if it stays, check the org",
                    )
                )
    assigned = assigned_permission_sets(client, user_id) if user_id else None
    return UserView(username, describes, assigned), failures


def currencies(
    client: SalesforceClient, config: SyncConfig, view: UserView, settings: Settings
) -> Check:
    """The org's currencies against the Stripe account's (`domain.setup.currencies`)."""
    payment = view.describes.get(config.objects.payment_object)
    multi = has_field(payment, CURRENCY_FIELD)
    rows: list[dict[str, Any]] | None = None
    if multi:
        try:
            rows = client.query_all("SELECT IsoCode, IsActive, IsCorporate FROM CurrencyType")
        except SyncError:
            rows = None
    used: set[str] = set()
    if settings.stripe_key:
        reader = StripeReader(settings.stripe_key, settings.stripe_api_base, max_retries=0)
        try:
            for resource, params in (("charges", {"limit": 100}), ("prices", {"limit": 100})):
                page, _ = reader.list_page(resource, {**params})
                used |= stripe_currencies(page)
        except Exception:  # the Stripe check above says why Stripe cannot be read
            pass
    return currency_check(config, multi, rows, used)


def run_doctor(settings: Settings, config: SyncConfig) -> list[Check]:
    """Every check, in the order people fix things: keys and secrets, the database, Stripe and
    its webhook endpoint, then the org as stripe2sf's user sees it."""
    checks = [
        stripe_key_check(settings.stripe_key),
        webhook_secret_check(settings.stripe_webhook_secrets),
        database(settings),
    ]
    if settings.stripe_key:
        reader = StripeReader(settings.stripe_key, settings.stripe_api_base, max_retries=0)
        api = stripe_api(reader, settings)
        checks.append(api)
        if api.ok:
            checks.extend(webhook_endpoint(reader, settings))
    try:
        client = connect(settings)
    except SyncError as exc:
        checks.append(salesforce_login_failure(settings, exc))
        return checks
    with client:
        configured = config
        try:
            config = org_config(config, client)  # what this org is: what the sync will need
        except SyncError as exc:
            checks.append(Check("Salesforce org", False, str(exc), "run `stripe2sf doctor` again"))
        view, failures = user_view(client, config, settings)
        checks.append(
            Check(
                "Salesforce login",
                True,
                f"{client.login_mode} login to {client.instance_url} as {view.username} "
                "(the checks below are what this user may see and change)",
            )
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
        checks.extend(failures)
        checks.extend(access_checks(needs(config), view, integration_grants(config)))
        checks.append(currencies(client, config, view, settings))
        checks.append(account_model_check(configured, config, view.describes.get("Account")))
        checks.extend(org_rule_checks(client, config, view))
        checks.append(duplicate_rules(client, config))
        limits = client.limits()
        checks.append(budget_check(limits, RESERVE_SHARE))
        checks.append(capture_estimate(settings, limits))
        checks.extend(capture_access(settings, config, client, view.username))
    return checks
