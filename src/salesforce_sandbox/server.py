"""Serve an org over HTTPS with uvicorn (as a process, or in a thread for tests)."""

from __future__ import annotations

import socket
import tempfile
from pathlib import Path

import uvicorn

from salesforce_sandbox.app import SandboxApp
from salesforce_sandbox.config import Settings
from salesforce_sandbox.jwt_keys import JWT_PRIVATE_KEY_PEM
from salesforce_sandbox.models.org import Org
from salesforce_sandbox.tls import TlsFiles, ensure_certificates
from salesforce_sandbox.transport import BufferedHttpProtocol


def cert_dir(settings: Settings) -> Path:
    if settings.data_dir is not None:
        return settings.data_dir
    return Path(tempfile.mkdtemp(prefix="salesforce-sandbox-"))


def write_jwt_files(directory: Path, settings: Settings) -> None:
    """Drop the connected app's JWT certificate (and the default key) next to ca.pem."""
    (directory / "jwt-cert.pem").write_text(settings.jwt_certificate_pem)
    key = directory / "jwt-private-key.pem"
    key.write_text(JWT_PRIVATE_KEY_PEM)
    key.chmod(0o600)


def uvicorn_config(app: SandboxApp, settings: Settings, tls: TlsFiles) -> uvicorn.Config:
    return uvicorn.Config(
        app,
        host=settings.host,
        port=settings.port,
        ssl_certfile=str(tls.server_path),
        log_level="warning",
        access_log=False,
        http=BufferedHttpProtocol,  # type: ignore[arg-type]  # a protocol factory
        lifespan="on",
        timeout_keep_alive=60,
        timeout_graceful_shutdown=2,
        server_header=False,
        date_header=True,
    )


def bind_socket(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    # proto=IPPROTO_TCP so asyncio sets TCP_NODELAY on accepted connections (without it a
    # response written as headers + body waits ~40 ms for the client's delayed ACK)
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    sock.bind((host, port))
    sock.listen(128)
    sock.set_inheritable(True)
    return sock


def prepare(settings: Settings, certs: Path | None = None) -> tuple[Org, SandboxApp, TlsFiles]:
    """Certificates (in ``certs``, else the data dir, else a temporary dir), org and app."""
    directory = certs or cert_dir(settings)
    tls = ensure_certificates(
        directory, [settings.host] if settings.host not in ("0.0.0.0", "::") else []
    )
    write_jwt_files(directory, settings)
    org = Org(settings)
    return org, SandboxApp(org), tls
