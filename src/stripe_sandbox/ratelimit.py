"""Stripe's global rate limit, for tests of what integrations do when they meet it.

Stripe allows a number of operations per second per account (25 in a sandbox, 100 live) and
answers the rest with 429, ``code: rate_limit`` and ``Stripe-Rate-Limited-Reason:
global-rate``. A token bucket holding one second's worth of requests gives the same shape: a
burst up to the limit, then the limit's steady rate.
"""

from __future__ import annotations

import threading


class TokenBucket:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._tokens = 0.0
        self._rate = 0.0
        self._last = 0.0

    def take(self, rate: float, now: float) -> bool:
        """One request at monotonic time `now` under a limit of `rate` per second: True when
        it is allowed. A changed `rate` starts a full bucket."""
        with self._lock:
            if rate != self._rate:
                self._rate, self._tokens, self._last = rate, rate, now
            self._tokens = min(rate, self._tokens + (now - self._last) * rate)
            self._last = now
            if self._tokens >= 1:
                self._tokens -= 1
                return True
            return False
