"""Tunable behaviour of the sandbox (defaults documented in ``stripe-sandbox --help``)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields
from typing import Any

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

    def update(self, values: dict[str, Any]) -> None:
        known = {f.name: f for f in fields(self)}
        for key, value in values.items():
            if key not in known:
                raise InvalidRequestError(f"Unknown setting: {key}", param=key)
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
            setattr(self, key, value)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class Faults:
    """Webhook delivery faults, for reliability tests (all off by default)."""

    duplicate_rate: float = 0.0  # probability that a delivered event is delivered again
    drop_rate: float = 0.0  # probability that a delivery is silently dropped
    shuffle: bool = False  # deliver due events in random order
    delay_seconds: float = 0.0  # hold every first attempt this long
    seed: int | None = None
    # API faults: added latency, and failures (status api_fail_status) for the next N calls
    # or at random
    api_latency_ms: float = 0.0
    api_fail_next: int = 0
    api_fail_status: int = 500
    api_error_rate: float = 0.0

    def update(self, values: dict[str, Any]) -> None:
        for key, value in values.items():
            if key in (
                "duplicate_rate",
                "drop_rate",
                "delay_seconds",
                "api_latency_ms",
                "api_error_rate",
            ):
                setattr(self, key, float(value))
            elif key in ("api_fail_next", "api_fail_status"):
                setattr(self, key, int(value))
            elif key == "shuffle":
                setattr(self, key, bool(value))
            elif key == "seed":
                setattr(self, key, None if value is None else int(value))
            else:
                raise InvalidRequestError(f"Unknown fault: {key}", param=key)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)
