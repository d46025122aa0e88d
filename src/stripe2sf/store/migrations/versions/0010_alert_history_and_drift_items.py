"""alert history and reconciliation drift items in their own tables (Step 13)

Until now both lived in JSON in columns meant for something else:
- `alerts.last_message` held the last 50 alerts of its kind as a JSON list
  (`[{"at", "subject", "held"}]`); a row written before that held the last subject as text;
- `reconcile_runs.counts` held `{"counts": {kind: n}, "items": [first 2000 report rows],
  "items_total": n}`; a run recorded before that held the plain `{kind: n}`.

This creates `alert_history` (one row per alert sent; `store.alert_log` bounds it on insert:
rows older than 90 days and beyond the newest 200 of a kind go) and `reconcile_items` (one row
per drift item of a run; `store.history` keeps up to 20,000 items per run, for the newest 100
runs), and moves the existing data over so the dashboard's pages lose no history:
- each JSON list entry becomes an `alert_history` row (its message body was never kept: NULL;
  a kind ending in ":recovered" is a recovery), and `last_message` becomes the last subject
  sent, as the column's name says; a plain-text `last_message` with a `last_sent_at` becomes
  one row;
- each kept report row (CSV columns kind, stripe_id, customer_id, salesforce_id, expected,
  actual, fixable) becomes a `reconcile_items` row (whether its fix worked was not kept:
  `fixed` NULL) and `counts` goes back to the plain `{kind: n}`.
Alerts are throttled and runs are few, so this reads every row once in Python: seconds at most.

The downgrade puts the JSON back (the newest 50 alerts of each kind, the first 2000 items of
each run, as the code before this revision reads them) and drops the tables.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-03 19:00:00
"""

import json
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from alembic import op

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

PK = sa.BigInteger().with_variant(sa.Integer(), "sqlite")

# The tables as this revision knows them (the application's definitions may move on).
alerts = sa.table(
    "alerts",
    sa.column("kind", sa.String),
    sa.column("last_sent_at", sa.DateTime),
    sa.column("last_message", sa.Text),
)
alert_history = sa.table(
    "alert_history",
    sa.column("kind", sa.String),
    sa.column("sent_at", sa.DateTime),
    sa.column("subject", sa.Text),
    sa.column("message", sa.Text),
    sa.column("held_back", sa.Integer),
    sa.column("recovered", sa.Boolean),
)
reconcile_runs = sa.table(
    "reconcile_runs", sa.column("id", sa.BigInteger), sa.column("counts", sa.Text)
)
reconcile_items = sa.table(
    "reconcile_items",
    sa.column("id", sa.BigInteger),
    sa.column("run_id", sa.BigInteger),
    sa.column("kind", sa.String),
    sa.column("stripe_id", sa.String),
    sa.column("customer_id", sa.String),
    sa.column("salesforce_id", sa.String),
    sa.column("expected", sa.Text),
    sa.column("actual", sa.Text),
    sa.column("fixable", sa.Boolean),
    sa.column("fix_object", sa.String),
    sa.column("fixed", sa.Boolean),
)

OLD_ALERTS_KEPT = 50  # what the JSON list held (downgrade)
OLD_ITEMS_KEPT = 2000  # what the counts column held (downgrade)
CHUNK = 1000


