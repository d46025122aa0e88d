"""query_all (paging), describe, limits, query errors, and API usage read from the
Sforce-Limit-Info header of every answer."""

from __future__ import annotations

import json
from typing import Any

import pytest

from salesforce_sandbox.testing import SandboxServer
from stripe2sf.domain.batch.calls import batch
from stripe2sf.domain.config import default_config
from stripe2sf.domain.context import Lookup, LookupKind, PlanContext
from stripe2sf.domain.errors import PermanentError
from stripe2sf.domain.events import parse_event
from stripe2sf.domain.flows.lookups import context_for, lookups_needed
from stripe2sf.domain.flows.planner import plan
from stripe2sf.domain.operations import Operation
from stripe2sf.salesforce import SalesforceClient
from tests.integration.salesforce_org import client, org, salesforce_org

__all__ = ["client", "org", "salesforce_org"]

from tests.support.reference import STRIPE_EVENTS

EVENTS = STRIPE_EVENTS


def test_query_all_follows_every_page(client: SalesforceClient, org: SandboxServer) -> None:
    org.seed(
        [{"Name": f"Seeded {i:03d}", "Stripe_Customer_Id__c": f"cus_seed{i}"} for i in range(450)],
        sobject="Account",
    )
    org.reset_requests()
    rows = client.query_all("SELECT Id, Name FROM Account ORDER BY Name", batch_size=200)
    assert len(rows) == 450
    assert rows[0]["Name"] == "Seeded 000" and rows[-1]["Name"] == "Seeded 449"
    assert len({r["Id"] for r in rows}) == 450
    by_endpoint = org.requests()["by_endpoint"]
    assert by_endpoint == {"GET /query": 1, "GET /query/{locator}": 2}
    assert client.usage().calls[("query", "ok")] == 3


def test_query_errors_are_permanent(client: SalesforceClient) -> None:
    with pytest.raises(PermanentError) as caught:
        client.query_all("SELECT Nope__c FROM Account")
    assert caught.value.kind == "salesforce.INVALID_FIELD"
    with pytest.raises(PermanentError) as caught:
        client.query_all("SELECT Id FORM Account")
    assert caught.value.kind == "salesforce.MALFORMED_QUERY"
    assert client.usage().calls[("query", "permanent")] == 2


def test_lookup_soql_from_the_planner_runs(client: SalesforceClient, org: SandboxServer) -> None:
    """Hydrate a real event like the worker does: every SOQL the planner asks for runs."""
    event = json.loads((EVENTS / "stripe-sync-engine/charge_succeeded.json").read_text())
    view = parse_event(event)
    config = default_config()
    ctx: PlanContext = context_for(config)
    org.seed([{"LastName": "Known", "Email": "known@example.com"}], sobject="Contact")
    soql: list[str] = []
    for _ in range(8):
        needed = [x for x in lookups_needed(view, config, ctx) if not ctx.has(x.kind, x.key)]
        if not needed:
            break
        answers: dict[Lookup, Any] = {}
        for lookup in needed:
            if lookup.is_salesforce:
                soql.append(lookup.soql or "")
                answers[lookup] = client.query_all(lookup.soql or "")
            elif lookup.kind == LookupKind.LEDGER:
                answers[lookup] = None
            else:  # a Stripe object: a customer with the seeded Contact's email
                answers[lookup] = {
                    "id": lookup.key,
                    "object": "customer",
                    "email": "known@example.com",
                }
        ctx = ctx.with_results(answers)
    assert soql, "the planner asked for no Salesforce lookup"
    the_plan = plan(view, ctx, config)
    assert the_plan.operations


def test_describe_and_limits(client: SalesforceClient) -> None:
    described = client.describe("Account")
    fields = {f["name"]: f for f in described["fields"]}
    assert fields["Stripe_Customer_Id__c"]["externalId"] is True
    values = {v["value"] for v in fields["Subscription_Status__c"]["picklistValues"]}
    assert {"Active", "Past Due", "Canceled"} <= values
    with pytest.raises(PermanentError):
        client.describe("Nope__c")
    limits = client.limits()
    assert limits["DailyApiRequests"]["Max"] == 100_000


def test_api_usage_is_read_from_headers(client: SalesforceClient, org: SandboxServer) -> None:
    org.set_limits(daily_limit=15000, used=1234)
    client.query_all("SELECT Id FROM Account")
    snap = client.usage()
    assert (snap.used, snap.limit) == (1235, 15000)
    assert snap.fraction_used == pytest.approx(1235 / 15000)
    ops = [Operation("a", "upsert", "Account", "Stripe_Customer_Id__c", "cus_u", {"Name": "U"})]
    client.execute(batch(ops, api_version=f"v{client.api_version}"))
    snap = client.usage()
    assert snap.used == 1236
    assert snap.calls[("rest", "ok")] == 1 and snap.calls[("login", "ok")] == 1
    assert snap.seen_at is not None
    assert snap.to_dict()["limit"] == 15000
    # the header agrees with the limits resource
    limits = client.limits()["DailyApiRequests"]
    assert limits["Max"] - limits["Remaining"] == client.usage().used
