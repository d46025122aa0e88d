"""`stripe2sf doctor` on duplicate rules (pure): which active duplicate rules of Account and
Contact the configured user can see, what their matching rules compare, and what stripe2sf
does when one refuses to create a customer's record (`domain.matching.duplicates`)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from stripe2sf.domain.config import SyncConfig
from stripe2sf.domain.setup.doctor import Check

NAME = "duplicate rules"
DUPLICATE_RULES_QUERY = (
    "SELECT DeveloperName, MasterLabel, SobjectType FROM DuplicateRule "
    "WHERE IsActive = true AND SobjectType IN ('Account', 'Contact') "
    "ORDER BY SobjectType, DeveloperName"
)
MATCHING_RULES_QUERY = (
    "SELECT DeveloperName, SobjectType, (SELECT Field FROM MatchingRuleItems) "
    "FROM MatchingRule WHERE RuleStatus = 'Active' AND SobjectType IN ('Account', 'Contact') "
    "ORDER BY SobjectType, DeveloperName"
)


def _fields(row: Mapping[str, Any]) -> list[str]:
    items = row.get("MatchingRuleItems")
    records = items.get("records") if isinstance(items, Mapping) else None
    return [str(i.get("Field")) for i in records or [] if isinstance(i, Mapping)]


def handling(config: SyncConfig) -> str:
    """What stripe2sf does with a create a duplicate rule refuses, as configured."""
    if config.matching.on_duplicate == "review":
        return (
            "a create one of them refuses is never saved anyway (no allowSave): the customer "
            "goes to the review queue (a Task naming the rule and the records it matched; "
            '[matching] on_duplicate = "review")'
        )
    return (
        "a create one of them refuses is never saved anyway (no allowSave): stripe2sf links "
        "the one record the rule matched and plans the event again by its Id; several "
        "matches, or one that is another Stripe customer's, go to the review queue "
        '([matching] on_duplicate = "link")'
    )


def duplicate_rules_check(
    config: SyncConfig,
    rules: Sequence[Mapping[str, Any]] | None,
    matching: Sequence[Mapping[str, Any]] | None,
    problem: str | None = None,
) -> Check:
    """A passing check that says which rules are on and how stripe2sf handles them; when
    the rules cannot be read, it says that and how they would be handled."""
    if rules is None:
        return Check(
            NAME,
            True,
            f"the DuplicateRule records could not be read ({problem or 'no answer'}); if "
            f"Account or Contact have active rules, {handling(config)}",
            "give stripe2sf's user View Setup and Configuration to have them listed here",
        )
    if not rules:
        return Check(NAME, True, "no active duplicate rule on Account or Contact")
    compares: dict[str, list[str]] = {}
    for row in matching or ():
        fields = _fields(row)
        if fields:
            compares.setdefault(str(row.get("SobjectType")), []).append(
                f"{row.get('DeveloperName')} compares {', '.join(fields)}"
            )
    parts = []
    for sobject in ("Account", "Contact"):
        names = [str(r.get("DeveloperName")) for r in rules if r.get("SobjectType") == sobject]
        if names:
            text = f"{sobject}: {', '.join(names)}"
            if compares.get(sobject):
                text += f" (matching rules: {'; '.join(compares[sobject])})"
            parts.append(text)
    return Check(NAME, True, f"active on {' / '.join(parts)}; {handling(config)}")
