"""webhook intake health: refused and accepted deliveries by reason (Step 13)

Per-minute buckets (intake_minutes) and the newest delivery of each outcome (intake_latest),
written by `serve` and read by the overview and `stripe2sf status`.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-03 18:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

MINUTE = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "intake_minutes",
        sa.Column("minute", MINUTE, autoincrement=False, nullable=False),
        sa.Column("outcome", sa.String(length=16), nullable=False),
        sa.Column("reason", sa.String(length=64), nullable=False),
        sa.Column("count", sa.BigInteger(), nullable=False),
        sa.Column("last_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("minute", "outcome", "reason", name=op.f("pk_intake_minutes")),
    )
    op.create_table(
        "intake_latest",
        sa.Column("outcome", sa.String(length=16), nullable=False),
        sa.Column("reason", sa.String(length=64), nullable=False),
        sa.Column("at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("outcome", name=op.f("pk_intake_latest")),
    )


def downgrade() -> None:
    op.drop_table("intake_latest")
    op.drop_table("intake_minutes")
