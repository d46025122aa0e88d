"""Change Data Capture that never silently misses a change: where a stream starts, when a
polling catch-up round must fill what the stream cannot give, GAP events made whole, and
stripe2sf's own writes told apart. Pure; `engine.capture` does the calls.

Where a channel is complete up to (``capture_positions``): its replay id, and the commit time
of the newest change stored (``last_commit_ms``). A first start stores the time it subscribes
BEFORE subscribing (no replay id yet). A start then finds one of:

    a replay id                  resume right after it (CUSTOM); nothing to catch up
    no row at all                a brand-new channel: subscribe at LATEST (changes before the
                                 first start were never promised)
    a row without a replay id    a start that died before its first event or keepalive, or a
                                 replay id Salesforce refused (older than its 72 h retention,
                                 corrupt): subscribe at LATEST, and when the subscription first
                                 answers (an event or a keepalive: it is live), read the
                                 object's changes since the channel was complete, minus the
                                 overlap (a polling catch-up round), before storing that answer

The catch-up runs once the subscription is live, not before it subscribes: a change committed
while the subscription was being set up is then in the catch-up or in the stream (or both:
stored as a ``poll`` change and a ``cdc`` change, two ids; the handlers send Stripe only what
differs, under an idempotency key, so the second is a no-op).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any, Literal

from stripe2sf.domain.capture.change import SalesforceChange, made_by

OwnChanges = Literal["drop", "keep"]
OWN_CHANGES: tuple[OwnChanges, ...] = ("drop", "keep")


@dataclass(frozen=True)
class StartPlan:
    """How a channel's stream starts."""

    replay_id: bytes | None  # None: at LATEST
    catch_up_from_ms: int | None  # a catch-up round from here once the stream is live
    store_start_ms: int | None  # the start position to store before subscribing
    reason: str = ""


def plan_start(
    *,
    exists: bool,
    replay_id_hex: str | None,
    complete_to_ms: int | None,
    saved_ms: int,
    now_ms: int,
    overlap_seconds: float,
) -> StartPlan:
    """Where a channel's stream starts (see the module docstring). `complete_to_ms` is the
    stored newest change (or start time); `saved_ms` when the position was last saved (used
    when no commit time was ever stored: a row written by a keepalive is complete up to it)."""
    if replay_id_hex:
        return StartPlan(bytes.fromhex(replay_id_hex), None, None)
    if not exists:
        return StartPlan(None, None, now_ms, "first start")
    since = complete_to_ms if complete_to_ms is not None else saved_ms
    return StartPlan(
        None,
        since - int(overlap_seconds * 1000),
        None,
        "no usable replay id (a start that stored none, or one Salesforce refused)",
    )


def split_own(
    changes: Sequence[SalesforceChange], own_user_ids: Iterable[str]
) -> tuple[list[SalesforceChange], list[SalesforceChange]]:
    """(changes to store, stripe2sf's own writes coming back): a change whose commit user is
    stripe2sf's own Salesforce user is an echo no handler would act on."""
    mine = tuple(u for u in own_user_ids if u)
    if not mine:
        return list(changes), []
    kept: list[SalesforceChange] = []
    own: list[SalesforceChange] = []
    for c in changes:
        (own if made_by(c, mine) else kept).append(c)
    return kept, own


def is_gap(change: SalesforceChange) -> bool:
    return bool(change.extra.get("gap"))


def gap_reads(changes: Sequence[SalesforceChange]) -> dict[str, list[str]]:
    """Object -> record ids whose current values a GAP event needs (a GAP_DELETE needs none:
    a deleted record has no values)."""
    out: dict[str, list[str]] = {}
    for c in changes:
        if is_gap(c) and c.change != "deleted":
            ids = out.setdefault(c.entity, [])
            if c.record_id not in ids:
                ids.append(c.record_id)
    return out


def fill_gap(
    change: SalesforceChange, row: Mapping[str, Any] | None, fields: Sequence[str]
) -> SalesforceChange:
    """A GAP_* change with the record's current values of `fields`, every one of them counted
    as changed (what it was before is unknown). A record no longer there (or deleted since)
    stays a gap change without fields: its DELETE event follows."""
    if change.change == "deleted" or row is None or row.get("IsDeleted"):
        return change
    values = {f: row.get(f) for f in fields}
    if change.change == "created":
        values = {k: v for k, v in values.items() if v is not None}
    extra = {**change.extra, "gap_filled": True, "previous_unknown": True}
    return replace(change, fields=values, changed=tuple(values), extra=extra)


def ids_soql(entity: str, fields: Sequence[str], ids: Sequence[str]) -> str:
    """One read of the current values of `ids` (deleted rows too, through queryAll)."""
    columns = ", ".join(dict.fromkeys(["Id", "IsDeleted", *fields]))
    listed = ", ".join("'" + i.replace("\\", "\\\\").replace("'", "\\'") + "'" for i in ids)
    return f"SELECT {columns} FROM {entity} WHERE Id IN ({listed})"
