"""connect(settings) against the sandbox org over HTTPS: every login mode, refused logins that
say which setting to fix, the CA bundle, and one re-login on an expired session."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from salesforce_sandbox.testing import SandboxServer
from stripe2sf.domain.errors import RetryableError
from stripe2sf.salesforce import LoginMode, SalesforceLoginError, connect
from tests.integration.salesforce_org import client, org, salesforce_org, settings_for

__all__ = ["client", "org", "salesforce_org"]


@pytest.mark.parametrize("mode", [m.value for m in LoginMode])
def test_every_login_mode(org: SandboxServer, mode: str) -> None:
    settings = settings_for(org, mode)
    session_id = org.access_token if mode == "session" else None
    with connect(settings, session_id=session_id) as sf:
        assert sf.login_mode == LoginMode(mode)
        assert sf.instance_url == org.instance_url
        rows = sf.query_all("SELECT Id, Username FROM User")
        assert any(r["Username"] == org.username for r in rows)
        assert sf.api_version == "62.0"
    assert org.requests()["by_endpoint"]["GET /query"] >= 1


def test_wrong_password_names_the_settings(org: SandboxServer) -> None:
    settings = settings_for(org, "soap", salesforce_password="not-the-password")
    with pytest.raises(SalesforceLoginError) as caught:
        connect(settings)
    error = caught.value
    assert error.code == "INVALID_LOGIN"
    assert error.kind == "salesforce.login.INVALID_LOGIN"
    assert "SALESFORCE_PASSWORD" in error.settings
    assert "SALESFORCE_SECURITY_TOKEN" in str(error)
    assert "not-the-password" not in str(error)


def test_wrong_password_with_oauth(org: SandboxServer) -> None:
    settings = settings_for(org, "oauth_password", salesforce_security_token="WRONG")
    with pytest.raises(SalesforceLoginError) as caught:
        connect(settings)
    assert caught.value.code == "invalid_grant"
    assert "SALESFORCE_SECURITY_TOKEN" in caught.value.settings


@pytest.mark.parametrize(
    ("override", "code", "setting"),
    [
        ({"salesforce_client_secret": "nope"}, "invalid_client", "SALESFORCE_CLIENT_SECRET"),
        ({"salesforce_client_id": "3MVGnope"}, "invalid_client_id", "SALESFORCE_CLIENT_ID"),
    ],
)
def test_wrong_connected_app(
    org: SandboxServer, override: dict[str, str], code: str, setting: str
) -> None:
    with pytest.raises(SalesforceLoginError) as caught:
        connect(settings_for(org, "client_credentials", **override))
    assert caught.value.code == code
    assert caught.value.settings == (setting,)
    assert setting in str(caught.value)


@pytest.mark.filterwarnings("ignore::UserWarning")  # simple-salesforce: "authorize this app"
def test_jwt_for_an_unknown_user(org: SandboxServer) -> None:
    settings = settings_for(org, "jwt", salesforce_username="someone@else.example.com")
    with pytest.raises(SalesforceLoginError) as caught:
        connect(settings)
    assert caught.value.code == "invalid_grant"
    assert "SALESFORCE_USERNAME" in caught.value.settings


def test_ca_bundle_wins_over_requests_ca_bundle(
    org: SandboxServer, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    # The system bundle does not know the sandbox CA; SALESFORCE_CA_BUNDLE must win anyway.
    import certifi

    monkeypatch.setenv("REQUESTS_CA_BUNDLE", certifi.where())
    with connect(settings_for(org, "oauth_password")) as sf:
        assert sf.limits()["DailyApiRequests"]["Max"] > 0
    with pytest.raises(SalesforceLoginError) as caught:
        connect(settings_for(org, "soap", salesforce_ca_bundle=None))
    assert caught.value.code == "TLS"
    assert "SALESFORCE_CA_BUNDLE" in str(caught.value)


def test_unreachable_login_url_is_retryable(org: SandboxServer) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    settings = settings_for(org, "soap", salesforce_login_url=f"https://127.0.0.1:{port}")
    with pytest.raises(RetryableError) as caught:
        connect(settings)
    assert caught.value.kind == "salesforce.connection"
    assert "SALESFORCE_LOGIN_URL" in str(caught.value)


@pytest.mark.parametrize("mode", ["soap", "client_credentials"])
def test_expired_session_logs_in_again_once(org: SandboxServer, mode: str) -> None:
    with connect(settings_for(org, mode)) as sf:
        first = sf.sf.session_id
        assert org.expire_sessions() >= 1
        assert sf.query_all("SELECT Id FROM Account") == []
        assert sf.sf.session_id != first
        calls = sf.usage().calls
        assert calls[("login", "ok")] == 2
        assert calls[("query", "retryable")] == 1  # the 401 before the re-login
        assert calls[("query", "ok")] == 1


def test_expired_given_session_is_reported(org: SandboxServer) -> None:
    settings = settings_for(org, "session")
    sf = connect(settings, session_id="00D000000000001!expired")
    with sf, pytest.raises(RetryableError) as caught:
        sf.query_all("SELECT Id FROM Account")
    assert caught.value.kind == "salesforce.INVALID_SESSION_ID"


def test_failed_relogin_is_retryable_for_the_event(org: SandboxServer) -> None:
    from stripe2sf.domain.batch.calls import batch
    from stripe2sf.domain.operations import Operation
    from stripe2sf.salesforce.login import login_spec

    with connect(settings_for(org)) as sf:
        # the password was changed since start-up
        sf.spec = login_spec(settings_for(org, salesforce_password="changed"))
        org.expire_sessions()
        op = Operation("a", "upsert", "Account", "Stripe_Customer_Id__c", "cus_x", {"Name": "X"})
        result = sf.execute(batch([op], api_version=f"v{sf.api_version}"))
        assert result.outcomes["a"].code == "LOGIN_FAILED"
        error = result.error()
        assert isinstance(error, RetryableError) and error.kind == "salesforce.LOGIN_FAILED"
        assert "SALESFORCE_PASSWORD" in (result.outcomes["a"].error or "")
        with pytest.raises(RetryableError) as caught:
            sf.query_all("SELECT Id FROM Account")
        assert caught.value.kind == "salesforce.LOGIN_FAILED"
        assert sf.usage().calls[("login", "permanent")] == 2


def test_concurrent_calls_after_expiry_log_in_once(org: SandboxServer) -> None:
    from concurrent.futures import ThreadPoolExecutor

    with connect(settings_for(org, "oauth_password")) as sf:
        sf.query_all("SELECT Id FROM Account")
        org.expire_sessions()
        with ThreadPoolExecutor(8) as pool:
            answers = list(pool.map(lambda _: sf.query_all("SELECT Id FROM User"), range(16)))
        assert all(answers)
        assert sf.usage().calls[("login", "ok")] == 2
