"""Links and written records on disk (migration 0006); the decisions are `domain.matching.links` and
`domain.batch.merge`.

`customer_links`: Stripe customer -> its Account and Contact Ids (and the Account's owner), so
a linked customer is planned without a Salesforce read. `written_records`: per Salesforce
record, a short hash of each field value stripe2sf last wrote to it, so a write of the same
values is not sent again. Both are Salesforce facts, stored as soon as a write is answered
(before the events are recorded): an event applied again after a crash then finds them.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime

from sqlalchemy import Column, Engine, String, Table, Text, delete, select
from sqlalchemy.engine import Connection

from stripe2sf.domain.matching.links import Link
from stripe2sf.store.db import dialect_insert
from stripe2sf.store.tables import UTCDateTime, metadata

customer_links = Table(
    "customer_links",
    metadata,
    Column("customer_id", String(255), primary_key=True),
    Column("account_id", String(32)),
    Column("contact_id", String(32)),
    Column("account_owner_id", String(32)),
    Column("updated_at", UTCDateTime, nullable=False),
)

written_records = Table(
    "written_records",
    metadata,
    Column("record_key", String(640), primary_key=True),
    Column("fields", Text, nullable=False),  # JSON: field name -> short hash of its value
    Column("updated_at", UTCDateTime, nullable=False),
)

_PAGE = 500


def _pages(keys: Iterable[str]) -> Iterable[list[str]]:
    ordered = sorted(set(keys))
    for i in range(0, len(ordered), _PAGE):
        yield ordered[i : i + _PAGE]


class Links:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def known(self, customer_ids: Iterable[str]) -> dict[str, Link]:
        found: dict[str, Link] = {}
        with self.engine.connect() as conn:
            for page in _pages(customer_ids):
                rows = conn.execute(
                    select(customer_links).where(customer_links.c.customer_id.in_(page))
                )
                for r in rows:
                    found[r.customer_id] = Link(r.account_id, r.contact_id, r.account_owner_id)
        return found

    def remember(self, learned: Mapping[str, Link]) -> None:
        """Store links, each over what was known of its customer (one transaction)."""
        if not learned:
            return
        now = datetime.now(UTC)
        with self.engine.begin() as conn:
            old = self._known(conn, learned)
            rows = [
                {
                    "customer_id": cid,
                    "account_id": merged.account_id,
                    "contact_id": merged.contact_id,
                    "account_owner_id": merged.account_owner_id,
                    "updated_at": now,
                }
                for cid, link in sorted(learned.items())
                for merged in [link.over(old.get(cid))]
            ]
            ins = dialect_insert(conn)(customer_links)
            conn.execute(
                ins.on_conflict_do_update(
                    index_elements=["customer_id"],
                    set_={
                        "account_id": ins.excluded.account_id,
                        "contact_id": ins.excluded.contact_id,
                        "account_owner_id": ins.excluded.account_owner_id,
                        "updated_at": ins.excluded.updated_at,
                    },
                ),
                rows,
            )

    def linked_to(self, sobject: str, record_ids: Iterable[str]) -> dict[str, Link]:
        """The customers linked to these Accounts or Contacts (`sobject`), with their links:
        a Salesforce change finds its Stripe customer without a Salesforce read."""
        column = {"Account": customer_links.c.account_id, "Contact": customer_links.c.contact_id}
        if sobject not in column:
            return {}
        found: dict[str, Link] = {}
        with self.engine.connect() as conn:
            for page in _pages(record_ids):
                for r in conn.execute(select(customer_links).where(column[sobject].in_(page))):
                    found[r.customer_id] = Link(r.account_id, r.contact_id, r.account_owner_id)
        return found

    def _known(self, conn: Connection, customer_ids: Iterable[str]) -> dict[str, Link]:
        found: dict[str, Link] = {}
        for page in _pages(customer_ids):
            for r in conn.execute(
                select(customer_links).where(customer_links.c.customer_id.in_(page))
            ):
                found[r.customer_id] = Link(r.account_id, r.contact_id, r.account_owner_id)
        return found

    def forget(self, customer_ids: Iterable[str]) -> None:
        """Drop links Salesforce says are gone; the customers are read again."""
        with self.engine.begin() as conn:
            for page in _pages(customer_ids):
                conn.execute(delete(customer_links).where(customer_links.c.customer_id.in_(page)))

    def written(self, record_keys: Iterable[str]) -> dict[str, dict[str, str]]:
        """Record key -> field -> hash of the value stripe2sf last wrote."""
        found: dict[str, dict[str, str]] = {}
        with self.engine.connect() as conn:
            for page in _pages(record_keys):
                rows = conn.execute(
                    select(written_records.c.record_key, written_records.c.fields).where(
                        written_records.c.record_key.in_(page)
                    )
                )
                for r in rows:
                    found[r.record_key] = json.loads(r.fields)
        return found

    def remember_written(self, written: Mapping[str, Mapping[str, str]]) -> None:
        """Store what was last written to each record: the fields of its last write only (a
        merge with older hashes could claim a value a concurrent write has replaced)."""
        if not written:
            return
        now = datetime.now(UTC)
        rows = [
            {
                "record_key": key,
                "fields": json.dumps(dict(fields), sort_keys=True),
                "updated_at": now,
            }
            for key, fields in sorted(written.items())
        ]
        with self.engine.begin() as conn:
            ins = dialect_insert(conn)(written_records)
            conn.execute(
                ins.on_conflict_do_update(
                    index_elements=["record_key"],
                    set_={"fields": ins.excluded.fields, "updated_at": ins.excluded.updated_at},
                ),
                rows,
            )

    def forget_written(self, record_keys: Iterable[str]) -> None:
        """Another writer (a reconcile repair) wrote these records: compare nothing to them."""
        with self.engine.begin() as conn:
            for page in _pages(record_keys):
                conn.execute(delete(written_records).where(written_records.c.record_key.in_(page)))
