"""The demo's other direction: Salesforce -> Stripe, as sales reps work in Salesforce.

stripe2sf runs with Change Data Capture on (`STRIPE2SF_CAPTURE=cdc`: the Salesforce sandbox's
Pub/Sub API), `[salesforce_to_stripe]` and `[actions]` on, and the Contact's email owned by
Salesforce once the Contact exists (`create_only`). After the Stripe scenario has been synced:

1. a sales rep (a seeded user who owns the Contact, logged in with simple-salesforce, not
   stripe2sf's integration user) corrects the email of a Contact stripe2sf linked to a Stripe
   customer: the Stripe customer's email follows, written once, and the `customer.updated` it
   causes does not come back to Salesforce (the Contact stays as the rep left it);
2. the rep sets an Opportunity with a Stripe price (seeded on an Account no Stripe customer has
   yet) to Closed Won: stripe2sf makes the customer, sends an invoice and writes its id, hosted
   URL and status back on the Opportunity;
3. the customer pays that invoice in Stripe: the payment shows on that Account as a
   `Stripe_Payment__c`, through the usual webhook path.

The steps use public APIs only (the `stripe` SDK, simple-salesforce as the rep); what the
summary checks is read through the sandboxes' control planes, which count no API calls.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import date, timedelta
from typing import Any

import httpx
import requests
import stripe
from simple_salesforce import Salesforce, SFType

from stripe2sf.demo.integration_user import (
    ADMIN_PASSWORD,
    ADMIN_TOKEN,
    API_VERSION,
    CLIENT_ID,
    CLIENT_SECRET,
)
from stripe2sf.demo.processes import Endpoints
from stripe2sf.demo.seed import COMPANIES, SeededOrg
from stripe2sf.demo.summary import Summary
from stripe2sf.domain.config import default_config

# appended to the demo's stripe2sf.toml (every stripe2sf process and the metadata read it)
TWO_WAY_TOML = """
# Both directions (written by `stripe2sf demo`): fields Salesforce owns go back to the linked
# Stripe customer, and an Opportunity won with a Stripe price sends a Stripe invoice. The
# changes come from Change Data Capture (STRIPE2SF_CAPTURE=cdc in the demo's settings).
[salesforce_to_stripe]
enabled = true

[actions]
enabled = true
stage = "Closed Won"
kind = "invoice"
days_until_due = 30

[ownership]
# set from Stripe when stripe2sf creates the Contact; from then on a rep's correction wins
"Contact.Email" = "create_only"
"""

# the seeded company whose Opportunity the rep wins: no scenario customer has its email
DEAL_COMPANY = COMPANIES[-1]
DEAL_PRODUCT = "Onboarding package"
DEAL_AMOUNT = 150_000  # cents: USD 1,500.00
OPEN_STAGE = "Negotiation/Review"
WON_STAGE = "Closed Won"
INVOICE_SENT = "Invoice sent"


@dataclass
class Deal:
    """The seeded Opportunity the rep will win."""

    opportunity_id: str
    account_id: str
    owner_id: str
    price_id: str


@dataclass
class TwoWayReport:
    """What happened, for the summary's checks (ids, values and seconds)."""

    contact_id: str = ""
    customer_id: str = ""
    rep_username: str = ""
    rep_user_id: str = ""
    old_email: str = ""
    new_email: str = ""
    email_seconds: float | None = None
    deal: Deal | None = None
    invoice_id: str = ""
    invoice_seconds: float | None = None
    charge_id: str = ""
    payment_seconds: float | None = None
    errors: list[str] = field(default_factory=list)


Progress = Callable[[str], None]


def config_toml(base: str | None) -> str:
    """The demo's stripe2sf.toml: the org variation's (if any) and the two-way sections."""
    return (base or "# stripe2sf's configuration for the demo\n") + TWO_WAY_TOML


def capture_env(pubsub_port: int) -> dict[str, str]:
    """stripe2sf's settings for Change Data Capture from the sandbox's Pub/Sub API (TLS with
    the sandbox's CA, which SALESFORCE_CA_BUNDLE already names)."""
    return {
        "STRIPE2SF_CAPTURE": "cdc",
        "SALESFORCE_PUBSUB_ENDPOINT": f"127.0.0.1:{pubsub_port}",
        # the objects whose changes [salesforce_to_stripe] and [actions] use
        "STRIPE2SF_CAPTURE_OBJECTS": "Account,Contact,Opportunity,Stripe_Request__c",
    }


