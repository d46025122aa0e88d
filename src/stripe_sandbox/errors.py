"""Errors that carry Stripe's wire shape; serialized in one place (:func:`error_body`).

Hierarchy (mirrors Stripe's ``error.type`` values)::

    StripeError                      any API error; ``status`` is the HTTP status code
    ├── InvalidRequestError          400/404 invalid_request_error (bad params, missing objects)
    │   └── IdempotencyError         400 idempotency_error (key reused with other params)
    ├── CardError                    402 card_error (declines)
    └── AuthenticationError          401 (missing, malformed or live key)
"""

from __future__ import annotations

from typing import Any


class StripeError(Exception):
    status = 400
    type = "api_error"

    def __init__(
        self,
        message: str,
        *,
        code: str | None = None,
        param: str | None = None,
        status: int | None = None,
        extra: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.code = code
        self.param = param
        if status is not None:
            self.status = status
        self.extra = extra or {}


class InvalidRequestError(StripeError):
    type = "invalid_request_error"


class IdempotencyError(StripeError):
    type = "idempotency_error"


class CardError(StripeError):
    """A decline. What led to it is kept (as Stripe keeps the failed charge), unless
    ``rollback`` is set."""

    status = 402
    type = "card_error"
    rollback = False


class AuthenticationError(StripeError):
    status = 401
    type = "invalid_request_error"


def missing(kind: str, object_id: str, param: str = "id") -> InvalidRequestError:
    """Stripe's 404 for an unknown id."""
    return InvalidRequestError(
        f"No such {kind}: '{object_id}'", code="resource_missing", param=param, status=404
    )


def param_required(param: str) -> InvalidRequestError:
    return InvalidRequestError(
        f"Missing required param: {param}.", code="parameter_missing", param=param
    )


def param_invalid(param: str, message: str) -> InvalidRequestError:
    return InvalidRequestError(message, code="parameter_invalid", param=param)


def unknown_param(param: str) -> InvalidRequestError:
    return InvalidRequestError(
        f"Received unknown parameter: {param}", code="parameter_unknown", param=param
    )


def error_body(error: StripeError, request_id: str | None = None) -> dict[str, Any]:
    """The JSON body Stripe sends for an error."""
    body: dict[str, Any] = {"type": error.type, "message": error.message}
    if error.code is not None:
        body["code"] = error.code
    if error.param is not None:
        body["param"] = error.param
    if request_id is not None:
        body["request_log_url"] = f"https://dashboard.stripe.com/test/logs/{request_id}"
    body.update(error.extra)
    return {"error": body}
