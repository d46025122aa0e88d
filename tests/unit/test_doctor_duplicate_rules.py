"""doctor's duplicate rule check (domain.setup.duplicate_rules): what is on, what it
compares, and how stripe2sf handles a create a rule refuses."""

from __future__ import annotations

from stripe2sf.domain.config import SyncConfig, from_toml_text
from stripe2sf.domain.setup.duplicate_rules import duplicate_rules_check


def test_lists_active_rules_with_their_matching_fields_and_the_handling() -> None:
    rules = [
        {"DeveloperName": "Standard_Account_Duplicate_Rule", "SobjectType": "Account"},
        {"DeveloperName": "Contact_Name", "SobjectType": "Contact"},
    ]
    matching = [
        {
            "DeveloperName": "Contact_Name_Match",
            "SobjectType": "Contact",
            "MatchingRuleItems": {"records": [{"Field": "FirstName"}, {"Field": "LastName"}]},
        }
    ]
    check = duplicate_rules_check(SyncConfig(), rules, matching)
    assert check.ok
    assert check.detail.startswith(
        "active on Account: Standard_Account_Duplicate_Rule / Contact: Contact_Name "
        "(matching rules: Contact_Name_Match compares FirstName, LastName); "
    )
    assert "never saved anyway" in check.detail and 'on_duplicate = "link"' in check.detail
    review = from_toml_text('[matching]\non_duplicate = "review"\n')
    assert "goes to the review queue" in duplicate_rules_check(review, rules, None).detail


def test_no_rules_and_unreadable_rules() -> None:
    assert duplicate_rules_check(SyncConfig(), [], []).detail == (
        "no active duplicate rule on Account or Contact"
    )
    unreadable = duplicate_rules_check(SyncConfig(), None, None, "INVALID_TYPE: DuplicateRule")
    assert unreadable.ok and "could not be read (INVALID_TYPE: DuplicateRule)" in unreadable.detail
    assert "View Setup" in unreadable.fix
