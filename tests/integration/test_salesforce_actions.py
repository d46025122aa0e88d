"""Salesforce actions end to end (both sandboxes, the worker, SQLite): an Opportunity reaching
Closed Won, or a Stripe_Request__c record, makes the Stripe customer and invoice /
subscription / payment link once, and the result is written back to Salesforce.

The captured changes are put in the inbox as the capture writes them (`SalesforceChange`);
capture itself is tested on its own."""

from __future__ import annotations

import json
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import stripe
from simple_salesforce import Salesforce
from sqlalchemy import delete

from salesforce_sandbox.testing import SandboxServer
from salesforce_sandbox.testing import run_sandbox as run_salesforce
from stripe2sf.demo.integration_user import assign_permission_set
from stripe2sf.domain.actions.config import ActionsConfig
from stripe2sf.domain.actions.steps import StripeCall
from stripe2sf.domain.capture.change import SalesforceChange
from stripe2sf.domain.config import from_mapping
from stripe2sf.engine.actions import ActionHandler, action_types
from stripe2sf.engine.handlers import Registry
from stripe2sf.engine.worker import Worker
from stripe2sf.metadata_files import write_metadata
from stripe2sf.runtime import Runtime
from stripe2sf.settings import load_settings
from stripe2sf.store.actions import ActionLog, salesforce_actions
from stripe2sf.store.audit_trail import AuditTrail
from stripe2sf.store.inbox import NewEvent
from stripe2sf.store.links import Links
from stripe2sf.stripe.actions import StripeActions
from stripe2sf.web.intake import to_new_event
from stripe_sandbox.testing import RunningSandbox
from stripe_sandbox.testing import run_sandbox as run_stripe
from tests.integration.test_doctor_capture import settings_for
from tests.support.events import encode

TOML = """
[actions]
enabled = true
days_until_due = 14
"""


@dataclass
class Boxes:
    stripe: RunningSandbox
    salesforce: SandboxServer
    config_path: Path

    @property
    def sf(self) -> Salesforce:
        return self.salesforce.salesforce()

    @property
    def client(self) -> stripe.StripeClient:
        return self.stripe.client()


@contextmanager
def actions_boxes(**salesforce: Any) -> Iterator[Boxes]:
    """Both sandboxes, the org with the metadata of `[actions]` (`salesforce`: the sandbox's
    options, e.g. its features) and stripe2sf.toml turning actions on."""
    with tempfile.TemporaryDirectory(prefix="actions-") as tmp:
        config_path = Path(tmp) / "stripe2sf.toml"
        config_path.write_text(TOML, encoding="utf-8")
        metadata = Path(tmp) / "metadata"
        write_metadata(metadata, from_mapping({"actions": {"enabled": True}}))
        with (
            run_salesforce(metadata=[metadata], **salesforce) as sf_box,
            run_stripe() as stripe_box,
        ):
            yield Boxes(stripe_box, sf_box, config_path)


@pytest.fixture(scope="module")
def boxes() -> Iterator[Boxes]:
    with actions_boxes() as made:
        yield made


class Clock:
    def __init__(self) -> None:
        self.now = datetime.now(UTC)

    def __call__(self) -> datetime:
        return self.now


@dataclass
class Env:
    boxes: Boxes
    runtime: Runtime
    clock: Clock
    positions: int = 0

    @property
    def sf(self) -> Salesforce:
        return self.boxes.sf

    def worker(self, registry: Registry | None = None) -> Worker:
        return Worker(
            self.runtime.inbox,
            registry or self.runtime.registry,
            policy=self.runtime.retry_policy(),
            clock=self.clock,
            concurrency=1,
        )

    def deliver(self, change: SalesforceChange) -> None:
        event = NewEvent(
            event_id=change.event_id,
            type=change.type,
            lane=change.lane,
            created=change.created,
            livemode=False,
            api_version=None,
            payload_text=json.dumps(change.to_payload()),
            handled=True,
            source=change.source,
        )
        self.runtime.inbox.add(event, self.clock())

    def change(
        self,
        entity: str,
        record_id: str,
        fields: dict[str, Any],
        kind: str = "updated",
        source: str = "cdc",
    ) -> SalesforceChange:
        self.positions += 1
        return SalesforceChange(
            entity=entity,
            change=kind,  # type: ignore[arg-type]
            record_id=record_id,
            fields=fields,
            changed=tuple(fields),
            commit_ts_ms=int(self.clock().timestamp() * 1000),
            source=source,  # type: ignore[arg-type]
            position=f"tx{self.positions}:1",
        )

    def run(self, worker: Worker | None = None, rounds: int = 12) -> dict[str, int]:
        """Apply everything due, moving the clock past each retry."""
        worker = worker or self.worker()
        for _ in range(rounds):
            while worker.run_once():
                pass
            if self.runtime.inbox.counts()["pending"] == 0:
                break
            self.clock.now += timedelta(hours=1)
        return self.runtime.inbox.counts()


