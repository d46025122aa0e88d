"""Email claims: which Stripe customer has an email address first (migration 0004).

Salesforce keeps one Contact per email, and two new customers of one email may be applied at
the same moment by two lanes or worker processes: both would find no Contact and both create
one. The claim is decided here, before any Salesforce write: the first customer to ask for a
normalized (lower-cased) email holds it for good, every later one is told who holds it and
takes the shared-email path (`domain.matching.resolve`). Insert-if-absent under the table's primary
key, so SQLite and PostgreSQL decide one winner across processes.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime

from sqlalchemy import Column, Engine, String, Table, select

from stripe2sf.domain.context import normalize_email
from stripe2sf.store.db import dialect_insert
from stripe2sf.store.tables import UTCDateTime, metadata

email_claims = Table(
    "email_claims",
    metadata,
    Column("email", String(512), primary_key=True),  # normalized; Stripe allows 512
    Column("customer_id", String(255), nullable=False),
    Column("claimed_at", UTCDateTime, nullable=False),
)


class EmailClaims:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def claim(self, customer_id: str, email: str) -> str:
        """The customer that holds `email`: `customer_id` when nobody held it before."""
        return self.claim_many([(customer_id, email)])[(customer_id, normalize_email(email))]

    def claim_many(self, asks: Iterable[tuple[str, str]]) -> dict[tuple[str, str], str]:
        """(customer id, normalized email) -> holder, for each (customer id, email) asked;
        when several ask for one unclaimed email at once, the first in order gets it."""
        wanted = list(dict.fromkeys((cid, normalize_email(email)) for cid, email in asks))
        if not wanted:
            return {}
        now = datetime.now(UTC)
        first: dict[str, str] = {}
        for cid, email in wanted:
            first.setdefault(email, cid)
        rows = [{"email": e, "customer_id": c, "claimed_at": now} for e, c in sorted(first.items())]
        with self.engine.begin() as conn:
            insert = dialect_insert(conn)(email_claims).on_conflict_do_nothing(
                index_elements=["email"]
            )
            conn.execute(insert, rows)
            found = conn.execute(
                select(email_claims.c.email, email_claims.c.customer_id).where(
                    email_claims.c.email.in_(sorted(first))
                )
            ).all()
        holders = {str(r.email): str(r.customer_id) for r in found}
        return {(cid, email): holders[email] for cid, email in wanted}
