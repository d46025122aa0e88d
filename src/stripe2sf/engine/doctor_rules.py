"""`stripe2sf doctor` on the org's rules: read what `domain.setup.org_rules` decides on (the
configured user's describes, the Tooling API's active ValidationRule rows, the picklist values
of the record types stripe2sf's records get)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from stripe2sf.domain.config import SyncConfig
from stripe2sf.domain.errors import SyncError
from stripe2sf.domain.setup.doctor import Check, UserView
from stripe2sf.domain.setup.org_rules import (
    CUSTOM_OBJECTS_QUERY,
    VALIDATION_RULES_QUERY,
    object_names,
    record_type_checks,
    record_type_ids,
    required_field_checks,
    validation_rule_checks,
)
from stripe2sf.salesforce.client import SalesforceClient


def org_rule_checks(client: SalesforceClient, config: SyncConfig, view: UserView) -> list[Check]:
    checks = required_field_checks(config, view.describes)
    rules: Sequence[Mapping[str, Any]] | None
    try:
        rules = client.tooling_query_all(VALIDATION_RULES_QUERY)
        names = object_names(client.tooling_query_all(CUSTOM_OBJECTS_QUERY))
        problem = None
    except SyncError as exc:
        rules, names, problem = None, {}, str(exc)
    checks += validation_rule_checks(config, rules, names, problem)
    allowed: dict[str, dict[str, list[str]]] = {}
    for sobject, record_type in record_type_ids(config, view.describes).items():
        try:
            allowed[sobject] = client.picklist_values(sobject, record_type)
        except SyncError as exc:
            checks.append(
                Check(
                    f"record type of {sobject}",
                    True,
                    f"its picklist values could not be read ({exc})",
                    "check them in Setup > Object Manager > Record Types",
                    warning=True,
                )
            )
    checks += record_type_checks(config, view.describes, allowed)
    return checks