@pytest.fixture
def env(boxes: Boxes, tmp_path: Path) -> Iterator[Env]:
    boxes.salesforce.reset()
    boxes.stripe.reset()
    settings = load_settings(
        database_url=f"sqlite:///{tmp_path / 'stripe2sf.db'}",
        stripe_api_key=boxes.stripe.api_key,
        stripe_api_base=boxes.stripe.api_base,
        salesforce_login_url=boxes.salesforce.instance_url,
        salesforce_username=boxes.salesforce.username,
        salesforce_password=boxes.salesforce.password,
        salesforce_security_token=boxes.salesforce.security_token,
        salesforce_ca_bundle=boxes.salesforce.ca_path,
        config_path=boxes.config_path,
        retry_base_seconds=1,
    )
    runtime = Runtime.build(settings)
    yield Env(boxes, runtime, Clock())
    runtime.close()


def price(client: stripe.StripeClient, *, recurring: bool = False, amount: int = 12_000) -> str:
    product = client.v1.products.create({"name": "Onboarding package"})
    params: dict[str, Any] = {"product": product.id, "currency": "usd", "unit_amount": amount}
    if recurring:
        params["recurring"] = {"interval": "month"}
    return str(client.v1.prices.create(params).id)  # type: ignore[arg-type]


def account_with_contact(
    sf: Salesforce, name: str = "Acme Rockets", email: str | None = None
) -> str:
    account_id = str(sf.Account.create({"Name": name})["id"])
    if email is not None:
        sf.Contact.create({"LastName": "Buyer", "Email": email, "AccountId": account_id})
    return account_id


def opportunity(sf: Salesforce, account_id: str | None, price_id: str | None, stage: str) -> str:
    fields: dict[str, Any] = {
        "Name": "Rockets deal",
        "StageName": stage,
        "CloseDate": date.today().isoformat(),
        "Stripe_Price_Id__c": price_id,
    }
    if account_id:
        fields["AccountId"] = account_id
    return str(sf.Opportunity.create(fields)["id"])


def opp_row(sf: Salesforce, opp_id: str) -> dict[str, Any]:
    row: dict[str, Any] = sf.Opportunity.get(opp_id)
    return row


def customers_with(client: stripe.StripeClient, email: str) -> list[Any]:
    return list(client.v1.customers.list({"email": email, "limit": 100}).data)


def invoices_of(client: stripe.StripeClient, customer: str) -> list[Any]:
    return list(client.v1.invoices.list({"customer": customer, "limit": 100}).data)


def close_won(env: Env, opp_id: str, source: str = "cdc") -> None:
    env.sf.Opportunity.update(opp_id, {"StageName": "Closed Won"})
    env.deliver(env.change("Opportunity", opp_id, {"StageName": "Closed Won"}, source=source))


def test_the_org_captures_the_objects_the_metadata_names(boxes: Boxes) -> None:
    """`stripe2sf metadata` selects the change events (PlatformEventChannelMember) the org
    then publishes."""
    assert sorted(boxes.salesforce.cdc_selected()) == [
        "Account",
        "Contact",
        "Opportunity",
        "Stripe_Request__c",
    ]


# ---- the invoice action, once ----------------------------------------------------------


