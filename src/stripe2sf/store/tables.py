"""Table definitions (SQLAlchemy Core). Alembic migrations under `migrations/` create them."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    DateTime,
    Dialect,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
)
from sqlalchemy.types import TypeDecorator

metadata = MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "pk": "pk_%(table_name)s",
    }
)


class UTCDateTime(TypeDecorator[datetime]):
    """Stores naive UTC, returns aware UTC: one behaviour on SQLite and PostgreSQL."""

    impl = DateTime
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is not None:
            value = value.astimezone(UTC).replace(tzinfo=None)
        return value

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if isinstance(value, str):
            value = datetime.fromisoformat(value)
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


PK = BigInteger().with_variant(Integer(), "sqlite")

# Event states: pending (waiting for or between attempts), done, ignored (type not handled),
# dead (in the dead letters).
events = Table(
    "events",
    metadata,
    Column("id", PK, primary_key=True, autoincrement=True),
    Column("event_id", String(255), nullable=False, unique=True),
    Column("type", String(128), nullable=False),
    Column("lane", String(255), nullable=False),
    Column("created", BigInteger, nullable=False),
    Column("livemode", Boolean, nullable=False, default=False),
    Column("api_version", String(64)),
    Column("payload", Text, nullable=False),
    Column("source", String(16), nullable=False, default="webhook"),
    Column("state", String(16), nullable=False),
    Column("attempts", Integer, nullable=False, default=0),
    Column("received_at", UTCDateTime, nullable=False),
    Column("next_attempt_at", UTCDateTime),
    Column("processed_at", UTCDateTime),
    Column("last_error", Text),
    Column("error_kind", String(128)),
    Index("ix_events_lane_order", "lane", "state", "created", "id"),
    Index("ix_events_state_received", "state", "received_at"),
)

# One row per lane: the lease that makes one worker at a time apply a customer's events.
lanes = Table(
    "lanes",
    metadata,
    Column("lane", String(255), primary_key=True),
    Column("lease_owner", String(128)),
    Column("lease_expires_at", UTCDateTime),
    Column("next_due_at", UTCDateTime),
    Column("head_created", BigInteger),
    Index("ix_lanes_due", "next_due_at", "head_created"),
)

attempts = Table(
    "attempts",
    metadata,
    Column("id", PK, primary_key=True, autoincrement=True),
    Column("event_id", String(255), nullable=False, index=True),
    Column("attempt", Integer, nullable=False),
    Column("worker", String(128), nullable=False),
    Column("started_at", UTCDateTime, nullable=False),
    Column("finished_at", UTCDateTime, nullable=False),
    Column("outcome", String(16), nullable=False),
    Column("error", Text),
    Column("error_kind", String(128)),
)

# Alert throttling, shared by every process: one message per kind per period.
alerts = Table(
    "alerts",
    metadata,
    Column("kind", String(128), primary_key=True),
    Column("last_sent_at", UTCDateTime),
    Column("suppressed", Integer, nullable=False, default=0),
    Column("last_message", Text),
)

# The Stripe timestamp each synced Stripe object was last written to Salesforce from: a late
# event never overwrites newer state.
sync_ledger = Table(
    "sync_ledger",
    metadata,
    Column("object_id", String(255), primary_key=True),
    Column("stripe_ts", BigInteger, nullable=False),
    Column("event_id", String(255)),
    Column("updated_at", UTCDateTime, nullable=False),
)

# Append-only, hash-chained audit trail of every Salesforce write and refusal.
audit_log = Table(
    "audit_log",
    metadata,
    Column("seq", BigInteger, primary_key=True, autoincrement=False),
    Column("at", String(40), nullable=False),
    Column("event_id", String(255), index=True),
    Column("customer_id", String(255), index=True),
    Column("action", String(16), nullable=False),
    Column("outcome", String(16), nullable=False),
    Column("sobject", String(128)),
    Column("external_id", String(255)),
    Column("record_id", String(32)),
    Column("fields", Text, nullable=False),
    Column("error", Text),
    Column("prev_hash", String(64), nullable=False),
    Column("hash", String(64), nullable=False),
)

# One row: the chain's head, locked while appending so concurrent workers never fork the chain.
audit_head = Table(
    "audit_head",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=False),
    Column("seq", BigInteger, nullable=False),
    Column("hash", String(64), nullable=False),
)
