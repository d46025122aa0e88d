"""Tunable behaviour of the sandbox (defaults documented in ``stripe-sandbox --help``)."""

from __future__ import annotations

import fnmatch
from dataclasses import asdict, dataclass, field, fields
from typing import Any

from stripe_sandbox import versions
from stripe_sandbox.errors import InvalidRequestError


@dataclass
class Settings:
    # dunning: days after the previous failed attempt for each automatic retry
    dunning_retry_days: list[float] = field(default_factory=lambda: [3.0, 5.0, 7.0])
    # what happens to the subscription after the last retry fails: canceled | unpaid | past_due
    dunning_final_status: str = "canceled"
    # a draft subscription invoice is finalized and charged this long after it was created
    invoice_finalize_delay_seconds: int = 3600
    # customer.subscription.trial_will_end is sent this long before the trial ends
    trial_will_end_days: int = 3
    # webhook delivery: first retry after this many seconds, doubling each attempt
    webhook_retry_base_seconds: float = 1.0
    webhook_max_attempts: int = 8
    webhook_timeout_seconds: float = 5.0
    event_retention_days: int = 30
    # Stripe's global rate limit in requests per second (0: none); beyond it, 429 rate_limit
    api_rate_limit: float = 0.0
    # the account's default API version: responses to requests without a Stripe-Version
    # header, events (GET /v1/events) and webhooks of endpoints without their own api_version
    # are in it (stripe_sandbox.versions lists what each older version changes)
    api_version: str = versions.CURRENT
    # the secret keys the API accepts (empty: any sk_test_/rk_test_ key), so a revoked or
    # mistyped key can be rehearsed: another key is answered 401 "Invalid API Key provided"
    api_keys: list[str] = field(default_factory=list)

    def update(self, values: dict[str, Any]) -> None:
        known = {f.name: f for f in fields(self)}
        for key, value in values.items():
            if key not in known:
                raise InvalidRequestError(f"Unknown setting: {key}", param=key)
            if key == "api_keys":
                self.api_keys = parse_api_keys(value)
                continue
            current = getattr(self, key)
            try:
                if isinstance(current, list):
                    value = [float(v) for v in value]
                elif isinstance(current, bool):
                    value = bool(value)
                elif isinstance(current, int):
                    value = int(value)
                elif isinstance(current, float):
                    value = float(value)
                else:
                    value = str(value)
            except (TypeError, ValueError):
                raise InvalidRequestError(f"Invalid value for {key}", param=key) from None
            if key == "dunning_final_status" and value not in ("canceled", "unpaid", "past_due"):
                raise InvalidRequestError("dunning_final_status: canceled|unpaid|past_due")
            if key == "api_version":
                value = versions.check_param(value, key)
            setattr(self, key, value)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


TEST_KEY_PREFIXES = ("sk_test_", "rk_test_")


def parse_api_keys(value: Any) -> list[str]:
    """The accepted keys from a list or a comma-separated string; each must be a test-mode
    secret or restricted key (the sandbox refuses live keys whatever this says)."""
    if isinstance(value, str):
        value = [part.strip() for part in value.split(",") if part.strip()]
    if not isinstance(value, list) or not all(isinstance(k, str) for k in value):
        raise InvalidRequestError(
            "Invalid value for api_keys: expected a list of sk_test_/rk_test_ keys",
            param="api_keys",
        )
    bad = [k for k in value if not k.startswith(TEST_KEY_PREFIXES) or len(k) <= 12]
    if bad:
        raise InvalidRequestError(
            f"Invalid value for api_keys: {bad[0][:8]!r}... is not a sk_test_/rk_test_ key",
            param="api_keys",
        )
    return list(dict.fromkeys(value))


