"""The HTTP session every Salesforce request goes through (simple-salesforce's logins too)."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import requests
from requests.adapters import HTTPAdapter

DEFAULT_TIMEOUT = (10.0, 120.0)  # connect, read (seconds)


class SalesforceSession(requests.Session):
    """A `requests.Session` with a default timeout and a CA bundle that wins.

    requests lets a set REQUESTS_CA_BUNDLE / CURL_CA_BUNDLE override `session.verify`
    whenever a request does not pass `verify` itself (simple-salesforce never does); with
    `ca_bundle` given, this session's bundle is used for every request. Proxies and the rest
    of the environment still apply. `pool_maxsize`: connections kept per host
    (`domain.batch.pools`).
    """

    def __init__(
        self,
        ca_bundle: Path | None = None,
        timeout: float | tuple[float, float] = DEFAULT_TIMEOUT,
        pool_maxsize: int | None = None,
    ) -> None:
        super().__init__()
        self.ca_bundle = ca_bundle
        self.default_timeout = timeout
        if pool_maxsize is not None:
            # One session serves every worker thread: keep as many connections per host as
            # threads call at once (requests keeps 10; the rest were opened and thrown away).
            for prefix in ("https://", "http://"):
                self.mount(prefix, HTTPAdapter(pool_connections=4, pool_maxsize=pool_maxsize))
        if ca_bundle is not None:
            self.verify = str(ca_bundle)

    def merge_environment_settings(
        self,
        url: str | bytes | None,
        proxies: Mapping[str, str] | None,
        stream: bool | None,
        verify: bool | str | None,
        cert: Any,
    ) -> Any:
        settings: Any = super().merge_environment_settings(
            url,
            proxies,  # type: ignore[arg-type]
            stream,
            verify,
            cert,
        )
        if self.ca_bundle is not None and verify is None:
            settings["verify"] = str(self.ca_bundle)
        return settings

    def request(
        self, method: str | bytes, url: str | bytes, *args: Any, **kwargs: Any
    ) -> requests.Response:
        if kwargs.get("timeout") is None:
            kwargs["timeout"] = self.default_timeout
        return super().request(method, url, *args, **kwargs)


def body_of(response: requests.Response) -> Any:
    """The decoded JSON body, the text when it is not JSON, None when empty."""
    if not response.content:
        return None
    try:
        return response.json()
    except ValueError:
        return response.text
