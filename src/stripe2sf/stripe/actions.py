"""Stripe requests of Salesforce actions (`domain.actions.steps.StripeCall`), sent with the
official SDK, each POST with its idempotency key.

Errors, in the domain's hierarchy:

    StripeRefused (PermanentError)   4xx: the request is wrong for this data (an unknown
                                     price, no card, ...); carries Stripe's code, param and
                                     message, which `domain.actions.steps` makes readable
    StripeKeyReused (PermanentError) 400 idempotency_error: the key was used with other
                                     parameters (the Account changed between two tries)
    RateLimitedError / RetryableError  429, 409 (a request with the key still running), 5xx,
                                     no answer: tried again later
A GET of an object that does not exist answers None.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import stripe

from stripe2sf.domain.actions.steps import StripeCall
from stripe2sf.domain.capture.change import IDEMPOTENCY_PREFIX
from stripe2sf.domain.errors import PermanentError, RateLimitedError, RetryableError
from stripe2sf.domain.setup.plain_errors import stripe_unreachable
from stripe2sf.network_failure import network_problem


class StripeRefused(PermanentError):
    def __init__(
        self, message: str, *, status: int | None, code: str | None, param: str | None
    ) -> None:
        super().__init__(message, kind=f"stripe.{code or 'invalid_request'}")
        self.status = status
        self.code = code
        self.param = param


class StripeKeyReused(PermanentError):
    def __init__(self, message: str) -> None:
        super().__init__(message, kind="stripe.idempotency_error")


def _param(exc: stripe.StripeError) -> str | None:
    body = exc.json_body if isinstance(exc.json_body, Mapping) else {}
    error = body.get("error") if isinstance(body.get("error"), Mapping) else {}
    value = error.get("param") if isinstance(error, Mapping) else None
    return str(value) if value else None


class StripeActions:
    """Sends action requests; `calls` counts them (metrics)."""

    def __init__(self, client: stripe.StripeClient, api_base: str | None = None) -> None:
        self.client = client
        self.api_base = api_base
        self.calls = 0

    def send(self, call: StripeCall) -> dict[str, Any] | None:
        if call.method == "post" and not (call.idempotency_key or "").startswith(
            IDEMPOTENCY_PREFIX
        ):
            raise ValueError(f"{call.step}: a POST needs a {IDEMPOTENCY_PREFIX}* idempotency key")
        params: dict[str, Any] = dict(call.params)
        if call.idempotency_key:
            params["idempotency_key"] = call.idempotency_key
        self.calls += 1
        try:
            response = self.client.raw_request(call.method, call.path, **params)
        except stripe.IdempotencyError as exc:
            raise StripeKeyReused(
                f"Stripe idempotency key {call.idempotency_key} was used with other "
                f"parameters: {exc.user_message or exc}"
            ) from exc
        except stripe.RateLimitError as exc:
            raise RateLimitedError(
                f"Stripe rate limit: {exc.user_message or exc}", kind="stripe.rate_limited"
            ) from exc
        except stripe.APIConnectionError as exc:
            detail, _ = stripe_unreachable(self.api_base, network_problem(exc), str(exc))
            raise RetryableError(detail, kind="stripe.connection") from exc  # not the SDK's text
        except stripe.AuthenticationError as exc:
            raise PermanentError(
                "Stripe refused the API key: check STRIPE_API_KEY", kind="stripe.authentication"
            ) from exc
        except stripe.StripeError as exc:
            status = exc.http_status
            if status is None or status >= 500 or status in (409, 429):
                raise RetryableError(
                    f"Stripe error {status} on {call.step}: {exc.user_message or exc}",
                    kind="stripe.server",
                ) from exc
            if status == 404 and call.method in ("get", "delete"):
                return None  # not there (a delete: gone already)
            raise StripeRefused(
                str(exc.user_message or exc), status=status, code=exc.code, param=_param(exc)
            ) from exc
        doc: dict[str, Any] = json.loads(response.body)
        return doc
