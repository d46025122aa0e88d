"""Reads from the Stripe API with the official SDK; answers the planner's Stripe lookups.

Errors are mapped into the domain hierarchy: rate limits and connection failures are
retryable, bad keys are permanent, a missing object is an answer (None), not an error.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import quote_plus

import stripe
from requests.utils import get_environ_proxies

from stripe2sf.domain.context import Lookup, LookupKind
from stripe2sf.domain.errors import PermanentError, RateLimitedError, RetryableError
from stripe2sf.domain.flows.subjects import parse_refetch_key
from stripe2sf.domain.paths import id_of
from stripe2sf.domain.setup.plain_errors import stripe_unreachable
from stripe2sf.network_failure import network_problem
from stripe2sf.stripe.http import PooledClient

# object type -> the path of its API resource (`/v1/<resource>/<id>`)
RESOURCES = {
    "customer": "customers",
    "charge": "charges",
    "product": "products",
    "payment_method": "payment_methods",
    "subscription": "subscriptions",
    "invoice": "invoices",
    "payment_intent": "payment_intents",
    "dispute": "disputes",
    "refund": "refunds",
    "price": "prices",
}


class StripeReader:
    def __init__(
        self,
        api_key: str,
        api_base: str | None = None,
        max_retries: int = 2,
        http_pool: int | None = None,
        api_version: str | None = None,
    ) -> None:
        """`http_pool`: one HTTP connection pool for every thread, keeping that many
        connections (`domain.batch.pools`), over urllib3 (`stripe2sf.stripe.http`); without it
        the SDK opens a requests session per thread, and the short-lived threads of each wave's
        reads would connect anew every time. The environment's proxy settings (HTTPS_PROXY,
        NO_PROXY) are read once, here.

        Every request carries a `Stripe-Version`: `api_version` (`STRIPE_API_VERSION`), else the
        version the SDK pins. Webhook payloads come in the endpoint's version whatever this is;
        `domain.stripe_views` reads the objects of every version, so the two may differ."""
        base: Any = {"api": api_base.rstrip("/")} if api_base else None
        http_client = None
        if http_pool is not None:
            url = api_base or "https://api.stripe.com"
            proxies = get_environ_proxies(url)
            proxy = proxies.get(url.split(":", 1)[0]) or proxies.get("all")
            http_client = PooledClient(http_pool, proxy=proxy)
        self.client = stripe.StripeClient(
            api_key,
            base_addresses=base,
            max_network_retries=max_retries,
            http_client=http_client,
            stripe_version=api_version,
        )
        self.api_version = api_version or stripe.api_version
        self.api_base = api_base
        self.calls = 0

    def _call(self, fn: Callable[[], Any]) -> Any:
        self.calls += 1
        try:
            return fn()
        except stripe.RateLimitError as exc:
            retry_after = None
            if exc.headers and exc.headers.get("Retry-After", "").isdigit():
                retry_after = float(exc.headers["Retry-After"])
            raise RateLimitedError(
                f"Stripe rate limit: {exc.user_message or exc}",
                kind="stripe.rate_limited",
                retry_after=retry_after,
            ) from exc
        except stripe.InvalidRequestError as exc:
            if exc.http_status == 404:
                return None
            raise PermanentError(
                f"Stripe refused the request: {exc.user_message or exc}",
                kind="stripe.invalid_request",
            ) from exc
        except stripe.AuthenticationError as exc:
            raise PermanentError(
                "Stripe refused the API key: check STRIPE_API_KEY", kind="stripe.authentication"
            ) from exc
        except stripe.PermissionError as exc:
            raise PermanentError(
                f"the Stripe key lacks a permission: {exc.user_message or exc}",
                kind="stripe.permission",
            ) from exc
        except stripe.APIConnectionError as exc:
            detail, _ = stripe_unreachable(self.api_base, network_problem(exc), str(exc))
            raise RetryableError(detail, kind="stripe.connection") from exc  # not the SDK's text
        except stripe.StripeError as exc:
            if exc.http_status is None or exc.http_status >= 500:
                raise RetryableError(
                    f"Stripe error {exc.http_status}: {exc}", kind="stripe.server"
                ) from exc
            raise PermanentError(
                f"Stripe error {exc.http_status}: {exc}", kind="stripe.error"
            ) from exc

    def retrieve(
        self, object_type: str, object_id: str, expand: tuple[str, ...] = ()
    ) -> dict[str, Any] | None:
        resource = RESOURCES.get(object_type)
        if resource is None:
            return None
        path = f"/v1/{resource}/{quote_plus(object_id)}"  # as the SDK's services quote ids
        params: dict[str, Any] = {"expand": list(expand)} if expand else {}
        return self._get(path, params)

    def _get(self, path: str, params: Mapping[str, Any]) -> dict[str, Any] | None:
        """The JSON answer of a GET as plain dicts (None: not found). Not the SDK's typed
        objects: building them (and `to_dict` after) costs more CPU than the request."""
        response = self._call(lambda: self.client.raw_request("get", path, **dict(params)))
        if response is None:
            return None
        doc: dict[str, Any] = json.loads(response.body)  # plain dicts, not the SDK's OrderedDicts
        return doc

    def customer_subscriptions(self, customer_id: str) -> list[dict[str, Any]]:
        page = self._get(
            "/v1/subscriptions", {"customer": customer_id, "status": "all", "limit": 100}
        )
        return list(page.get("data") or []) if page is not None else []

    def customer_open_invoices(self, customer_id: str) -> list[dict[str, Any]]:
        page = self._get("/v1/invoices", {"customer": customer_id, "status": "open", "limit": 100})
        return list(page.get("data") or []) if page is not None else []

    def payment_invoice(self, payment_intent_id: str) -> str | None:
        """The invoice a payment intent paid (None: none), from Stripe's invoice payments:
        since 2025-03-31.basil neither the charge nor the intent names it."""
        page = self._get(
            "/v1/invoice_payments",
            {"payment": {"type": "payment_intent", "payment_intent": payment_intent_id}},
        )
        for row in (page or {}).get("data") or []:
            if invoice := id_of(row.get("invoice")):
                return invoice
        return None

    def answer(self, lookup: Lookup) -> Any:
        """The raw answer to one Stripe lookup of the planner."""
        kind, key = lookup.kind, lookup.key
        if kind == LookupKind.STRIPE_SUBSCRIPTIONS:
            return self.customer_subscriptions(key)
        if kind == LookupKind.STRIPE_OPEN_INVOICES:
            return self.customer_open_invoices(key)
        if kind == LookupKind.STRIPE_REFETCH:
            return self.retrieve(*parse_refetch_key(key))
        if kind == LookupKind.STRIPE_PAYMENT_INVOICE:
            return self.payment_invoice(key)
        by_kind = {
            LookupKind.STRIPE_CUSTOMER: "customer",
            LookupKind.STRIPE_CHARGE: "charge",
            LookupKind.STRIPE_PRODUCT: "product",
            LookupKind.STRIPE_PAYMENT_METHOD: "payment_method",
        }
        if kind not in by_kind:
            raise ValueError(f"not a Stripe lookup: {kind}")
        return self.retrieve(by_kind[kind], key)

    def list_page(
        self, resource: str, params: Mapping[str, Any]
    ) -> tuple[list[dict[str, Any]], bool]:
        """One page of a list endpoint as plain dicts read straight from the JSON answer (no
        SDK objects: a backfill reads millions), and whether more pages follow."""
        response = self._call(
            lambda: self.client.raw_request("get", f"/v1/{resource}", **dict(params))
        )
        if response is None:
            return [], False
        # the SDK has already parsed the body once (`data`); parsing it again costs as much
        doc = response.data if isinstance(response.data, Mapping) else json.loads(response.body)
        return list(doc.get("data") or []), bool(doc.get("has_more"))
