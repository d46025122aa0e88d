from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from stripe2sf.domain.config import default_config, from_mapping
from stripe2sf.domain.setup.doctor import (
    DEPLOY_COMMAND,
    GENERATE_COMMAND,
    ORG_ALIAS,
    PERMISSION_SET,
    Check,
    Grants,
    UserView,
    access_checks,
    api_version_check,
    assign_command,
    budget_check,
    mixed_modes,
    stripe_key_check,
    stripe_mode,
    webhook_secret_check,
)
from stripe2sf.domain.setup.needs import integration_grants, needs, soql_reads

README = Path(__file__).resolve().parents[2] / "README.md"
USER = "integration@sandbox.example.com"


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


def test_budget() -> None:
    ok = budget_check({"DailyApiRequests": {"Max": 15000, "Remaining": 9000}}, 0.2)
    assert ok.ok and "9,000 of 15,000" in ok.detail
    low = budget_check({"DailyApiRequests": {"Max": 15000, "Remaining": 2000}}, 0.2)
    assert not low.ok


# ---- what a configuration needs ---------------------------------------------------------


def test_soql_reads_selected_filtered_and_parent_fields() -> None:
    sobject, reads = soql_reads(
        "SELECT Id, Email, Account.Stripe_Customer_Id__c FROM Contact "
        "WHERE Email IN ('a@x.example', 'it''s = b') AND Status__c != null ORDER BY CreatedDate"
    )
    assert sobject == "Contact"
    assert reads == [
        ("Contact", "Id"),
        ("Contact", "Email"),
        ("Contact", "AccountId"),
        ("Account", "Stripe_Customer_Id__c"),
        ("Contact", "Status__c"),
        ("Contact", "CreatedDate"),
    ]
    _, reads = soql_reads("SELECT Id FROM Task WHERE Key__c LIKE 'in\\_1:%' AND IsClosed = false")
    assert reads == [("Task", "Id"), ("Task", "Key__c"), ("Task", "IsClosed")]


def _by_where(config: Any = None) -> dict[str, Any]:
    return {n.where: n for n in needs(config or default_config())}


def test_needs_cover_writes_reads_and_matching() -> None:
    found = _by_where()
    assert found["Account"].rights == {"read", "create", "edit"}
    assert found["Task"].rights == {"read", "create", "edit"}  # dunning and review Tasks
    assert found["Account.MRR__c"].rights == {"read", "edit"}
    assert "mapping subscription.mrr" in found["Account.MRR__c"].why
    assert found["Contact.AccountId"].rights == {"read", "edit"}  # the planner links them
    assert found["Case.Subject"].rights == {"read", "edit"}  # dispute Cases
    assert found["Contact.Email"].rights == {"read", "edit"}
    assert found["Account.Name"].create_only and not found["Account.MRR__c"].create_only
    assert found["Account.LastActivityDate"].rights == {"read"}  # lookups read it
    assert found["Organization.IsSandbox"].rights == {"read"}  # the interlock
    assert "Paused" in found["Account.Subscription_Status__c"].values
    assert "Account.Website" not in found and "Group" not in found
    by_domain = from_mapping(
        {
            "matching": {"by_domain": True},
            "failed_payments": {"record": "case", "owner": "queue", "queue": "Collections"},
        }
    )
    found = _by_where(by_domain)
    assert found["Account.Website"].rights == {"read"}
    assert found["Group.DeveloperName"].rights == {"read"}
    assert found["Case.Stripe_Resolved_At__c"].rights == {"read", "edit"}


# ---- the user's describes against those needs -------------------------------------------


def _full_view(**overrides: Any) -> dict[str, dict[str, Any]]:
    """Describes in which the user sees and may change everything stripe2sf needs."""
    describes: dict[str, dict[str, Any]] = {}
    for need in needs(default_config()):
        obj = describes.setdefault(
            need.sobject,
            {"name": need.sobject, "createable": True, "updateable": True, "fields": []},
        )
        if need.field:
            field: dict[str, Any] = {"name": need.field, "createable": True, "updateable": True}
            if need.values:
                field["picklistValues"] = [{"value": v, "active": True} for v in need.values]
            obj["fields"].append(field)
    return describes


def _field(describes: dict[str, Any], where: str) -> dict[str, Any]:
    sobject, name = where.split(".")
    return next(f for f in describes[sobject]["fields"] if f["name"] == name)


def _drop(describes: dict[str, Any], where: str) -> None:
    describes[where.split(".")[0]]["fields"].remove(_field(describes, where))


def _failed(
    describes: dict[str, Any], assigned: frozenset[str] | None = None, grants: Grants | None = None
) -> dict[str, Check]:
    view = UserView(USER, describes, assigned)
    checks = access_checks(
        needs(default_config()), view, grants or integration_grants(default_config())
    )
    return {c.name: c for c in checks if not c.ok}


