"""Run a sandbox org in-process for tests and demos.

    from salesforce_sandbox.testing import run_sandbox

    with run_sandbox(metadata=[Path("force-app")]) as sandbox:
        sf = sandbox.salesforce()                       # direct session (static access token)
        sf = sandbox.salesforce(login="soap")           # or "password", "client_credentials", "jwt"
        sf = sandbox.salesforce(user=sandbox.integration_username)  # acting as another user
        sandbox.reset()                                 # or sandbox.control_call("POST", "reset")
        sandbox.seed([{"attributes": {"type": "Account"}, "Name": "Acme"}])
        sandbox.deploy(Path("force-app"))
        sandbox.select_cdc(["Contact"])                # Change Data Capture for Contact
        channel = sandbox.pubsub_channel()              # gRPC (eventbus.v1), metadata:
        metadata = sandbox.pubsub_metadata()            # accesstoken, instanceurl, tenantid
        rule = sandbox.add_fault("POST /sobjects/{sobject}", "503", count=1)
        sandbox.add_fault("PATCH /composite/sobjects*", "UNABLE_TO_LOCK_ROW", rate=0.2,
                          record_rate=0.3)              # some records of some calls fail
        sandbox.remove_fault(rule["id"])                # or clear_faults()
        sandbox.set_latency(50, jitter_ms=20)           # 50-70 ms on every API call
        sandbox.requests()["by_endpoint"]               # {"POST /sobjects/{sobject}": 3, ...}

Attributes: ``instance_url`` (``https://127.0.0.1:PORT``), ``ca_path``, ``control`` (the
control-plane base URL), ``login_domain`` (for simple-salesforce ``domain=``), ``username``,
``password``, ``security_token``, ``client_id``, ``client_secret``, ``access_token``,
``jwt_private_key``; ``http()`` is a ``requests.Session`` that trusts the CA.

Users: the admin (``username``, System Administrator: sees and changes everything) and the
integration user ``integration_username`` (profile "Minimum Access - API Only Integrations",
no permission set: it sees no records until permission sets are assigned to it).
``login_as(username)`` returns an access token acting as any active user (control plane
``POST /_sandbox/sessions {"username"}``); ``salesforce(user=username)`` logs in with it. Every
user also logs in with the org's ``password`` (and ``security_token``) under its own username:
``salesforce(login="soap", username=sandbox.integration_username)``.

The server runs uvicorn with TLS in a background thread on a free loopback port; ``ca_path``
is the CA to trust. ``sandbox.org`` gives direct access to the org model (same thread rules as
the server: prefer the control plane while requests are in flight).
"""

from __future__ import annotations

import asyncio
import contextlib
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import grpc
import requests
import uvicorn
from simple_salesforce import Salesforce

from salesforce_sandbox.config import Settings
from salesforce_sandbox.ids import ORG_ID
from salesforce_sandbox.jwt_keys import JWT_PRIVATE_KEY_PEM
from salesforce_sandbox.models.org import INTEGRATION_USERNAME, Org
from salesforce_sandbox.pubsub.server import PubSubServer, serve
from salesforce_sandbox.server import bind_socket, prepare, uvicorn_config

LOGIN_MODES = ("token", "soap", "password", "client_credentials", "jwt")