def upgrade() -> None:
    op.create_table(
        "alert_history",
        sa.Column("id", PK, autoincrement=True, nullable=False),
        sa.Column("kind", sa.String(length=128), nullable=False),
        sa.Column("sent_at", sa.DateTime(), nullable=False),
        sa.Column("subject", sa.Text(), nullable=False),
        sa.Column("message", sa.Text(), nullable=True),
        sa.Column("held_back", sa.Integer(), nullable=False),
        sa.Column("recovered", sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_alert_history")),
    )
    op.create_index("ix_alert_history_sent_at", "alert_history", ["sent_at"])
    op.create_index("ix_alert_history_kind_id", "alert_history", ["kind", "id"])
    op.create_table(
        "reconcile_items",
        sa.Column("id", PK, autoincrement=True, nullable=False),
        sa.Column("run_id", sa.BigInteger(), nullable=False),
        sa.Column("kind", sa.String(length=64), nullable=False),
        sa.Column("stripe_id", sa.String(length=255), nullable=False),
        sa.Column("customer_id", sa.String(length=255), nullable=True),
        sa.Column("salesforce_id", sa.String(length=32), nullable=True),
        sa.Column("expected", sa.Text(), nullable=False),
        sa.Column("actual", sa.Text(), nullable=False),
        sa.Column("fixable", sa.Boolean(), nullable=False),
        sa.Column("fix_object", sa.String(length=255), nullable=True),
        sa.Column("fixed", sa.Boolean(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_reconcile_items")),
    )
    op.create_index("ix_reconcile_items_run_id_id", "reconcile_items", ["run_id", "id"])
    conn = op.get_bind()
    _alerts_up(conn)
    _items_up(conn)


def downgrade() -> None:
    conn = op.get_bind()
    _alerts_down(conn)
    _items_down(conn)
    op.drop_index("ix_reconcile_items_run_id_id", table_name="reconcile_items")
    op.drop_table("reconcile_items")
    op.drop_index("ix_alert_history_kind_id", table_name="alert_history")
    op.drop_index("ix_alert_history_sent_at", table_name="alert_history")
    op.drop_table("alert_history")


# -- data --------------------------------------------------------------------------------------


def _naive_utc(value: Any) -> datetime | None:
    try:
        at = datetime.fromisoformat(str(value))
    except (TypeError, ValueError):
        return None
    return at.astimezone(UTC).replace(tzinfo=None) if at.tzinfo else at


def _load(text: str | None) -> Any:
    try:
        return json.loads(text or "")
    except ValueError:
        return None


def _alerts_up(conn: sa.Connection) -> None:
    for kind, last_sent_at, column in conn.execute(
        sa.select(alerts.c.kind, alerts.c.last_sent_at, alerts.c.last_message)
    ).all():
        if not column:
            continue
        doc = _load(column)
        rows: list[dict[str, Any]] = []
        recovered = str(kind).endswith(":recovered")
        if isinstance(doc, list):
            for entry in doc:
                at = _naive_utc(entry.get("at")) if isinstance(entry, dict) else None
                if at is None:
                    continue
                try:
                    held = int(entry.get("held") or 0)
                except (TypeError, ValueError):
                    held = 0
                subject = str(entry.get("subject") or "")
                rows.append(
                    {
                        "kind": kind,
                        "sent_at": at,
                        "subject": subject,
                        "message": None,
                        "held_back": held,
                        "recovered": recovered,
                    }
                )
            rows.sort(key=lambda r: r["sent_at"])
            last = rows[-1]["subject"] if rows else None
        elif last_sent_at is not None:  # a subject written before the list was kept
            rows.append(
                {
                    "kind": kind,
                    "sent_at": last_sent_at,
                    "subject": column,
                    "message": None,
                    "held_back": 0,
                    "recovered": recovered,
                }
            )
            last = column
        else:
            continue
        if rows:
            conn.execute(alert_history.insert(), rows)
        conn.execute(alerts.update().where(alerts.c.kind == kind).values(last_message=last))


def _items_up(conn: sa.Connection) -> None:
    for run_id, column in conn.execute(
        sa.select(reconcile_runs.c.id, reconcile_runs.c.counts)
    ).all():
        doc = _load(column)
        if not isinstance(doc, dict) or not isinstance(doc.get("counts"), dict):
            continue  # plain counts already (or unreadable: left as it is)
        rows = []
        for item in doc.get("items") or []:
            if not isinstance(item, list) or len(item) < 6:
                continue
            cells = [str(c) for c in item] + [""] * (7 - len(item))
            rows.append(
                {
                    "run_id": run_id,
                    "kind": cells[0],
                    "stripe_id": cells[1],
                    "customer_id": cells[2] or None,
                    "salesforce_id": cells[3] or None,
                    "expected": cells[4],
                    "actual": cells[5],
                    "fixable": cells[6] == "yes",
                    "fix_object": None,
                    "fixed": None,
                }
            )
        for i in range(0, len(rows), CHUNK):
            conn.execute(reconcile_items.insert(), rows[i : i + CHUNK])
        conn.execute(
            reconcile_runs.update()
            .where(reconcile_runs.c.id == run_id)
            .values(counts=json.dumps(doc["counts"]))
        )


def _alerts_down(conn: sa.Connection) -> None:
    h = alert_history.c
    for (kind,) in conn.execute(sa.select(alerts.c.kind)).all():
        rows = conn.execute(
            sa.select(h.sent_at, h.subject, h.held_back)
            .where(h.kind == kind)
            .order_by(h.sent_at.desc())
            .limit(OLD_ALERTS_KEPT)
        ).all()
        if not rows:
            continue
        listed = [
            {
                "at": r.sent_at.replace(tzinfo=UTC).isoformat(),
                "subject": r.subject,
                "held": r.held_back,
            }
            for r in reversed(rows)
        ]
        conn.execute(
            alerts.update().where(alerts.c.kind == kind).values(last_message=json.dumps(listed))
        )


def _items_down(conn: sa.Connection) -> None:
    i = reconcile_items.c
    for run_id, column in conn.execute(
        sa.select(reconcile_runs.c.id, reconcile_runs.c.counts)
    ).all():
        counts = _load(column)
        if not isinstance(counts, dict) or isinstance(counts.get("counts"), dict):
            continue
        total = conn.execute(
            sa.select(sa.func.count()).select_from(reconcile_items).where(i.run_id == run_id)
        ).scalar_one()
        if not total:
            continue
        rows = conn.execute(
            sa.select(
                i.kind, i.stripe_id, i.customer_id, i.salesforce_id, i.expected, i.actual, i.fixable
            )
            .where(i.run_id == run_id)
            .order_by(i.id)
            .limit(OLD_ITEMS_KEPT)
        ).all()
        items = [
            [
                r.kind,
                r.stripe_id,
                r.customer_id or "",
                r.salesforce_id or "",
                r.expected,
                r.actual,
                "yes" if r.fixable else "no",
            ]
            for r in rows
        ]
        reported = sum(n for n in counts.values() if isinstance(n, int))
        doc = {"counts": counts, "items": items, "items_total": max(int(total), reported)}
        conn.execute(
            reconcile_runs.update()
            .where(reconcile_runs.c.id == run_id)
            .values(counts=json.dumps(doc))
        )
