"""Catch-up: list Stripe events since the newest one we have and store every missing one."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime

from stripe2sf.domain.catchup import window
from stripe2sf.engine.handlers import Registry
from stripe2sf.store.inbox import Inbox
from stripe2sf.stripe.reader import StripeReader
from stripe2sf.web.intake import to_new_event

PAGE = 500


@dataclass(frozen=True)
class CatchUpReport:
    listed: int
    added: int
    warning: str | None
    needs_backfill: bool


def catch_up(inbox: Inbox, reader: StripeReader, registry: Registry) -> CatchUpReport:
    now = datetime.now(UTC)
    win = window(inbox.newest_created(), now)
    listed = added = 0
    pending = []
    params = {"created": {"gte": int(win.since.timestamp())}}
    for doc in reader.list_all("events", params):
        listed += 1
        body = json.dumps(doc, separators=(",", ":"))
        pending.append(to_new_event(doc, body, registry.handles(doc["type"]), source="catchup"))
        if len(pending) >= PAGE:
            added += sum(inbox.add_many(pending, datetime.now(UTC)))
            pending = []
    added += sum(inbox.add_many(pending, datetime.now(UTC)))
    return CatchUpReport(listed, added, win.warning, win.needs_backfill)
