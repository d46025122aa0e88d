"""Read what decides the `[org]` "auto" settings (`domain.org_profile`): one describe per object
it needs, once per process."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol

import structlog

from stripe2sf.domain.config import SyncConfig
from stripe2sf.domain.errors import RetryableError, SyncError
from stripe2sf.domain.org_profile import (
    describes_needed,
    person_account_problem,
    record_type_problem,
    resolved,
)

log = structlog.get_logger(__name__)


class Describer(Protocol):
    def describe(self, sobject: str) -> dict[str, Any]: ...


def org_config(config: SyncConfig, salesforce: Describer) -> SyncConfig:
    """`config` as this org needs it. An object the user cannot see counts as absent (its
    writes will say so); any other failure is raised (the caller retries later)."""
    needed = describes_needed(config)
    if not needed:
        return config
    describes: dict[str, Mapping[str, Any] | None] = {}
    for sobject in needed:
        try:
            describes[sobject] = salesforce.describe(sobject)
        except SyncError as exc:
            if exc.kind != "salesforce.NOT_FOUND":
                raise
            describes[sobject] = None
    out = resolved(config, describes)
    log.info(
        "org_profile",
        multi_currency=out.multi_currency,
        account_model=out.org.account_model,
        read=needed,
    )
    problem = person_account_problem(out)
    if problem:  # the configuration's, not an event's: events wait until it is fixed
        raise RetryableError(problem, kind="config.person_record_type")
    problem = record_type_problem(out)
    if problem:
        raise RetryableError(problem, kind="config.record_type")
    return out
