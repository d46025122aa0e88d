"""The worker's Stripe connection pool reads the proxy settings of the environment once, at
start (requests would scan the environment and ~/.netrc on every call), and honours them,
NO_PROXY included."""

from __future__ import annotations

import pytest
import urllib3

from stripe2sf.stripe.http import PooledClient
from stripe2sf.stripe.reader import StripeReader


def _pool(reader: StripeReader) -> urllib3.PoolManager:
    client = reader.client._requestor._client  # the SDK's HTTP client (stripe pinned)
    assert isinstance(client, PooledClient)
    return client._pool


def test_a_proxy_in_the_environment_is_used(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HTTPS_PROXY", "http://proxy.example:3128")
    monkeypatch.delenv("NO_PROXY", raising=False)
    monkeypatch.delenv("no_proxy", raising=False)
    pool = _pool(StripeReader("sk_test_x", http_pool=4))
    assert isinstance(pool, urllib3.ProxyManager)
    assert (pool.proxy.host, pool.proxy.port) == ("proxy.example", 3128)  # type: ignore[union-attr]


def test_no_proxy_keeps_the_api_direct(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HTTPS_PROXY", "http://proxy.example:3128")
    monkeypatch.setenv("NO_PROXY", "127.0.0.1")
    reader = StripeReader("sk_test_x", api_base="http://127.0.0.1:12111", http_pool=4)
    assert not isinstance(_pool(reader), urllib3.ProxyManager)


def test_a_plain_http_base_uses_the_http_proxy_only(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HTTPS_PROXY", "http://proxy.example:3128")
    monkeypatch.delenv("HTTP_PROXY", raising=False)
    monkeypatch.delenv("http_proxy", raising=False)
    monkeypatch.delenv("NO_PROXY", raising=False)
    monkeypatch.delenv("no_proxy", raising=False)
    reader = StripeReader("sk_test_x", api_base="http://stripe.internal:12111", http_pool=4)
    assert not isinstance(_pool(reader), urllib3.ProxyManager)
