"""Logging in to Salesforce with simple-salesforce, in whichever mode the settings allow.

Which mode (`login_spec`, pure, first match wins):

    session id given to connect()        + SALESFORCE_INSTANCE_URL         -> session
    SALESFORCE_JWT_KEY_FILE              + USERNAME + CLIENT_ID            -> jwt (bearer)
    SALESFORCE_CLIENT_ID + CLIENT_SECRET + USERNAME + PASSWORD [+ TOKEN]   -> oauth_password
    SALESFORCE_CLIENT_ID + CLIENT_SECRET (no username)                     -> client_credentials
    SALESFORCE_USERNAME + PASSWORD [+ SECURITY_TOKEN]                      -> soap

Logins go to SALESFORCE_LOGIN_URL (else SALESFORCE_INSTANCE_URL, else
https://login.salesforce.com). simple-salesforce builds `https://{domain}.salesforce.com/...`,
so `*.salesforce.com` URLs become their domain (`login`, `test`, `acme.my`) and any other
`https://host[:port][/path]` becomes `host[:port][/path]/login`, which yields
`https://host:port/login.salesforce.com/services/oauth2/token` (the local sandbox routes any
path ending in the login endpoints; a real org is always on `*.salesforce.com`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import requests
from simple_salesforce import Salesforce
from simple_salesforce.exceptions import SalesforceAuthenticationFailed

from stripe2sf.domain.errors import RetryableError
from stripe2sf.domain.setup.plain_errors import unreachable
from stripe2sf.network_failure import network_problem
from stripe2sf.salesforce.errors import SalesforceConfigError, SalesforceLoginError
from stripe2sf.settings import Settings

DEFAULT_LOGIN_URL = "https://login.salesforce.com"

USERNAME = "SALESFORCE_USERNAME"
PASSWORD = "SALESFORCE_PASSWORD"
TOKEN = "SALESFORCE_SECURITY_TOKEN"
CLIENT_ID = "SALESFORCE_CLIENT_ID"
CLIENT_SECRET = "SALESFORCE_CLIENT_SECRET"
JWT_KEY_FILE = "SALESFORCE_JWT_KEY_FILE"
LOGIN_URL = "SALESFORCE_LOGIN_URL"
INSTANCE_URL = "SALESFORCE_INSTANCE_URL"
CA_BUNDLE = "SALESFORCE_CA_BUNDLE"


class LoginMode(StrEnum):
    SESSION = "session"
    JWT = "jwt"
    OAUTH_PASSWORD = "oauth_password"
    CLIENT_CREDENTIALS = "client_credentials"
    SOAP = "soap"


@dataclass(frozen=True)
class LoginSpec:
    """How to log in: the mode, simple-salesforce's keyword arguments, the settings used."""

    mode: LoginMode
    kwargs: dict[str, Any] = field(repr=False)
    settings: tuple[str, ...]
    login_url: str

    @property
    def can_relogin(self) -> bool:
        return self.mode != LoginMode.SESSION


def _secret(value: Any) -> str | None:
    if value is None:
        return None
    text = value.get_secret_value() if hasattr(value, "get_secret_value") else str(value)
    return text or None


def simple_salesforce_domain(login_url: str) -> str:
    """simple-salesforce's `domain` for a login URL (see the module docstring)."""
    parts = urlsplit(login_url if "://" in login_url else f"https://{login_url}")
    if parts.scheme != "https" or not parts.hostname:
        raise SalesforceConfigError(
            f"{LOGIN_URL}: {login_url!r} is not an https:// URL; Salesforce logins use HTTPS, "
            "e.g. https://login.salesforce.com, https://test.salesforce.com or your My Domain",
            settings=(LOGIN_URL,),
        )
    host = parts.hostname.lower()
    path = parts.path.rstrip("/")
    if host.endswith(".salesforce.com") and parts.port in (None, 443) and not path:
        return host[: -len(".salesforce.com")]
    return f"{parts.netloc}{path}/login"


