"""The Salesforce lookups of a whole batch as few SOQL queries (pure).

Accounts and Contacts by Stripe customer id, and Contacts by email, are asked for every
customer of a batch with one `IN (...)` query per kind (split so that each query stays well
under Salesforce's limits: SOQL text 100,000 characters, and a query travels in a GET URL, so
we keep it far shorter); the answer is split back per key. The other Salesforce lookups (a
queue, open dunning Tasks, a review Task, accounts by web domain) are rare and each run
as asked, once per distinct SOQL.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from stripe2sf.domain import soql
from stripe2sf.domain.context import FieldNames, Lookup, LookupKind, normalize_email

MAX_IN_CHARS = 8_000  # the IN list of one query (URL-encoded, a query stays far under 16 KB)
MAX_IN_VALUES = 200
BATCHED = (
    LookupKind.SF_ACCOUNT_BY_CUSTOMER,
    LookupKind.SF_CONTACT_BY_CUSTOMER,
    LookupKind.SF_CONTACTS_BY_EMAIL,
)
_PER_KEY = {  # the LIMIT each single lookup has
    LookupKind.SF_ACCOUNT_BY_CUSTOMER: 2,
    LookupKind.SF_CONTACT_BY_CUSTOMER: 2,
    LookupKind.SF_CONTACTS_BY_EMAIL: 50,
}


@dataclass(frozen=True)
class Query:
    """One SOQL query answering `lookups` (split back by `split`)."""

    soql: str
    kind: LookupKind | None  # None: one plain lookup
    lookups: tuple[Lookup, ...]


def chunks(values: Sequence[str], max_chars: int = MAX_IN_CHARS) -> list[list[str]]:
    """Values in order, in groups whose quoted IN list stays under `max_chars`."""
    out: list[list[str]] = []
    size = 0
    for value in values:
        length = len(soql.quote(value)) + 2
        if not out or size + length > max_chars or len(out[-1]) >= MAX_IN_VALUES:
            out.append([])
            size = 0
        out[-1].append(value)
        size += length
    return out


def _in(values: Sequence[str]) -> str:
    return ", ".join(soql.quote(v) for v in values)


def _combined(kind: LookupKind, keys: Sequence[str], names: FieldNames) -> str:
    cust = names.customer_id
    if kind == LookupKind.SF_ACCOUNT_BY_CUSTOMER:
        fields = soql.account_fields(cust, names.billing_status, names.person)
        return f"SELECT {fields} FROM Account WHERE {cust} IN ({_in(keys)})"
    if kind == LookupKind.SF_CONTACT_BY_CUSTOMER:
        return f"SELECT {soql.contact_fields(cust)} FROM Contact WHERE {cust} IN ({_in(keys)})"
    return (
        f"SELECT {soql.contact_fields(cust)} FROM Contact "
        f"WHERE Email IN ({_in(keys)}) ORDER BY CreatedDate"
    )


def queries(lookups: Sequence[Lookup], names: FieldNames) -> list[Query]:
    """The queries answering `lookups` (Salesforce kinds only), distinct lookups once."""
    batched: dict[LookupKind, dict[str, Lookup]] = {}
    plain: dict[str, list[Lookup]] = {}
    for lookup in dict.fromkeys(lookups):
        if lookup.kind in BATCHED:
            batched.setdefault(lookup.kind, {})[lookup.key] = lookup
        elif lookup.is_salesforce:
            plain.setdefault(lookup.soql or "", []).append(lookup)
    out: list[Query] = []
    for kind, by_key in batched.items():
        if len(by_key) == 1:
            [only] = by_key.values()
            out.append(Query(only.soql or "", None, (only,)))
            continue
        for keys in chunks(sorted(by_key)):
            out.append(Query(_combined(kind, keys, names), kind, tuple(by_key[k] for k in keys)))
    out.extend(Query(text, None, tuple(found)) for text, found in plain.items())
    return out


def split(
    query: Query, rows: Sequence[Mapping[str, Any]], names: FieldNames
) -> dict[Lookup, list[Mapping[str, Any]]]:
    """A query's rows back per lookup, as each single lookup would have answered."""
    if query.kind is None:
        return {lookup: list(rows) for lookup in query.lookups}
    out: dict[Lookup, list[Mapping[str, Any]]] = {lookup: [] for lookup in query.lookups}
    by_key = {lookup.key: lookup for lookup in query.lookups}
    limit = _PER_KEY[query.kind]
    for row in rows:
        if query.kind == LookupKind.SF_CONTACTS_BY_EMAIL:
            key = normalize_email(str(row.get("Email") or ""))
        else:
            key = str(row.get(names.customer_id) or "")
        lookup = by_key.get(key)
        if lookup is not None and len(out[lookup]) < limit:
            out[lookup].append(row)
    return out


def this_round(asked: Sequence[Lookup]) -> list[Lookup]:
    """The lookups to answer now: while any Stripe read is still needed, only the reads that
    are not Salesforce queries. A Salesforce lookup often waits on a Stripe answer (Contacts
    by the customer's email need the customer), so asking Salesforce only once Stripe has
    answered lets one query round (one call) serve a new customer instead of two; the Stripe
    reads themselves cost no Salesforce call."""
    if any(x.is_stripe for x in asked):
        return [x for x in asked if not x.is_salesforce]
    return list(asked)