def test_closed_won_makes_one_customer_and_one_sent_invoice_under_redelivery(env: Env) -> None:
    client = env.boxes.client
    price_id = price(client)
    account_id = account_with_contact(env.sf, email="buyer@acme-rockets.example")
    opp_id = opportunity(env.sf, account_id, price_id, "Negotiation/Review")
    # an update of another field, and one to another stage: nothing to do
    env.deliver(env.change("Opportunity", opp_id, {"Description": "call back"}))
    env.deliver(env.change("Opportunity", opp_id, {"StageName": "Negotiation/Review"}))
    close_won(env, opp_id)
    # the same change captured twice (CDC and polling): two inbox events
    env.deliver(env.change("Opportunity", opp_id, {"StageName": "Closed Won"}, source="poll"))
    assert env.run()["done"] == 4

    [customer] = customers_with(client, "buyer@acme-rockets.example")
    assert customer.name == "Acme Rockets"
    assert customer.metadata["salesforce_account_id"] == account_id
    [invoice] = invoices_of(client, customer.id)
    assert invoice.status == "open" and invoice.collection_method == "send_invoice"
    assert invoice.amount_due == 12_000 and invoice.metadata["salesforce_opportunity_id"] == opp_id
    assert invoice.due_date - invoice.created == 14 * 86400
    sent = client.v1.events.list({"type": "invoice.sent"}).data
    assert [e.data.object["id"] for e in sent] == [invoice.id]
    assert sent[0].request.idempotency_key.startswith("stripe2sf-opp-")

    row = opp_row(env.sf, opp_id)
    assert row["Stripe_Invoice_Id__c"] == invoice.id
    assert row["Stripe_Invoice_Url__c"] == invoice.hosted_invoice_url
    assert row["Stripe_Status__c"] == "Invoice sent" and row["Stripe_Error__c"] is None
    assert env.sf.Account.get(account_id)["Stripe_Customer_Id__c"] == customer.id
    assert Links(env.runtime.engine).known([customer.id])[customer.id].account_id == account_id
    audit = AuditTrail(env.runtime.engine).rows(limit=100)
    made = [r["sobject"] for r in audit if r["action"] == "stripe_create"]
    assert made == [
        "stripe.customer",
        "stripe.invoice",
        f"stripe.invoiceitem-{price_id}-1",
        "stripe.finalize",
        "stripe.send",
    ]
    # the Account, the Contact whose email the customer was made with, the results
    updated = {r["sobject"] for r in audit if r["action"] == "update"}
    assert updated == {"Account", "Contact", "Opportunity"}
    [contact] = env.sf.query_all(
        f"SELECT Stripe_Customer_Id__c FROM Contact WHERE AccountId = '{account_id}'"
    )["records"]
    assert contact["Stripe_Customer_Id__c"] == customer.id

    # days later: Stripe forgot the keys and our step log is gone; the Opportunity's
    # invoice id says it is done
    with env.runtime.engine.begin() as conn:
        conn.execute(delete(salesforce_actions))
    env.deliver(env.change("Opportunity", opp_id, {"StageName": "Closed Won"}))
    env.run()
    assert len(invoices_of(client, customer.id)) == 1
    assert len(customers_with(client, "buyer@acme-rockets.example")) == 1


def test_the_new_customers_own_event_links_the_account_not_a_new_one(env: Env) -> None:
    client = env.boxes.client
    account_id = account_with_contact(env.sf, "Linked Ltd", email="ap@linked.example")
    opp_id = opportunity(env.sf, account_id, price(client), "Prospecting")
    close_won(env, opp_id)
    env.run()
    [customer] = customers_with(client, "ap@linked.example")
    # Stripe's customer.created comes back through the webhook: the sync finds the Account
    created = client.v1.events.list({"type": "customer.created"}).data
    [doc] = [e.to_dict() for e in created if e.data.object["id"] == customer.id]
    env.runtime.inbox.add(
        to_new_event(doc, encode(doc), handled=True, source="webhook"), env.clock()
    )
    assert env.run()["dead"] == 0
    accounts = env.sf.query_all("SELECT Id, Stripe_Customer_Id__c FROM Account")["records"]
    assert [(a["Id"], a["Stripe_Customer_Id__c"]) for a in accounts] == [(account_id, customer.id)]
    contacts = env.sf.query_all("SELECT Stripe_Customer_Id__c FROM Contact")["records"]
    assert [c["Stripe_Customer_Id__c"] for c in contacts] == [customer.id]


