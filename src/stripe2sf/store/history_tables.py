"""Tables of backfill runs, their checkpoints, what each Stripe object was last written from,
and reconciliation runs (migration 0003). Registered on the same MetaData as `tables`."""

from __future__ import annotations

from sqlalchemy import BigInteger, Boolean, Column, Index, Integer, String, Table, Text

from stripe2sf.store.tables import PK, UTCDateTime, metadata

# One row per `stripe2sf backfill` run; a run that did not finish is resumed by the next one.
backfill_runs = Table(
    "backfill_runs",
    metadata,
    Column("id", PK, primary_key=True, autoincrement=True),
    Column("status", String(32), nullable=False),
    Column("since", BigInteger),
    Column("as_of", BigInteger, nullable=False),
    Column("objects", String(255), nullable=False),
    Column("options", Text, nullable=False),
    Column("staging_path", Text, nullable=False),
    Column("started_at", UTCDateTime, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
    Column("finished_at", UTCDateTime),
    Column("message", Text),
    Column("summary", Text),
    Index("ix_backfill_runs_status", "status"),
)

# Where a run is: per phase ("stage:<resource>" while reading Stripe, "<phase>" while writing),
# the cursor after the last committed batch and the counts so far.
backfill_checkpoints = Table(
    "backfill_checkpoints",
    metadata,
    Column("run_id", BigInteger, primary_key=True),
    Column("phase", String(64), primary_key=True),
    Column("cursor", String(255)),
    Column("done", Boolean, nullable=False, default=False),
    Column("counts", Text, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
)

# The fingerprint of the Stripe object each Salesforce write came from: an unchanged object is
# skipped by the next backfill (idempotent re-runs cost no writes).
backfill_digests = Table(
    "backfill_digests",
    metadata,
    Column("object_id", String(255), primary_key=True),
    Column("digest", String(64), nullable=False),
    Column("run_id", BigInteger, nullable=False),
    Column("written_at", UTCDateTime, nullable=False),
)

reconcile_runs = Table(
    "reconcile_runs",
    metadata,
    Column("id", PK, primary_key=True, autoincrement=True),
    Column("started_at", UTCDateTime, nullable=False),
    Column("finished_at", UTCDateTime),
    Column("fix", Boolean, nullable=False, default=False),
    Column("drift", Integer, nullable=False, default=0),
    Column("fixed", Integer, nullable=False, default=0),
    Column("remaining", Integer),
    Column("counts", Text, nullable=False),
    Column("report_path", Text),
)
