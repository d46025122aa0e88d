"""backfill runs, checkpoints, digests; reconcile runs

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-27 06:50:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

PK = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "backfill_runs",
        sa.Column("id", PK, autoincrement=True, nullable=False),
        sa.Column("status", sa.String(length=32), nullable=False),
        sa.Column("since", sa.BigInteger(), nullable=True),
        sa.Column("as_of", sa.BigInteger(), nullable=False),
        sa.Column("objects", sa.String(length=255), nullable=False),
        sa.Column("options", sa.Text(), nullable=False),
        sa.Column("staging_path", sa.Text(), nullable=False),
        sa.Column("started_at", sa.DateTime(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.Column("finished_at", sa.DateTime(), nullable=True),
        sa.Column("message", sa.Text(), nullable=True),
        sa.Column("summary", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_backfill_runs")),
    )
    op.create_index("ix_backfill_runs_status", "backfill_runs", ["status"], unique=False)
    op.create_table(
        "backfill_checkpoints",
        sa.Column("run_id", sa.BigInteger(), nullable=False),
        sa.Column("phase", sa.String(length=64), nullable=False),
        sa.Column("cursor", sa.String(length=255), nullable=True),
        sa.Column("done", sa.Boolean(), nullable=False),
        sa.Column("counts", sa.Text(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("run_id", "phase", name=op.f("pk_backfill_checkpoints")),
    )
    op.create_table(
        "backfill_digests",
        sa.Column("object_id", sa.String(length=255), nullable=False),
        sa.Column("digest", sa.String(length=64), nullable=False),
        sa.Column("run_id", sa.BigInteger(), nullable=False),
        sa.Column("written_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("object_id", name=op.f("pk_backfill_digests")),
    )
    op.create_table(
        "reconcile_runs",
        sa.Column("id", PK, autoincrement=True, nullable=False),
        sa.Column("started_at", sa.DateTime(), nullable=False),
        sa.Column("finished_at", sa.DateTime(), nullable=True),
        sa.Column("fix", sa.Boolean(), nullable=False),
        sa.Column("drift", sa.Integer(), nullable=False),
        sa.Column("fixed", sa.Integer(), nullable=False),
        sa.Column("remaining", sa.Integer(), nullable=True),
        sa.Column("counts", sa.Text(), nullable=False),
        sa.Column("report_path", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_reconcile_runs")),
    )


def downgrade() -> None:
    op.drop_table("reconcile_runs")
    op.drop_table("backfill_digests")
    op.drop_table("backfill_checkpoints")
    op.drop_index("ix_backfill_runs_status", table_name="backfill_runs")
    op.drop_table("backfill_runs")
