"""How many connections each pool of a process keeps, from the worker's concurrency (pure).

A pool smaller than the threads that use it at once makes them wait for a connection (the
database) or open one more and throw it away after the call ("Connection pool is full,
discarding connection": a new TCP and TLS handshake for every call beyond the pool). Who uses
which pool at once:

- the worker's database engine: each worker thread holds one connection at a time (claim,
  ledger, links, record), the lease keeper one, the catch-up loop and the monitor one each;
- the main database engine: `serve`'s web requests (webhook intake, dashboard, metrics), and
  the alerts any worker thread may write;
- the Salesforce session (one per process, shared by every thread): one call at a time per
  worker thread, plus `serve`'s own (readiness, status, reconcile, doctor);
- the Stripe session: each worker thread reads Stripe on up to `stripe_threads` threads at
  once while its Salesforce lookups run, plus the catch-up loop's reads.

Stripe reads touch neither the database nor the Salesforce session, so they size only their
own pool. Overflow lets a burst beyond the estimate through instead of failing it.
"""

from __future__ import annotations

from dataclasses import dataclass

SERVE_DB = 10  # concurrent web requests that use the database (SQLAlchemy's former default)
BACKGROUND_DB = 3  # lease keeper, catch-up loop, monitor
SERVE_SALESFORCE = 4  # readiness, status, reconcile, doctor
BACKGROUND_STRIPE = 2  # catch-up loop, doctor
STRIPE_THREADS = 16  # concurrent Stripe reads of one worker thread's wave (`engine.hydrate`)


@dataclass(frozen=True)
class PoolSizes:
    worker_db: int  # pool_size of the worker's engine
    worker_db_overflow: int
    db: int  # pool_size of the main engine
    db_overflow: int
    salesforce_http: int  # connections kept per Salesforce host (urllib3 pool_maxsize)
    stripe_http: int  # connections kept to Stripe


def pool_sizes(concurrency: int, stripe_threads: int = STRIPE_THREADS) -> PoolSizes:
    """The pools of a process whose worker runs `concurrency` threads, each reading Stripe on
    up to `stripe_threads` threads."""
    if concurrency < 1 or stripe_threads < 1:
        raise ValueError(
            f"concurrency and stripe_threads must be at least 1, got {concurrency} and "
            f"{stripe_threads}"
        )
    return PoolSizes(
        worker_db=concurrency + BACKGROUND_DB,
        worker_db_overflow=concurrency,
        db=SERVE_DB,
        db_overflow=SERVE_DB + concurrency,
        salesforce_http=concurrency + SERVE_SALESFORCE,
        stripe_http=concurrency * stripe_threads + BACKGROUND_STRIPE,
    )
