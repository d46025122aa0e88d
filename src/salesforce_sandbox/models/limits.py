"""API accounting: the daily request allocation (a rolling 24 hours, counted in hourly buckets
like Salesforce's DailyApiRequests) and request counts by endpoint."""

from __future__ import annotations

import time
from collections import Counter
from typing import Any

from salesforce_sandbox.errors import request_limit_exceeded


class ApiUsage:
    """Counts API calls like Salesforce's DailyApiRequests (reset by the control plane)."""

    def __init__(self, daily_limit: int) -> None:
        self.daily_limit = daily_limit
        self._buckets: dict[int, int] = {}  # hour -> API calls in it
        self.by_endpoint: Counter[str] = Counter()
        self.requests = 0
        self.refused = 0

    def charge(self, endpoint: str) -> None:
        """Count one API call; REQUEST_LIMIT_EXCEEDED (403) once the allocation is spent."""
        self.requests += 1
        hour = _hour()
        if self._used_at(hour) >= self.daily_limit:
            self.refused += 1
            raise request_limit_exceeded()
        self._buckets[hour] = self._buckets.get(hour, 0) + 1
        self.by_endpoint[endpoint] += 1

    @property
    def used(self) -> int:
        """API calls in the last 24 hours."""
        return self._used_at(_hour())

    @used.setter
    def used(self, value: int) -> None:
        self._buckets = {_hour(): value}

    def _used_at(self, hour: int) -> int:
        """API calls in the 24 hourly buckets up to ``hour``, dropping older buckets."""
        horizon = hour - 23
        if any(h < horizon for h in self._buckets):
            self._buckets = {h: n for h, n in self._buckets.items() if h >= horizon}
        return sum(self._buckets.values())

    def note(self, endpoint: str) -> None:
        """Count a request that is not an API call (login, versions)."""
        self.requests += 1
        self.by_endpoint[endpoint] += 1

    def header(self) -> str:
        return f"api-usage={self.used}/{self.daily_limit}"

    def reset(self) -> None:
        self._buckets = {}
        self.requests = 0
        self.refused = 0
        self.by_endpoint.clear()

    def snapshot(self) -> dict[str, Any]:
        return {
            "api_calls": self.used,
            "daily_limit": self.daily_limit,
            "requests": self.requests,
            "refused": self.refused,
            "by_endpoint": dict(sorted(self.by_endpoint.items())),
        }

    def limits(self) -> dict[str, dict[str, int]]:
        def pair(maximum: int, remaining: int | None = None) -> dict[str, int]:
            return {"Max": maximum, "Remaining": maximum if remaining is None else remaining}

        return {
            "ConcurrentAsyncGetReportInstances": pair(200),
            "DailyApiRequests": pair(self.daily_limit, max(self.daily_limit - self.used, 0)),
            "DailyAsyncApexExecutions": pair(250000),
            "DailyBulkApiBatches": pair(15000),
            "DailyBulkV2QueryFileStorageMB": pair(976562),
            "DailyBulkV2QueryJobs": pair(10000),
            "DataStorageMB": pair(1024),
            "FileStorageMB": pair(1024),
            "SingleEmail": pair(15),
        }


def _hour() -> int:
    return int(time.time() // 3600)
