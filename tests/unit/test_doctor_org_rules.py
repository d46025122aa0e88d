"""doctor on the org's rules (pure): required fields stripe2sf does not fill, active validation
rules, the record type of the records it creates and the picklist values that allows."""

from __future__ import annotations

from typing import Any

import pytest

from stripe2sf.domain.config import ConfigError, SyncConfig, from_mapping
from stripe2sf.domain.org_profile import record_type_problem, resolved
from stripe2sf.domain.setup.access import integration_access
from stripe2sf.domain.setup.org_rules import (
    object_names,
    record_type_checks,
    record_type_ids,
    required_field_checks,
    validation_rule_checks,
    written_values,
)
from stripe2sf.domain.sources import mapped_fields

ENTERPRISE = "012000000000001AAA"
BASIC = "012000000000002AAA"


def field(name: str, **flags: Any) -> dict[str, Any]:
    return {"name": name, "nillable": True, "createable": True, "type": "string", **flags}


def infos(default: str | None = "Basic") -> list[dict[str, Any]]:
    rows = [("Basic", BASIC), ("Enterprise", ENTERPRISE), ("Master", "012000000000000AAA")]
    return [
        {
            "developerName": name,
            "recordTypeId": rid,
            "available": name != "Master" or default is None,
            "active": True,
            "master": name == "Master",
            "defaultRecordTypeMapping": name == (default or "Master"),
        }
        for name, rid in rows
    ]


def test_a_required_field_stripe2sf_never_fills_fails_with_its_fix() -> None:
    account = {
        "fields": [
            field("Name", nillable=False),  # stripe2sf maps the customer's name
            field("Region__c", nillable=False),
            field("Tier__c", nillable=False, defaultedOnCreate=True),  # a default fills it
            field("Active__c", nillable=False, type="boolean"),
            field("Number__c", nillable=False, createable=False),  # auto-number
            field("Notes__c"),
        ]
    }
    [check] = required_field_checks(SyncConfig(), {"Account": account, "Contact": None})
    assert (check.name, check.ok) == ("Account.Region__c", False)
    assert "REQUIRED_FIELD_MISSING" in check.detail
    assert '[[mappings]] target = "Account.Region__c"' in check.fix


def test_active_validation_rules_on_written_objects_are_warnings() -> None:
    names = object_names([{"Id": "01I000000000001AAA", "DeveloperName": "Stripe_Payment"}])
    rules = [
        {
            "ValidationName": "Needs_Site",
            "ErrorMessage": "Give the web site",
            "ErrorDisplayField": "Website",
            "EntityDefinitionId": "Account",
        },
        {
            "ValidationName": "Positive",
            "ErrorMessage": "Amounts are positive",
            "ErrorDisplayField": None,
            "EntityDefinitionId": "01I000000000001",
        },
        {"ValidationName": "Other", "ErrorMessage": "x", "EntityDefinitionId": "Lead"},
    ]
    checks = validation_rule_checks(SyncConfig(), rules, names)
    assert [(c.name, c.ok, c.warning) for c in checks] == [
        ("validation rule Account.Needs_Site", True, True),
        ("validation rule Stripe_Payment__c.Positive", True, True),
    ]
    assert '"Give the web site" (field Website)' in checks[0].detail
    assert checks[1].detail.endswith('"Amounts are positive"')
    [unread] = validation_rule_checks(SyncConfig(), None, {}, "INSUFFICIENT_ACCESS")
    assert unread.ok and unread.warning and "INSUFFICIENT_ACCESS" in unread.detail


def test_record_type_setting_is_checked_and_resolved() -> None:
    with pytest.raises(ConfigError, match=r'record_types\."Account"'):
        from_mapping({"record_types": {"Account": "not a name!"}})
    config = from_mapping({"record_types": {"Account": "Enterprise", "Case": BASIC[:15]}})
    assert config.record_type_id("Case") == BASIC[:15]
    assert config.record_type_id("Account") is None  # a name until the org is read
    ready = resolved(config, {"Account": {"recordTypeInfos": infos()}})
    assert ready.record_type_id("Account") == ENTERPRISE and record_type_problem(ready) is None
    values = {"customer.display_name": "Ada"}
    assert mapped_fields(ready, "customer", "Account", values, creating=True) == {
        "Name": "Ada",
        "RecordTypeId": ENTERPRISE,
    }
    assert "RecordTypeId" not in mapped_fields(ready, "customer", "Account", values, creating=False)
    # the generated permission set lets the integration user create them
    assert integration_access(config).record_types == ("Account.Enterprise",)
    missing = resolved(from_mapping({"record_types": {"Account": "Gone"}}), {"Account": None})
    problem = record_type_problem(missing)
    assert problem is not None and "Account = 'Gone'" in problem


def test_the_record_type_in_use_must_allow_the_values_stripe2sf_writes() -> None:
    status = SyncConfig().objects.billing_status_field
    assert {"Current", "Payment Overdue", "At Risk"} <= set(
        written_values(SyncConfig())[("Account", status)]
    )
    describe = {
        "recordTypeInfos": infos(),
        "fields": [{"name": status, "restrictedPicklist": True}],
    }
    allowed = {"Account": {status: ["Current", "At Risk"]}}
    # the default record type (Basic) is checked when none is configured
    assert record_type_ids(SyncConfig(), {"Account": describe}) == {"Account": BASIC}
    [lacking] = [
        c for c in record_type_checks(SyncConfig(), {"Account": describe}, allowed) if not c.ok
    ]
    assert lacking.name == f"Account.{status} in record type Basic"
    assert "Payment Overdue" in lacking.detail and "Record Types > Basic" in lacking.fix
    # an unrestricted picklist takes the value: a warning
    loose = {**describe, "fields": [{"name": status, "restrictedPicklist": False}]}
    [warned] = [
        c for c in record_type_checks(SyncConfig(), {"Account": loose}, allowed) if c.warning
    ]
    assert warned.ok
    configured = from_mapping({"record_types": {"Account": "Nope"}})
    [missing] = [c for c in record_type_checks(configured, {"Account": describe}, {}) if not c.ok]
    assert "available: Basic, Enterprise" in missing.detail
    # an object without record types: nothing to check
    plain = {"recordTypeInfos": infos(default=None)}
    assert record_type_ids(SyncConfig(), {"Account": plain}) == {}
