"""uvicorn's httptools protocol with two changes for per-request cost (the benchmark's calls/s
depend on both):

* A response's head and body go out in one write. uvicorn writes the status line and headers,
  then the body, as two writes; over TLS with TCP_NODELAY that is two records and two wake-ups
  of the client per response. Holding the head until the first body write halves that.
* Requests are received into one reusable buffer per connection. Given a plain
  ``asyncio.Protocol``, the TLS transport reads each decrypted chunk into a fresh 256 KiB bytes
  object: with glibc that is an mmap, page faults, an mremap and a munmap per read, a few times
  a request. As a ``BufferedProtocol`` it decrypts into the buffer we hand it instead.

It also lets the app drop a connection without answering (the ``reset`` fault): the ASGI
scope's ``extensions[RESET_EXTENSION]`` is a callable that aborts the connection with a TCP RST.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import struct
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

READ_BUFFER_BYTES = 64 * 1024
RESET_EXTENSION = "salesforce_sandbox.reset"


class _CoalescingTransport:
    """Holds a response head until the next write, then sends both together."""

    def __init__(self, transport: asyncio.Transport) -> None:
        self._transport = transport
        self._pending = b""

    def write(self, data: bytes) -> None:
        if (
            not self._pending
            and data.startswith(b"HTTP/1.1 ")
            and not data.startswith(b"HTTP/1.1 1")  # "100 Continue" must go out now
            and data.endswith(b"\r\n\r\n")
        ):
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

    def is_closing(self) -> bool:  # asked on every request: spare it the __getattr__ detour
        return self._transport.is_closing()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._transport, name)


class CoalescingHttpToolsProtocol(HttpToolsProtocol):
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        super().connection_made(transport)  # type: ignore[arg-type]
        self.transport = _CoalescingTransport(self.transport)  # type: ignore[assignment]

    def on_message_begin(self) -> None:
        super().on_message_begin()
        extensions: dict[str, Any] = {RESET_EXTENSION: self.reset_connection}
        self.scope["extensions"] = extensions

    def reset_connection(self) -> None:
        """Drop the connection unanswered: SO_LINGER 0 turns the close into a TCP RST (the
        client sees "connection reset by peer"), and abort() sends no TLS close_notify."""
        sock = self.transport.get_extra_info("socket")
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self.transport.abort()

    def on_response_complete(self) -> None:
        # a HEAD response has no body write: send its head now
        flush = getattr(self.transport, "flush", None)
        if flush is not None:
            flush()
        super().on_response_complete()


class BufferedHttpProtocol(asyncio.BufferedProtocol):
    """What uvicorn gets as its ``http`` protocol class: receives into a buffer of its own and
    passes what arrived to a ``CoalescingHttpToolsProtocol``, which does everything else.

    (uvloop's TLS transport uses ``get_buffer`` only for a protocol that is not an
    ``asyncio.Protocol``, which uvicorn's is; hence a wrapper rather than a subclass.)
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self.http = CoalescingHttpToolsProtocol(*args, **kwargs)
        self._buffer = memoryview(bytearray(READ_BUFFER_BYTES))

    def get_buffer(self, sizehint: int) -> memoryview:
        return self._buffer

    def buffer_updated(self, nbytes: int) -> None:
        self.http.data_received(bytes(self._buffer[:nbytes]))

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.http.connection_made(transport)

    def connection_lost(self, exc: Exception | None) -> None:
        self.http.connection_lost(exc)

    def eof_received(self) -> None:
        self.http.eof_received()

    def pause_writing(self) -> None:
        self.http.pause_writing()

    def resume_writing(self) -> None:
        self.http.resume_writing()
