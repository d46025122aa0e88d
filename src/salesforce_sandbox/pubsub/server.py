"""The Pub/Sub API's gRPC server, on the same event loop as the HTTPS API (one thread owns the
org's SQLite store), with the same TLS certificate (trust ``ca.pem``), or plain with
``insecure``."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
from collections.abc import Sequence
from pathlib import Path
from socket import socket

import grpc
import uvicorn

from pubsub_api import pubsub_api_pb2_grpc
from salesforce_sandbox.models.org import Org
from salesforce_sandbox.pubsub.service import PubSubService

log = logging.getLogger("salesforce_sandbox")
_PEM_BLOCK = re.compile(r"-----BEGIN ([A-Z ]+)-----.+?-----END \1-----\n?", re.S)


class PubSubServer:
    """Started inside the running event loop (``start``); ``port`` is then the bound port.

    Host, port (0: any free one) and keepalive come from the org's settings (``pubsub_*``);
    ``tls_pem`` holds the private key and certificate chain (None: plain gRPC)."""

    def __init__(self, org: Org, tls_pem: Path | None) -> None:
        self.org = org
        self.tls_pem = tls_pem
        self.port: int | None = None
        self._server: grpc.aio.Server | None = None

    @property
    def target(self) -> str:
        """``host:port`` for ``grpc.secure_channel`` / ``grpc.insecure_channel``."""
        host = self.org.settings.host
        host = "127.0.0.1" if host in ("0.0.0.0", "::") else host
        host = f"[{host}]" if ":" in host else host
        return f"{host}:{self.port}"

    async def start(self) -> int:
        bus = self.org.pubsub_bus
        bus.loop = asyncio.get_running_loop()
        server = grpc.aio.server()
        settings = self.org.settings
        service = PubSubService(self.org, bus, settings.pubsub_keepalive_seconds)
        pubsub_api_pb2_grpc.add_PubSubServicer_to_server(service, server)
        host = f"[{settings.host}]" if ":" in settings.host else settings.host
        address = f"{host}:{settings.pubsub_port}"
        if self.tls_pem is None:
            port = server.add_insecure_port(address)
        else:
            key, chain = split_pem(self.tls_pem.read_text())
            credentials = grpc.ssl_server_credentials([(key.encode(), chain.encode())])
            port = server.add_secure_port(address, credentials)
        await server.start()
        self._server = server
        self.port = port
        settings.pubsub_port = port  # the bound port (the control plane shows it)
        return port

    async def stop(self) -> None:
        if self._server is not None:
            await self._server.stop(grace=0.5)
            self._server = None
        self.org.pubsub_bus.loop = None


def split_pem(text: str) -> tuple[str, str]:
    """(private key, certificate chain) of a PEM file holding both."""
    key = "".join(m.group(0) for m in _PEM_BLOCK.finditer(text) if "PRIVATE KEY" in m.group(1))
    chain = "".join(m.group(0) for m in _PEM_BLOCK.finditer(text) if m.group(1) == "CERTIFICATE")
    return key, chain


async def serve(
    server: uvicorn.Server,
    sockets: Sequence[socket],
    pubsub: PubSubServer | None,
) -> None:
    """Run the HTTPS server (and the Pub/Sub server) until the HTTPS server stops."""
    if pubsub is not None:
        await pubsub.start()
    try:
        await server.serve(sockets=list(sockets))
    finally:
        if pubsub is not None:
            with contextlib.suppress(Exception):
                await pubsub.stop()