def _control(ends: Endpoints) -> httpx.Client:
    return httpx.Client(base_url=ends.salesforce, verify=str(ends.ca_path), timeout=30)


def records(ends: Endpoints, sobject: str) -> list[dict[str, Any]]:
    """Every record of `sobject`, read through the control plane (no API call counted)."""
    with _control(ends) as sf:
        answer = sf.get(f"/_sandbox/records/{sobject}")
        answer.raise_for_status()
        rows: list[dict[str, Any]] = answer.json()["records"]
        return rows


def seed_deal(client: stripe.StripeClient, ends: Endpoints, org: SeededOrg) -> Deal:
    """A Stripe product and one-time price, and an open Opportunity carrying that price on a
    seeded Account no Stripe customer will match (the admin's data, seeded like the rest)."""
    product = client.v1.products.create({"name": DEAL_PRODUCT})
    price = client.v1.prices.create(
        {"product": product.id, "currency": "usd", "unit_amount": DEAL_AMOUNT}
    )
    [account] = [a for a in records(ends, "Account") if a.get("Name") == DEAL_COMPANY]
    owner = org.accounts[account["Id"]]
    with _control(ends) as sf:
        answer = sf.post(
            "/_sandbox/seed",
            json={
                "sobject": "Opportunity",
                "records": [
                    {
                        "Name": f"{DEAL_COMPANY} - {DEAL_PRODUCT}",
                        "AccountId": account["Id"],
                        "OwnerId": owner,
                        "StageName": OPEN_STAGE,
                        "CloseDate": (date.today() + timedelta(days=14)).isoformat(),
                        "Amount": DEAL_AMOUNT / 100,
                        "Stripe_Price_Id__c": price.id,
                    }
                ],
            },
        )
        answer.raise_for_status()
        [opportunity_id] = answer.json()["ids"]
    return Deal(str(opportunity_id), str(account["Id"]), str(owner), str(price.id))


def rep_login(ends: Endpoints, username: str) -> Salesforce:
    """simple-salesforce logged in as a sales rep (OAuth username-password flow; every active
    user of the sandbox org logs in with the org's password and security token)."""
    session = requests.Session()
    session.trust_env = False
    session.verify = str(ends.ca_path)
    host_port = ends.salesforce.removeprefix("https://")
    return Salesforce(
        username=username,
        password=ADMIN_PASSWORD + ADMIN_TOKEN,
        consumer_key=CLIENT_ID,
        consumer_secret=CLIENT_SECRET,
        domain=host_port + "/login",
        version=API_VERSION,
        session=session,
    )


def sobject(sf: Salesforce, name: str) -> SFType:
    """`sf.<name>` (what `sf.Contact` is), typed."""
    return SFType(name, sf.session_id, sf.sf_instance, sf.sf_version, session=sf.session)