@dataclass
class SandboxServer:
    settings: Settings
    org: Org
    instance_url: str
    ca_path: Path
    data_dir: Path | None
    pubsub_target: str = ""  # host:port of the Pub/Sub API (gRPC; TLS unless pubsub_insecure)

    @property
    def control_url(self) -> str:
        return self.instance_url + "/_sandbox"

    @property
    def control(self) -> str:
        """Base URL of the control plane."""
        return self.control_url

    @property
    def host_port(self) -> str:
        return self.instance_url.split("://", 1)[1]

    @property
    def login_domain(self) -> str:
        """``domain`` for simple-salesforce logins: ``https://{domain}.salesforce.com/...``."""
        return self.host_port + "/login"

    @property
    def username(self) -> str:
        return self.settings.username

    @property
    def password(self) -> str:
        return self.settings.password

    @property
    def security_token(self) -> str:
        return self.settings.security_token

    @property
    def client_id(self) -> str:
        return self.settings.client_id

    @property
    def client_secret(self) -> str:
        return self.settings.client_secret

    @property
    def access_token(self) -> str | None:
        return self.settings.access_token

    @property
    def jwt_private_key(self) -> str:
        return JWT_PRIVATE_KEY_PEM

    @property
    def integration_username(self) -> str:
        """The seeded integration user (API only, no permission set assigned)."""
        return INTEGRATION_USERNAME

    def login_as(self, username: str) -> str:
        """A new access token acting as ``username`` (its profile and permission sets apply)."""
        return str(self.control_call("POST", "sessions", {"username": username})["access_token"])

    def http(self) -> requests.Session:
        """A requests session trusting the sandbox CA (ignores REQUESTS_CA_BUNDLE and proxies)."""
        session = requests.Session()
        session.trust_env = False
        session.verify = str(self.ca_path)
        return session

    def salesforce(
        self, login: str = "token", user: str | None = None, **kwargs: Any
    ) -> Salesforce:
        """A ``simple_salesforce.Salesforce`` logged in with ``login`` (see LOGIN_MODES), or
        with a token acting as ``user`` (a username) when given."""
        session = kwargs.pop("session", None) or self.http()
        args: dict[str, Any]
        if user is not None:
            args = {"instance_url": self.instance_url, "session_id": self.login_as(user)}
        elif login == "token":
            args = {"instance_url": self.instance_url, "session_id": self.access_token}
        elif login == "soap":
            args = {
                "username": self.username,
                "password": self.password,
                "security_token": self.security_token,
                "domain": self.login_domain,
            }
        elif login == "password":
            args = {
                "username": self.username,
                "password": self.password + self.security_token,
                "consumer_key": self.client_id,
                "consumer_secret": self.client_secret,
                "domain": self.login_domain,
            }
        elif login == "client_credentials":
            args = {
                "consumer_key": self.client_id,
                "consumer_secret": self.client_secret,
                "domain": self.login_domain,
            }
        elif login == "jwt":
            args = {
                "username": self.username,
                "consumer_key": self.client_id,
                "privatekey": self.jwt_private_key,
                "domain": self.login_domain,
            }
        else:
            raise ValueError(f"login must be one of {LOGIN_MODES}")
        args.update(kwargs)
        return Salesforce(session=session, **args)

    # Pub/Sub API (Change Data Capture) -------------------------------------------------------
    def pubsub_channel(self) -> grpc.Channel:
        """A gRPC channel to the Pub/Sub API (trusting ``ca_path`` unless it is plain)."""
        if self.settings.pubsub_insecure:
            return grpc.insecure_channel(self.pubsub_target)
        credentials = grpc.ssl_channel_credentials(root_certificates=self.ca_path.read_bytes())
        return grpc.secure_channel(self.pubsub_target, credentials)

    def pubsub_metadata(self, access_token: str | None = None) -> list[tuple[str, str]]:
        """The auth metadata headers of every Pub/Sub API call."""
        return [
            ("accesstoken", access_token or self.access_token or ""),
            ("instanceurl", self.instance_url),
            ("tenantid", ORG_ID),
        ]

    def cdc_selected(self) -> list[str]:
        """The entities selected for Change Data Capture."""
        return list(self.control_call("GET", "cdc")["selected"])

    def select_cdc(self, entities: list[str]) -> list[str]:
        """Select exactly ``entities`` for Change Data Capture (e.g. ``["Contact"]``)."""
        return list(self.control_call("PUT", "cdc", {"entities": entities})["selected"])

    # control plane --------------------------------------------------------------------------
    def control_call(self, method: str, path: str, payload: Any = None) -> Any:
        with self.http() as session:
            response = session.request(
                method, f"{self.control_url}/{path.lstrip('/')}", json=payload
            )
        response.raise_for_status()
        return response.json()

    def reset(self, schema: bool = False) -> None:
        self.control_call("POST", "reset", {"schema": schema})

    def seed(self, records: list[dict[str, Any]], sobject: str | None = None) -> list[str]:
        return list(
            self.control_call("POST", "seed", {"records": records, "sobject": sobject})["ids"]
        )

    def deploy(self, path: Path) -> list[str]:
        return list(self.control_call("POST", "deploy", {"path": str(path)})["deployed"])

    def deploy_files(self, files: dict[str, str]) -> list[str]:
        """Deploy SFDX source files given as relative path -> XML."""
        return list(self.control_call("POST", "deploy", {"files": files})["deployed"])

    def enable_standard_duplicate_rules(self, objects: list[str] | None = None) -> list[str]:
        """Salesforce's standard duplicate rules (Account and Contact, or ``objects``), active."""
        payload = {"objects": objects} if objects else {}
        return list(self.control_call("POST", "duplicate-rules/standard", payload)["deployed"])

    def duplicate_rules(self) -> list[dict[str, Any]]:
        return list(self.control_call("GET", "duplicate-rules")["rules"])

    def remove_duplicate_rules(self, names: list[str] | None = None) -> list[str]:
        payload = {"names": names} if names is not None else None
        return list(self.control_call("DELETE", "duplicate-rules", payload)["removed"])

    def features(self) -> list[str]:
        """The org features that are on (``salesforce_sandbox.features``)."""
        return list(self.control_call("GET", "features")["enabled"])

    def set_features(
        self, enable: list[str] | None = None, disable: list[str] | None = None
    ) -> list[str]:
        """Turn org features on and off (e.g. ``enable=["person-accounts"]``); answers
        the features that are on."""
        payload = {"enable": enable or [], "disable": disable or []}
        return list(self.control_call("POST", "features", payload)["enabled"])

    def currencies(self) -> list[str]:
        """The org's active currencies (the "multi-currency" feature)."""
        return list(self.control_call("GET", "currencies")["active"])

    def set_currencies(
        self, activate: list[str] | None = None, deactivate: list[str] | None = None
    ) -> list[str]:
        """Turn currencies on (``activate=["JPY"]``) and off; answers the active ones."""
        payload = {"activate": activate or [], "deactivate": deactivate or []}
        return list(self.control_call("POST", "currencies", payload)["active"])

    def requests(self) -> dict[str, Any]:
        result: dict[str, Any] = self.control_call("GET", "requests")
        return result

    def reset_requests(self) -> None:
        self.control_call("DELETE", "requests")

    def add_fault(self, route: str, mode: str, **options: Any) -> dict[str, Any]:
        result: dict[str, Any] = self.control_call(
            "POST", "faults", {"route": route, "mode": mode, **options}
        )
        return result

    def remove_fault(self, rule_id: int) -> dict[str, Any]:
        """Remove one rule (``add_fault`` answered its ``id``); answers the removed rule."""
        result: dict[str, Any] = self.control_call("DELETE", f"faults/{rule_id}")
        return result

    def clear_faults(self) -> None:
        self.control_call("DELETE", "faults")

    def set_latency(self, ms: float, route: str = "*", jitter_ms: float = 0.0) -> None:
        """``ms`` plus a uniform ``0..jitter_ms`` on calls matching ``route``."""
        self.control_call("POST", "latency", {"route": route, "ms": ms, "jitter_ms": jitter_ms})

    def clear_latency(self) -> None:
        self.control_call("DELETE", "latency")

    def set_limits(self, daily_limit: int | None = None, used: int | None = None) -> None:
        payload: dict[str, int] = {}
        if daily_limit is not None:
            payload["daily_limit"] = daily_limit
        if used is not None:
            payload["used"] = used
        self.control_call("POST", "limits", payload)

    def expire_sessions(self, token: str | None = None) -> int:
        return int(
            self.control_call("POST", "sessions/expire", {"token": token} if token else {})[
                "expired"
            ]
        )


