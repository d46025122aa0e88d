"""Writes to the Stripe API (official SDK): Salesforce's values onto a Stripe customer.

Every write carries an idempotency key starting ``stripe2sf-`` (`domain.reverse.plan.
idempotency_key`): a retry of the same write is answered once by Stripe, and the events it
causes name the key, so stripe2sf knows its own changes when they come back.

Errors map into the domain hierarchy as the reader's do (rate limits, 5xx and connection
failures retryable, the rest permanent); a value Stripe refuses (an invalid email) is a
`StripeRefusal` naming the field, which the handler turns into a dead letter saying where to
fix it.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any
from urllib.parse import quote_plus

import stripe

from stripe2sf.domain.errors import PermanentError
from stripe2sf.stripe.reader import StripeReader


class StripeRefusal(PermanentError):
    """Stripe refused a value (400): `param` names the field, `code` Stripe's error code."""

    def __init__(self, message: str, *, kind: str, param: str | None, code: str | None) -> None:
        super().__init__(message, kind=kind)
        self.param = param
        self.code = code


class StripeWriter(StripeReader):
    """The reader's client and error mapping, plus customer updates; `calls` counts reads and
    writes, `writes` the writes."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.writes = 0

    def customer(self, customer_id: str) -> dict[str, Any] | None:
        """The customer as Stripe holds it now (a deleted one as ``{"deleted": true}``;
        None: not found)."""
        return self.retrieve("customer", customer_id)

    def update_customer(
        self, customer_id: str, params: Mapping[str, Any], idempotency_key: str
    ) -> dict[str, Any]:
        path = f"/v1/customers/{quote_plus(customer_id)}"
        self.writes += 1
        try:
            response = self._call(
                lambda: self.client.raw_request(
                    "post", path, idempotency_key=idempotency_key, **dict(params)
                )
            )
        except PermanentError as exc:
            cause = exc.__cause__
            if isinstance(cause, stripe.InvalidRequestError) and cause.http_status != 404:
                code = cause.code
                raise StripeRefusal(
                    f"Stripe refused the update of customer {customer_id}: "
                    f"{cause.user_message or cause}",
                    kind=f"stripe.{code}" if code else "stripe.invalid_request",
                    param=cause.param,
                    code=code,
                ) from cause
            raise
        if response is None:  # 404: the customer is gone
            raise PermanentError(
                f"Stripe customer {customer_id} not found (deleted or another account?)",
                kind="stripe.resource_missing",
            )
        doc: dict[str, Any] = json.loads(response.body)
        return doc
