"""Errors of the Salesforce boundary, all in the domain hierarchy (`domain.errors`):

    PermanentError
    +-- SalesforceConfigError   settings that cannot work (missing, contradictory, unreadable)
    +-- SalesforceLoginError    Salesforce refused the login; `settings` names what to fix
    RetryableError              network trouble while logging in or calling (kind
                                `salesforce.connection` / `salesforce.timeout`)

Data calls never raise for a refused record: `execute` reports per operation (see
`domain.batch.results`). `query_all`, `describe` and `limits` raise `error_for_answer(...)`.
"""

from __future__ import annotations

from typing import Any

from stripe2sf.domain.batch.results import classify_http, http_code, rate_limit_wait
from stripe2sf.domain.errors import PermanentError, RateLimitedError, RetryableError, SyncError


class SalesforceConfigError(PermanentError):
    """The SALESFORCE_* settings cannot work; the message says which and what to set."""

    def __init__(self, message: str, *, settings: tuple[str, ...] = ()) -> None:
        super().__init__(message, kind="salesforce.config")
        self.settings = settings


class SalesforceLoginError(PermanentError):
    """Salesforce refused to log in. `code` is its error (INVALID_LOGIN, invalid_grant, ...)."""

    def __init__(self, message: str, *, code: str, settings: tuple[str, ...] = ()) -> None:
        super().__init__(message, kind=f"salesforce.login.{code}")
        self.code = code
        self.settings = settings


def error_items(body: Any) -> tuple[str | None, str]:
    """(code, message) of a Salesforce error body: REST `[{errorCode, message}]`, Collections
    `{statusCode}`, OAuth `{error, error_description}`, or anything else."""
    items = body if isinstance(body, list) else [body]
    for item in items:
        if isinstance(item, dict):
            code = item.get("errorCode") or item.get("statusCode") or item.get("error")
            message = item.get("message") or item.get("error_description") or ""
            if code or message:
                return (str(code) if code else None), str(message)
    text = "" if body is None else str(body)
    return None, text[:500]


def retry_after_header(value: str | None) -> float | None:
    """Seconds from a Retry-After header given in seconds (dates are ignored)."""
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        return None


def error_for_answer(
    status: int | None, body: Any, what: str, retry_after: float | None = None
) -> SyncError:
    """The domain error for a failed non-batch call (query, describe, limits)."""
    code, message = error_items(body)
    cls = classify_http(status, code)
    name = http_code(status, code)
    text = f"Salesforce {what} failed: {name}: {message}".rstrip(": ")
    if cls == "rate_limited":
        if retry_after is None:
            retry_after = rate_limit_wait(name, message)
        return RateLimitedError(text, kind=f"salesforce.{name}", retry_after=retry_after)
    if cls in ("retryable", "halted"):
        return RetryableError(text, kind=f"salesforce.{name}")
    return PermanentError(text, kind=f"salesforce.{name}")


def code_for_exception(error: SyncError) -> str:
    """The outcome code of a call that got no answer (or could not log in again)."""
    if error.kind == "salesforce.timeout":
        return "TIMEOUT"
    if error.kind.startswith("salesforce.login") or error.kind in (
        "salesforce.LOGIN_FAILED",
        "salesforce.config",
    ):
        return "LOGIN_FAILED"
    return "CONNECTION_ERROR"
