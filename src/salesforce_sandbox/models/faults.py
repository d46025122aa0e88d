"""Fault injection and added latency, matched against endpoint names like
``"PATCH /sobjects/{sobject}/{field}/{value}"`` with shell-style patterns (``*`` matches all).

A rule fires on a matching call for its next ``count`` calls, or on a share ``rate`` of them
(both: a share of the next ``count``). Modes, with the answers real Salesforce gives:

* ``503`` — 503 ``SERVER_UNAVAILABLE``;
* ``500`` — 500 ``UNKNOWN_EXCEPTION`` ("An unexpected error occurred ... ErrorId ...");
* ``UNABLE_TO_LOCK_ROW`` — 400; on sObject Collections writes a 200 whose every record failed
  with that statusCode, unless ``per_record`` is false;
* ``REQUEST_LIMIT_EXCEEDED`` — 403;
* ``INVALID_SESSION_ID`` — 401 "Session expired or invalid" (clients log in again);
* ``hang`` — sleep ``hang_seconds``; then answer 503, or run the request when ``after`` is
  ``"process"`` (a timeout after the write was committed);
* ``reset`` — close the TCP connection without an answer (an RST): before running the request,
  or after it ran (and committed) when ``after`` is ``"process"``.

``record_rate`` (with ``500`` or ``UNABLE_TO_LOCK_ROW``) makes a firing rule fail only some
records of a multi-record write: on sObject Collections writes each record fails with that
share, with the mode's error as its ``statusCode``, and the others are committed (with
``allOrNone`` true the whole call rolls back, every other record answering
``ALL_OR_NONE_OPERATION_ROLLED_BACK``); on ``/composite`` and ``/composite/graph`` each write
subrequest fails with that share (a graph with a failed node rolls back). Elsewhere the rule
fails the whole call.

Latency: per route pattern, ``ms`` plus a uniform extra of ``0..jitter_ms``; matching routes
add up.
"""

from __future__ import annotations

import fnmatch
import itertools
import random
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any

from salesforce_sandbox.errors import SalesforceError, invalid_session, request_limit_exceeded

MODES = (
    "503",
    "500",
    "UNABLE_TO_LOCK_ROW",
    "REQUEST_LIMIT_EXCEEDED",
    "INVALID_SESSION_ID",
    "hang",
    "reset",
)
RECORD_MODES = ("UNABLE_TO_LOCK_ROW", "500")

RecordFault = Callable[[], SalesforceError | None]


def invalid_fault(message: str) -> SalesforceError:
    return SalesforceError("INVALID_FAULT", message)


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
    record_rate: float | None = None
    hits: int = 0
    failed_records: int = 0

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class Latency:
    route: str
    ms: float
    jitter_ms: float = 0.0

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
    if mode == "INVALID_SESSION_ID":
        return invalid_session()
    if mode == "500":
        return SalesforceError(
            "UNKNOWN_EXCEPTION",
            "An unexpected error occurred. Please include this ErrorId if you contact support: "
            "1795302651-104734 (-1123573621)",
            500,
        )
    return SalesforceError(
        "SERVER_UNAVAILABLE", "Server temporarily unavailable, please try again later.", 503
    )


def _share(name: str, value: float | None) -> None:
    if value is not None and not 0.0 <= value <= 1.0:
        raise invalid_fault(f"{name} must be a number from 0 to 1, got {value}")


class Faults:
    def __init__(self, seed: int | None = None) -> None:
        self.rules: list[FaultRule] = []
        self.latency: list[Latency] = []
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
        record_rate: float | None = None,
    ) -> FaultRule:
        if mode not in MODES:
            raise invalid_fault(f"mode must be one of {', '.join(MODES)}, got {mode!r}")
        if after not in ("error", "process"):
            raise invalid_fault(f"after must be 'error' or 'process', got {after!r}")
        if count is not None and count < 0:
            raise invalid_fault(f"count must be 0 or more, got {count}")
        if hang_seconds < 0:
            raise invalid_fault(f"hang_seconds must be 0 or more, got {hang_seconds}")
        _share("rate", rate)
        _share("record_rate", record_rate)
        if record_rate is not None and mode not in RECORD_MODES:
            raise invalid_fault(
                f"record_rate works with mode {' or '.join(RECORD_MODES)} (the errors a single "
                f"record of a collection write gets), not {mode!r}"
            )
        if count is None and rate is None:
            count = 1
        rule = FaultRule(
            next(self._ids),
            route,
            mode,
            count,
            rate,
            hang_seconds,
            after,
            per_record,
            record_rate,
        )
        self.rules.append(rule)
        return rule

    def remove(self, rule_id: int) -> FaultRule | None:
        """Remove one rule; None when no rule has that id."""
        for index, rule in enumerate(self.rules):
            if rule.id == rule_id:
                return self.rules.pop(index)
        return None

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

    def record_fault(self, rule: FaultRule) -> RecordFault:
        """Per record (or subrequest) of a multi-record write: the rule's error for a share
        ``record_rate`` of them, else None."""
        rate = rule.record_rate or 0.0

        def decide() -> SalesforceError | None:
            if self._random.random() >= rate:
                return None
            rule.failed_records += 1
            return fault_error(rule.mode)

        return decide

    def set_latency(self, route: str, ms: float, jitter_ms: float = 0.0) -> None:
        """``ms`` plus a uniform ``0..jitter_ms`` on calls matching ``route`` (replaces the
        route's previous setting; both 0 removes it)."""
        if ms < 0 or jitter_ms < 0:
            raise invalid_fault(f"latency must be 0 or more, got ms={ms}, jitter_ms={jitter_ms}")
        self.latency = [rule for rule in self.latency if rule.route != route]
        if ms > 0 or jitter_ms > 0:
            self.latency.append(Latency(route, ms, jitter_ms))

    def delay(self, endpoint: str) -> float:
        """Seconds to wait before answering ``endpoint``."""
        if not self.latency:
            return 0.0
        total = 0.0
        for rule in self.latency:
            if fnmatch.fnmatchcase(endpoint, rule.route):
                total += rule.ms
                if rule.jitter_ms:
                    total += self._random.uniform(0.0, rule.jitter_ms)
        return total / 1000.0

    def clear(self) -> None:
        self.rules.clear()
        self.latency.clear()

    def snapshot(self) -> dict[str, Any]:
        return {
            "faults": [r.to_json() for r in self.rules],
            "latency": [r.to_json() for r in self.latency],
        }
