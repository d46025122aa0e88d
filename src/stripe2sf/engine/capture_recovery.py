"""The Salesforce reads that fill what a Change Data Capture stream cannot give
(`domain.capture.recovery`): a polling catch-up round for one object from a time (a start
without a usable replay id, a GAP_OVERFLOW event), and the current values of the records GAP
events name. Both are ``queryAll`` reads through `SalesforceClient.query_many` (counted as
capture calls), reading the fields polling would watch (`STRIPE2SF_CAPTURE_POLL_FIELDS` or each
object's defaults)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from prometheus_client import Counter

from stripe2sf.domain.capture.change import SalesforceChange
from stripe2sf.domain.capture.polling import diff_round, watched_fields, window_soql
from stripe2sf.domain.capture.recovery import fill_gap, gap_reads, ids_soql
from stripe2sf.metrics import REGISTRY
from stripe2sf.salesforce.changes import field_names, query_windows
from stripe2sf.salesforce.client import SalesforceClient

RECOVERIES = Counter(
    "stripe2sf_capture_recoveries",
    "Change Data Capture recoveries: catch-up rounds (reason restart: no usable replay id; "
    "overflow: a GAP_OVERFLOW event) and GAP events filled from the records (reason gap).",
    ["entity", "reason"],
    registry=REGISTRY,
)
IDS_PER_READ = 200


class CatchUpReader:
    def __init__(self, client: SalesforceClient, configured_fields: Sequence[str] = ()) -> None:
        self.client = client
        self.configured_fields = list(configured_fields)
        self._fields: dict[str, tuple[str, ...]] = {}

    def fields(self, entity: str) -> tuple[str, ...]:
        """The fields read for an object (one describe per object and process)."""
        if entity not in self._fields:
            have = field_names(self.client, entity)
            self._fields[entity] = watched_fields(entity, self.configured_fields, have)
        return self._fields[entity]

    def since(self, entity: str, from_ms: int) -> list[SalesforceChange]:
        """Every record of `entity` changed since `from_ms` as a ``poll`` change (created,
        updated with every watched field, or deleted)."""
        fields = self.fields(entity)
        (rows,) = query_windows(self.client, [window_soql(entity, fields, from_ms)])
        return diff_round(entity, rows, fields, {}, from_ms).changes

    def fill_gaps(self, changes: Sequence[SalesforceChange]) -> list[SalesforceChange]:
        """`changes` with each GAP change's record read (one query per object and 200 ids)."""
        wanted = gap_reads(changes)
        if not wanted:
            return list(changes)
        rows: dict[tuple[str, str], dict[str, Any]] = {}
        for entity, ids in wanted.items():
            fields = self.fields(entity)
            soqls = [
                ids_soql(entity, fields, ids[i : i + IDS_PER_READ])
                for i in range(0, len(ids), IDS_PER_READ)
            ]
            for answer in query_windows(self.client, soqls):
                for row in answer:
                    rid = str(row.get("Id") or "")
                    rows[(entity, rid)] = row
                    rows[(entity, rid[:15])] = row
            RECOVERIES.labels(entity=entity, reason="gap").inc(len(ids))
        out = []
        for c in changes:
            if c.entity in wanted and c.extra.get("gap"):
                found = rows.get((c.entity, c.record_id))
                found = found if found is not None else rows.get((c.entity, c.record_id[:15]))
                out.append(fill_gap(c, found, self.fields(c.entity)))
            else:
                out.append(c)
        return out
