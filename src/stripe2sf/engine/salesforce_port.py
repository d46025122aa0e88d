"""A Salesforce connection made on first use, so `serve` takes webhooks while Salesforce is
unreachable or misconfigured; until it can log in, events wait and are retried."""

from __future__ import annotations

import threading
from collections.abc import Sequence
from typing import Any

from stripe2sf.domain.batch.calls import SalesforceCall
from stripe2sf.domain.batch.results import ExecutionResult
from stripe2sf.domain.errors import PermanentError, RetryableError
from stripe2sf.engine.doctor import interlock_problem
from stripe2sf.salesforce.client import SalesforceClient, connect
from stripe2sf.settings import Settings


class LazySalesforce:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.api_version = settings.salesforce_api_version.lstrip("v")
        self._client: SalesforceClient | None = None
        self._lock = threading.Lock()

    @property
    def client(self) -> SalesforceClient:
        with self._lock:
            if self._client is None:
                try:
                    client = connect(self.settings)
                except PermanentError as exc:
                    # A login problem is the configuration's, not the event's: keep it queued.
                    raise RetryableError(
                        f"cannot log in to Salesforce: {exc}", kind="salesforce.login"
                    ) from exc
                problem = (
                    None
                    if self.settings.allow_mixed_modes
                    else interlock_problem(self.settings, client)
                )
                if problem:
                    client.close()
                    raise RetryableError(
                        f"refusing to sync {problem}; set STRIPE2SF_ALLOW_MIXED_MODES=true "
                        "if that is intended",
                        kind="interlock",
                    )
                self._client = client
            return self._client

    @property
    def connected(self) -> SalesforceClient | None:
        return self._client

    def query_all(self, soql: str) -> list[dict[str, Any]]:
        return self.client.query_all(soql)

    def query_many(self, soqls: Sequence[str]) -> list[list[dict[str, Any]]]:
        return self.client.query_many(soqls)

    def execute(self, calls: Sequence[SalesforceCall]) -> ExecutionResult:
        return self.client.execute(calls)

    def describe(self, sobject: str) -> dict[str, Any]:
        return self.client.describe(sobject)

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
