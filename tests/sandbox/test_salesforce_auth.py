"""Logins with the real simple-salesforce: SOAP, OAuth password, client credentials, JWT,
refresh token; identity endpoints; session expiry and INVALID_SESSION_ID."""

from __future__ import annotations

import pytest
from simple_salesforce import Salesforce
from simple_salesforce.exceptions import SalesforceAuthenticationFailed, SalesforceExpiredSession

from salesforce_sandbox.testing import SandboxServer, run_sandbox
from tests.sandbox import salesforce_fixtures

# fixtures shared by the Salesforce sandbox tests
salesforce_server = salesforce_fixtures.salesforce_server
sandbox = salesforce_fixtures.sandbox
sf = salesforce_fixtures.sf


@pytest.mark.parametrize("mode", ["token", "soap", "password", "client_credentials", "jwt"])
def test_every_login_mode_reaches_the_rest_api(sandbox: SandboxServer, mode: str) -> None:
    client = sandbox.salesforce(login=mode)
    assert client.sf_instance == sandbox.host_port
    created = client.Account.create({"Name": f"Login {mode}"})
    assert created["success"] is True
    result = client.query(f"SELECT Id, Name FROM Account WHERE Name = 'login {mode}'")
    assert result["totalSize"] == 1


def test_organization_id_soap_login(sandbox: SandboxServer) -> None:
    client = Salesforce(
        username=sandbox.username,
        password=sandbox.password + sandbox.security_token,
        organizationId="00D000000000001",
        domain=sandbox.login_domain,
        session=sandbox.http(),
    )
    assert client.query("SELECT Id FROM User")["totalSize"] >= 1


def test_wrong_password_soap_fault(sandbox: SandboxServer) -> None:
    with pytest.raises(SalesforceAuthenticationFailed) as caught:
        sandbox.salesforce(login="soap", password="nope")
    assert caught.value.code == "INVALID_LOGIN"


def test_wrong_password_oauth_invalid_grant(sandbox: SandboxServer) -> None:
    with pytest.raises(SalesforceAuthenticationFailed) as caught:
        sandbox.salesforce(login="password", password="nope")
    assert caught.value.code == "invalid_grant"
    assert "authentication failure" in str(caught.value)


def test_wrong_client_secret(sandbox: SandboxServer) -> None:
    with pytest.raises(SalesforceAuthenticationFailed) as caught:
        sandbox.salesforce(login="client_credentials", consumer_secret="bad")
    assert caught.value.code == "invalid_client"


def test_jwt_signed_by_another_key_is_refused(sandbox: SandboxServer) -> None:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    other = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = other.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    with pytest.raises(SalesforceAuthenticationFailed) as caught:
        sandbox.salesforce(login="jwt", privatekey=pem)
    assert caught.value.code == "invalid_grant"


def test_token_response_userinfo_identity_refresh_and_revoke(sandbox: SandboxServer) -> None:
    http = sandbox.http()
    token_url = f"{sandbox.instance_url}/services/oauth2/token"
    form = {
        "grant_type": "password",
        "client_id": sandbox.client_id,
        "client_secret": sandbox.client_secret,
        "username": sandbox.username,
        "password": sandbox.password + sandbox.security_token,
    }
    body = http.post(token_url, data=form).json()
    assert body["access_token"].startswith("00D000000000001!")
    assert body["instance_url"] == sandbox.instance_url
    org_id, user_id = body["id"].split("/")[-2:]
    assert org_id.startswith("00D") and user_id.startswith("005")
    assert body["issued_at"].isdigit()
    auth = {"Authorization": f"Bearer {body['access_token']}"}
    info = http.get(f"{sandbox.instance_url}/services/oauth2/userinfo", headers=auth).json()
    assert info["user_id"] == user_id and info["organization_id"] == org_id
    identity = http.get(body["id"], headers=auth).json()
    assert identity["username"] == sandbox.username
    resources = http.get(f"{sandbox.instance_url}/services/data/v59.0/", headers=auth).json()
    assert resources["identity"] == body["id"]

    refreshed = http.post(
        token_url,
        data={
            "grant_type": "refresh_token",
            "refresh_token": body["refresh_token"],
            "client_id": sandbox.client_id,
            "client_secret": sandbox.client_secret,
        },
    ).json()
    assert refreshed["access_token"] != body["access_token"]
    revoked = http.post(
        f"{sandbox.instance_url}/services/oauth2/revoke", data={"token": refreshed["access_token"]}
    )
    assert revoked.status_code == 200
    gone = http.get(
        f"{sandbox.instance_url}/services/data/v59.0/limits",
        headers={"Authorization": f"Bearer {refreshed['access_token']}"},
    )
    assert gone.status_code == 401
    assert gone.json() == [
        {"message": "Session expired or invalid", "errorCode": "INVALID_SESSION_ID", "fields": []}
    ]

    bad = http.post(
        token_url,
        data={"grant_type": "refresh_token", "refresh_token": "x", "client_id": sandbox.client_id},
    )
    assert bad.status_code == 400 and bad.json()["error"] == "invalid_grant"
    unsupported = http.post(token_url, data={"grant_type": "authorization_code"})
    assert unsupported.json()["error"] == "unsupported_grant_type"


def test_versions_list_needs_no_auth(sandbox: SandboxServer) -> None:
    response = sandbox.http().get(f"{sandbox.instance_url}/services/data/")
    versions = response.json()
    assert isinstance(versions, list)
    assert {"label": "Winter '24", "url": "/services/data/v59.0", "version": "59.0"} in versions
    assert "Sforce-Limit-Info" not in response.headers


def test_expired_session_relogin_and_direct_session_error(sandbox: SandboxServer) -> None:
    soap_client = sandbox.salesforce(login="soap")
    old = soap_client.session_id
    assert sandbox.expire_sessions() >= 1
    # simple-salesforce logs in again on INVALID_SESSION_ID and retries
    assert soap_client.query("SELECT COUNT() FROM Account")["totalSize"] == 0
    assert soap_client.session_id != old

    direct = Salesforce(instance_url=sandbox.instance_url, session_id=old, session=sandbox.http())
    with pytest.raises(SalesforceExpiredSession) as caught:
        direct.query("SELECT Id FROM Account")
    assert caught.value.content[0]["errorCode"] == "INVALID_SESSION_ID"


def test_sessions_expire_after_their_lifetime() -> None:
    with run_sandbox(session_seconds=0, access_token=None) as server:
        client = server.salesforce(login="password")
        token = client.session_id
        direct = Salesforce(
            instance_url=server.instance_url, session_id=token, session=server.http()
        )
        with pytest.raises(SalesforceExpiredSession):
            direct.limits()
