"""The admin's path of the README ("Against real Stripe and Salesforce"), with the official
Salesforce CLI, against an org that starts without any of stripe2sf's metadata:

    stripe2sf metadata --out sf-metadata
    sf org login access-token --instance-url URL --alias my-sandbox       (the admin)
    cd sf-metadata && sf project deploy start --source-dir force-app --target-org my-sandbox
    sf org assign permset --name Stripe2sf_Integration --target-org my-sandbox
        --on-behalf-of integration@...
    sf data query ... (an aggregate), sf project retrieve start --metadata PermissionSet:...

then `stripe2sf serve` logging in AS THE INTEGRATION USER (JWT bearer: the connected app's
consumer key and the private key of the certificate it trusts; `sub` = the integration user)
with webhooks from the Stripe sandbox: a new customer's payment, a subscription and its failed
renewal all land with no permission error; `stripe2sf reconcile` (its reads) and `stripe2sf
status` (GET /limits) run as that user too. Then a field permission taken out of the deployed
set (an edited set redeployed with the CLI) dead-letters the write that needs it with
Salesforce's INVALID_FIELD error, until the set is fixed and the event replayed. Users holding
only Stripe2sf_Viewer or only Stripe2sf_Finance see what those sets promise and no more.

One org, one Stripe sandbox, one CLI login and one `serve` for the module; tests run in file
order (the last one edits the set and puts it back). Skipped when the CLI is not installed.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import stripe
from simple_salesforce import Salesforce
from simple_salesforce.exceptions import SalesforceError as ClientError
from sqlalchemy import select

from salesforce_sandbox.testing import SandboxServer
from salesforce_sandbox.testing import run_sandbox as run_salesforce
from stripe2sf.domain.config import default_config
from stripe2sf.domain.flows.handled import HANDLED_TYPES
from stripe2sf.domain.setup.access import finance_access, integration_access, viewer_access
from stripe2sf.store.db import make_engine
from stripe2sf.store.inbox import Inbox
from stripe2sf.store.tables import attempts
from stripe_sandbox.testing import RunningSandbox
from stripe_sandbox.testing import run_sandbox as run_stripe
from tests.support.procs import clean_env
from tests.support.servers import free_port
from tests.support.sf_cli import SfCli, sf_binary

CLI = [sys.executable, "-m", "stripe2sf"]
ALIAS = "my-sandbox"
SETS = "force-app/main/default/permissionsets"
INTEGRATION_SET = "Stripe2sf_Integration"
MD = "{http://soap.sforce.com/2006/04/metadata}"
DAY = 86_400
STATUS_GRANT = """    <fieldPermissions>
        <editable>true</editable>
        <field>Account.Subscription_Status__c</field>
        <readable>true</readable>
    </fieldPermissions>
"""
# explicit false rather than a missing element: a deploy may keep what a file leaves out
STATUS_REVOKED = """    <fieldPermissions>
        <editable>false</editable>
        <field>Account.Subscription_Status__c</field>
        <readable>false</readable>
    </fieldPermissions>