def login_spec(settings: Settings, session_id: str | None = None) -> LoginSpec:
    """Choose the login mode from the settings (pure). Raises `SalesforceConfigError`."""
    username = settings.salesforce_username or None
    password = _secret(settings.salesforce_password)
    token = _secret(settings.salesforce_security_token) or ""
    client_id = settings.salesforce_client_id or None
    client_secret = _secret(settings.salesforce_client_secret)
    key_file = settings.salesforce_jwt_key_file
    version = settings.salesforce_api_version.lstrip("v")
    login_url = (
        settings.salesforce_login_url or settings.salesforce_instance_url or DEFAULT_LOGIN_URL
    )
    if session_id:
        if not settings.salesforce_instance_url:
            raise SalesforceConfigError(
                f"a session id needs {INSTANCE_URL} (the org's https://....my.salesforce.com)",
                settings=(INSTANCE_URL,),
            )
        kwargs: dict[str, Any] = {
            "instance_url": settings.salesforce_instance_url,
            "session_id": session_id,
        }
        return LoginSpec(LoginMode.SESSION, kwargs, (INSTANCE_URL,), login_url)
    if client_secret and not client_id:
        raise SalesforceConfigError(
            f"{CLIENT_SECRET} is set but {CLIENT_ID} is not: set the connected app's consumer "
            "key too",
            settings=(CLIENT_ID,),
        )
    domain = simple_salesforce_domain(login_url)
    url_setting = LOGIN_URL if settings.salesforce_login_url else INSTANCE_URL
    base: dict[str, Any] = {"domain": domain, "version": version}
    if key_file is not None:
        missing = [n for n, v in ((USERNAME, username), (CLIENT_ID, client_id)) if not v]
        if missing:
            raise SalesforceConfigError(
                f"{JWT_KEY_FILE} is set, so the JWT bearer login is used; it also needs "
                f"{' and '.join(missing)} (the user to act as and the connected app's consumer "
                "key)",
                settings=tuple(missing),
            )
        key = _read_key(Path(key_file))
        kwargs = {**base, "username": username, "consumer_key": client_id, "privatekey": key}
        return LoginSpec(LoginMode.JWT, kwargs, (JWT_KEY_FILE, USERNAME, CLIENT_ID), login_url)
    if client_id and client_secret:
        if username or password:
            if not (username and password):
                which = PASSWORD if username else USERNAME
                raise SalesforceConfigError(
                    f"the OAuth username-password login needs {which} too (or unset "
                    f"{USERNAME} and {PASSWORD} to use the client credentials flow)",
                    settings=(which,),
                )
            kwargs = {
                **base,
                "username": username,
                "password": f"{password}{token}",
                "consumer_key": client_id,
                "consumer_secret": client_secret,
            }
            used: tuple[str, ...] = (USERNAME, PASSWORD, TOKEN, CLIENT_ID, CLIENT_SECRET)
            return LoginSpec(LoginMode.OAUTH_PASSWORD, kwargs, used, login_url)
        if domain in ("login", "test"):
            raise SalesforceConfigError(
                f"the client credentials login needs your org's My Domain in {LOGIN_URL} "
                f"(https://yourdomain.my.salesforce.com), not {login_url}; or set "
                f"{USERNAME} and {PASSWORD} for the username-password flow",
                settings=(LOGIN_URL,),
            )
        kwargs = {**base, "consumer_key": client_id, "consumer_secret": client_secret}
        return LoginSpec(
            LoginMode.CLIENT_CREDENTIALS, kwargs, (CLIENT_ID, CLIENT_SECRET, url_setting), login_url
        )
    if username and password:
        kwargs = {**base, "username": username, "password": password, "security_token": token}
        return LoginSpec(LoginMode.SOAP, kwargs, (USERNAME, PASSWORD, TOKEN), login_url)
    if username:
        raise SalesforceConfigError(
            f"{USERNAME} is set but {PASSWORD} is not: set the password (and "
            f"{TOKEN}), or {JWT_KEY_FILE} and {CLIENT_ID} for the JWT bearer login",
            settings=(PASSWORD,),
        )
    raise SalesforceConfigError(
        "no Salesforce login configured: set SALESFORCE_USERNAME + SALESFORCE_PASSWORD "
        "(+ SALESFORCE_SECURITY_TOKEN), or SALESFORCE_CLIENT_ID + SALESFORCE_CLIENT_SECRET "
        "(+ username/password for the OAuth password flow), or SALESFORCE_JWT_KEY_FILE + "
        "SALESFORCE_CLIENT_ID + SALESFORCE_USERNAME",
        settings=(USERNAME, PASSWORD, CLIENT_ID, CLIENT_SECRET, JWT_KEY_FILE),
    )


