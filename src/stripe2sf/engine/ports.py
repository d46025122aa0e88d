"""The boundaries the sync pipeline talks to: Stripe reads and Salesforce calls (the real
clients in `stripe2sf.stripe` and `stripe2sf.salesforce`; tests use the same ones against the
sandboxes)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Protocol

from stripe2sf.domain.audit import OpOutcome
from stripe2sf.domain.batch.calls import SalesforceCall
from stripe2sf.domain.context import Lookup


class StripePort(Protocol):
    def answer(self, lookup: Lookup) -> Any: ...


class SalesforceResult(Protocol):
    """What the Salesforce boundary answers for a list of calls."""

    @property
    def outcomes(self) -> Mapping[str, OpOutcome]: ...

    @property
    def retry_after(self) -> float | None: ...

    def raise_for_failures(self) -> None: ...


class SalesforcePort(Protocol):
    api_version: str

    def query_all(self, soql: str) -> list[dict[str, Any]]: ...

    def query_many(self, soqls: Sequence[str]) -> list[list[dict[str, Any]]]: ...

    def execute(self, calls: Sequence[SalesforceCall]) -> SalesforceResult: ...

    def describe(self, sobject: str) -> dict[str, Any]: ...