# ---- a worker dying mid-way ----------------------------------------------------------------


class DiesOnce(StripeActions):
    """Stripe answers the `step` request, then the worker dies before storing it."""

    def __init__(self, inner: StripeActions, step: str) -> None:
        super().__init__(inner.client)
        self.step = step
        self.died = False

    def send(self, call: StripeCall) -> dict[str, Any] | None:
        answer = super().send(call)
        if call.step.startswith(self.step) and not self.died:
            self.died = True
            raise ConnectionResetError("worker killed after Stripe answered")
        return answer


def _handler(env: Env, config: ActionsConfig, stripe_port: StripeActions | None = None) -> Registry:
    base = env.runtime.action_handler()
    handler = ActionHandler(
        config,
        stripe_port or base.stripe,
        base.salesforce,
        ActionLog(env.runtime.engine),
        Links(env.runtime.engine),
    )
    registry = Registry()
    registry.register_many(action_types(config), handler)
    return registry


def test_a_worker_dying_mid_way_and_stripe_failing_still_makes_one_invoice(env: Env) -> None:
    client = env.boxes.client
    price_id = price(client)
    account_id = account_with_contact(env.sf, "Crashy Co", email="ap@crashy.example")
    opp_id = opportunity(env.sf, account_id, price_id, "Prospecting")
    base = env.runtime.action_handler().stripe
    registry = _handler(env, ActionsConfig(enabled=True), DiesOnce(base, "invoiceitem"))
    env.boxes.stripe.faults(api_outage=[{"path": "/v1/invoices/*/send", "status": 500}])
    close_won(env, opp_id)
    worker = env.worker(registry)
    counts = env.run(worker, rounds=3)  # died after the item; then send fails every time
    assert counts["pending"] == 1
    assert opp_row(env.sf, opp_id)["Stripe_Invoice_Id__c"] is None
    [customer] = customers_with(client, "ap@crashy.example")
    [draft] = invoices_of(client, customer.id)
    assert draft.status == "open"  # finalized, not sent yet
    env.boxes.stripe.clear_faults()
    assert env.run(worker)["done"] == 1
    [invoice] = invoices_of(client, customer.id)
    assert invoice.id == draft.id and len(invoice.lines.data) == 1
    assert len(client.v1.invoice_items.list({"customer": customer.id}).data) == 1
    assert len(customers_with(client, "ap@crashy.example")) == 1
    row = opp_row(env.sf, opp_id)
    assert (row["Stripe_Invoice_Id__c"], row["Stripe_Status__c"]) == (invoice.id, "Invoice sent")


def test_a_price_changed_between_a_crash_and_its_retry_replaces_the_drafts_item(
    env: Env,
) -> None:
    """The item was made with the old price and the worker died before storing it; the
    retry reads the draft, deletes that item and adds one of the new price."""
    client = env.boxes.client
    account_id = account_with_contact(env.sf, "Changer", email="ap@changer.example")
    opp_id = opportunity(env.sf, account_id, price(client), "Prospecting")
    base = env.runtime.action_handler().stripe
    registry = _handler(env, ActionsConfig(enabled=True), DiesOnce(base, "invoiceitem"))
    close_won(env, opp_id)
    worker = env.worker(registry)
    worker.run_once()
    new_price = price(client, amount=999)
    env.sf.Opportunity.update(opp_id, {"Stripe_Price_Id__c": new_price})
    env.clock.now += timedelta(hours=1)
    assert env.run(worker)["done"] == 1
    [customer] = customers_with(client, "ap@changer.example")
    [invoice] = invoices_of(client, customer.id)
    assert invoice.amount_due == 999 and len(invoice.lines.data) == 1
    [item] = client.v1.invoice_items.list({"customer": customer.id}).data
    assert item.pricing.price_details.price == new_price
    assert opp_row(env.sf, opp_id)["Stripe_Status__c"] == "Invoice sent"
    deleted = [
        r["sobject"]
        for r in AuditTrail(env.runtime.engine).rows(limit=100)
        if r["action"] == "stripe_delete"
    ]
    assert len(deleted) == 1 and deleted[0].startswith("stripe.drop-ii_")


