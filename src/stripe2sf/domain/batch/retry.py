"""Retry decisions as values: given an attempt that failed, retry at T or dead-letter."""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import datetime, timedelta

from stripe2sf.domain.errors import PermanentError, RateLimitedError, RetryableError


@dataclass(frozen=True)
class RetryPolicy:
    """Exponential backoff with full jitter, bounded by attempts and by age."""

    base_seconds: float = 2.0
    cap_seconds: float = 3600.0
    max_attempts: int = 10
    max_age: timedelta = timedelta(days=3)


@dataclass(frozen=True)
class RetryAt:
    at: datetime
    reason: str


@dataclass(frozen=True)
class DeadLetter:
    reason: str


Decision = RetryAt | DeadLetter


def backoff_seconds(attempt: int, policy: RetryPolicy, rng: random.Random) -> float:
    """Delay after failed attempt number `attempt` (1-based): half fixed, half jittered.

    The fixed half keeps delays growing; the jittered half spreads a herd of failures apart.
    """
    ceiling = min(policy.cap_seconds, policy.base_seconds * (2 ** max(0, attempt - 1)))
    return ceiling / 2 + rng.uniform(0, ceiling / 2)


def is_transient(error: BaseException) -> bool:
    """Retryable errors, and network failures a boundary did not translate (OSError covers
    socket errors, timeouts and requests' exceptions)."""
    if isinstance(error, PermanentError):
        return False
    return isinstance(error, RetryableError | OSError)


def decide(
    *,
    attempt: int,
    error: BaseException,
    first_seen: datetime,
    now: datetime,
    policy: RetryPolicy,
    rng: random.Random | None = None,
) -> Decision:
    """What to do after `attempt` failed with `error`.

    Permanent errors and anything we do not recognise as transient go to the dead letters at once,
    so that a bug never loops silently; transient ones are retried until attempts or age run out.
    """
    rng = rng or random.Random()
    if not is_transient(error):
        return DeadLetter(reason=f"permanent: {error}")
    if attempt >= policy.max_attempts:
        return DeadLetter(reason=f"gave up after {attempt} attempts: {error}")
    delay = backoff_seconds(attempt, policy, rng)
    if isinstance(error, RateLimitedError) and error.retry_after is not None:
        delay = max(delay, error.retry_after)
    at = now + timedelta(seconds=delay)
    if at - first_seen > policy.max_age:
        return DeadLetter(reason=f"gave up after {now - first_seen} of retries: {error}")
    return RetryAt(at=at, reason=str(error))
