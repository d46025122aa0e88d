"""SOQL text for the planner's lookups, with literals escaped (never string-concatenated raw)."""

from __future__ import annotations

import re

_CONTROL = re.compile(r"[\x00-\x1f]")


def quote(value: str) -> str:
    """A SOQL string literal: backslash and quote escaped, control characters refused."""
    if _CONTROL.search(value):
        raise ValueError("control characters are not allowed in a SOQL literal")
    escaped = value.replace("\\", "\\\\").replace("'", "\\'")
    return f"'{escaped}'"


def like_contains(value: str) -> str:
    """A LIKE pattern literal matching `value` anywhere (% and _ in value escaped)."""
    escaped = value.replace("\\", "\\\\").replace("'", "\\'")
    escaped = escaped.replace("%", "\\%").replace("_", "\\_")
    return f"'%{escaped}%'"


def account_fields(field: str, billing_field: str, person: bool = False) -> str:
    """The Account fields every lookup reads (the backfill's index holds the same rows); with
    person accounts, whether it is one and its person contact."""
    fields = f"Id, Name, OwnerId, CreatedDate, LastActivityDate, {billing_field}, {field}"
    return fields + ", IsPersonAccount, PersonContactId" if person else fields


def contact_fields(field: str) -> str:
    """The Contact fields every lookup reads, with the Stripe customer the Contact's Account
    is linked to (a parent field)."""
    return f"Id, Email, AccountId, OwnerId, CreatedDate, LastActivityDate, {field}, Account.{field}"


def account_by_customer(
    field: str, billing_field: str, customer_id: str, person: bool = False
) -> str:
    return (
        f"SELECT {account_fields(field, billing_field, person)} "
        f"FROM Account WHERE {field} = {quote(customer_id)} LIMIT 2"
    )


def contact_by_customer(field: str, customer_id: str) -> str:
    return (
        f"SELECT {contact_fields(field)} FROM Contact WHERE {field} = {quote(customer_id)} LIMIT 2"
    )


def contacts_by_email(field: str, email: str) -> str:
    return (
        f"SELECT {contact_fields(field)} "
        f"FROM Contact WHERE Email = {quote(email)} ORDER BY CreatedDate LIMIT 50"
    )


def accounts_by_domain(domain_field: str, domain: str) -> str:
    return (
        f"SELECT Id, Name, OwnerId, CreatedDate, LastActivityDate, {domain_field} "
        f"FROM Account WHERE {domain_field} LIKE {like_contains(domain)} LIMIT 50"
    )


def queue_by_name(name: str) -> str:
    return (
        "SELECT Id, Name, DeveloperName FROM Group WHERE Type = 'Queue' AND "
        f"(Name = {quote(name)} OR DeveloperName = {quote(name)}) LIMIT 1"
    )


def open_dunning(sobject: str, field: str, invoice_id: str) -> str:
    prefix = invoice_id.replace("\\", "\\\\").replace("'", "\\'").replace("_", "\\_")
    return (
        f"SELECT Id, {field}, CreatedDate FROM {sobject} "
        f"WHERE {field} LIKE '{prefix}:%' AND IsClosed = false"
    )


def review_task(field: str, customer_id: str) -> str:
    key = quote(f"review:{customer_id}")
    return f"SELECT Id, {field}, CreatedDate FROM Task WHERE {field} = {key}"
