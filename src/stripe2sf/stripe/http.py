"""The stripe SDK's HTTP client interface over one urllib3 pool shared by every thread.

The SDK's default (`stripe.RequestsClient`) goes through requests, whose per-request work
(merging settings, preparing the request, cookies, adapters, a CA-path check on disk) was
about 14 % of the worker's CPU in py-spy (urllib3's own sending about 11 %): a wave refetches
hundreds of objects. urllib3 is
what requests sends with; the SDK's retries, telemetry and error mapping stay the SDK's
(`stripe.HTTPClient`): connection errors and timeouts are retried, TLS errors are not.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import stripe
import urllib3

CONNECT_TIMEOUT = 30.0
READ_TIMEOUT = 80.0  # the SDK's default


class PooledClient(stripe.HTTPClient):
    name = "urllib3"

    def __init__(self, pool_size: int, proxy: str | None = None) -> None:
        super().__init__(verify_ssl_certs=True)
        options: dict[str, Any] = {
            "maxsize": pool_size,
            "cert_reqs": "CERT_REQUIRED",
            "ca_certs": stripe.ca_bundle_path,
        }
        self._pool: urllib3.PoolManager = (
            urllib3.ProxyManager(proxy, num_pools=2, **options)
            if proxy
            else urllib3.PoolManager(num_pools=2, **options)
        )
        self._timeout = urllib3.Timeout(connect=CONNECT_TIMEOUT, read=READ_TIMEOUT)

    def request(
        self,
        method: str,
        url: str,
        headers: Mapping[str, str] | None,
        post_data: Any = None,
        *,
        _usage: list[str] | None = None,
    ) -> tuple[Any, int, Mapping[str, str]]:
        response = self._send(method, url, headers, post_data, preload=True)
        return response.data, response.status, response.headers

    def request_stream(
        self,
        method: str,
        url: str,
        headers: Mapping[str, str] | None,
        post_data: Any = None,
        *,
        _usage: list[str] | None = None,
    ) -> tuple[Any, int, Mapping[str, str]]:
        response = self._send(method, url, headers, post_data, preload=False)
        return response, response.status, response.headers

    def _send(
        self,
        method: str,
        url: str,
        headers: Mapping[str, str] | None,
        post_data: Any,
        preload: bool,
    ) -> urllib3.BaseHTTPResponse:
        try:
            return self._pool.request(
                method.upper(),
                url,
                body=post_data,
                headers=dict(headers or {}),
                timeout=self._timeout,
                retries=False,  # the SDK retries (with its backoff and idempotency keys)
                redirect=False,
                preload_content=preload,
            )
        except urllib3.exceptions.SSLError as exc:
            raise stripe.APIConnectionError(
                f"Could not verify Stripe's TLS certificate ({exc}); is something on the "
                "network intercepting it?",
                should_retry=False,
            ) from exc
        except urllib3.exceptions.HTTPError as exc:  # connect/read errors and timeouts
            raise stripe.APIConnectionError(
                f"Could not reach Stripe ({type(exc).__name__}: {exc})", should_retry=True
            ) from exc

    def close(self) -> None:
        self._pool.clear()
