"""Faults injected through the sandbox control plane map to the right domain errors, and a
whole-call failure stops the calls after it."""

from __future__ import annotations

import time

import pytest

from salesforce_sandbox.testing import SandboxServer
from stripe2sf.domain.batch.calls import batch
from stripe2sf.domain.errors import PermanentError, RateLimitedError, RetryableError
from stripe2sf.domain.operations import Operation
from stripe2sf.salesforce import SalesforceClient, connect
from tests.integration.salesforce_org import client, count, org, salesforce_org, settings_for

__all__ = ["client", "org", "salesforce_org"]

KEY = "Stripe_Customer_Id__c"


def account(op_id: str, customer: str) -> Operation:
    return Operation(op_id, "upsert", "Account", KEY, customer, {"Name": customer})


def two_accounts(sf: SalesforceClient) -> list:  # type: ignore[type-arg]
    return batch([account("a", "cus_f1"), account("b", "cus_f2")], api_version=f"v{sf.api_version}")


@pytest.mark.parametrize(
    ("mode", "error_type", "kind", "code"),
    [
        ("503", RetryableError, "salesforce.SERVER_UNAVAILABLE", "SERVER_UNAVAILABLE"),
        (
            "UNABLE_TO_LOCK_ROW",
            RetryableError,
            "salesforce.UNABLE_TO_LOCK_ROW",
            "UNABLE_TO_LOCK_ROW",
        ),
        (
            "REQUEST_LIMIT_EXCEEDED",
            RateLimitedError,
            "salesforce.REQUEST_LIMIT_EXCEEDED",
            "REQUEST_LIMIT_EXCEEDED",
        ),
    ],
)
def test_fault_maps_to_domain_error(
    client: SalesforceClient,
    org: SandboxServer,
    mode: str,
    error_type: type[RetryableError],
    kind: str,
    code: str,
) -> None:
    calls = two_accounts(client)
    assert calls[0].kind == "collection_upsert"
    org.add_fault("PATCH /composite/sobjects/{sobject}/{field}", mode, count=1)
    result = client.execute(calls)
    assert {o.code for o in result.outcomes.values()} == {code}
    assert result.verdict == ("rate_limited" if error_type is RateLimitedError else "retryable")
    with pytest.raises(error_type) as caught:
        result.raise_for_failures()
    assert caught.value.kind == kind
    assert not isinstance(caught.value, PermanentError)
    if error_type is RateLimitedError:
        assert caught.value.retry_after == 300  # type: ignore[attr-defined]
    # the fault fired once: the retry goes through and creates each record once
    again = client.execute(calls)
    assert again.ok and count(client, "Account") == 2


def test_whole_call_failure_stops_later_calls(client: SalesforceClient, org: SandboxServer) -> None:
    version = f"v{client.api_version}"
    calls = batch([account("a", "cus_s1")], api_version=version) + batch(
        [account("b", "cus_s2")], api_version=version
    )
    assert [c.kind for c in calls] == ["record_upsert", "record_upsert"]
    org.add_fault("PATCH /sobjects/{sobject}/{field}/{value}", "503", count=1)
    org.reset_requests()
    result = client.execute(calls)
    assert result.outcomes["a"].code == "SERVER_UNAVAILABLE"
    assert result.outcomes["b"].code == "NOT_ATTEMPTED"
    assert result.failures == {"a": "retryable", "b": "halted"}
    assert [c.status for c in result.calls] == [503, None]
    assert org.requests()["by_endpoint"] == {"PATCH /sobjects/{sobject}/{field}/{value}": 1}
    assert isinstance(result.error(), RetryableError)


def test_timeout_is_retryable(org: SandboxServer) -> None:
    with connect(settings_for(org), timeout=(5.0, 0.3)) as sf:
        org.add_fault("POST /composite", "hang", count=1, hang_seconds=1.0, after="process")
        ops = [account("a", "cus_t1"), account("b", "cus_t2")]
        ops.append(
            Operation("c", "upsert", "Contact", KEY, "cus_t1", {"LastName": "T"}, depends_on=("a",))
        )
        calls = batch(ops, api_version=f"v{sf.api_version}")
        assert [c.kind for c in calls] == ["composite"]
        result = sf.execute(calls)
        assert {o.code for o in result.outcomes.values()} == {"TIMEOUT"}
        assert result.verdict == "retryable"
        with pytest.raises(RetryableError) as caught:
            result.raise_for_failures()
        assert caught.value.kind == "salesforce.TIMEOUT"
        time.sleep(1.0)  # the hung request goes on and commits its writes
        # the retry upserts the same records: nothing is created twice
        again = sf.execute(calls)
        assert again.ok and not any(o.created for o in again.outcomes.values())
        assert count(sf, "Account") == 2 and count(sf, "Contact") == 1


def test_exhausted_daily_allocation(client: SalesforceClient, org: SandboxServer) -> None:
    org.set_limits(daily_limit=1000, used=1000)
    with pytest.raises(RateLimitedError) as caught:
        client.query_all("SELECT Id FROM Account")
    assert caught.value.kind == "salesforce.REQUEST_LIMIT_EXCEEDED"
    assert caught.value.retry_after == 300
    result = client.execute(two_accounts(client))
    assert result.verdict == "rate_limited"
    assert client.usage().calls[("collections", "rate_limited")] == 1
