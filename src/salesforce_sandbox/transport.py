"""An HTTP protocol for uvicorn that sends a response's head and body in one write.

uvicorn writes the status line and headers, then the body, as two writes; over TLS with
TCP_NODELAY that is two records and two wake-ups of the client per response. Holding the head
until the first body write halves that (the benchmark's calls/s depend on it).
"""

from __future__ import annotations

import asyncio
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol


class _CoalescingTransport:
    """Holds a response head until the next write, then sends both together."""

    def __init__(self, transport: asyncio.Transport) -> None:
        self._transport = transport
        self._pending = b""

    def write(self, data: bytes) -> None:
        if not self._pending and data.startswith(b"HTTP/1.1 ") and data.endswith(b"\r\n\r\n"):
            self._pending = data
            return
        if self._pending:
            data = self._pending + data
            self._pending = b""
        self._transport.write(data)

    def flush(self) -> None:
        if self._pending:
            self._transport.write(self._pending)
            self._pending = b""

    def close(self) -> None:
        self.flush()
        self._transport.close()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._transport, name)


class CoalescingHttpToolsProtocol(HttpToolsProtocol):
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        super().connection_made(transport)  # type: ignore[arg-type]
        self.transport = _CoalescingTransport(self.transport)  # type: ignore[assignment]

    def on_response_complete(self) -> None:
        # a HEAD response has no body write: send its head now
        flush = getattr(self.transport, "flush", None)
        if flush is not None:
            flush()
        super().on_response_complete()
