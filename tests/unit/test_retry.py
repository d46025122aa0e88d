from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

from stripe2sf.domain.batch.retry import DeadLetter, RetryAt, RetryPolicy, backoff_seconds, decide
from stripe2sf.domain.errors import PermanentError, RateLimitedError, RetryableError

T0 = datetime(2026, 1, 1, tzinfo=UTC)
POLICY = RetryPolicy(base_seconds=2, cap_seconds=600, max_attempts=6, max_age=timedelta(hours=1))


def test_backoff_grows_and_is_capped() -> None:
    rng = random.Random(1)
    delays = [backoff_seconds(n, POLICY, rng) for n in range(1, 12)]
    for attempt, delay in enumerate(delays, start=1):
        ceiling = min(600, 2 * 2 ** (attempt - 1))
        assert ceiling / 2 <= delay <= ceiling
    assert max(delays) <= 600


def test_jitter_spreads_simultaneous_failures() -> None:
    delays = {round(backoff_seconds(5, POLICY, random.Random(seed)), 6) for seed in range(20)}
    assert len(delays) > 15


def test_retryable_is_retried() -> None:
    d = decide(attempt=1, error=RetryableError("503"), first_seen=T0, now=T0, policy=POLICY)
    assert isinstance(d, RetryAt) and T0 < d.at <= T0 + timedelta(seconds=2)


def test_network_errors_count_as_transient() -> None:
    for error in (ConnectionError("refused"), TimeoutError("slow"), OSError("reset")):
        d = decide(attempt=1, error=error, first_seen=T0, now=T0, policy=POLICY)
        assert isinstance(d, RetryAt)


def test_permanent_and_unknown_errors_dead_letter_at_once() -> None:
    for error in (PermanentError("REQUIRED_FIELD_MISSING"), KeyError("bug")):
        d = decide(attempt=1, error=error, first_seen=T0, now=T0, policy=POLICY)
        assert isinstance(d, DeadLetter) and d.reason.startswith("permanent")


def test_attempts_run_out() -> None:
    d = decide(attempt=6, error=RetryableError("503"), first_seen=T0, now=T0, policy=POLICY)
    assert isinstance(d, DeadLetter) and "after 6 attempts" in d.reason


def test_age_runs_out() -> None:
    now = T0 + timedelta(minutes=59, seconds=59)
    d = decide(attempt=2, error=RetryableError("503"), first_seen=T0, now=now, policy=POLICY)
    assert isinstance(d, DeadLetter)


def test_rate_limit_waits_at_least_retry_after() -> None:
    error = RateLimitedError("429", retry_after=120)
    d = decide(attempt=1, error=error, first_seen=T0, now=T0, policy=POLICY)
    assert isinstance(d, RetryAt) and d.at >= T0 + timedelta(seconds=120)
