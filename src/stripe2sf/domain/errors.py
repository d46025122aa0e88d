"""The failure hierarchy every boundary maps its errors into.

    SyncError                  something went wrong while applying an event
    +-- RetryableError         worth trying again later: network, 5xx, rate limit, row lock
    |   +-- RateLimitedError   the remote asked us to slow down (may carry retry_after seconds)
    +-- PermanentError         trying again will not help: validation, bad data, refused config

Boundaries (stripe/, salesforce/) raise these; the worker asks `domain.batch.retry.decide`
what to do.
`kind` names the kind of failure, which is what alerts are grouped by.
"""

from __future__ import annotations


class SyncError(Exception):
    """Base class; `kind` is a short stable identifier such as `salesforce.UNABLE_TO_LOCK_ROW`."""

    def __init__(self, message: str, *, kind: str = "error") -> None:
        super().__init__(message)
        self.kind = kind


class RetryableError(SyncError):
    """A transient failure."""


class RateLimitedError(RetryableError):
    """A rate limit; `retry_after` is the earliest sensible retry in seconds, when known."""

    def __init__(
        self, message: str, *, kind: str = "rate_limited", retry_after: float | None = None
    ) -> None:
        super().__init__(message, kind=kind)
        self.retry_after = retry_after


class PermanentError(SyncError):
    """A failure that will recur on every attempt."""


# UNKNOWN_EXCEPTION is Salesforce's own internal error ("An unexpected error occurred..."),
# also reported per record inside a 200 collection answer; it passes on a later attempt.
RETRYABLE_SALESFORCE_CODES = frozenset(
    {
        "UNABLE_TO_LOCK_ROW",
        "REQUEST_LIMIT_EXCEEDED",
        "SERVER_UNAVAILABLE",
        "QUERY_TIMEOUT",
        "UNKNOWN_EXCEPTION",
    }
)
