"""Logins and identity: OAuth token endpoint, SOAP login, userinfo, identity URL, revoke,
and the API versions list."""

from __future__ import annotations

import base64
import hashlib
import hmac
import time
import xml.etree.ElementTree as ET
from typing import Any
from urllib.parse import parse_qsl
from xml.sax.saxutils import escape

from salesforce_sandbox import config, ids
from salesforce_sandbox.api.http import XML_TYPE, Call, Reply, ok
from salesforce_sandbox.errors import OAuthError, SoapFault, invalid_session
from salesforce_sandbox.models.auth import Session
from salesforce_sandbox.models.org import Org


def versions(org: Org, call: Call) -> Reply:
    return ok(
        [
            {
                "label": config.RELEASES.get(int(float(v)), f"API {v}"),
                "url": f"/services/data/v{v}",
                "version": v,
            }
            for v in config.API_VERSIONS
        ]
    )


def _identity_url(call: Call, session: Session) -> str:
    return f"{call.instance_url}/id/{ids.ORG_ID}/{session.user_id}"


def token(org: Org, call: Call) -> Reply:
    form = dict(parse_qsl(call.body.decode("utf-8", "replace"), keep_blank_values=True))
    form.update({k: v for k, v in call.query.items() if k not in form})
    basic = None
    header = call.headers.get("authorization", "")
    if header.lower().startswith("basic "):
        try:
            decoded = base64.b64decode(header[6:].strip()).decode()
            user, _, secret = decoded.partition(":")
            basic = (user, secret)
        except (ValueError, UnicodeDecodeError) as exc:
            raise OAuthError("invalid_client", "invalid client credentials") from exc
    result = org.sessions.oauth(form, basic)
    session: Session = result["session"]
    issued = str(int(time.time() * 1000))
    identity = _identity_url(call, session)
    signature = hmac.new(
        org.settings.client_secret.encode(), (identity + issued).encode(), hashlib.sha256
    ).digest()
    body: dict[str, Any] = {
        "access_token": session.token,
        "instance_url": call.instance_url,
        "id": identity,
        "token_type": "Bearer",
        "issued_at": issued,
        "signature": base64.b64encode(signature).decode(),
        "scope": "api refresh_token",
    }
    if result["refresh_token"]:
        body["refresh_token"] = result["refresh_token"]
    return ok(body)


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def soap(org: Org, call: Call) -> Reply:
    try:
        root = ET.fromstring(call.body)
    except ET.ParseError as exc:
        raise SoapFault("INVALID_LOGIN", f"Invalid SOAP request: {exc}") from exc
    login = next((e for e in root.iter() if _local(e.tag) == "login"), None)
    if login is None:
        if any(_local(e.tag) == "logout" for e in root.iter()):
            return Reply(raw=_logout_xml().encode(), content_type=XML_TYPE)
        raise SoapFault("INVALID_OPERATION", "Only login and logout are supported")
    fields = {_local(e.tag): (e.text or "") for e in login}
    session = org.sessions.soap_login(fields.get("username", ""), fields.get("password", ""))
    version = call.params.get("version", "59.0")
    return Reply(raw=_login_xml(org, call, session, version).encode(), content_type=XML_TYPE)


def _login_xml(org: Org, call: Call, session: Session, version: str) -> str:
    s = org.settings
    base = escape(call.instance_url)
    return (
        '<?xml version="1.0" encoding="UTF-8"?>'
        '<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/" '
        'xmlns="urn:partner.soap.sforce.com" '
        'xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">'
        "<soapenv:Body><loginResponse><result>"
        f"<metadataServerUrl>{base}/services/Soap/m/{version}/{ids.ORG_ID}</metadataServerUrl>"
        "<passwordExpired>false</passwordExpired><sandbox>false</sandbox>"
        f"<serverUrl>{base}/services/Soap/u/{version}/{ids.ORG_ID}</serverUrl>"
        f"<sessionId>{escape(session.token)}</sessionId>"
        f"<userId>{session.user_id}</userId>"
        "<userInfo>"
        f"<organizationId>{ids.ORG_ID}</organizationId>"
        f"<organizationName>{escape(s.org_name)}</organizationName>"
        f"<sessionSecondsValid>{s.session_seconds}</sessionSecondsValid>"
        f"<userEmail>{escape(s.username)}</userEmail>"
        "<userFullName>Admin User</userFullName>"
        f"<userId>{session.user_id}</userId>"
        f"<userName>{escape(s.username)}</userName>"
        "</userInfo></result></loginResponse></soapenv:Body></soapenv:Envelope>"
    )


def _logout_xml() -> str:
    return (
        '<?xml version="1.0" encoding="UTF-8"?>'
        '<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/" '
        'xmlns="urn:partner.soap.sforce.com"><soapenv:Body><logoutResponse/>'
        "</soapenv:Body></soapenv:Envelope>"
    )


def bearer(call: Call) -> str | None:
    return bearer_token(call.headers, call.query)


def bearer_token(headers: dict[str, str], query: dict[str, str]) -> str | None:
    """The access token of a request: ``Authorization: Bearer|OAuth T``, else ``oauth_token``."""
    header = headers.get("authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() in ("bearer", "oauth") and value.strip():
        return value.strip()
    return query.get("oauth_token")


def _userinfo(org: Org, call: Call, session: Session) -> dict[str, Any]:
    s = org.settings
    identity = _identity_url(call, session)
    return {
        "sub": identity,
        "user_id": session.user_id,
        "organization_id": ids.ORG_ID,
        "preferred_username": s.username,
        "name": "Admin User",
        "email": s.username,
        "email_verified": True,
        "active": True,
        "user_type": "STANDARD",
        "language": "en_US",
        "locale": "en_US",
        "utcOffset": 0,
    }


def userinfo(org: Org, call: Call) -> Reply:
    session = org.sessions.check(bearer(call))
    return ok(_userinfo(org, call, session))


def identity(org: Org, call: Call) -> Reply:
    session = org.sessions.check(bearer(call))
    if call.params.get("user") not in (session.user_id, session.user_id[:15]):
        raise invalid_session()
    body = _userinfo(org, call, session)
    version = config.API_VERSIONS[-1]
    body.update(
        {
            "id": _identity_url(call, session),
            "username": org.settings.username,
            "display_name": "Admin User",
            "urls": {
                "rest": f"{call.instance_url}/services/data/v{{version}}/",
                "sobjects": f"{call.instance_url}/services/data/v{{version}}/sobjects/",
                "query": f"{call.instance_url}/services/data/v{{version}}/query/",
                "partner": f"{call.instance_url}/services/Soap/u/{{version}}/{ids.ORG_ID}",
                "latest": version,
            },
        }
    )
    return ok(body)


def revoke(org: Org, call: Call) -> Reply:
    form = dict(parse_qsl(call.body.decode("utf-8", "replace")))
    target = form.get("token") or call.query.get("token")
    if not target or not org.sessions.revoke(target):
        raise OAuthError("unsupported_token_type", "this token type is not supported")
    return Reply(200, raw=b"")