# ---- subscription and payment link --------------------------------------------------------


def test_subscription_and_payment_link_variants(env: Env) -> None:
    client = env.boxes.client
    monthly = price(client, recurring=True, amount=4_900)
    account_id = account_with_contact(env.sf, "Subscribers Inc", email="ap@subs.example")
    opp_id = opportunity(env.sf, account_id, monthly, "Prospecting")
    config = ActionsConfig(
        enabled=True, kind="subscription", subscription_collection="send_invoice"
    )
    close_won(env, opp_id)
    assert env.run(env.worker(_handler(env, config)))["done"] == 1
    [customer] = customers_with(client, "ap@subs.example")
    [sub] = client.v1.subscriptions.list({"customer": customer.id}).data
    row = opp_row(env.sf, opp_id)
    assert row["Stripe_Subscription_Id__c"] == sub.id
    assert row["Stripe_Status__c"] == "Subscription active"
    assert row["Stripe_Invoice_Id__c"] == sub.latest_invoice
    assert row["Stripe_Invoice_Url__c"].startswith("https://invoice.stripe.com/")

    one_time = price(client, amount=2_500)
    link_opp = opportunity(env.sf, None, one_time, "Prospecting")  # a link needs no Account
    close_won(env, link_opp)
    close_won(env, link_opp, source="poll")
    links_config = ActionsConfig(enabled=True, kind="payment_link")
    assert env.run(env.worker(_handler(env, links_config)))["done"] == 3  # 1 + these 2
    [link] = client.v1.payment_links.list().data
    row = opp_row(env.sf, link_opp)
    assert row["Stripe_Payment_Link_Url__c"] == link.url
    assert row["Stripe_Payment_Link_Id__c"] == link.id
    assert row["Stripe_Status__c"] == "Payment link created"
    items = client.v1.payment_links.line_items.list(link.id).data
    assert [(i.price.id, i.quantity) for i in items] == [(one_time, 1)]


# ---- errors written back ---------------------------------------------------------------


def test_errors_are_written_back_readably_and_dead_lettered_not_retried(env: Env) -> None:
    client = env.boxes.client
    account_id = account_with_contact(env.sf, "Errata", email="ap@errata.example")
    unknown = opportunity(env.sf, account_id, "price_doesnotexist", "Prospecting")
    missing = opportunity(env.sf, account_id, None, "Prospecting")
    no_email = opportunity(env.sf, account_with_contact(env.sf, "Nobody"), price(client), "X")
    for opp_id in (unknown, missing, no_email):
        close_won(env, opp_id)
    counts = env.run()
    assert counts["dead"] == 3 and counts["pending"] == 0
    rows = {o: opp_row(env.sf, o) for o in (unknown, missing, no_email)}
    assert {r["Stripe_Status__c"] for r in rows.values()} == {"Error"}
    assert rows[unknown]["Stripe_Error__c"] == (
        "Stripe has no price 'price_doesnotexist': check Stripe_Price_Id__c"
    )
    assert rows[missing]["Stripe_Error__c"].startswith("no Stripe price: set Stripe_Price_Id__c")
    assert "no Contact with an email" in rows[no_email]["Stripe_Error__c"]
    dead = env.runtime.inbox.row(env.runtime.inbox.dead_letter_ids()[0])
    assert dead is not None and "permanent:" in str(dead["last_error"])
    assert client.v1.invoices.list().data == []

    # the user fixes the price: the next change makes the invoice, and clears the error
    fixed = price(client)
    env.sf.Opportunity.update(unknown, {"Stripe_Price_Id__c": fixed})
    env.deliver(env.change("Opportunity", unknown, {"Stripe_Price_Id__c": fixed}))
    assert env.run()["dead"] == 3
    row = opp_row(env.sf, unknown)
    assert (row["Stripe_Status__c"], row["Stripe_Error__c"]) == ("Invoice sent", None)

    # a subscription charged automatically needs a card: said so, on the record
    monthly = price(client, recurring=True)
    card_opp = opportunity(env.sf, account_id, monthly, "Prospecting")
    close_won(env, card_opp)
    env.run(env.worker(_handler(env, ActionsConfig(enabled=True, kind="subscription"))))
    error = opp_row(env.sf, card_opp)["Stripe_Error__c"]
    assert "has no card or default payment method" in error
    assert 'subscription_collection = "send_invoice"' in error


