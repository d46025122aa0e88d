"""catch-up checkpoint: the last completed round, the round under way, failures in a row

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-28 10:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

PK = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "catchup_checkpoint",
        sa.Column("id", PK, autoincrement=False, nullable=False),
        sa.Column("listed_until", sa.BigInteger(), nullable=True),
        sa.Column("round_since", sa.BigInteger(), nullable=True),
        sa.Column("round_until", sa.BigInteger(), nullable=True),
        sa.Column("cursor", sa.String(length=255), nullable=True),
        sa.Column("cursor_created", sa.BigInteger(), nullable=True),
        sa.Column("failures", sa.Integer(), nullable=False),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("updated_at", sa.DateTime(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_catchup_checkpoint")),
    )


def downgrade() -> None:
    op.drop_table("catchup_checkpoint")
