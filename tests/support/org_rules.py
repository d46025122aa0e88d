"""The rules of a "validation rules on" org (the product's `stripe2sf.demo.org_rules`, which
`stripe2sf demo --org rules` deploys too): a flow test run on this org
(`sync_env(org_rules=ORG_RULES)`) proves every flow passes them, and `check_org_rules` that the
rules were really there."""

from __future__ import annotations

from typing import Any

from stripe2sf.demo.org_rules import DEFAULT_ACCOUNT_RECORD_TYPE, ORG_RULES, RULES

__all__ = ["ORG_RULES", "RULES", "check_org_rules"]


def check_org_rules(sf: Any) -> None:
    """The rules were in force: the org lists them, and stripe2sf's Accounts got the default
    record type and the required field's default."""
    found = sf.restful(
        "tooling/query",
        params={"q": "SELECT ValidationName FROM ValidationRule WHERE Active = true"},
    )["records"]
    assert {r["ValidationName"] for r in found} == {name for _, name in RULES}
    accounts = sf.query_all("SELECT RecordType.DeveloperName, Tier__c FROM Account")["records"]
    assert accounts, "the flow wrote no Account"
    assert {(a["RecordType"]["DeveloperName"], a["Tier__c"]) for a in accounts} == {
        (DEFAULT_ACCOUNT_RECORD_TYPE, "Standard")
    }