def test_transient_stripe_errors_are_retried_not_written_back(env: Env) -> None:
    client = env.boxes.client
    account_id = account_with_contact(env.sf, "Patience", email="ap@patience.example")
    opp_id = opportunity(env.sf, account_id, price(client), "Prospecting")
    env.boxes.stripe.faults(api_outage=[{"path": "/v1/prices/*", "status": 503}])
    close_won(env, opp_id)
    assert env.run(rounds=2)["pending"] == 1
    assert opp_row(env.sf, opp_id)["Stripe_Status__c"] is None
    env.boxes.stripe.clear_faults()
    assert env.run()["done"] == 1
    assert opp_row(env.sf, opp_id)["Stripe_Status__c"] == "Invoice sent"


# ---- Stripe_Request__c -----------------------------------------------------------------------


def test_a_stripe_request_record_makes_its_action_and_gets_the_result(env: Env) -> None:
    client = env.boxes.client
    account_id = account_with_contact(env.sf, "Requesters", email="ap@requesters.example")
    opp_id = opportunity(env.sf, account_id, None, "Prospecting")
    one_time = price(client, amount=7_500)
    created = env.sf.Stripe_Request__c.create(
        {
            "Opportunity__c": opp_id,
            "Action__c": "payment_link",
            "Price_Id__c": one_time,
            "Quantity__c": 3,
        }
    )
    request_id = str(created["id"])
    env.deliver(env.change("Stripe_Request__c", request_id, {"Price_Id__c": one_time}, "created"))
    invoice_request = env.sf.Stripe_Request__c.create(
        {"Account__c": account_id, "Price_Id__c": one_time}
    )
    invoice_id = str(invoice_request["id"])
    env.deliver(env.change("Stripe_Request__c", invoice_id, {"Price_Id__c": one_time}, "created"))
    assert env.run()["done"] == 2

    link_row = env.sf.Stripe_Request__c.get(request_id)
    [link] = client.v1.payment_links.list().data
    assert (link_row["Status__c"], link_row["Stripe_Payment_Link_Url__c"]) == (
        "Payment link created",
        link.url,
    )
    assert link.metadata["salesforce_request_id"] == request_id
    assert link.metadata["salesforce_opportunity_id"] == opp_id
    assert client.v1.payment_links.line_items.list(link.id).data[0].quantity == 3

    row = env.sf.Stripe_Request__c.get(invoice_id)
    [customer] = customers_with(client, "ap@requesters.example")
    [invoice] = invoices_of(client, customer.id)
    assert row["Status__c"] == "Invoice sent"
    assert (row["Stripe_Invoice_Id__c"], row["Stripe_Customer_Id__c"]) == (invoice.id, customer.id)
    assert row["Stripe_Invoice_Url__c"] == invoice.hosted_invoice_url
    assert invoice.amount_due == 7_500


# ---- the Opportunity's products ---------------------------------------------------------


def product(sf: Salesforce, name: str, price_id: str | None, list_price: float = 100.0) -> str:
    """A Product2 with its Stripe price and its standard price book entry (the entry's Id)."""
    product_id = sf.Product2.create(
        {"Name": name, "IsActive": True, "Stripe_Price_Id__c": price_id}
    )["id"]
    [book] = sf.query("SELECT Id FROM Pricebook2 WHERE IsStandard = true")["records"]
    entry = sf.PricebookEntry.create(
        {
            "Pricebook2Id": book["Id"],
            "Product2Id": product_id,
            "UnitPrice": list_price,
            "IsActive": True,
        }
    )
    return str(entry["id"])


def add_line(sf: Salesforce, opp_id: str, entry_id: str, quantity: float) -> str:
    created = sf.OpportunityLineItem.create(
        {
            "OpportunityId": opp_id,
            "PricebookEntryId": entry_id,
            "Quantity": quantity,
            "UnitPrice": 1,
        }
    )
    return str(created["id"])