"""


def _clean_env() -> dict[str, str]:
    return clean_env()


def stripe2sf(
    *args: str, env: dict[str, str], cwd: Path, timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*CLI, *args], env=env, cwd=cwd, capture_output=True, text=True, timeout=timeout
    )


@dataclass
class AdminPath:
    cli: SfCli
    project: Path
    deployed: dict[str, Any]
    assigned: dict[str, Any]


@pytest.fixture(scope="module")
def org() -> Iterator[SandboxServer]:
    sf_binary()  # skip before starting anything
    with run_salesforce() as server:  # no stripe2sf metadata: the admin deploys it
        yield server


@pytest.fixture(scope="module")
def stripe_box() -> Iterator[RunningSandbox]:
    with run_stripe() as box:
        yield box


@pytest.fixture(scope="module")
def admin(org: SandboxServer, tmp_path_factory: pytest.TempPathFactory) -> AdminPath:
    """README step 1, exactly: generate, log in as the admin, deploy, assign."""
    work = tmp_path_factory.mktemp("admin")
    cli = SfCli.for_sandbox(work, org)
    generated = stripe2sf("metadata", "--out", "sf-metadata", env=_clean_env(), cwd=cli.cwd)
    assert generated.returncode == 0, generated.stderr
    project = cli.cwd / "sf-metadata"
    cli.login(org, ALIAS)
    deployed = cli.json(
        "project", "deploy", "start", "--source-dir", "force-app", "--target-org", ALIAS,
        cwd=project,
    )  # fmt: skip
    assigned = cli.json(
        "org", "assign", "permset", "--name", INTEGRATION_SET, "--target-org", ALIAS,
        "--on-behalf-of", org.integration_username,
    )  # fmt: skip
    return AdminPath(cli, project, deployed, assigned)


def integration_env(org: SandboxServer, stripe_box: RunningSandbox, home: Path) -> dict[str, str]:
    """README step 2 for this org: the integration user over the JWT bearer flow."""
    key = home / "jwt-private-key.pem"
    key.write_text(org.jwt_private_key, encoding="ascii")
    return {
        **_clean_env(),
        "STRIPE_API_KEY": stripe_box.api_key,
        "STRIPE_API_BASE": stripe_box.api_base,
        "SALESFORCE_LOGIN_URL": org.instance_url,
        "SALESFORCE_USERNAME": org.integration_username,
        "SALESFORCE_CLIENT_ID": org.client_id,
        "SALESFORCE_JWT_KEY_FILE": str(key),
        "SALESFORCE_CA_BUNDLE": str(org.ca_path),
        "STRIPE2SF_DATABASE_URL": f"sqlite:///{home / 'stripe2sf.db'}",
        "STRIPE2SF_RETRY_BASE_SECONDS": "0.2",
        "STRIPE2SF_BATCH_LINGER_MS": "0",
        "STRIPE2SF_CATCHUP_SECONDS": "0",
    }


@dataclass
class Service:
    env: dict[str, str]
    home: Path
    inbox: Inbox
    stripe_box: RunningSandbox

    @property
    def client(self) -> stripe.StripeClient:
        return self.stripe_box.client()

    def drain(self, timeout: float = 40) -> dict[str, int]:
        """Until Stripe delivered everything and no stored event is pending."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            idle = self.stripe_box.wait_idle(timeout=10)
            if idle and self.inbox.counts()["pending"] == 0:
                time.sleep(0.3)
                if self.stripe_box.wait_idle(timeout=1) and self.inbox.counts()["pending"] == 0:
                    return self.inbox.counts()
            time.sleep(0.1)
        raise AssertionError(f"not drained: {self.inbox.counts()}")

    def errors(self) -> list[str]:
        """Every error any attempt met."""
        with self.inbox.engine.connect() as conn:
            rows = conn.execute(select(attempts.c.error).where(attempts.c.error.is_not(None)))
            return [str(r[0]) for r in rows]