@dataclass
class ApiOutage:
    """Calls whose path matches ``path`` (shell-style: ``*`` matches anything, ``/`` too) and
    whose method matches ``method`` answer ``status`` with Stripe's error body, for a share
    ``rate`` of them, for the next ``count`` matching calls or (``count`` null) until removed."""

    path: str
    status: int = 500
    rate: float = 1.0
    method: str = "*"
    count: int | None = None
    hits: int = 0

    @classmethod
    def parse(cls, value: Any, index: int) -> ApiOutage:
        where = f"api_outage[{index}]"
        if not isinstance(value, dict):
            raise _invalid("api_outage", f"{where} must be an object with a path")
        # ("hits", as GET shows it, is accepted and starts again from 0)
        unknown = sorted(set(value) - {"path", "status", "rate", "method", "count", "hits"})
        if unknown:
            raise _invalid(
                "api_outage",
                f"{where}: unknown key {unknown[0]!r} (path, status, rate, method, count)",
            )
        path = value.get("path")
        if not isinstance(path, str) or not path.startswith("/"):
            raise _invalid("api_outage", f"{where}.path must be a path pattern like '/v1/events*'")
        method = value.get("method", "*")
        if method not in ("*", "GET", "POST", "DELETE"):
            raise _invalid("api_outage", f"{where}.method must be GET, POST, DELETE or *")
        count = value.get("count")
        return cls(
            path=path,
            status=_status(f"{where}.status", value.get("status", 500)),
            rate=_number(f"{where}.rate", value.get("rate", 1.0), 0.0, 1.0),
            method=method,
            count=None if count is None else int(_number(f"{where}.count", count, 0, None)),
        )

    def matches(self, method: str, path: str) -> bool:
        return self.method in ("*", method) and fnmatch.fnmatchcase(path, self.path)


def _invalid(key: str, message: str) -> InvalidRequestError:
    return InvalidRequestError(f"Invalid fault {key}: {message}", param=key)


def _number(key: str, value: Any, low: float, high: float | None) -> float:
    """``value`` as a float within ``low..high``, or a 400 that names the knob."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise _invalid(key, f"must be a number, got {value!r}")
    if value < low or (high is not None and value > high):
        bounds = f"from {low:g} to {high:g}" if high is not None else f"of at least {low:g}"
        raise _invalid(key, f"must be a number {bounds}, got {value!r}")
    return float(value)


def _status(key: str, value: Any) -> int:
    status = _number(key, value, 0, None)
    if status != 429 and not 500 <= status <= 599:
        raise _invalid(key, f"must be 429 or 500-599 (Stripe's retryable errors), got {value!r}")
    return int(status)


_RATES = ("duplicate_rate", "drop_rate", "api_error_rate", "late_rate")
_DURATIONS = (
    "delay_seconds",
    "late_seconds",
    "duplicate_delay_seconds",
    "api_latency_ms",
    "api_latency_jitter_ms",
)
_FLAGS = ("shuffle", "webhook_outage")


@dataclass
class Faults:
    """Webhook delivery and API faults, for reliability tests (all off by default)."""

    duplicate_rate: float = 0.0  # probability that a delivered event is delivered again
    duplicate_delay_seconds: float = 0.0  # ... that long after the original
    drop_rate: float = 0.0  # probability that a delivery is silently dropped
    shuffle: bool = False  # deliver due events in random order
    delay_seconds: float = 0.0  # hold every first attempt this long
    # a share of first attempts held back late_seconds more (after newer events of the object)
    late_rate: float = 0.0
    late_seconds: float = 0.0
    # every delivery attempt fails as if the endpoint were down (and is retried on Stripe's
    # schedule) until this is turned off
    webhook_outage: bool = False
    seed: int | None = None
    # API faults: added latency (plus a uniform 0..jitter), failures (status api_fail_status)
    # for the next N calls or at random, and outages of the calls matching a path pattern
    api_latency_ms: float = 0.0
    api_latency_jitter_ms: float = 0.0
    api_fail_next: int = 0
    api_fail_status: int = 500
    api_error_rate: float = 0.0
    api_outage: list[ApiOutage] = field(default_factory=list)

    def update(self, values: dict[str, Any]) -> None:
        """Apply ``values`` (all or, on a bad one, none: a 400 naming it)."""
        parsed: dict[str, Any] = {}
        for key, value in values.items():
            if key in _RATES:
                parsed[key] = _number(key, value, 0.0, 1.0)
            elif key in _DURATIONS:
                parsed[key] = _number(key, value, 0.0, None)
            elif key == "api_fail_next":
                parsed[key] = int(_number(key, value, 0.0, None))
            elif key == "api_fail_status":
                parsed[key] = _status(key, value)
            elif key in _FLAGS:
                if not isinstance(value, bool):
                    raise _invalid(key, f"must be true or false, got {value!r}")
                parsed[key] = value
            elif key == "seed":
                parsed[key] = None if value is None else int(_number(key, value, 0.0, None))
            elif key == "api_outage":
                if not isinstance(value, list):
                    raise _invalid(key, "must be a list of {path, status, rate, method, count}")
                parsed[key] = [ApiOutage.parse(item, i) for i, item in enumerate(value)]
            else:
                raise InvalidRequestError(f"Unknown fault: {key}", param=key)
        for key, value in parsed.items():
            setattr(self, key, value)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)
