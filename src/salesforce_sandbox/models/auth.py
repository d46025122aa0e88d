"""Sessions and logins: OAuth grants (password, client_credentials, JWT bearer, refresh_token)
and SOAP login, checked against the configured user and connected app."""

from __future__ import annotations

import secrets
import time
from dataclasses import dataclass
from typing import Any

import jwt

from salesforce_sandbox import ids
from salesforce_sandbox.config import ADMIN_USER_ID, Settings
from salesforce_sandbox.errors import OAuthError, SoapFault, invalid_session


@dataclass
class Session:
    token: str
    user_id: str
    expires_at: float | None
    kind: str


class Sessions:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._sessions: dict[str, Session] = {}
        self._refresh: dict[str, str] = {}
        self.reset()

    def reset(self) -> None:
        self._sessions.clear()
        self._refresh.clear()
        if self.settings.access_token:
            token = self.settings.access_token
            self._sessions[token] = Session(token, ADMIN_USER_ID, None, "static")

    def issue(self, user_id: str, kind: str) -> Session:
        token = f"{ids.ORG_ID_15}!{secrets.token_urlsafe(40).replace('-', '.')}"
        session = Session(token, user_id, time.time() + self.settings.session_seconds, kind)
        self._sessions[token] = session
        return session

    def issue_refresh(self, user_id: str) -> str:
        token = "5Aep" + secrets.token_urlsafe(40).replace("-", ".")
        self._refresh[token] = user_id
        return token

    def check(self, token: str | None) -> Session:
        session = self._sessions.get(token or "")
        if session is None:
            raise invalid_session()
        if session.expires_at is not None and session.expires_at < time.time():
            del self._sessions[session.token]
            raise invalid_session()
        return session

    def revoke(self, token: str) -> bool:
        return (
            self._sessions.pop(token, None) is not None
            or self._refresh.pop(token, None) is not None
        )

    def expire(self, token: str | None = None) -> int:
        """Expire one session, or every issued (non-static) session."""
        if token is not None:
            return int(self._sessions.pop(token, None) is not None)
        doomed = [t for t, s in self._sessions.items() if s.kind != "static"]
        for t in doomed:
            del self._sessions[t]
        return len(doomed)

    # logins ---------------------------------------------------------------------------------
    def _password_ok(self, username: str, password: str) -> bool:
        s = self.settings
        return username.lower() == s.username.lower() and password in (
            s.password,
            s.password + s.security_token,
        )

    def _client_ok(self, client_id: str | None, client_secret: str | None) -> None:
        if client_id != self.settings.client_id:
            raise OAuthError("invalid_client_id", "client identifier invalid")
        if client_secret is not None and client_secret != self.settings.client_secret:
            raise OAuthError("invalid_client", "invalid client credentials")

    def oauth(self, form: dict[str, str], basic: tuple[str, str] | None) -> dict[str, Any]:
        """Run an OAuth grant; returns (session, refresh token or None)."""
        grant = form.get("grant_type", "")
        client_id = form.get("client_id") or (basic[0] if basic else None)
        client_secret = form.get("client_secret") or (basic[1] if basic else None)
        refresh: str | None = None
        if grant == "password":
            self._client_ok(client_id, client_secret)
            if client_secret is None:
                raise OAuthError("invalid_client", "invalid client credentials")
            if not self._password_ok(form.get("username", ""), form.get("password", "")):
                raise OAuthError("invalid_grant", "authentication failure")
            session = self.issue(ADMIN_USER_ID, "oauth")
            refresh = self.issue_refresh(ADMIN_USER_ID)
        elif grant == "client_credentials":
            self._client_ok(client_id, client_secret)
            if client_secret is None:
                raise OAuthError("invalid_client", "invalid client credentials")
            session = self.issue(ADMIN_USER_ID, "oauth")
        elif grant == "urn:ietf:params:oauth:grant-type:jwt-bearer":
            session = self._jwt(form.get("assertion", ""))
        elif grant == "refresh_token":
            self._client_ok(client_id, client_secret)
            user = self._refresh.get(form.get("refresh_token", ""))
            if user is None:
                raise OAuthError("invalid_grant", "expired access/refresh token")
            session = self.issue(user, "oauth")
        else:
            raise OAuthError("unsupported_grant_type", "grant type not supported")
        return {"session": session, "refresh_token": refresh}

    def _jwt(self, assertion: str) -> Session:
        try:
            claims = jwt.decode(
                assertion,
                self._jwt_key(),
                algorithms=["RS256"],
                options={"verify_aud": False, "verify_exp": False, "verify_iat": False},
            )
        except jwt.PyJWTError as exc:
            raise OAuthError("invalid_grant", f"invalid assertion: {exc}") from exc
        if claims.get("iss") != self.settings.client_id:
            raise OAuthError("invalid_client_id", "client identifier invalid")
        if str(claims.get("sub", "")).lower() != self.settings.username.lower():
            raise OAuthError("invalid_grant", "user hasn't approved this consumer")
        return self.issue(ADMIN_USER_ID, "oauth")

    def _jwt_key(self) -> Any:
        from cryptography import x509

        cert = x509.load_pem_x509_certificate(self.settings.jwt_certificate_pem.encode())
        return cert.public_key()

    def soap_login(self, username: str, password: str) -> Session:
        if not self._password_ok(username, password):
            raise SoapFault(
                "INVALID_LOGIN",
                "Invalid username, password, security token; or user locked out.",
            )
        return self.issue(ADMIN_USER_ID, "soap")
