"""Sessions and logins: OAuth grants (password, client_credentials, JWT bearer, refresh_token)
and SOAP login, checked against the configured user and connected app.

Every active user of the org logs in with the org's password (and security token): the admin
under the configured username, any other user (the integration user,
``integration@sandbox.example.com``) under its own, when ``find_user`` is given."""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable
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
    def __init__(
        self, settings: Settings, find_user: Callable[[str], str | None] | None = None
    ) -> None:
        """``find_user(username)``: the Id of the active user called so, or None."""
        self.settings = settings
        self.find_user = find_user
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
    def _user_of(self, username: str) -> str | None:
        if username.lower() == self.settings.username.lower():
            return ADMIN_USER_ID
        return self.find_user(username) if self.find_user is not None and username else None

    def _password_user(self, username: str, password: str) -> str | None:
        """The user a username and password log in as, or None."""
        s = self.settings
        if password not in (s.password, s.password + s.security_token):
            return None
        return self._user_of(username)

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
            user_id = self._password_user(form.get("username", ""), form.get("password", ""))
            if user_id is None:
                raise OAuthError("invalid_grant", "authentication failure")
            session = self.issue(user_id, "oauth")
            refresh = self.issue_refresh(user_id)
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
        user_id = self._user_of(str(claims.get("sub", "")))
        if user_id is None:
            raise OAuthError("invalid_grant", "user hasn't approved this consumer")
        return self.issue(user_id, "oauth")

    def _jwt_key(self) -> Any:
        from cryptography import x509

        cert = x509.load_pem_x509_certificate(self.settings.jwt_certificate_pem.encode())
        return cert.public_key()

    def soap_login(self, username: str, password: str) -> Session:
        user_id = self._password_user(username, password)
        if user_id is None:
            raise SoapFault(
                "INVALID_LOGIN",
                "Invalid username, password, security token; or user locked out.",
            )
        return self.issue(user_id, "soap")
