"""A captured Salesforce change, as the inbox stores it and the Salesforce -> Stripe handlers
read it. Both capture paths produce it: Change Data Capture over the Pub/Sub API (one change
event may name several records: one `SalesforceChange` per record) and polling
(`SystemModstamp` windows, changed fields found by comparing with the last values seen).

Inbox envelope (`envelope`):

    event_id  ``sf:<source>:<entity>:<record id>:<position>``: the same change captured twice
              (a redelivery, a replay after a restart, CDC and polling both) is stored once
    type      ``salesforce.<entity>.<change>``, e.g. ``salesforce.Contact.updated``
    lane      the linked Stripe customer (its Stripe events' lane: one at a time, in order),
              else ``sf:<record id>``
    created   the commit time in seconds
    payload   `to_payload()` JSON (``"object": "salesforce_change"``)

Field names are the REST API's, flattened: a CDC compound field (``Name``, ``BillingAddress``)
arrives as its parts (``FirstName``, ``BillingCity``).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

ChangeKind = Literal["created", "updated", "deleted", "undeleted"]
CHANGE_KINDS: tuple[ChangeKind, ...] = ("created", "updated", "deleted", "undeleted")
Source = Literal["cdc", "poll"]

TYPE_PREFIX = "salesforce."
PAYLOAD_OBJECT = "salesforce_change"
# Every Stripe request stripe2sf makes carries an idempotency key with this prefix; Stripe
# names the key in the events it causes (`request.idempotency_key`), which is how stripe2sf
# knows its own changes when they come back.
IDEMPOTENCY_PREFIX = "stripe2sf-"


class ChangeParseError(ValueError):
    """The payload is not a captured Salesforce change; the message says what is wrong."""


@dataclass(frozen=True)
class SalesforceChange:
    entity: str  # API name: Contact, Account, Opportunity, Stripe_Request__c
    change: ChangeKind
    record_id: str
    # New values of the changed fields (CDC: the fields the event carries; polling: every
    # watched field), REST names, flattened.
    fields: Mapping[str, Any]
    # Names of the fields that changed (CDC: changedFields + nulledFields + diffFields;
    # polling: the fields whose value differs from the last one seen; created: all given).
    changed: tuple[str, ...]
    commit_ts_ms: int
    source: Source
    # Where in its source the change is: CDC ``<transactionKey>:<sequenceNumber>``,
    # polling the record's SystemModstamp. Part of the event id.
    position: str
    commit_user: str | None = None  # the 005 Id of whoever made the change
    origin: str | None = None  # CDC changeOrigin, e.g. "com/salesforce/api/rest/62.0;client=x"
    transaction_key: str | None = None
    customer_id: str | None = None  # the linked Stripe customer, when stripe2sf knows it
    extra: Mapping[str, Any] = field(default_factory=dict)

    @property
    def event_id(self) -> str:
        return f"sf:{self.source}:{self.entity}:{self.record_id}:{self.position}"

    @property
    def type(self) -> str:
        return f"{TYPE_PREFIX}{self.entity}.{self.change}"

    @property
    def lane(self) -> str:
        return self.customer_id or f"sf:{self.record_id}"

    @property
    def created(self) -> int:
        return self.commit_ts_ms // 1000

    def to_payload(self) -> dict[str, Any]:
        return {
            "object": PAYLOAD_OBJECT,
            "id": self.event_id,
            "entity": self.entity,
            "change": self.change,
            "record_id": self.record_id,
            "fields": dict(self.fields),
            "changed": list(self.changed),
            "commit_ts_ms": self.commit_ts_ms,
            "source": self.source,
            "position": self.position,
            "commit_user": self.commit_user,
            "origin": self.origin,
            "transaction_key": self.transaction_key,
            "customer_id": self.customer_id,
            "extra": dict(self.extra),
        }


def is_change_type(event_type: str) -> bool:
    return event_type.startswith(TYPE_PREFIX)


def _str(payload: Mapping[str, Any], key: str, *, required: bool = True) -> str | None:
    value = payload.get(key)
    if value is None and not required:
        return None
    if not isinstance(value, str) or not value:
        raise ChangeParseError(f"salesforce change: '{key}' must be a non-empty string")
    return value


def parse_change(payload: Mapping[str, Any]) -> SalesforceChange:
    """The change an inbox payload holds (what `to_payload` wrote)."""
    if not isinstance(payload, Mapping) or payload.get("object") != PAYLOAD_OBJECT:
        raise ChangeParseError(f"expected an object of type '{PAYLOAD_OBJECT}'")
    change = payload.get("change")
    if change not in CHANGE_KINDS:
        raise ChangeParseError(f"salesforce change: 'change' must be one of {CHANGE_KINDS}")
    source = payload.get("source")
    if source not in ("cdc", "poll"):
        raise ChangeParseError("salesforce change: 'source' must be 'cdc' or 'poll'")
    fields = payload.get("fields")
    changed = payload.get("changed")
    if not isinstance(fields, Mapping) or not isinstance(changed, list):
        raise ChangeParseError("salesforce change: 'fields' (object) and 'changed' (list) needed")
    ts = payload.get("commit_ts_ms")
    if not isinstance(ts, int):
        raise ChangeParseError("salesforce change: 'commit_ts_ms' must be an integer")
    extra = payload.get("extra")
    return SalesforceChange(
        entity=_str(payload, "entity") or "",
        change=change,
        record_id=_str(payload, "record_id") or "",
        fields=dict(fields),
        changed=tuple(str(f) for f in changed),
        commit_ts_ms=ts,
        source=source,
        position=_str(payload, "position") or "",
        commit_user=_str(payload, "commit_user", required=False),
        origin=_str(payload, "origin", required=False),
        transaction_key=_str(payload, "transaction_key", required=False),
        customer_id=_str(payload, "customer_id", required=False),
        extra=dict(extra) if isinstance(extra, Mapping) else {},
    )


def made_by(change: SalesforceChange, user_ids: Iterable[str]) -> bool:
    """Whether one of `user_ids` (stripe2sf's own Salesforce user) made the change: such a
    change is stripe2sf's own write coming back and is never sent on to Stripe. Ids compare
    on their first 15 characters (Salesforce gives 15 or 18)."""
    if not change.commit_user:
        return False
    mine = {u[:15] for u in user_ids if u}
    return change.commit_user[:15] in mine
