"""The review queue: each customer waiting for a person, with its email and name (from the
customer events stored) and the Contacts that have that email in Salesforce (name, email,
Account, Account owner, last activity), each with a one-click "Link" for operators.

A viewer sees how many customers wait, nothing about them."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from urllib.parse import urlencode

from stripe2sf.engine.review import Candidate
from stripe2sf.web.dashboard import formatting as fmt
from stripe2sf.web.dashboard.auth import Session
from stripe2sf.web.dashboard.html import e, hidden_csrf, table


def _link_form(session: Session, customer: str, contact_id: str, label: str) -> str:
    return (
        '<form class="inline" method="post" action="/review/resolve">'
        f"{hidden_csrf(session.csrf)}"
        f'<input type="hidden" name="customer_id" value="{e(customer)}">'
        f'<input type="hidden" name="contact_id" value="{e(contact_id)}">'
        f'<button type="submit" data-testid="link-{e(contact_id)}" '
        f'aria-label="{e(label)}">Link</button></form>'
    )


def candidates_table(
    session: Session,
    customer: str,
    found: list[Candidate] | str,
    record_link: Callable[[str | None], str],
) -> str:
    """The Contacts a person may pick (`found` a sentence when they could not be read)."""
    if isinstance(found, str):
        return f'<p class="bad" data-testid="candidates-error">{e(found)}</p>'
    if not found:
        return '<p class="muted">No Contact has this email in Salesforce now.</p>'
    rows = []
    for c in found:
        linked = (
            "this customer"
            if c.linked_to == customer
            else (f"another customer ({c.linked_to})" if c.linked_to else "")
        )
        rows.append(
            [
                e(c.name),
                e(c.email),
                e(c.account),
                e(c.owner),
                e(c.last_activity or fmt.DASH),
                record_link(c.contact_id),
                e(linked),
                _link_form(session, customer, c.contact_id, f"Link {c.name} ({c.account})"),
            ]
        )
    return table(
        ["Contact", "email", "Account", "owner", "last activity", "record", "linked to", ""],
        rows,
        f"candidates-{customer}",
    )


def review_body(
    session: Session,
    customers: list[str],
    facts: Mapping[str, Mapping[str, str]],
    candidates: Callable[[str], list[Candidate] | str],
    record_link: Callable[[str | None], str],
    done: str,
) -> str:
    body = ""
    if done:
        body += f'<p class="flash" data-testid="flash">{e(done)}</p>'
    body += (
        "<p>Customers waiting for a person to pick their Contact: "
        f'<span data-testid="review-count">{e(fmt.number(len(customers)))}</span>. '
        "Each has a review Task in Salesforce. An operator links the Contact a person "
        "picked; stripe2sf then replays the customer's events.</p>"
    )
    if not session.user.is_operator or not customers:
        return body
    for customer in customers:
        known = facts.get(customer, {})
        email = known.get("email", "")
        name = known.get("name", "")
        events = f'<a href="/events?{urlencode({"q": customer})}">events</a>'
        body += (
            f'<section class="review" data-testid="review-{e(customer)}">'
            f"<h2>{e(name or 'Customer without a name')} "
            f'<span class="muted">{e(email or "no email")}</span></h2>'
            f"<p>Stripe customer {e(customer)} · {events}</p>"
            + candidates_table(session, customer, candidates(email), record_link)
            + '<form class="inline" method="post" action="/review/resolve">'
            f"{hidden_csrf(session.csrf)}"
            f'<input type="hidden" name="customer_id" value="{e(customer)}">'
            '<p class="muted">Another Contact: '
            '<input name="contact_id" placeholder="Contact Id (003...)" '
            f'aria-label="Contact for {e(customer)}" required> '
            "<button>Link and replay</button></p></form></section>"
        )
    return body
