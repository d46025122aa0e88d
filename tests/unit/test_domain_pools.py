"""Connection pools sized to the threads that use them at once."""

from __future__ import annotations

import pytest

from stripe2sf.domain.batch.pools import (
    BACKGROUND_DB,
    SERVE_DB,
    SERVE_SALESFORCE,
    STRIPE_THREADS,
    pool_sizes,
)


@pytest.mark.parametrize("concurrency", [1, 4, 32, 64])
def test_every_pool_holds_all_its_concurrent_users(concurrency: int) -> None:
    sizes = pool_sizes(concurrency)
    # Each worker thread, the lease keeper, the catch-up loop and the monitor at once.
    assert sizes.worker_db >= concurrency + BACKGROUND_DB
    # Serve's requests, and an alert written by every worker thread at the same moment.
    assert sizes.db + sizes.db_overflow >= SERVE_DB + concurrency
    # One Salesforce session per process: every worker thread and serve's own calls.
    assert sizes.salesforce_http >= concurrency + SERVE_SALESFORCE
    assert sizes.salesforce_http > 10 or concurrency + SERVE_SALESFORCE <= 10
    # Every worker thread's wave reading Stripe on its bounded pool.
    assert sizes.stripe_http >= concurrency * STRIPE_THREADS


def test_the_pools_grow_with_the_concurrency() -> None:
    small, large = pool_sizes(4), pool_sizes(32)
    assert large.worker_db - small.worker_db == 28
    assert large.salesforce_http - small.salesforce_http == 28
    assert pool_sizes(4, stripe_threads=2).stripe_http < small.stripe_http


def test_a_concurrency_below_one_is_refused_with_what_was_given() -> None:
    with pytest.raises(ValueError, match="at least 1, got 0"):
        pool_sizes(0)