def test_a_user_with_every_permission_passes_one_check_per_object() -> None:
    describes = _full_view()
    view = UserView(USER, describes, frozenset({PERMISSION_SET}))
    checks = access_checks(needs(default_config()), view, integration_grants(default_config()))
    assert all(c.ok for c in checks), [c for c in checks if not c.ok]
    names = [c.name for c in checks]
    assert names[0] == f"permission set {PERMISSION_SET}"
    assert set(names[1:]) == set(describes)


def test_a_field_the_user_cannot_edit_names_the_permission_and_the_fix() -> None:
    describes = _full_view()
    _field(describes, "Account.MRR__c").update(createable=False, updateable=False)
    failed = _failed(describes)
    check = failed["Account.MRR__c"]
    assert "can read but not edit" in check.detail and "mapping subscription.mrr" in check.detail
    assert check.fix.startswith(f"{PERMISSION_SET} lacks Edit on Account.MRR__c: redeploy")
    assert GENERATE_COMMAND in check.fix and DEPLOY_COMMAND in check.fix
    assert assign_command(USER) in check.fix
    assert list(failed) == ["Account.MRR__c"]
    # a field nothing can make writable is not a permission problem
    _field(describes, "Account.MRR__c")["permissionable"] = False
    assert "map to another field" in _failed(describes)["Account.MRR__c"].fix


def test_a_custom_field_out_of_sight_may_be_missing_or_hidden() -> None:
    describes = _full_view()
    _drop(describes, "Account.Billing_Status__c")
    check = _failed(describes)["Account.Billing_Status__c"]
    assert f"field not visible to {USER}" in check.detail
    assert "cannot tell which" in check.fix
    assert "does not exist in the org: deploy stripe2sf's metadata" in check.fix
    assert f"{PERMISSION_SET} lacks Read and Edit on Account.Billing_Status__c" in check.fix
    assert DEPLOY_COMMAND in check.fix and assign_command(USER) in check.fix


def test_a_standard_field_or_object_out_of_sight_is_a_permission() -> None:
    describes = _full_view()
    _drop(describes, "Contact.AccountId")
    describes["Case"] = None  # type: ignore[assignment]
    failed = _failed(describes)
    assert "cannot tell" not in failed["Contact.AccountId"].fix
    assert failed["Contact.AccountId"].fix.startswith(
        f"{PERMISSION_SET} lacks Read and Edit on Contact.AccountId"
    )
    assert failed["Case"].detail.startswith(f"object not visible to {USER}")
    assert failed["Case"].fix.startswith(f"{PERMISSION_SET} lacks Read, Create and Edit on Case")
    assert not any(name.startswith("Case.") for name in failed)  # judged as a whole

    describes = _full_view()
    describes["Stripe_Payment__c"] = None  # type: ignore[assignment]
    fix = _failed(describes)["Stripe_Payment__c"].fix
    assert "either the object Stripe_Payment__c does not exist in the org" in fix


def test_activities_need_the_edit_tasks_user_permission() -> None:
    describes = _full_view()
    describes["Task"].update(createable=False, updateable=False)
    check = _failed(describes)["Task"]
    assert "cannot create or edit Task records" in check.detail
    assert f"{PERMISSION_SET} lacks the Edit Tasks user permission" in check.fix


def test_a_gap_in_the_generated_set_is_told_apart_from_a_stale_or_unassigned_one() -> None:
    describes = _full_view()
    _drop(describes, "Contact.AccountId")
    generated = integration_grants(default_config())
    fields = {k: v for k, v in generated.fields.items() if k != "Contact.AccountId"}
    gap = Grants(generated.objects, fields, generated.user_permissions)
    fix = _failed(describes, grants=gap)["Contact.AccountId"].fix
    assert "that `stripe2sf metadata` generates does not grant it" in fix
    assert "redeploy" not in fix

    unassigned = _failed(describes, assigned=frozenset({"Other_Set"}))
    check = unassigned[f"permission set {PERMISSION_SET}"]
    assert f"not assigned to {USER} (assigned: Other_Set)" in check.detail
    assert assign_command(USER) in check.fix
    assert unassigned["Contact.AccountId"].fix.endswith(
        f"assign the permission set: `{assign_command(USER)}`"
    )


def test_picklist_values_missing_in_the_org() -> None:
    describes = _full_view()
    _field(describes, "Account.Subscription_Status__c")["picklistValues"] = [
        {"value": "Active", "active": True}
    ]
    check = _failed(describes)["Account.Subscription_Status__c"]
    assert "Paused" in check.detail and GENERATE_COMMAND in check.fix


def test_the_hints_are_the_readmes_commands() -> None:
    """The deploy and assign commands doctor prints are those of README's set-up, with its
    example org alias and user."""
    readme = " ".join(README.read_text(encoding="utf-8").split())
    example = "integration@example.com"
    for command in (GENERATE_COMMAND, DEPLOY_COMMAND, assign_command(example)):
        assert command.replace(ORG_ALIAS, "my-sandbox") in readme, command
    assert re.search(r"--on-behalf-of integration@example\.com", readme)
