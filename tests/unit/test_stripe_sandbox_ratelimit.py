"""The Stripe sandbox's token bucket: a burst of one second's requests, then the steady rate."""

from __future__ import annotations

from stripe_sandbox.ratelimit import TokenBucket


def test_burst_then_steady_rate() -> None:
    bucket = TokenBucket()
    assert [bucket.take(4, 0.0) for _ in range(5)] == [True] * 4 + [False]
    assert bucket.take(4, 0.1) is False  # 0.4 of a token back
    assert bucket.take(4, 0.25) is True  # a whole token after a quarter second
    assert bucket.take(4, 0.25) is False


def test_a_long_pause_refills_at_most_one_second_of_requests() -> None:
    bucket = TokenBucket()
    for _ in range(3):
        bucket.take(3, 0.0)
    assert [bucket.take(3, 100.0) for _ in range(4)] == [True, True, True, False]


def test_a_new_limit_starts_a_full_bucket() -> None:
    bucket = TokenBucket()
    assert [bucket.take(1, 0.0) for _ in range(2)] == [True, False]
    assert bucket.take(10, 0.0) is True