def wait_for(what: str, probe: Callable[[], Any], timeout: float = 60) -> tuple[Any, float]:
    """(the first truthy answer of `probe`, seconds it took); RuntimeError after `timeout`."""
    start = time.monotonic()
    while True:
        found = probe()
        if found:
            return found, time.monotonic() - start
        if time.monotonic() - start > timeout:
            raise RuntimeError(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(0.1)


def _users(ends: Endpoints) -> dict[str, dict[str, Any]]:
    return {u["Id"]: u for u in records(ends, "User")}


def _linked_contact(
    client: stripe.StripeClient, ends: Endpoints, org: SeededOrg
) -> tuple[dict[str, Any], str]:
    """A seeded Contact stripe2sf linked to a Stripe customer that still exists."""
    key = default_config().objects.customer_id_field
    seeded = set(org.contacts)
    for contact in records(ends, "Contact"):
        customer_id = contact.get(key)
        if contact["Id"] not in seeded or not customer_id or not contact.get("Email"):
            continue
        customer = client.v1.customers.retrieve(str(customer_id))
        if not getattr(customer, "deleted", False):
            return contact, str(customer_id)
    raise RuntimeError("no seeded Contact is linked to a Stripe customer")


def corrected(email: str) -> str:
    """The address a rep corrects `email` to: the company's real domain (billing@acme.example
    -> billing@acme-corp.example)."""
    local, _, domain = email.lower().partition("@")
    stem, _, tld = domain.partition(".")
    return f"{local}@{stem}-corp.{tld or 'example'}"


def after_corrections(org: SeededOrg, report: TwoWayReport) -> SeededOrg:
    """The seeded org as the summary must see it: the corrected Contact's email is the new one
    (the check that existing Contacts were not duplicated looks for it)."""
    if not report.new_email:
        return org
    old = report.old_email.lower()
    emails = tuple(report.new_email if e.lower() == old else e for e in org.matching_emails)
    return replace(org, matching_emails=emails)


def correct_email(
    client: stripe.StripeClient, ends: Endpoints, org: SeededOrg, report: TwoWayReport
) -> None:
    """The rep who owns a linked Contact corrects its email; Stripe's customer follows."""
    contact, customer_id = _linked_contact(client, ends, org)
    rep = _users(ends)[contact["OwnerId"]]
    report.contact_id, report.customer_id = contact["Id"], customer_id
    report.rep_username, report.rep_user_id = rep["Username"], rep["Id"]
    report.old_email = str(contact["Email"])
    report.new_email = corrected(report.old_email)
    sf = rep_login(ends, report.rep_username)
    sobject(sf, "Contact").update(report.contact_id, {"Email": report.new_email})
    _, report.email_seconds = wait_for(
        f"the Stripe customer {customer_id}'s email to become {report.new_email}",
        lambda: client.v1.customers.retrieve(customer_id).email == report.new_email,
    )


def _opportunity(ends: Endpoints, opportunity_id: str) -> dict[str, Any]:
    [row] = [o for o in records(ends, "Opportunity") if o["Id"] == opportunity_id]
    return row


def win_deal(ends: Endpoints, deal: Deal, report: TwoWayReport) -> None:
    """The Opportunity's owner sets it to Closed Won; stripe2sf sends the invoice and writes
    it back on the Opportunity."""
    rep = _users(ends)[deal.owner_id]
    sf = rep_login(ends, rep["Username"])
    sobject(sf, "Opportunity").update(deal.opportunity_id, {"StageName": WON_STAGE})

    def sent() -> str | None:
        opp = _opportunity(ends, deal.opportunity_id)
        if opp.get("Stripe_Status__c") == INVOICE_SENT and opp.get("Stripe_Invoice_Id__c"):
            return str(opp["Stripe_Invoice_Id__c"])
        if opp.get("Stripe_Error__c"):
            raise RuntimeError(f"stripe2sf could not send the invoice: {opp['Stripe_Error__c']}")
        return None

    report.invoice_id, report.invoice_seconds = wait_for(
        f"the invoice of Opportunity {deal.opportunity_id}", sent
    )


def pay_invoice(
    client: stripe.StripeClient, ends: Endpoints, deal: Deal, report: TwoWayReport
) -> None:
    """The customer pays the invoice with a card in Stripe; the payment reaches the Account."""
    invoice = client.v1.invoices.retrieve(report.invoice_id)
    customer = str(invoice.customer)
    card = client.v1.payment_methods.attach("pm_card_visa", {"customer": customer})
    client.v1.invoices.pay(report.invoice_id, {"payment_method": card.id})
    names = default_config().objects

    def arrived() -> str | None:
        # the deal's Account had no Stripe customer before: any payment on it is this one
        for row in records(ends, names.payment_object):
            if row.get(names.payment_account_field) == deal.account_id:
                return str(row[names.payment_key_field])
        return None

    report.charge_id, report.payment_seconds = wait_for(
        f"the payment of {report.invoice_id} on Account {deal.account_id}", arrived
    )


def play_two_way(
    client: stripe.StripeClient,
    ends: Endpoints,
    org: SeededOrg,
    deal: Deal,
    progress: Progress,
) -> TwoWayReport:
    """The three steps; a step that fails is written down and the next ones still run where
    they can (the summary's checks say what did not happen)."""
    report = TwoWayReport(deal=deal)
    progress("a sales rep corrects a Contact's email in Salesforce")
    try:
        correct_email(client, ends, org, report)
    except Exception as exc:  # shown in the summary
        report.errors.append(f"email correction: {exc}")
    progress("the rep closes an Opportunity with a Stripe price as won")
    try:
        win_deal(ends, deal, report)
        progress("the customer pays the invoice in Stripe")
        pay_invoice(client, ends, deal, report)
    except Exception as exc:  # shown in the summary
        report.errors.append(f"won Opportunity: {exc}")
    return report


def _seconds(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.2f}"


def _stripe2sf_writes(client: stripe.StripeClient, customer_id: str) -> int:
    """How many of the customer's `customer.updated` events stripe2sf's own requests caused
    (their idempotency keys start with stripe2sf-)."""
    found = 0
    events = client.v1.events.list({"type": "customer.updated", "limit": 100})
    for event in events.auto_paging_iter():
        key = getattr(event.request, "idempotency_key", None) if event.request else None
        if event.data.object["id"] == customer_id and str(key or "").startswith("stripe2sf-"):
            found += 1
    return found


def captured_changes(ends: Endpoints) -> int:
    """Salesforce changes the service captured (its stripe2sf_capture_events_total)."""
    try:
        text = httpx.get(ends.service + "/metrics", timeout=10).text
    except httpx.HTTPError:
        return 0
    return int(
        sum(
            float(line.rsplit(" ", 1)[1])
            for line in text.splitlines()
            if line.startswith("stripe2sf_capture_events_total{")
        )
    )


def check_two_way(
    summary: Summary, client: stripe.StripeClient, ends: Endpoints, report: TwoWayReport
) -> None:
    """The summary's figures and checks of the Salesforce -> Stripe direction."""
    summary.figures.update(
        {
            "Salesforce changes captured (CDC)": captured_changes(ends),
            "rep's email edit -> Stripe customer (s)": _seconds(report.email_seconds),
            "Opportunity won -> invoice on it (s)": _seconds(report.invoice_seconds),
            "invoice paid -> payment on the Account (s)": _seconds(report.payment_seconds),
        }
    )
    email_error = "; ".join(e for e in report.errors if e.startswith("email correction"))
    deal_error = "; ".join(e for e in report.errors if e.startswith("won Opportunity"))
    contacts = {c["Id"]: c for c in records(ends, "Contact")}
    contact = contacts.get(report.contact_id, {})
    stripe_email = (
        client.v1.customers.retrieve(report.customer_id).email if report.customer_id else None
    )
    summary.check(
        "a rep's email correction in Salesforce reached the Stripe customer",
        bool(report.new_email) and stripe_email == report.new_email,
        email_error or f"Stripe has {stripe_email!r}, the rep set {report.new_email!r}",
    )
    writes = _stripe2sf_writes(client, report.customer_id) if report.customer_id else 0
    kept = (
        contact.get("Email") == report.new_email
        and contact.get("LastModifiedById") == report.rep_user_id
    )
    summary.check(
        "no echo: one Stripe update, and the Contact stays as the rep left it",
        writes == 1 and kept,
        f"{writes} Stripe updates by stripe2sf; Contact email {contact.get('Email')!r}, last "
        f"modified by {contact.get('LastModifiedById')} (the rep is {report.rep_user_id})",
    )
    deal = report.deal
    opp = _opportunity(ends, deal.opportunity_id) if deal else {}
    invoice = client.v1.invoices.retrieve(report.invoice_id) if report.invoice_id else None
    accounts = {a["Id"]: a for a in records(ends, "Account")}
    account = accounts.get(deal.account_id, {}) if deal else {}
    key = default_config().objects.customer_id_field
    summary.check(
        "a won Opportunity sent a Stripe invoice, its link on the Opportunity",
        invoice is not None
        and opp.get("Stripe_Invoice_Id__c") == invoice.id
        and opp.get("Stripe_Invoice_Url__c") == invoice.hosted_invoice_url
        and bool(invoice.hosted_invoice_url)
        and invoice.customer == account.get(key),
        deal_error
        or f"Opportunity {opp.get('Stripe_Status__c')!r} {opp.get('Stripe_Invoice_Id__c')!r}; "
        f"Account's customer {account.get(key)!r}",
    )
    summary.check(
        "the invoice paid in Stripe shows as a payment on that Account",
        invoice is not None and invoice.status == "paid" and bool(report.charge_id),
        deal_error
        or f"invoice {invoice.status if invoice else None}, payment {report.charge_id!r}",
    )