def _read_key(path: Path) -> str:
    try:
        text = path.read_text(encoding="ascii")
    except (OSError, UnicodeDecodeError) as exc:
        raise SalesforceConfigError(
            f"{JWT_KEY_FILE}: cannot read {path} ({exc}); give the PEM private key whose "
            "certificate is uploaded to the connected app",
            settings=(JWT_KEY_FILE,),
        ) from exc
    if "PRIVATE KEY" not in text:
        raise SalesforceConfigError(
            f"{JWT_KEY_FILE}: {path} is not a PEM private key (no 'PRIVATE KEY' block)",
            settings=(JWT_KEY_FILE,),
        )
    return text


def explain_login_failure(spec: LoginSpec, code: str, message: str) -> tuple[str, tuple[str, ...]]:
    """What to tell the operator when Salesforce refuses a login, and the settings to check."""
    where = f"at {spec.login_url} ({spec.mode.value} login)"
    said = f"Salesforce said {code}: {message}".rstrip(": ")
    lowered = message.lower()
    if code == "invalid_client_id":
        return (
            f"{said} {where}. {CLIENT_ID} is not a consumer key this org knows: copy it from "
            "the connected app (a new app can take up to 10 minutes to become active).",
            (CLIENT_ID,),
        )
    if code == "invalid_client":
        return (
            f"{said} {where}. Check {CLIENT_SECRET} (the connected app's consumer secret).",
            (CLIENT_SECRET,),
        )
    if spec.mode == LoginMode.JWT:
        if "approved" in lowered:
            hint = (
                f"pre-authorize {USERNAME} for the connected app (Admin approved users, via "
                "profile or permission set)"
            )
        else:
            hint = (
                f"check that {JWT_KEY_FILE} is the private key of the certificate uploaded to "
                f"the connected app, {CLIENT_ID} is its consumer key and {USERNAME} exists"
            )
        return f"{said} {where}. {hint.capitalize()}.", (JWT_KEY_FILE, CLIENT_ID, USERNAME)
    if spec.mode == LoginMode.CLIENT_CREDENTIALS:
        return (
            f"{said} {where}. Enable the client credentials flow on the connected app and "
            f"choose its Run As user; check {CLIENT_ID}, {CLIENT_SECRET} and that {LOGIN_URL} "
            "is your My Domain.",
            (CLIENT_ID, CLIENT_SECRET, LOGIN_URL),
        )
    if code in ("INVALID_LOGIN", "invalid_grant") or "password" in lowered:
        return (
            f"{said} {where}. Check {USERNAME}, {PASSWORD} and {TOKEN}: the security token "
            "is sent appended to the password and changes with it (Settings > Reset My "
            "Security Token); a sandbox org logs in at https://test.salesforce.com; the user "
            "may also be locked out or frozen.",
            (USERNAME, PASSWORD, TOKEN),
        )
    return f"{said} {where}. Check {', '.join(spec.settings)}.", spec.settings


def log_in(spec: LoginSpec, session: requests.Session) -> Salesforce:
    """A logged-in `Salesforce`; raises `SalesforceLoginError` / `RetryableError`."""
    try:
        return Salesforce(session=session, **spec.kwargs)
    except SalesforceAuthenticationFailed as exc:
        code = str(exc.code) if exc.code is not None else "UNKNOWN"
        text, names = explain_login_failure(spec, code, exc.auth_message)
        raise SalesforceLoginError(text, code=code, settings=names) from exc
    except requests.exceptions.SSLError as exc:
        raise SalesforceLoginError(
            f"TLS verification failed for {spec.login_url}: {exc}. If the server uses a "
            f"private CA (a sandbox, a proxy), set {CA_BUNDLE} to its PEM file.",
            code="TLS",
            settings=(CA_BUNDLE, LOGIN_URL),
        ) from exc
    except requests.exceptions.Timeout as exc:
        detail, _ = unreachable("Salesforce", spec.login_url, "timeout", LOGIN_URL)
        raise RetryableError(detail, kind="salesforce.timeout") from exc
    except requests.exceptions.ConnectionError as exc:
        # in words: requests' text is urllib3's pool and connection objects
        detail, _ = unreachable(
            "Salesforce", spec.login_url, network_problem(exc), LOGIN_URL, str(exc)
        )
        raise RetryableError(
            f"{detail}; check {LOGIN_URL} and the network", kind="salesforce.connection"
        ) from exc
