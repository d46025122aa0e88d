"""email claims: the first Stripe customer of each email

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-28 09:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "email_claims",
        sa.Column("email", sa.String(length=512), nullable=False),
        sa.Column("customer_id", sa.String(length=255), nullable=False),
        sa.Column("claimed_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("email", name=op.f("pk_email_claims")),
    )


def downgrade() -> None:
    op.drop_table("email_claims")
