"""customer links (Stripe customer -> Account/Contact Ids) and what was last written per record

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-01 10:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "customer_links",
        sa.Column("customer_id", sa.String(length=255), nullable=False),
        sa.Column("account_id", sa.String(length=32), nullable=True),
        sa.Column("contact_id", sa.String(length=32), nullable=True),
        sa.Column("account_owner_id", sa.String(length=32), nullable=True),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("customer_id", name=op.f("pk_customer_links")),
    )
    op.create_table(
        "written_records",
        sa.Column("record_key", sa.String(length=640), nullable=False),
        sa.Column("fields", sa.Text(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("record_key", name=op.f("pk_written_records")),
    )


def downgrade() -> None:
    op.drop_table("written_records")
    op.drop_table("customer_links")
