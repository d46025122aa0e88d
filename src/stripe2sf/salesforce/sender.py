"""`Sender`: what the executor and the Bulk API 2.0 runner need from a client.

`SalesforceClient` is one; the executor and `bulk` are written against this protocol so that
the client can use them without them importing the client back.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol

import requests


class Sender(Protocol):
    """Sends one request to the logged-in org (see `SalesforceClient.send`)."""

    @property
    def bulk_poll_interval(self) -> float:
        """Seconds between the first Bulk API 2.0 job status polls."""
        ...

    @property
    def bulk_timeout(self) -> float:
        """Seconds a Bulk API 2.0 job may take before it counts as BULK_JOB_TIMEOUT."""
        ...

    def send(
        self,
        method: str,
        path: str,
        *,
        kind: str,
        json: Any = None,
        data: bytes | str | None = None,
        params: Mapping[str, str] | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> requests.Response:
        """One request to the instance; any HTTP answer is returned as is."""
        ...