def contact_role(sf: Salesforce, opp_id: str, account_id: str, email: str, primary: bool) -> str:
    contact_id = str(
        sf.Contact.create({"LastName": "Role", "Email": email, "AccountId": account_id})["id"]
    )
    sf.OpportunityContactRole.create(
        {"OpportunityId": opp_id, "ContactId": contact_id, "IsPrimary": primary}
    )
    return contact_id


def test_two_products_make_one_invoice_with_two_items_for_the_primary_contact(env: Env) -> None:
    client = env.boxes.client
    widget = price(client, amount=5_000)
    setup_fee = price(client, amount=20_000)
    account_id = account_with_contact(env.sf, "Products Co", email="oldest@products.example")
    opp_id = opportunity(env.sf, account_id, None, "Negotiation/Review")
    lines = [
        add_line(env.sf, opp_id, product(env.sf, "Widget Pro", widget), 3),
        add_line(env.sf, opp_id, product(env.sf, "Setup", setup_fee), 1),
    ]
    contact_role(env.sf, opp_id, account_id, "evaluator@products.example", primary=False)
    buyer = contact_role(env.sf, opp_id, account_id, "buyer@products.example", primary=True)
    close_won(env, opp_id)
    close_won(env, opp_id, source="poll")  # delivered twice
    env.deliver(env.change("Opportunity", opp_id, {"StageName": "Closed Won"}))
    assert env.run()["done"] == 3

    assert customers_with(client, "oldest@products.example") == []
    [customer] = customers_with(client, "buyer@products.example")  # the primary's email
    assert customer.name == "Products Co"
    [invoice] = invoices_of(client, customer.id)
    assert invoice.status == "open" and invoice.amount_due == 3 * 5_000 + 20_000
    items = client.v1.invoice_items.list({"invoice": invoice.id}).data
    assert sorted((i.pricing.price_details.price, i.quantity) for i in items) == sorted(
        [(widget, 3), (setup_fee, 1)]
    )
    assert sorted(i.metadata["salesforce_line_id"] for i in items) == sorted(lines)
    row = opp_row(env.sf, opp_id)
    assert (row["Stripe_Status__c"], row["Stripe_Invoice_Id__c"]) == ("Invoice sent", invoice.id)
    # the primary contact role's Contact is linked to the customer, for Stripe's own events
    assert env.sf.Contact.get(buyer)["Stripe_Customer_Id__c"] == customer.id
    link = Links(env.runtime.engine).known([customer.id])[customer.id]
    assert (link.account_id, link.contact_id) == (account_id, buyer)


def test_a_line_edited_and_one_removed_between_a_crash_and_its_retry(env: Env) -> None:
    """The worker dies after Stripe made the first line's item; the rep then changes that
    line's quantity and removes the other line: the draft ends with one item, of the line as
    it is now."""
    client = env.boxes.client
    account_id = account_with_contact(env.sf, "Editors", email="ap@editors.example")
    opp_id = opportunity(env.sf, account_id, None, "Prospecting")
    first_price, second_price = price(client, amount=1_000), price(client, amount=7_000)
    first = add_line(env.sf, opp_id, product(env.sf, "Seats", first_price), 2)
    second = add_line(env.sf, opp_id, product(env.sf, "Extras", second_price), 1)
    base = env.runtime.action_handler().stripe
    registry = _handler(env, ActionsConfig(enabled=True), DiesOnce(base, "item-"))
    close_won(env, opp_id)
    worker = env.worker(registry)
    worker.run_once()
    env.sf.OpportunityLineItem.update(first, {"Quantity": 5})
    env.sf.OpportunityLineItem.delete(second)
    env.clock.now += timedelta(hours=1)
    assert env.run(worker)["done"] == 1
    [customer] = customers_with(client, "ap@editors.example")
    [invoice] = invoices_of(client, customer.id)
    [item] = client.v1.invoice_items.list({"invoice": invoice.id}).data
    assert (item.pricing.price_details.price, item.quantity) == (first_price, 5)
    assert invoice.amount_due == 5_000 and invoice.status == "open"
    assert opp_row(env.sf, opp_id)["Stripe_Status__c"] == "Invoice sent"


