"""`stripe2sf doctor` decisions: each check with what to do when it fails. Pure: the I/O code
hands in what it read (keys, describes, limits, the org's type)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from stripe2sf.domain.config import SyncConfig
from stripe2sf.domain.setup.schema import required_fields


@dataclass(frozen=True)
class Check:
    name: str
    ok: bool
    detail: str
    fix: str = ""


def stripe_mode(key: str | None) -> str | None:
    """'live', 'test', or None for a missing or unknown key."""
    if not key:
        return None
    for prefix, mode in (
        ("sk_live_", "live"),
        ("rk_live_", "live"),
        ("sk_test_", "test"),
        ("rk_test_", "test"),
    ):
        if key.startswith(prefix):
            return mode
    return None


def stripe_key_check(key: str | None) -> Check:
    mode = stripe_mode(key)
    if mode is None:
        return Check(
            "Stripe API key",
            False,
            "missing or not a Stripe secret/restricted key",
            "set STRIPE_API_KEY to an sk_test_/sk_live_ (or rk_) key from the Stripe Dashboard",
        )
    return Check("Stripe API key", True, f"{mode} mode key")


def webhook_secret_check(secrets: Sequence[str]) -> Check:
    if not secrets:
        return Check(
            "webhook signing secret",
            False,
            "STRIPE_WEBHOOK_SECRET is not set: every webhook would be refused",
            "copy the endpoint's signing secret (whsec_...) from Stripe into STRIPE_WEBHOOK_SECRET",
        )
    return Check("webhook signing secret", True, f"{len(secrets)} secret(s) configured")


def mixed_modes(stripe_live: bool, org_is_sandbox: bool, org_type: str) -> str | None:
    """Why a Stripe mode and a Salesforce org do not belong together, or None.

    Live payments belong in a production org; test payments never go to a production org
    (Developer Edition orgs count as test orgs)."""
    developer = "developer" in org_type.lower()
    if stripe_live and (org_is_sandbox or developer):
        return (
            f"a live Stripe key with a Salesforce {'sandbox' if org_is_sandbox else org_type} org"
        )
    if not stripe_live and not org_is_sandbox and not developer:
        return "a test Stripe key with a production Salesforce org"
    return None


def api_version_check(wanted: str, available: Sequence[str]) -> Check:
    wanted = wanted.lstrip("v")
    if wanted in available:
        return Check("Salesforce API version", True, f"v{wanted} is available")
    newest = max(available, key=lambda v: float(v)) if available else "none"
    return Check(
        "Salesforce API version",
        False,
        f"v{wanted} is not offered by this org (newest: v{newest})",
        f"set SALESFORCE_API_VERSION to {newest} or another listed version",
    )


def field_checks(
    config: SyncConfig, describes: Mapping[str, Mapping[str, Any] | None]
) -> list[Check]:
    """Every field stripe2sf writes exists, is writable by the integration user, and every
    picklist value it writes is allowed."""
    checks: list[Check] = []
    deploy = "run `stripe2sf metadata --out DIR` and `sf project deploy start -d DIR`"
    for spec in required_fields(config):
        where = f"{spec.sobject}.{spec.name}"
        describe = describes.get(spec.sobject)
        if describe is None:
            checks.append(Check(where, False, f"object {spec.sobject} not found", deploy))
            continue
        fields = {f["name"]: f for f in describe.get("fields", [])}
        found = fields.get(spec.name)
        if found is None:
            checks.append(Check(where, False, f"field missing (expected {spec.type})", deploy))
            continue
        if not (found.get("createable") or found.get("updateable")):
            checks.append(
                Check(
                    where,
                    False,
                    "the integration user cannot write this field",
                    "assign the stripe2sf integration permission set to the integration user",
                )
            )
            continue
        allowed = {
            p.get("value") for p in found.get("picklistValues") or [] if p.get("active", True)
        }
        missing = [v for v in spec.values if allowed and v not in allowed]
        if missing:
            checks.append(
                Check(
                    where,
                    False,
                    f"picklist lacks {', '.join(missing)}",
                    f"add the values to the picklist, or {deploy}",
                )
            )
            continue
        checks.append(Check(where, True, "present and writable"))
    return checks


def daily_api(limits: Mapping[str, Any]) -> tuple[int, int]:
    """(allocation, remaining) of the org's daily API requests from a /limits answer; the
    allocation is 0 when the answer lacks it."""
    daily = limits.get("DailyApiRequests") or {}
    return int(daily.get("Max", 0)), int(daily.get("Remaining", 0))


def budget_check(limits: Mapping[str, Any], reserve_share: float) -> Check:
    maximum, remaining = daily_api(limits)
    if maximum <= 0:
        return Check(
            "Salesforce API budget",
            False,
            "no DailyApiRequests in /limits",
            "check the user's API access",
        )
    reserved = int(maximum * reserve_share)
    usable = remaining - reserved
    ok = usable > 0
    return Check(
        "Salesforce API budget",
        ok,
        f"{remaining:,} of {maximum:,} calls left today; {reserved:,} kept for other integrations",
        "" if ok else "wait for the 24-hour window to roll, or lower the reserved share",
    )
