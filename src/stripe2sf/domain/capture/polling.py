"""Polling for Salesforce changes (orgs without Change Data Capture): what to ask, how often,
and what changed. Pure; `engine.capture` does the calls.

One round asks each watched object once, through ``queryAll`` (deleted records too), five
objects to a Composite request:

    SELECT Id, <watched fields>, CreatedDate, SystemModstamp, LastModifiedById, IsDeleted
    FROM Contact WHERE SystemModstamp >= <watermark - overlap> ORDER BY SystemModstamp, Id

That is one API call per round for up to five objects (one more per extra page of 2,000
changed records), whatever changed: cheaper than ``sobjects/X/updated`` (a call per object for
the ids, then a retrieve per 200 records). The window reaches `overlap` seconds behind the
newest ``SystemModstamp`` seen, for transactions that commit a little after their stamp; a
record seen again with the same stamp is not a change (the last values seen per record are
kept: the snapshot), and a record whose watched fields did not change is not one either.

Polling starts at the moment it first runs (`started_ms`): a record last changed before that
is remembered, not reported. A record first seen after it is ``created`` when it was created
after the start, else ``updated`` with every watched field in `changed` (what it was before is
unknown; ``extra["previous_unknown"]``).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from stripe2sf.domain.capture.change import ChangeKind, SalesforceChange

# What each object's poll reads by default: the fields Salesforce owns that stripe2sf can
# carry to Stripe (names, addresses, phones, emails) and those the Opportunity actions read.
DEFAULT_WATCHED: dict[str, tuple[str, ...]] = {
    "Contact": (
        "FirstName",
        "LastName",
        "Email",
        "Phone",
        "MailingStreet",
        "MailingCity",
        "MailingState",
        "MailingPostalCode",
        "MailingCountry",
        "AccountId",
        "Stripe_Customer_Id__c",
    ),
    "Account": (
        "Name",
        "Phone",
        "BillingStreet",
        "BillingCity",
        "BillingState",
        "BillingPostalCode",
        "BillingCountry",
        "OwnerId",
        "Stripe_Customer_Id__c",
    ),
    "Opportunity": (
        "Name",
        "StageName",
        "Amount",
        "CloseDate",
        "IsClosed",
        "IsWon",
        "AccountId",
        "OwnerId",
    ),
}
SYSTEM_FIELDS = ("Id", "CreatedDate", "SystemModstamp", "LastModifiedById", "IsDeleted")
DEFAULT_FIELDS = ("Name", "OwnerId")  # an object with no default list
SECONDS_PER_DAY = 86_400
QUERIES_PER_CALL = 5  # queries one Composite request may hold; it counts as one API call


@dataclass(frozen=True)
class Snapshot:
    """The last values seen of a record's watched fields, and its SystemModstamp (ms)."""

    modstamp_ms: int
    values: Mapping[str, Any]


@dataclass(frozen=True)
class RoundResult:
    changes: list[SalesforceChange]
    snapshots: dict[str, Snapshot]  # record id -> its new snapshot (only those that moved)
    watermark_ms: int | None  # the newest SystemModstamp seen (None: nothing came back)


@dataclass(frozen=True)
class PollPlan:
    """How often a round runs, and what that costs."""

    interval_seconds: float
    calls_per_round: int
    calls_per_day: int
    budget_calls_per_day: int | None  # the share of the org's daily limit polling may use
    reason: str = ""
    objects: tuple[str, ...] = field(default=())


def parse_datetime_ms(text: str) -> int:
    """A REST datetime (``2024-05-01T10:00:00.000+0000``, ``...Z``) -> epoch milliseconds."""
    value = text.strip()
    if value.endswith("Z"):
        value = value[:-1] + "+00:00"
    elif len(value) > 5 and value[-5] in "+-" and value[-3] != ":":
        value = value[:-2] + ":" + value[-2:]
    moment = datetime.fromisoformat(value)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return int(moment.timestamp() * 1000)


