"""What Salesforce actions made in Stripe, step by step (migration 0009); the decisions are
`domain.actions`.

One row per action (``opp-<Opportunity Id>`` or ``req-<request Id>``, `Subject.scope`): the
parts of Stripe's answer kept for each step done (JSON), the state (``running``, ``done``,
``error``) and the generation of its idempotency keys. A step is stored as soon as Stripe
answered it, so a worker that dies mid-way resumes after the last step Stripe did, even when
Stripe has forgotten the idempotency key (24 hours), and a change delivered again after the
action finished does nothing.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Column, Engine, Integer, String, Table, Text, select

from stripe2sf.store.db import dialect_insert
from stripe2sf.store.tables import UTCDateTime, metadata

RUNNING, DONE, ERROR = "running", "done", "error"

salesforce_actions = Table(
    "salesforce_actions",
    metadata,
    Column("action_key", String(64), primary_key=True),
    Column("kind", String(16), nullable=False),
    Column("state", String(16), nullable=False),
    Column("generation", Integer, nullable=False),
    Column("steps", Text, nullable=False),  # JSON: step -> what Stripe answered (kept parts)
    Column("error", Text),
    Column("error_event", String(255)),  # the change whose action ended in `error`
    Column("updated_at", UTCDateTime, nullable=False),
)


@dataclass
class ActionState:
    key: str
    kind: str
    state: str = RUNNING
    generation: int = 0
    steps: dict[str, dict[str, Any]] = field(default_factory=dict)
    error: str | None = None
    error_event: str | None = None


class ActionLog:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def get(self, key: str) -> ActionState | None:
        with self.engine.connect() as conn:
            row = conn.execute(
                select(salesforce_actions).where(salesforce_actions.c.action_key == key)
            ).first()
        if row is None:
            return None
        return ActionState(
            row.action_key,
            row.kind,
            row.state,
            int(row.generation),
            json.loads(row.steps),
            row.error,
            row.error_event,
        )

    def save(self, action: ActionState) -> None:
        """Store the action as it is now (insert or replace)."""
        values = {
            "kind": action.kind,
            "state": action.state,
            "generation": action.generation,
            "steps": json.dumps(action.steps, sort_keys=True),
            "error": action.error,
            "error_event": action.error_event,
            "updated_at": datetime.now(UTC),
        }
        with self.engine.begin() as conn:
            ins = dialect_insert(conn)(salesforce_actions)
            conn.execute(
                ins.values(action_key=action.key, **values).on_conflict_do_update(
                    index_elements=["action_key"], set_=values
                )
            )