@contextlib.contextmanager
def run_sandbox(
    data_dir: Path | None = None,
    metadata: list[Path] | None = None,
    host: str = "127.0.0.1",
    **options: Any,
) -> Iterator[SandboxServer]:
    """Start a sandbox on a free port in a background thread; stop it on exit.

    ``options`` are ``Settings`` fields (username, api_limit, session_seconds, ...).
    Without ``data_dir`` state is in memory and certificates go to a temporary directory.
    """
    with contextlib.ExitStack() as stack:
        if data_dir is None:
            certs = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="sf-sandbox-")))
        else:
            certs = data_dir
        options.setdefault("pubsub_port", 0)  # any free port
        settings = Settings(
            host=host, port=0, data_dir=data_dir, metadata_dirs=list(metadata or []), **options
        )
        sock = bind_socket(host, 0)
        settings.port = sock.getsockname()[1]
        org, app, tls = prepare(settings, certs)
        server = uvicorn.Server(uvicorn_config(app, settings, tls))
        server.config.lifespan = "off"
        pubsub = PubSubServer(org, None if settings.pubsub_insecure else tls.server_path)
        thread = threading.Thread(
            target=lambda: asyncio.run(serve(server, [sock], pubsub)), daemon=True
        )
        thread.start()
        deadline = time.monotonic() + 60
        while not server.started or pubsub.port is None:
            if not thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("salesforce sandbox did not start")
            time.sleep(0.01)
        hostname = f"[{host}]" if ":" in host else host
        sandbox = SandboxServer(
            settings,
            org,
            f"https://{hostname}:{settings.port}",
            tls.ca_path,
            data_dir,
            pubsub.target,
        )
        try:
            yield sandbox
        finally:
            server.should_exit = True
            server.force_exit = True
            thread.join(timeout=10)
            sock.close()
            org.close()
