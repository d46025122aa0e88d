"""`stripe2sf doctor` on duplicate rules: read the active DuplicateRule and MatchingRule records
as the configured user; `domain.setup.duplicate_rules` says what they mean for the sync."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from stripe2sf.domain.config import SyncConfig
from stripe2sf.domain.errors import SyncError
from stripe2sf.domain.setup.doctor import Check
from stripe2sf.domain.setup.duplicate_rules import (
    DUPLICATE_RULES_QUERY,
    MATCHING_RULES_QUERY,
    duplicate_rules_check,
)
from stripe2sf.salesforce.client import SalesforceClient


def duplicate_rules(client: SalesforceClient, config: SyncConfig) -> Check:
    try:
        rules: Sequence[Mapping[str, Any]] | None = client.query_all(DUPLICATE_RULES_QUERY)
    except SyncError as exc:
        return duplicate_rules_check(config, None, None, str(exc))
    matching: Sequence[Mapping[str, Any]] | None
    try:
        matching = client.query_all(MATCHING_RULES_QUERY) if rules else []
    except SyncError:
        matching = None  # the rules are listed without what they compare
    return duplicate_rules_check(config, rules, matching)
