"""Fault injection and added latency, matched against endpoint names like
``"PATCH /sobjects/{sobject}/{field}/{value}"`` with shell-style patterns (``*`` matches all).

Modes: ``503`` (SERVER_UNAVAILABLE), ``UNABLE_TO_LOCK_ROW`` (400; on sObject Collections writes
a 200 whose every record failed with that statusCode, unless ``per_record`` is false),
``REQUEST_LIMIT_EXCEEDED`` (403) and ``hang`` (sleep ``hang_seconds``; then answer 503, or
run the request when ``after`` is ``"process"`` — a timeout after the write was committed).
"""

from __future__ import annotations

import fnmatch
import itertools
import random
from dataclasses import asdict, dataclass
from typing import Any

from salesforce_sandbox.errors import SalesforceError, request_limit_exceeded

MODES = ("503", "UNABLE_TO_LOCK_ROW", "REQUEST_LIMIT_EXCEEDED", "hang")


@dataclass
class FaultRule:
    id: int
    route: str
    mode: str
    remaining: int | None
    rate: float | None
    hang_seconds: float
    after: str
    per_record: bool | None = None
    hits: int = 0

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def fault_error(mode: str) -> SalesforceError:
    if mode == "UNABLE_TO_LOCK_ROW":
        return SalesforceError(
            "UNABLE_TO_LOCK_ROW",
            "unable to obtain exclusive access to this record or 1 records: 001000000000000AAA",
        )
    if mode == "REQUEST_LIMIT_EXCEEDED":
        return request_limit_exceeded()
    return SalesforceError(
        "SERVER_UNAVAILABLE", "Server temporarily unavailable, please try again later.", 503
    )


class Faults:
    def __init__(self, seed: int | None = None) -> None:
        self.rules: list[FaultRule] = []
        self.latency: list[tuple[str, float]] = []
        self._ids = itertools.count(1)
        self._random = random.Random(seed)

    def add(
        self,
        route: str,
        mode: str,
        count: int | None = None,
        rate: float | None = None,
        hang_seconds: float = 30.0,
        after: str = "error",
        per_record: bool | None = None,
    ) -> FaultRule:
        if mode not in MODES:
            raise SalesforceError("INVALID_FAULT", f"mode must be one of {', '.join(MODES)}")
        if after not in ("error", "process"):
            raise SalesforceError("INVALID_FAULT", "after must be 'error' or 'process'")
        if count is None and rate is None:
            count = 1
        rule = FaultRule(next(self._ids), route, mode, count, rate, hang_seconds, after, per_record)
        self.rules.append(rule)
        return rule

    def pick(self, endpoint: str) -> FaultRule | None:
        """The rule that fires for this call, if any (consumes one of its ``count``)."""
        if not self.rules:
            return None
        for rule in self.rules:
            if not fnmatch.fnmatchcase(endpoint, rule.route):
                continue
            if rule.remaining is not None:
                if rule.remaining <= 0:
                    continue
                if rule.rate is not None and self._random.random() >= rule.rate:
                    continue
                rule.remaining -= 1
            elif rule.rate is not None and self._random.random() >= rule.rate:
                continue
            rule.hits += 1
            return rule
        return None

    def set_latency(self, route: str, ms: float) -> None:
        self.latency = [(r, s) for r, s in self.latency if r != route]
        if ms > 0:
            self.latency.append((route, ms / 1000.0))

    def delay(self, endpoint: str) -> float:
        if not self.latency:
            return 0.0
        return sum(s for r, s in self.latency if fnmatch.fnmatchcase(endpoint, r))

    def clear(self) -> None:
        self.rules.clear()
        self.latency.clear()

    def snapshot(self) -> dict[str, Any]:
        return {
            "faults": [r.to_json() for r in self.rules],
            "latency": [{"route": r, "ms": s * 1000} for r, s in self.latency],
        }
