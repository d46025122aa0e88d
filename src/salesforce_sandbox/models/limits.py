"""API accounting: the daily allocations Salesforce counts over a rolling 24 hours in hourly
buckets (DailyApiRequests, DailyBulkApiBatches, DailyBulkV2QueryJobs) and request counts by
endpoint.

What spends the Bulk allocations, as Salesforce counts them:

- DailyBulkV2QueryJobs: one per Bulk API 2.0 query job created (``count_bulk_v2_query_job``).
- DailyBulkApiBatches: Bulk API 1.0 batches, one per batch added to a job
  (``count_bulk_batches(1)``), and Bulk API 2.0 ingest jobs, which Salesforce splits into
  internal batches of up to 10,000 records (``count_bulk_batches(ingest_batches(records))``).
"""

from __future__ import annotations

import time
from collections import Counter
from typing import Any

from salesforce_sandbox.errors import request_limit_exceeded

BULK_BATCHES_PER_DAY = 15000
BULK_V2_QUERY_JOBS_PER_DAY = 10000
RECORDS_PER_INGEST_BATCH = 10000


def ingest_batches(records: int) -> int:
    """Internal batches of a Bulk API 2.0 ingest job of ``records`` records: one per 10,000
    (a job of 1 to 10,000 records is one batch; a job with no records makes none)."""
    return -(-max(records, 0) // RECORDS_PER_INGEST_BATCH)


class RollingDaily:
    """Amounts spent in the last 24 hours, kept in hourly buckets like Salesforce's daily
    allocations (an hour's spending drops out 24 hours later)."""

    def __init__(self) -> None:
        self._buckets: dict[int, int] = {}  # hour -> amount spent in it

    def add(self, amount: int = 1) -> None:
        if amount:
            hour = _hour()
            self._buckets[hour] = self._buckets.get(hour, 0) + amount

    @property
    def used(self) -> int:
        return self.used_at(_hour())

    @used.setter
    def used(self, value: int) -> None:
        self._buckets = {_hour(): value}

    def used_at(self, hour: int) -> int:
        """Spent in the 24 hourly buckets up to ``hour``, dropping older buckets."""
        horizon = hour - 23
        if any(h < horizon for h in self._buckets):
            self._buckets = {h: n for h, n in self._buckets.items() if h >= horizon}
        return sum(self._buckets.values())

    def reset(self) -> None:
        self._buckets = {}


class ApiUsage:
    """Counts API calls like Salesforce's DailyApiRequests, and the Bulk API allocations
    (reset by the control plane)."""

    def __init__(self, daily_limit: int) -> None:
        self.daily_limit = daily_limit
        self._calls = RollingDaily()
        self.bulk_batches = RollingDaily()
        self.bulk_v2_query_jobs = RollingDaily()
        self.by_endpoint: Counter[str] = Counter()
        self.requests = 0
        self.refused = 0

    def charge(self, endpoint: str) -> None:
        """Count one API call; REQUEST_LIMIT_EXCEEDED (403) once the allocation is spent."""
        self.requests += 1
        if self._calls.used >= self.daily_limit:
            self.refused += 1
            raise request_limit_exceeded()
        self._calls.add()
        self.by_endpoint[endpoint] += 1

    def count_bulk_batches(self, batches: int) -> None:
        """Spend DailyBulkApiBatches: 1 per Bulk API 1.0 batch, ``ingest_batches(n)`` per
        Bulk API 2.0 ingest job of n records."""
        self.bulk_batches.add(batches)

    def count_bulk_v2_query_job(self) -> None:
        """Spend one DailyBulkV2QueryJobs (a Bulk API 2.0 query job was created)."""
        self.bulk_v2_query_jobs.add()

    @property
    def used(self) -> int:
        """API calls in the last 24 hours."""
        return self._calls.used

    @used.setter
    def used(self, value: int) -> None:
        self._calls.used = value

    def note(self, endpoint: str) -> None:
        """Count a request that is not an API call (login, versions)."""
        self.requests += 1
        self.by_endpoint[endpoint] += 1

    def header(self) -> str:
        return f"api-usage={self.used}/{self.daily_limit}"

    def reset(self) -> None:
        self._calls.reset()
        self.bulk_batches.reset()
        self.bulk_v2_query_jobs.reset()
        self.requests = 0
        self.refused = 0
        self.by_endpoint.clear()

    def snapshot(self) -> dict[str, Any]:
        return {
            "api_calls": self.used,
            "daily_limit": self.daily_limit,
            "bulk_batches": self.bulk_batches.used,
            "bulk_v2_query_jobs": self.bulk_v2_query_jobs.used,
            "requests": self.requests,
            "refused": self.refused,
            "by_endpoint": dict(sorted(self.by_endpoint.items())),
        }

    def limits(self) -> dict[str, dict[str, int]]:
        def pair(maximum: int, used: int = 0) -> dict[str, int]:
            return {"Max": maximum, "Remaining": max(maximum - used, 0)}

        return {
            "ConcurrentAsyncGetReportInstances": pair(200),
            "DailyApiRequests": pair(self.daily_limit, self.used),
            "DailyAsyncApexExecutions": pair(250000),
            "DailyBulkApiBatches": pair(BULK_BATCHES_PER_DAY, self.bulk_batches.used),
            "DailyBulkV2QueryFileStorageMB": pair(976562),
            "DailyBulkV2QueryJobs": pair(BULK_V2_QUERY_JOBS_PER_DAY, self.bulk_v2_query_jobs.used),
            "DataStorageMB": pair(1024),
            "FileStorageMB": pair(1024),
            "SingleEmail": pair(15),
        }


def _hour() -> int:
    return int(time.time() // 3600)
