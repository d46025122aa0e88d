"""Settings of a sandbox org and their defaults (also printed by ``salesforce-sandbox --help``)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from salesforce_sandbox import ids
from salesforce_sandbox.jwt_keys import JWT_CERTIFICATE_PEM

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8701
DEFAULT_PUBSUB_PORT = 8703
DEFAULT_USERNAME = "admin@sandbox.example.com"
DEFAULT_PASSWORD = "sandbox-password"
DEFAULT_SECURITY_TOKEN = "SANDBOXTOKEN"
DEFAULT_CLIENT_ID = "3MVG9sandboxCLIENTID"
DEFAULT_CLIENT_SECRET = "sandbox-client-secret"
DEFAULT_ACCESS_TOKEN = ids.ORG_ID_15 + "!SANDBOX.STATIC.ACCESS.TOKEN"
DEFAULT_API_LIMIT = 100_000
DEFAULT_SESSION_SECONDS = 7200
ADMIN_USER_ID = "005000000000001AAA"
INTEGRATION_USER_ID = ids.make_id("005", 2)
QUEUE_ID = ids.make_id("00G", 1)
API_VERSIONS = [f"{v}.0" for v in range(31, 67)]
RELEASES = {59: "Winter '24", 60: "Spring '24", 61: "Summer '24", 62: "Winter '25"}


@dataclass
class Settings:
    """What ``salesforce-sandbox`` and ``salesforce_sandbox.testing`` configure."""

    host: str = DEFAULT_HOST
    port: int = DEFAULT_PORT
    data_dir: Path | None = None
    metadata_dirs: list[Path] = field(default_factory=list)
    username: str = DEFAULT_USERNAME
    password: str = DEFAULT_PASSWORD
    security_token: str = DEFAULT_SECURITY_TOKEN
    client_id: str = DEFAULT_CLIENT_ID
    client_secret: str = DEFAULT_CLIENT_SECRET
    access_token: str | None = DEFAULT_ACCESS_TOKEN
    jwt_certificate_pem: str = JWT_CERTIFICATE_PEM
    api_limit: int = DEFAULT_API_LIMIT
    session_seconds: int = DEFAULT_SESSION_SECONDS
    org_name: str = "Sandbox Org"
    public_url: str | None = None
    # org features on at start (``salesforce_sandbox.features``): "person-accounts", ...
    features: list[str] = field(default_factory=list)
    # the "multi-currency" feature's CurrencyType when it is first seeded: the corporate
    # currency, the active ones, and known ones left inactive until activated
    corporate_currency: str = "USD"
    currencies: list[str] = field(default_factory=lambda: ["USD", "EUR", "GBP"])
    inactive_currencies: list[str] = field(default_factory=lambda: ["JPY"])
    # the Pub/Sub API (Change Data Capture): its gRPC port (0: any free port), plain instead
    # of TLS, the idle keepalive interval, how long change events are kept for replay
    pubsub_port: int = DEFAULT_PUBSUB_PORT
    pubsub_insecure: bool = False
    pubsub_keepalive_seconds: float = 270.0
    pubsub_retention_hours: float = 72.0

    @property
    def db_path(self) -> Path | None:
        return self.data_dir / "org.sqlite3" if self.data_dir else None
