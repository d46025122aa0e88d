"""Salesforce API usage as this process sees it: the org's daily allocation from the
`Sforce-Limit-Info: api-usage=N/M` header of every answer, and our own HTTP calls counted by
API kind and outcome. `UsageTracker.snapshot()` is what metrics and `stripe2sf status` read.
"""

from __future__ import annotations

import re
import threading
import time
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal

ApiKind = Literal[
    "login", "rest", "collections", "composite", "graph", "bulk", "query", "describe", "limits"
]
CallOutcome = Literal["ok", "retryable", "rate_limited", "permanent"]

_API_USAGE = re.compile(r"(?:^|[;,\s])api-usage=(?P<used>\d+)/(?P<limit>\d+)")

KIND_OF_CALL: Mapping[str, ApiKind] = {
    "record_upsert": "rest",
    "record_update": "rest",
    "collection_upsert": "collections",
    "collection_update": "collections",
    "composite": "composite",
    "graph": "graph",
    "bulk_ingest": "bulk",
}


def parse_limit_info(value: str | None) -> tuple[int, int] | None:
    """(used, limit) from `api-usage=18/15000[; per-app-api-usage=...]`, else None."""
    if not value:
        return None
    found = _API_USAGE.search(value)
    if found is None:
        return None
    return int(found.group("used")), int(found.group("limit"))


@dataclass(frozen=True)
class ApiUsageSnapshot:
    """A copy of the counters at one moment."""

    used: int | None  # the org's API calls in the last 24 h (latest header seen)
    limit: int | None  # the org's daily allocation
    seen_at: float | None  # time.time() of that header
    calls: Mapping[tuple[str, str], int] = field(default_factory=dict)  # (kind, outcome) -> n

    @property
    def fraction_used(self) -> float | None:
        if self.used is None or not self.limit:
            return None
        return self.used / self.limit

    @property
    def total_calls(self) -> int:
        return sum(self.calls.values())

    def calls_by_kind(self) -> dict[str, int]:
        out: Counter[str] = Counter()
        for (kind, _), n in self.calls.items():
            out[kind] += n
        return dict(out)

    def to_dict(self) -> dict[str, object]:
        return {
            "used": self.used,
            "limit": self.limit,
            "fraction_used": self.fraction_used,
            "seen_at": self.seen_at,
            "calls": [
                {"kind": k, "outcome": o, "count": n} for (k, o), n in sorted(self.calls.items())
            ],
        }


class UsageTracker:
    """Thread-safe counters; one per `SalesforceClient`, shared by its threads."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._used: int | None = None
        self._limit: int | None = None
        self._seen_at: float | None = None
        self._calls: Counter[tuple[str, str]] = Counter()

    def record(self, kind: str, outcome: str, limit_info: str | None) -> None:
        parsed = parse_limit_info(limit_info)
        with self._lock:
            self._calls[(kind, outcome)] += 1
            if parsed is not None:
                self._used, self._limit = parsed
                self._seen_at = time.time()

    def snapshot(self) -> ApiUsageSnapshot:
        with self._lock:
            return ApiUsageSnapshot(self._used, self._limit, self._seen_at, dict(self._calls))
