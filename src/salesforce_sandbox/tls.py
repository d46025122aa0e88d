"""The sandbox's local certificate authority and server certificate (trustme)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import trustme


@dataclass(frozen=True)
class TlsFiles:
    ca_path: Path
    server_path: Path  # private key + certificate chain, for uvicorn's ssl_certfile


def ensure_certificates(directory: Path, hosts: list[str]) -> TlsFiles:
    """Load (or create) ``directory/ca.pem`` + ``ca-key.pem`` and issue a server certificate."""
    directory.mkdir(parents=True, exist_ok=True)
    ca_path = directory / "ca.pem"
    key_path = directory / "ca-key.pem"
    if ca_path.exists() and key_path.exists():
        ca = trustme.CA.from_pem(ca_path.read_bytes(), key_path.read_bytes())
    else:
        ca = trustme.CA(organization_name="salesforce-sandbox local CA")
        ca.cert_pem.write_to_path(str(ca_path))
        ca.private_key_pem.write_to_path(str(key_path))
        key_path.chmod(0o600)
    names = list(dict.fromkeys(["127.0.0.1", "localhost", "::1", *hosts]))
    server = ca.issue_cert(*names)
    server_path = directory / "server.pem"
    server.private_key_and_cert_chain_pem.write_to_path(str(server_path))
    server_path.chmod(0o600)
    return TlsFiles(ca_path, server_path)
