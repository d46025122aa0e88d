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


def _person(org: Org, session: Session) -> dict[str, str]:
    """Username, Email, FirstName, LastName and Name of the session's user (the admin's from
    the settings)."""
    s = org.settings
    if session.user_id != config.ADMIN_USER_ID:
        found = org.store.get(session.user_id)
        if found is not None:
            user = found[2]
            return {
                "Username": str(user.get("Username", "")),
                "Email": str(user.get("Email", "")),
                "FirstName": str(user.get("FirstName") or ""),
                "LastName": str(user.get("LastName", "")),
                "Name": str(user.get("Name") or user.get("LastName", "")),
            }
    return {
        "Username": s.username,
        "Email": s.username,
        "FirstName": "Admin",
        "LastName": "User",
        "Name": "Admin User",
    }


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
    person = _person(org, session)
    base = escape(call.instance_url)
    money = org.currencies.user_info(session.user_id)
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
        f"{_element('currencySymbol', money.currency_symbol)}"
        f"{_element('orgDefaultCurrencyIsoCode', money.org_default)}"
        f"<organizationId>{ids.ORG_ID}</organizationId>"
        f"<organizationMultiCurrency>{str(money.multi_currency).lower()}"
        "</organizationMultiCurrency>"
        f"<organizationName>{escape(s.org_name)}</organizationName>"
        f"<sessionSecondsValid>{s.session_seconds}</sessionSecondsValid>"
        f"{_element('userDefaultCurrencyIsoCode', money.user_default)}"
        f"<userEmail>{escape(person['Email'])}</userEmail>"
        f"<userFullName>{escape(person['Name'])}</userFullName>"
        f"<userId>{session.user_id}</userId>"
        f"<userName>{escape(person['Username'])}</userName>"
        "</userInfo></result></loginResponse></soapenv:Body></soapenv:Envelope>"
    )


def _element(name: str, value: str | None) -> str:
    """A userInfo element; nil (as Salesforce sends it) when there is no value."""
    if value is None:
        return f'<{name} xsi:nil="true"/>'
    return f"<{name}>{escape(value)}</{name}>"


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


def identity_urls(instance_url: str, user_id: str, version: str | None = None) -> dict[str, str]:
    """The ``urls`` block of userinfo and the identity URL, as Salesforce writes it: the literal
    ``{version}`` placeholder unless the request asked for a ``version`` (a number or
    ``latest``)."""
    if version == "latest":
        version = config.API_VERSIONS[-1]
    v = version or "{version}"
    data = f"{instance_url}/services/data/v{v}"
    return {
        "enterprise": f"{instance_url}/services/Soap/c/{v}/{ids.ORG_ID}",
        "metadata": f"{instance_url}/services/Soap/m/{v}/{ids.ORG_ID}",
        "partner": f"{instance_url}/services/Soap/u/{v}/{ids.ORG_ID}",
        "rest": f"{data}/",
        "sobjects": f"{data}/sobjects/",
        "search": f"{data}/search/",
        "query": f"{data}/query/",
        "recent": f"{data}/recent/",
        "tooling_soap": f"{instance_url}/services/Soap/T/{v}/{ids.ORG_ID}",
        "tooling_rest": f"{data}/tooling/",
        "profile": f"{instance_url}/{user_id}",
        "feeds": f"{data}/chatter/feeds",
        "groups": f"{data}/chatter/groups",
        "users": f"{data}/chatter/users",
        "feed_items": f"{data}/chatter/feed-items",
        "feed_elements": f"{data}/chatter/feed-elements",
        "custom_domain": instance_url,
    }


def _userinfo(org: Org, call: Call, session: Session) -> dict[str, Any]:
    person = _person(org, session)
    identity = _identity_url(call, session)
    return {
        "sub": identity,
        "user_id": session.user_id,
        "organization_id": ids.ORG_ID,
        "preferred_username": person["Username"],
        "nickname": person["Username"].split("@", 1)[0],
        "name": person["Name"],
        "given_name": person["FirstName"],
        "family_name": person["LastName"],
        "email": person["Email"],
        "email_verified": True,
        "zoneinfo": "GMT",
        "active": True,
        "user_type": "STANDARD",
        "language": "en_US",
        "locale": "en_US",
        "utcOffset": 0,
        "urls": identity_urls(call.instance_url, session.user_id, _asked_version(call)),
    }


def _asked_version(call: Call) -> str | None:
    """``?version=`` of a userinfo/identity request: a known API version or ``latest``."""
    asked = call.query.get("version")
    if asked == "latest":
        return asked
    if asked:
        try:
            return f"{float(asked):.1f}"
        except ValueError:
            return None
    return None


def userinfo(org: Org, call: Call) -> Reply:
    session = org.sessions.check(bearer(call))
    return ok(_userinfo(org, call, session))


def identity(org: Org, call: Call) -> Reply:
    session = org.sessions.check(bearer(call))
    if call.params.get("user") not in (session.user_id, session.user_id[:15]):
        raise invalid_session()
    body = _userinfo(org, call, session)
    body.update(
        {
            "id": _identity_url(call, session),
            "asserted_user": True,
            "username": body["preferred_username"],
            "display_name": body["name"],
            "nick_name": body["nickname"],
            "is_lightning_login_user": False,
        }
    )
    return ok(body)


def revoke(org: Org, call: Call) -> Reply:
    form = dict(parse_qsl(call.body.decode("utf-8", "replace")))
    target = form.get("token") or call.query.get("token")
    if not target or not org.sessions.revoke(target):
        raise OAuthError("unsupported_token_type", "this token type is not supported")
    return Reply(200, raw=b"")