@pytest.fixture(scope="module")
def service(
    org: SandboxServer,
    stripe_box: RunningSandbox,
    admin: AdminPath,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Service]:
    """README steps 3 and 4: the webhook endpoint in Stripe, then `stripe2sf serve`."""
    home = tmp_path_factory.mktemp("service")
    port = free_port()
    endpoint = stripe_box.client().v1.webhook_endpoints.create(
        {
            "url": f"http://127.0.0.1:{port}/webhooks/stripe",
            "enabled_events": sorted(HANDLED_TYPES),  # type: ignore[typeddict-item]
        }
    )
    env = {**integration_env(org, stripe_box, home), "STRIPE_WEBHOOK_SECRET": str(endpoint.secret)}
    proc = subprocess.Popen(
        [*CLI, "serve", "--port", str(port)],
        env=env,
        cwd=home,
        stdout=subprocess.DEVNULL,
        stderr=(home / "serve.log").open("wb"),
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                if httpx.get(f"http://127.0.0.1:{port}/readyz").status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert proc.poll() is None, (home / "serve.log").read_text()
            assert time.monotonic() < deadline, "serve did not become ready"
            time.sleep(0.1)
        engine = make_engine(env["STRIPE2SF_DATABASE_URL"])
        yield Service(env, home, Inbox(engine), stripe_box)
        engine.dispose()
    finally:
        proc.terminate()
        proc.wait(timeout=20)


# ---- the admin's path ---------------------------------------------------------------------


def _set_content(root: ET.Element) -> tuple[dict[str, tuple[bool, bool]], dict[str, set[str]]]:
    """(field -> (readable, editable), object -> rights granted) of a PermissionSet."""
    fields = {
        fp.findtext(f"{MD}field") or "": (
            fp.findtext(f"{MD}readable") == "true",
            fp.findtext(f"{MD}editable") == "true",
        )
        for fp in root.iter(f"{MD}fieldPermissions")
    }
    objects = {
        op.findtext(f"{MD}object") or "": {
            child.tag.removeprefix(MD) for child in op if child.text == "true"
        }
        for op in root.iter(f"{MD}objectPermissions")
    }
    return fields, objects


def test_deploy_assign_query_and_retrieve_with_the_official_cli(
    org: SandboxServer, admin: AdminPath
) -> None:
    assert (admin.deployed["status"], admin.deployed["success"]) == ("Succeeded", True)
    deployed = {(f["type"], f["fullName"]): f["state"] for f in admin.deployed["files"]}
    for component in (
        ("CustomObject", "Stripe_Payment__c"),
        ("CustomField", "Account.Subscription_Status__c"),
        ("ListView", "Account.Stripe_Past_Due"),
        ("ListView", "Account.Stripe_Payment_Overdue"),
        ("ListView", "Stripe_Payment__c.Stripe_Last_30_Days"),
        ("Layout", "Account-Stripe Account Layout"),
        ("PermissionSet", "Stripe2sf_Integration"),
        ("PermissionSet", "Stripe2sf_Viewer"),
        ("PermissionSet", "Stripe2sf_Finance"),
    ):
        assert deployed.get(component) == "Created", component
    assert ("Layout", "Account-Account Layout") not in deployed  # the org's own stays
    assert admin.assigned["successes"] == [
        {"name": org.integration_username, "value": INTEGRATION_SET}
    ]
    assert admin.assigned["failures"] == []

    counted = admin.cli.json(
        "data", "query", "--target-org", ALIAS, "--query",
        "SELECT PermissionSet.Name, COUNT(Id) n FROM PermissionSetAssignment "
        f"WHERE Assignee.Username = '{org.integration_username}' "
        "AND PermissionSet.IsOwnedByProfile = false GROUP BY PermissionSet.Name",
    )  # fmt: skip
    assert [(r["Name"], r["n"]) for r in counted["records"]] == [(INTEGRATION_SET, 1)]

    local = admin.project / SETS / f"{INTEGRATION_SET}.permissionset-meta.xml"
    generated = _set_content(ET.fromstring(local.read_text()))
    local.unlink()
    retrieved = admin.cli.json(
        "project", "retrieve", "start", "--metadata", f"PermissionSet:{INTEGRATION_SET}",
        "--target-org", ALIAS, cwd=admin.project,
    )  # fmt: skip
    assert retrieved["status"] == "Succeeded"
    in_org = _set_content(ET.fromstring(local.read_text()))
    assert in_org == generated
    assert "Account.Website" not in generated[0]  # no domain matching configured
    assert all(
        rights == {"allowCreate", "allowEdit", "allowRead"} for rights in generated[1].values()
    )


# ---- stripe2sf as the integration user ----------------------------------------------------


def _pay(client: stripe.StripeClient, customer: str, amount: int) -> str:
    method = client.v1.payment_methods.attach("pm_card_visa", {"customer": customer})
    intent = client.v1.payment_intents.create(
        {
            "amount": amount,
            "currency": "usd",
            "customer": customer,
            "payment_method": method.id,
            "automatic_payment_methods": {"enabled": True, "allow_redirects": "never"},
            "confirm": True,
        }
    )
    return str(intent.latest_charge)


def _monthly_price(client: stripe.StripeClient, name: str, amount: int) -> str:
    product = client.v1.products.create({"name": name})
    price = client.v1.prices.create(
        {
            "product": product.id,
            "currency": "usd",
            "unit_amount": amount,
            "recurring": {"interval": "month"},
        }
    )
    return str(price.id)


def _one(sf: Salesforce, soql: str) -> dict[str, Any]:
    [row] = sf.query_all(soql)["records"]
    return dict(row)


@dataclass
class Synced:
    buyer: str  # a new customer who paid once
    charge: str
    renewer: str  # a subscriber whose renewal failed
    counts: dict[str, int]


@pytest.fixture(scope="module")
def synced(service: Service) -> Synced:
    """Stripe history played through the webhooks and applied by `serve`."""
    client = service.client
    buyer = client.v1.customers.create({"email": "nora@newbuyer.example", "name": "Nora New"})
    charge = _pay(client, buyer.id, 2_500)

    clock = client.v1.test_helpers.test_clocks.create({"frozen_time": 1_790_000_000})
    renewer = client.v1.customers.create(
        {"email": "ap@renewal.example", "name": "Renewal Ltd", "test_clock": clock.id}
    )
    good = client.v1.payment_methods.attach("pm_card_visa", {"customer": renewer.id})
    subscription = client.v1.subscriptions.create(
        {
            "customer": renewer.id,
            "items": [{"price": _monthly_price(client, "Team", 4_900)}],
            "default_payment_method": good.id,
        }
    )
    bad = client.v1.payment_methods.attach("pm_card_chargeCustomerFail", {"customer": renewer.id})
    client.v1.subscriptions.update(subscription.id, {"default_payment_method": bad.id})
    client.v1.test_helpers.test_clocks.advance(clock.id, {"frozen_time": 1_790_000_000 + 31 * DAY})
    service.stripe_box.wait_for_clock(clock.id)
    return Synced(buyer.id, charge, renewer.id, service.drain())


def test_the_flows_run_as_the_integration_user_without_a_permission_error(
    org: SandboxServer, admin: AdminPath, service: Service, synced: Synced
) -> None:
    counts = synced.counts
    assert service.errors() == [] and counts["dead"] == 0, service.errors()
    sf = org.salesforce()  # the admin checks what the integration user wrote
    integration_id = _one(sf, f"SELECT Id FROM User WHERE Username = '{org.integration_username}'")[
        "Id"
    ]
    account = _one(
        sf,
        f"SELECT Id, Name, CreatedById FROM Account WHERE Stripe_Customer_Id__c = '{synced.buyer}'",
    )
    assert account["CreatedById"] == integration_id
    contact = _one(
        sf, f"SELECT AccountId, Email FROM Contact WHERE Stripe_Customer_Id__c = '{synced.buyer}'"
    )
    assert (contact["AccountId"], contact["Email"]) == (account["Id"], "nora@newbuyer.example")
    payment = _one(
        sf,
        "SELECT Amount__c, Status__c, Account__c, CreatedById FROM Stripe_Payment__c "
        f"WHERE Stripe_Charge_Id__c = '{synced.charge}'",
    )
    assert (payment["Amount__c"], payment["Status__c"]) == (25, "Succeeded")
    assert (payment["Account__c"], payment["CreatedById"]) == (account["Id"], integration_id)

    renewal = _one(
        sf,
        "SELECT Id, OwnerId, Subscription_Status__c, Billing_Status__c FROM Account "
        f"WHERE Stripe_Customer_Id__c = '{synced.renewer}'",
    )
    assert renewal["Subscription_Status__c"] == "Past Due"
    assert renewal["Billing_Status__c"] in ("Payment Overdue", "At Risk")
    task = _one(
        sf,
        "SELECT OwnerId, Priority, WhatId, CreatedById FROM Task "
        "WHERE Stripe_Dedupe_Key__c LIKE 'in\\_%'",
    )
    assert (task["Priority"], task["WhatId"]) == ("High", renewal["Id"])
    assert task["CreatedById"] == integration_id and task["OwnerId"] == renewal["OwnerId"]

    # the admin's view of the outcome, as the CLI prints it (the list views' filters)
    grouped = admin.cli.json(
        "data", "query", "--target-org", ALIAS, "--query",
        "SELECT Subscription_Status__c, COUNT(Id) n FROM Account "
        "WHERE Stripe_Customer_Id__c != null GROUP BY Subscription_Status__c",
    )  # fmt: skip
    assert {r["Subscription_Status__c"]: r["n"] for r in grouped["records"]} == {
        None: 1,
        "Past Due": 1,
    }

    # reconcile's reads and the API usage (/limits) as the integration user
    reconciled = stripe2sf("reconcile", "--json", env=service.env, cwd=service.home)
    assert reconciled.returncode == 0, reconciled.stdout + reconciled.stderr
    status = stripe2sf("status", "--json", env=service.env, cwd=service.home)
    assert status.returncode == 0, status.stderr
    api = json.loads(status.stdout)["salesforce_api"]
    assert api["limit"] > api["used"] > 0, api


# ---- the viewer and finance sets ----------------------------------------------------------


def _user_holding_only(
    org: SandboxServer, admin: AdminPath, name: str, permission_set: str
) -> Salesforce:
    """A new user of the API-only profile; the admin assigns it one set with the CLI."""
    sf = org.salesforce()
    profile = _one(
        sf, "SELECT Id FROM Profile WHERE Name = 'Minimum Access - API Only Integrations'"
    )
    username = f"{name}@sandbox.example.com"
    sf.User.create(
        {
            "Username": username,
            "LastName": name.title(),
            "Email": username,
            "Alias": name[:8],
            "ProfileId": profile["Id"],
        }
    )
    admin.cli.json(
        "org", "assign", "permset", "--name", permission_set, "--target-org", ALIAS,
        "--on-behalf-of", username,
    )  # fmt: skip
    return org.salesforce(user=username)


def _refused(call: Any, *args: Any) -> str:
    with pytest.raises(ClientError) as caught:
        call(*args)
    return str(caught.value.content[0]["errorCode"])


def _visible_fields(sf: Salesforce, sobject: str) -> dict[str, bool]:
    """Fields of `sobject` stripe2sf defines that `sf`'s user sees -> updateable."""
    described = getattr(sf, sobject).describe()["fields"]
    return {f["name"]: f["updateable"] for f in described if f["name"].endswith("__c")}


def test_a_viewer_sees_the_status_fields_only_and_finance_reads_payments(
    org: SandboxServer, admin: AdminPath, synced: Synced
) -> None:
    config = default_config()
    viewer = _user_holding_only(org, admin, "viewer", "Stripe2sf_Viewer")
    assert _visible_fields(viewer, "Account") == {
        f.split(".", 1)[1]: False for f in viewer_access(config).fields
    }
    rows = viewer.query("SELECT Name, Subscription_Status__c, Billing_Status__c FROM Account")
    assert {r["Subscription_Status__c"] for r in rows["records"]} >= {"Past Due"}
    assert _refused(viewer.query, "SELECT MRR__c FROM Account") == "INVALID_FIELD"
    assert _refused(viewer.query, "SELECT Id FROM Stripe_Payment__c") == "INVALID_TYPE"
    account = rows["records"][0]["attributes"]["url"].rsplit("/", 1)[1]
    assert _refused(viewer.Account.update, account, {"Name": "x"}) == (
        "CANNOT_INSERT_UPDATE_ACTIVATE_ENTITY"
    )

    finance = _user_holding_only(org, admin, "finance", "Stripe2sf_Finance")
    granted = finance_access(config).fields
    assert _visible_fields(finance, "Stripe_Payment__c") == {
        f.split(".", 1)[1]: False for f in granted if f.startswith("Stripe_Payment__c.")
    }
    assert _visible_fields(finance, "Account") == {
        f.split(".", 1)[1]: False for f in granted if f.startswith("Account.")
    }
    payments = "SELECT Stripe_Charge_Id__c, Amount__c, Currency__c, Account__c, Paid_At__c " + (
        "FROM Stripe_Payment__c ORDER BY Stripe_Charge_Id__c"
    )
    seen = finance.query_all(payments)["records"]
    assert seen == org.salesforce().query_all(payments)["records"]
    assert synced.charge in {p["Stripe_Charge_Id__c"] for p in seen}
    paid = seen[0]
    assert _refused(finance.query, "SELECT Card_Last4__c FROM Account") == "INVALID_FIELD"
    assert _refused(finance.query, "SELECT Id FROM Contact") == "INVALID_TYPE"
    payment = paid["attributes"]["url"].rsplit("/", 1)[1]
    assert _refused(finance.Stripe_Payment__c.update, payment, {"Amount__c": 1}) == (
        "CANNOT_INSERT_UPDATE_ACTIVATE_ENTITY"
    )
    # and the integration set: nothing beyond what stripe2sf uses
    integration = org.salesforce(user=org.integration_username)
    assert _visible_fields(integration, "Account") == {
        f.split(".", 1)[1]: True
        for f in integration_access(config).fields
        if f.startswith("Account.")
    }
    assert _refused(integration.query, "SELECT Id FROM Opportunity") == "INVALID_TYPE"


# ---- a field permission taken away ------------------------------------------------------


def test_a_field_permission_taken_out_of_the_set_dead_letters_the_write(
    org: SandboxServer, admin: AdminPath, service: Service
) -> None:
    local = admin.project / SETS / f"{INTEGRATION_SET}.permissionset-meta.xml"
    original = local.read_text()
    assert STATUS_GRANT in original
    local.write_text(original.replace(STATUS_GRANT, STATUS_REVOKED))
    redeploy = [
        "project", "deploy", "start", "--target-org", ALIAS,
        "--source-dir", f"{SETS}/{INTEGRATION_SET}.permissionset-meta.xml",
    ]  # fmt: skip
    assert admin.cli.json(*redeploy, cwd=admin.project)["status"] == "Succeeded"

    client = service.client
    customer = client.v1.customers.create({"email": "sam@scale.example", "name": "Sam Scale"})
    method = client.v1.payment_methods.attach("pm_card_visa", {"customer": customer.id})
    client.v1.subscriptions.create(
        {
            "customer": customer.id,
            "items": [{"price": _monthly_price(client, "Scale", 9_900)}],
            "default_payment_method": method.id,
        }
    )
    counts = service.drain()
    assert counts["dead"] >= 1
    dead = [service.inbox.row(event_id) for event_id in service.inbox.dead_letter_ids()]
    for row in dead:
        assert row is not None
        error = str(row["last_error"])
        assert error.startswith("permanent: "), error  # dead at once, never retried
        assert (
            ": INVALID_FIELD: No such column 'Subscription_Status__c' on sobject of type "
            "Account (fields: Subscription_Status__c)" in error
        ), error
    # the subscription's event, and the customer's others whose Account write it joined
    assert "customer.subscription.created" in {row["type"] for row in dead if row}
    assert {row["lane"] for row in dead if row} == {customer.id}
    status = stripe2sf("status", "--json", env=service.env, cwd=service.home)
    assert json.loads(status.stdout)["dead_letters"] == len(dead), status.stdout

    # the admin puts the permission back; the operator replays the dead letters
    local.write_text(original)
    assert admin.cli.json(*redeploy, cwd=admin.project)["status"] == "Succeeded"
    replayed = stripe2sf("replay", "--dead-letters", env=service.env, cwd=service.home)
    assert replayed.returncode == 0, replayed.stderr
    assert service.drain()["dead"] == 0
    account = _one(
        org.salesforce(),
        f"SELECT Subscription_Status__c FROM Account WHERE Stripe_Customer_Id__c = '{customer.id}'",
    )
    assert account["Subscription_Status__c"] == "Active"
