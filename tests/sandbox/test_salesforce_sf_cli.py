"""The official Salesforce CLI (``sf``, tools/sf-cli) against the Salesforce sandbox with
stripe2sf's metadata deployed: login with an access token, org display/list, sObject describe
and list, data queries (aggregates, GROUP BY, subqueries, Tooling API), Bulk API 2.0 upsert
and export, limits and record counts.

One sandbox and one login for the module (each CLI command starts node: about a second).
Skipped when the CLI is not installed (``make sfcli``; npm unreachable).
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from pathlib import Path

import pytest

from salesforce_sandbox.testing import SandboxServer, run_sandbox
from stripe2sf.metadata_files import write_metadata
from tests.support.sf_cli import SfCli, sf_binary

ALIAS = "sbx"


@pytest.fixture(scope="module")
def org(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SandboxServer]:
    sf_binary()  # skip before starting anything
    metadata = tmp_path_factory.mktemp("stripe2sf-metadata")
    write_metadata(metadata)
    with run_sandbox(metadata=[metadata]) as server:
        accounts = server.seed(
            [
                {"Name": "Acme", "Subscription_Status__c": "Active", "AnnualRevenue": 100},
                {"Name": "Globex", "Subscription_Status__c": "Active", "AnnualRevenue": 300},
                {"Name": "Initech", "Subscription_Status__c": "Past Due"},
            ],
            sobject="Account",
        )
        server.seed(
            [
                {"LastName": "Smith", "AccountId": accounts[0]},
                {"LastName": "Jones", "AccountId": accounts[0]},
                {"LastName": "Zed", "AccountId": accounts[1]},
            ],
            sobject="Contact",
        )
        yield server


@pytest.fixture(scope="module")
def cli(org: SandboxServer, tmp_path_factory: pytest.TempPathFactory) -> SfCli:
    runner = SfCli.for_sandbox(tmp_path_factory.mktemp("sf-cli"), org)
    login = runner.login(org, ALIAS)
    assert login["username"] == org.username
    assert login["orgId"].startswith("00D") and login["isDevHub"] is False
    return runner


def _csv(text: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(text.strip())))


def _query_csv(cli: SfCli, soql: str) -> list[dict[str, str]]:
    return _csv(cli.text("data", "query", "-o", ALIAS, "--query", soql, "--result-format", "csv"))


def test_org_display_and_list(cli: SfCli, org: SandboxServer) -> None:
    shown = cli.json("org", "display", "--target-org", ALIAS)
    assert shown["connectedStatus"] == "Connected"
    assert shown["username"] == org.username
    assert shown["apiVersion"] == "66.0"
    assert shown["instanceUrl"].rstrip("/") == org.instance_url
    listed = cli.json("org", "list")
    (entry,) = [o for o in listed["nonScratchOrgs"] if o.get("alias") == ALIAS]
    assert entry["connectedStatus"] == "Connected"
    assert entry["isSandbox"] is False and entry["isScratch"] is False


def test_sobject_describe_and_list(cli: SfCli) -> None:
    account = cli.json("sobject", "describe", "--sobject", "Account", "-o", ALIAS)
    fields = {f["name"]: f for f in account["fields"]}
    assert fields["Stripe_Customer_Id__c"]["externalId"] is True
    assert "Active" in [p["value"] for p in fields["Subscription_Status__c"]["picklistValues"]]
    everything = cli.json("sobject", "list", "--sobject", "all", "-o", ALIAS)
    assert {"Account", "Contact", "Case", "Task", "Stripe_Payment__c"} <= set(everything)


def test_data_query_prints_aggregate_columns(cli: SfCli) -> None:
    assert _query_csv(cli, "SELECT COUNT(Id) FROM Account") == [{"count(Id)": "3"}]
    grouped = _query_csv(
        cli,
        "SELECT Subscription_Status__c, COUNT(Id), SUM(AnnualRevenue) FROM Account"
        " GROUP BY Subscription_Status__c ORDER BY Subscription_Status__c",
    )
    assert grouped == [
        {"Subscription_Status__c": "Active", "count(Id)": "2", "sum(AnnualRevenue)": "400"},
        {"Subscription_Status__c": "Past Due", "count(Id)": "1", "sum(AnnualRevenue)": ""},
    ]
    # the human table names an aliased aggregate by its alias (the CLI's CSV does not)
    aliased = cli.text(
        "data", "query", "-o", ALIAS, "--query", "SELECT MAX(Name) latest FROM Account"
    )
    assert "LATEST" in aliased and "Initech" in aliased


def test_data_query_prints_subquery_and_parent_columns(cli: SfCli) -> None:
    rows = _query_csv(
        cli,
        "SELECT Name, Owner.Name, (SELECT LastName FROM Contacts ORDER BY LastName)"
        " FROM Account ORDER BY Name",
    )
    assert [r["Name"] for r in rows] == ["Acme", "Globex", "Initech"]
    assert {r["Owner.Name"] for r in rows} == {"Admin User"}
    assert rows[0]["Contacts.totalSize"] == "2"
    assert (rows[0]["Contacts.records.0.LastName"], rows[0]["Contacts.records.1.LastName"]) == (
        "Jones",
        "Smith",
    )
    assert rows[1]["Contacts.records.0.LastName"] == "Zed"
    assert rows[2]["Contacts.totalSize"] == ""


def test_bulk_upsert_export_and_limits(cli: SfCli, org: SandboxServer, tmp_path: Path) -> None:
    data = tmp_path / "accounts.csv"
    data.write_text(
        "Name,Stripe_Customer_Id__c,Subscription_Status__c\n"
        "Umbrella,cus_cli_1,Active\n"
        "Hooli,cus_cli_2,Past Due\n"
    )
    upsert = (
        "data",
        "upsert",
        "bulk",
        "-o",
        ALIAS,
        "--sobject",
        "Account",
        "--file",
        str(data),
        "--external-id",
        "Stripe_Customer_Id__c",
        "--wait",
        "5",
    )
    first = cli.json(*upsert)
    assert first["jobInfo"]["state"] == "JobComplete"
    assert first["jobInfo"]["numberRecordsProcessed"] == 2
    assert [r["sf__Created"] for r in first["records"]["successfulResults"]] == ["true", "true"]
    data.write_text("Stripe_Customer_Id__c,Subscription_Status__c\ncus_cli_2,Canceled\n")
    second = cli.json(*upsert)
    assert second["records"]["successfulResults"][0]["sf__Created"] == "false"
    assert second["records"]["failedResults"] == []

    exported = tmp_path / "export.csv"
    result = cli.json(
        "data",
        "export",
        "bulk",
        "-o",
        ALIAS,
        "--query",
        "SELECT Name, Subscription_Status__c FROM Account WHERE Stripe_Customer_Id__c != null"
        " ORDER BY Name",
        "--output-file",
        str(exported),
        "--wait",
        "5",
    )
    assert result["totalSize"] == 2
    assert _csv(exported.read_text()) == [
        {"Name": "Hooli", "Subscription_Status__c": "Canceled"},
        {"Name": "Umbrella", "Subscription_Status__c": "Active"},
    ]

    limits = {item["name"]: item for item in cli.json("org", "list", "limits", "-o", ALIAS)}
    # the module's org spent nothing else: two ingest jobs (one batch each), one query job
    assert limits["DailyBulkApiBatches"] == {
        "name": "DailyBulkApiBatches",
        "max": 15000,
        "remaining": 14998,
    }
    assert limits["DailyBulkV2QueryJobs"]["remaining"] == 9999
    counts = cli.json("org", "list", "sobject", "record-counts", "-s", "Account", "-o", ALIAS)
    assert counts == [{"name": "Account", "count": 5}]


def test_tooling_api_queries(cli: SfCli) -> None:
    fields = cli.json(
        "data",
        "query",
        "-o",
        ALIAS,
        "--use-tooling-api",
        "--query",
        "SELECT DeveloperName, TableEnumOrId FROM CustomField WHERE TableEnumOrId = 'Account'",
    )
    names = {r["DeveloperName"] for r in fields["records"]}
    assert {"Stripe_Customer_Id", "Subscription_Status", "Billing_Status"} <= names
    assert cli.json("package", "installed", "list", "-o", ALIAS) == []