def test_a_product_without_a_stripe_price_is_said_on_the_opportunity(env: Env) -> None:
    client = env.boxes.client
    account_id = account_with_contact(env.sf, "Half Priced", email="ap@half.example")
    opp_id = opportunity(env.sf, account_id, price(client), "Prospecting")  # products win
    add_line(env.sf, opp_id, product(env.sf, "Widget", price(client)), 1)
    add_line(env.sf, opp_id, product(env.sf, "Widget Pro", None), 2)
    close_won(env, opp_id)
    counts = env.run()
    assert counts["dead"] == 1
    row = opp_row(env.sf, opp_id)
    assert row["Stripe_Status__c"] == "Error"
    assert row["Stripe_Error__c"] == (
        "line 2 (Widget Pro): the product has no Stripe price: set Product2.Stripe_Price_Id__c "
        "of Widget Pro to the id of a Stripe price (price_...)"
    )
    assert client.v1.customers.list().data == [] and client.v1.invoices.list().data == []


def test_a_subscription_of_products_recurring_items_and_a_one_time_fee(env: Env) -> None:
    client = env.boxes.client
    monthly = price(client, recurring=True, amount=4_900)
    onboarding = price(client, amount=15_000)
    account_id = account_with_contact(env.sf, "Subscribing Products", email="ap@subp.example")
    opp_id = opportunity(env.sf, account_id, None, "Prospecting")
    seats = product(env.sf, "Seats", monthly)
    add_line(env.sf, opp_id, seats, 2)
    add_line(env.sf, opp_id, product(env.sf, "Onboarding", onboarding), 1)
    add_line(env.sf, opp_id, seats, 1)  # the same price again: one item of 3
    config = ActionsConfig(
        enabled=True, kind="subscription", subscription_collection="send_invoice"
    )
    close_won(env, opp_id)
    assert env.run(env.worker(_handler(env, config)))["done"] == 1
    [customer] = customers_with(client, "ap@subp.example")
    [sub] = client.v1.subscriptions.list({"customer": customer.id}).data
    assert [(i.price.id, i.quantity) for i in sub["items"].data] == [(monthly, 3)]
    first_invoice = client.v1.invoices.retrieve(str(sub.latest_invoice))
    assert first_invoice.amount_due == 3 * 4_900 + 15_000  # the fee on the first invoice
    row = opp_row(env.sf, opp_id)
    assert (row["Stripe_Subscription_Id__c"], row["Stripe_Status__c"]) == (
        sub.id,
        "Subscription active",
    )


def test_the_integration_user_bills_products_with_the_generated_set(
    boxes: Boxes, tmp_path: Path
) -> None:
    """As in production: the API-only integration user (JWT) holding only the permission set
    `stripe2sf metadata` generated reads the Opportunity's products (Product2 and its price
    field granted; OpportunityLineItem and OpportunityContactRole through Opportunity) and
    links the primary contact role's Contact."""
    boxes.salesforce.reset()
    boxes.stripe.reset()
    assign_permission_set(boxes.salesforce.instance_url, boxes.salesforce.ca_path)
    settings = settings_for(
        boxes.salesforce,
        tmp_path,
        stripe_api_key=boxes.stripe.api_key,
        stripe_api_base=boxes.stripe.api_base,
        config_path=boxes.config_path,
        retry_base_seconds=1,
    )
    runtime = Runtime.build(settings)
    try:
        env = Env(boxes, runtime, Clock())
        client = boxes.client
        widget = price(client, amount=3_000)
        account_id = account_with_contact(env.sf, "Least Co")
        opp_id = opportunity(env.sf, account_id, None, "Prospecting")
        add_line(env.sf, opp_id, product(env.sf, "Widget", widget), 2)
        buyer = contact_role(env.sf, opp_id, account_id, "buyer@least.example", primary=True)
        close_won(env, opp_id)
        assert env.run()["done"] == 1
    finally:
        runtime.close()
    [customer] = customers_with(client, "buyer@least.example")
    [invoice] = invoices_of(client, customer.id)
    assert invoice.amount_due == 6_000
    assert opp_row(env.sf, opp_id)["Stripe_Status__c"] == "Invoice sent"
    assert env.sf.Contact.get(buyer)["Stripe_Customer_Id__c"] == customer.id
