"""The worker's Stripe session reads the proxy settings of the environment once, at start (not
per request: requests would scan the environment and ~/.netrc on every call), and still
honours them, including NO_PROXY."""

from __future__ import annotations

import pytest

from stripe2sf.stripe.reader import StripeReader


def _http_client(reader: StripeReader) -> object:
    return reader.client._requestor._client  # the SDK's RequestsClient (stripe pinned)


def test_a_proxy_in_the_environment_is_used(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HTTPS_PROXY", "http://proxy.example:3128")
    monkeypatch.delenv("NO_PROXY", raising=False)
    monkeypatch.delenv("no_proxy", raising=False)
    client = _http_client(StripeReader("sk_test_x", http_pool=4))
    assert client._proxy == {"https": "http://proxy.example:3128"}  # type: ignore[attr-defined]
    assert client._session.trust_env is False  # type: ignore[attr-defined]


def test_no_proxy_keeps_the_api_direct(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HTTPS_PROXY", "http://proxy.example:3128")
    monkeypatch.setenv("NO_PROXY", "127.0.0.1")
    reader = StripeReader("sk_test_x", api_base="http://127.0.0.1:12111", http_pool=4)
    assert _http_client(reader)._proxy is None  # type: ignore[attr-defined]
