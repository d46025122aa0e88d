from __future__ import annotations

from stripe2sf.domain.config import default_config
from stripe2sf.domain.setup.doctor import (
    api_version_check,
    budget_check,
    field_checks,
    mixed_modes,
    stripe_key_check,
    stripe_mode,
    webhook_secret_check,
)
from stripe2sf.domain.setup.schema import required_fields


def test_stripe_modes() -> None:
    assert stripe_mode("sk_live_x") == "live" and stripe_mode("rk_live_x") == "live"
    assert stripe_mode("sk_test_x") == "test" and stripe_mode("pk_test_x") is None
    assert not stripe_key_check(None).ok and "STRIPE_API_KEY" in stripe_key_check(None).fix
    assert stripe_key_check("sk_test_1").detail == "test mode key"


def test_interlock_pairs() -> None:
    assert mixed_modes(True, False, "Enterprise Edition") is None
    assert mixed_modes(False, True, "Enterprise Edition") is None
    assert mixed_modes(False, False, "Developer Edition") is None
    assert "live Stripe key" in (mixed_modes(True, True, "Enterprise Edition") or "")
    assert "live Stripe key" in (mixed_modes(True, False, "Developer Edition") or "")
    assert "production" in (mixed_modes(False, False, "Unlimited Edition") or "")


def test_webhook_secret_and_api_version() -> None:
    assert not webhook_secret_check([]).ok
    assert webhook_secret_check(["whsec_1"]).ok
    assert api_version_check("62.0", ["61.0", "62.0"]).ok
    bad = api_version_check("99.0", ["61.0", "62.0"])
    assert not bad.ok and "62.0" in bad.fix


def _describe(fields: list[dict]) -> dict:
    return {"fields": fields}


def test_field_checks_find_missing_unwritable_and_picklist_gaps() -> None:
    config = default_config()
    specs = required_fields(config)
    describes: dict = {}
    for spec in specs:
        field = {"name": spec.name, "createable": True, "updateable": True}
        if spec.values:
            field["picklistValues"] = [{"value": v, "active": True} for v in spec.values]
        describes.setdefault(spec.sobject, {"fields": []})["fields"].append(field)
    assert all(c.ok for c in field_checks(config, describes))

    status = next(s for s in specs if s.name == "Subscription_Status__c")
    account = describes["Account"]["fields"]
    account[:] = [f for f in account if f["name"] != "Billing_Status__c"]
    for f in account:
        if f["name"] == status.name:
            f["picklistValues"] = [{"value": "Active", "active": True}]
        if f["name"] == "Stripe_Customer_Id__c":
            f["createable"] = f["updateable"] = False
    failed = {c.name: c for c in field_checks(config, describes) if not c.ok}
    assert "field missing" in failed["Account.Billing_Status__c"].detail
    assert "stripe2sf metadata" in failed["Account.Billing_Status__c"].fix
    assert "Paused" in failed["Account.Subscription_Status__c"].detail
    assert "permission set" in failed["Account.Stripe_Customer_Id__c"].fix


def test_budget() -> None:
    ok = budget_check({"DailyApiRequests": {"Max": 15000, "Remaining": 9000}}, 0.2)
    assert ok.ok and "9,000 of 15,000" in ok.detail
    low = budget_check({"DailyApiRequests": {"Max": 15000, "Remaining": 2000}}, 0.2)
    assert not low.ok
