"""capture's counters in their own table (Step 12 cleanup)

Capture counts, per CDC channel or polled object, stripe2sf's own changes it dropped and the
recoveries it ran (catch-up rounds and GAP events filled). Until now those counts lived in
`capture_positions` as rows named ``<channel>#own`` / ``<channel>#recovered`` (their `events`
the count, `updated_at` the latest), next to the real replay positions. This creates
`capture_counters` (channel, name) -> total, last_at, and moves those rows into it (deleting
them from `capture_positions`). Channels are a handful, so this reads the rows in Python.

The downgrade puts them back as ``#`` rows of `capture_positions` and drops the table.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-03 19:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

MARK = "#"  # what separated the channel from the counter's name in capture_positions

# The tables as this revision knows them (the application's definitions may move on).
capture_positions = sa.table(
    "capture_positions",
    sa.column("channel", sa.String),
    sa.column("replay_id", sa.String),
    sa.column("last_commit_ms", sa.BigInteger),
    sa.column("events", sa.BigInteger),
    sa.column("updated_at", sa.DateTime),
)
capture_counters = sa.table(
    "capture_counters",
    sa.column("channel", sa.String),
    sa.column("name", sa.String),
    sa.column("total", sa.BigInteger),
    sa.column("last_at", sa.DateTime),
)


def upgrade() -> None:
    op.create_table(
        "capture_counters",
        sa.Column("channel", sa.String(length=255), nullable=False),
        sa.Column("name", sa.String(length=32), nullable=False),
        sa.Column("total", sa.BigInteger(), nullable=False),
        sa.Column("last_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("channel", "name", name=op.f("pk_capture_counters")),
    )
    conn = op.get_bind()
    t = capture_positions.c
    marked = t.channel.like(f"%{MARK}%")
    rows = conn.execute(sa.select(t.channel, t.events, t.updated_at).where(marked)).all()
    moved = []
    for row in rows:
        channel, _, name = str(row.channel).rpartition(MARK)
        count = int(row.events or 0)
        moved.append({"channel": channel, "name": name, "total": count, "last_at": row.updated_at})
    if moved:
        conn.execute(capture_counters.insert(), moved)
    conn.execute(capture_positions.delete().where(marked))


def downgrade() -> None:
    conn = op.get_bind()
    t = capture_counters.c
    rows = conn.execute(sa.select(t.channel, t.name, t.total, t.last_at)).all()
    back = [
        {
            "channel": f"{row.channel}{MARK}{row.name}",
            "replay_id": None,
            "last_commit_ms": None,
            "events": int(row.total),
            "updated_at": row.last_at,
        }
        for row in rows
    ]
    if back:
        conn.execute(capture_positions.insert(), back)
    op.drop_table("capture_counters")