def soql_datetime(ms: int) -> str:
    """A SOQL dateTime literal, floored to the second (``2024-05-01T10:00:00Z``)."""
    return datetime.fromtimestamp(ms // 1000, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def watched_fields(
    entity: str,
    configured: Sequence[str] = (),
    available: Iterable[str] | None = None,
) -> tuple[str, ...]:
    """The fields an object's poll reads: the ``Object.Field`` entries of `configured` naming
    it, else the defaults; only those the org has (`available`, from a describe) when known."""
    mine = [c.split(".", 1)[1] for c in configured if c.split(".", 1)[0] == entity and "." in c]
    chosen = mine or list(DEFAULT_WATCHED.get(entity, DEFAULT_FIELDS))
    if available is not None:
        have = set(available)
        chosen = [f for f in chosen if f in have]
    return tuple(f for f in dict.fromkeys(chosen) if f not in SYSTEM_FIELDS)


def window_soql(entity: str, fields: Sequence[str], since_ms: int) -> str:
    columns = ", ".join([*SYSTEM_FIELDS, *fields])
    return (
        f"SELECT {columns} FROM {entity} WHERE SystemModstamp >= {soql_datetime(since_ms)} "
        "ORDER BY SystemModstamp, Id"
    )


def window_start(watermark_ms: int, overlap_seconds: float) -> int:
    return watermark_ms - int(overlap_seconds * 1000)


def _values(row: Mapping[str, Any], fields: Sequence[str]) -> dict[str, Any]:
    return {f: row.get(f) for f in fields}


def diff_round(
    entity: str,
    rows: Sequence[Mapping[str, Any]],
    fields: Sequence[str],
    snapshots: Mapping[str, Snapshot],
    started_ms: int,
) -> RoundResult:
    """The changes one object's poll answer holds, given the last snapshot of each record."""
    changes: list[SalesforceChange] = []
    new: dict[str, Snapshot] = {}
    newest: int | None = None
    for row in rows:
        record_id = str(row.get("Id") or "")
        stamp_text = row.get("SystemModstamp")
        if not record_id or not isinstance(stamp_text, str):
            continue
        stamp = parse_datetime_ms(stamp_text)
        newest = stamp if newest is None else max(newest, stamp)
        before = new.get(record_id) or snapshots.get(record_id)
        if before is not None and before.modstamp_ms >= stamp:
            continue
        values = _values(row, fields)
        new[record_id] = Snapshot(stamp, values)
        extra: dict[str, Any] = {}
        kind: ChangeKind
        if row.get("IsDeleted"):
            kind = "deleted"
            changed: tuple[str, ...] = ()
            values = {}
        elif before is None:
            if stamp < started_ms:
                continue  # changed before polling began: remembered, not reported
            created = row.get("CreatedDate")
            if isinstance(created, str) and parse_datetime_ms(created) >= started_ms:
                kind = "created"
                values = {k: v for k, v in values.items() if v is not None}
            else:
                kind = "updated"
                extra["previous_unknown"] = True
            changed = tuple(values)
        else:
            changed = tuple(f for f in fields if before.values.get(f) != values.get(f))
            if not changed:
                continue
            kind = "updated"
            values = {f: values[f] for f in changed}
        user = row.get("LastModifiedById")
        changes.append(
            SalesforceChange(
                entity=entity,
                change=kind,
                record_id=record_id,
                fields=values,
                changed=changed,
                commit_ts_ms=stamp,
                source="poll",
                position=stamp_text,
                commit_user=str(user) if user else None,
                extra=extra,
            )
        )
    return RoundResult(changes, new, newest)


def plan_polling(
    objects: Sequence[str],
    *,
    minimum_seconds: float,
    api_share: float,
    daily_limit: int | None,
) -> PollPlan:
    """The poll interval: at least `minimum_seconds`, and long enough that a day of rounds
    (one Composite call per five objects) stays within `api_share` of the org's daily API
    limit (when the limit is known)."""
    per_round = max(1, -(-len(objects) // QUERIES_PER_CALL))
    budget = int(daily_limit * api_share) if daily_limit else None
    interval = max(minimum_seconds, 0.001)
    reason = "the configured interval"
    if budget is not None:
        if budget <= 0:
            interval = math.inf
            reason = "no API share for polling (STRIPE2SF_POLL_API_SHARE = 0)"
        else:
            needed = SECONDS_PER_DAY * per_round / budget
            if needed > interval:
                interval = needed
                reason = f"{api_share:.0%} of the org's {daily_limit} daily API calls"
    rounds = 0 if math.isinf(interval) else math.floor(SECONDS_PER_DAY / interval + 1e-9)
    per_day = rounds * per_round
    return PollPlan(interval, per_round, per_day, budget, reason, tuple(objects))
