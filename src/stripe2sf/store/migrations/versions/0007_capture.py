"""Salesforce change capture: replay positions, poll snapshots (Step 12)

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-03 18:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "capture_positions",
        sa.Column("channel", sa.String(length=255), nullable=False),
        sa.Column("replay_id", sa.String(length=255), nullable=True),
        sa.Column("last_commit_ms", sa.BigInteger(), nullable=True),
        sa.Column("events", sa.BigInteger(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("channel", name=op.f("pk_capture_positions")),
    )
    op.create_table(
        "poll_watermarks",
        sa.Column("entity", sa.String(length=255), nullable=False),
        sa.Column("watermark_ms", sa.BigInteger(), nullable=True),
        sa.Column("started_ms", sa.BigInteger(), nullable=False),
        sa.Column("events", sa.BigInteger(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("entity", name=op.f("pk_poll_watermarks")),
    )
    op.create_table(
        "poll_snapshots",
        sa.Column("entity", sa.String(length=255), nullable=False),
        sa.Column("record_id", sa.String(length=32), nullable=False),
        sa.Column("modstamp_ms", sa.BigInteger(), nullable=False),
        sa.Column("fields", sa.Text(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("entity", "record_id", name=op.f("pk_poll_snapshots")),
    )
    # a captured change finds its record's Stripe customer by these
    op.create_index("ix_customer_links_account_id", "customer_links", ["account_id"])
    op.create_index("ix_customer_links_contact_id", "customer_links", ["contact_id"])


def downgrade() -> None:
    op.drop_index("ix_customer_links_contact_id", table_name="customer_links")
    op.drop_index("ix_customer_links_account_id", table_name="customer_links")
    op.drop_table("poll_snapshots")
    op.drop_table("poll_watermarks")
    op.drop_table("capture_positions")
