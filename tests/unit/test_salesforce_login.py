"""Choosing the Salesforce login mode from Settings, and explaining refused logins (pure)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from stripe2sf.salesforce.errors import SalesforceConfigError
from stripe2sf.salesforce.login import (
    LoginMode,
    explain_login_failure,
    login_spec,
    simple_salesforce_domain,
)
from stripe2sf.settings import Settings

FIELDS = (
    "salesforce_login_url",
    "salesforce_instance_url",
    "salesforce_username",
    "salesforce_password",
    "salesforce_security_token",
    "salesforce_client_id",
    "salesforce_client_secret",
    "salesforce_jwt_key_file",
    "salesforce_ca_bundle",
)
KEY_PEM = "-----BEGIN PRIVATE KEY-----\nMIIB\n-----END PRIVATE KEY-----\n"


def settings(**values: Any) -> Settings:
    return Settings(**{**dict.fromkeys(FIELDS), **values})


@pytest.mark.parametrize(
    ("url", "domain"),
    [
        ("https://login.salesforce.com", "login"),
        ("https://test.salesforce.com/", "test"),
        ("https://acme.my.salesforce.com", "acme.my"),
        ("https://acme--dev.sandbox.my.salesforce.com", "acme--dev.sandbox.my"),
        ("https://127.0.0.1:8701", "127.0.0.1:8701/login"),
        ("https://localhost:8701/sf", "localhost:8701/sf/login"),
        ("127.0.0.1:8701", "127.0.0.1:8701/login"),
    ],
)
def test_login_url_to_simple_salesforce_domain(url: str, domain: str) -> None:
    assert simple_salesforce_domain(url) == domain


def test_http_login_url_is_refused() -> None:
    with pytest.raises(SalesforceConfigError) as caught:
        simple_salesforce_domain("http://127.0.0.1:8701")
    assert caught.value.settings == ("SALESFORCE_LOGIN_URL",)


def test_soap_with_token() -> None:
    spec = login_spec(
        settings(
            salesforce_username="u",
            salesforce_password="p",
            salesforce_security_token="T",
            salesforce_api_version="v61.0",
        )
    )
    assert spec.mode == LoginMode.SOAP
    assert spec.kwargs == {
        "domain": "login",
        "version": "61.0",
        "username": "u",
        "password": "p",
        "security_token": "T",
    }
    assert spec.can_relogin


def test_soap_without_token_sends_an_empty_one() -> None:
    spec = login_spec(settings(salesforce_username="u", salesforce_password="p"))
    assert spec.mode == LoginMode.SOAP and spec.kwargs["security_token"] == ""


def test_oauth_password_appends_the_token() -> None:
    spec = login_spec(
        settings(
            salesforce_login_url="https://test.salesforce.com",
            salesforce_username="u",
            salesforce_password="p",
            salesforce_security_token="T",
            salesforce_client_id="ck",
            salesforce_client_secret="cs",
        )
    )
    assert spec.mode == LoginMode.OAUTH_PASSWORD
    assert spec.kwargs["password"] == "pT" and "security_token" not in spec.kwargs
    assert spec.kwargs["domain"] == "test"
    assert "pT" not in repr(spec)  # secrets stay out of logs


def test_client_credentials_needs_my_domain() -> None:
    creds = {"salesforce_client_id": "ck", "salesforce_client_secret": "cs"}
    with pytest.raises(SalesforceConfigError) as caught:
        login_spec(settings(**creds))
    assert "My Domain" in str(caught.value)
    spec = login_spec(settings(salesforce_login_url="https://acme.my.salesforce.com", **creds))
    assert spec.mode == LoginMode.CLIENT_CREDENTIALS
    assert spec.kwargs == {
        "domain": "acme.my",
        "version": "62.0",
        "consumer_key": "ck",
        "consumer_secret": "cs",
    }


def test_instance_url_is_the_login_host_without_login_url() -> None:
    spec = login_spec(
        settings(
            salesforce_instance_url="https://acme.my.salesforce.com",
            salesforce_client_id="ck",
            salesforce_client_secret="cs",
        )
    )
    assert spec.kwargs["domain"] == "acme.my"
    assert "SALESFORCE_INSTANCE_URL" in spec.settings


def test_jwt_reads_the_key_file(tmp_path: Path) -> None:
    key = tmp_path / "key.pem"
    key.write_text(KEY_PEM)
    spec = login_spec(
        settings(
            salesforce_username="u",
            salesforce_client_id="ck",
            salesforce_jwt_key_file=key,
            salesforce_password="ignored",
            salesforce_client_secret="ignored",
        )
    )
    assert spec.mode == LoginMode.JWT
    assert spec.kwargs["privatekey"] == KEY_PEM and spec.kwargs["consumer_key"] == "ck"


@pytest.mark.parametrize(
    ("values", "setting"),
    [
        (
            {
                "salesforce_jwt_key_file": "/nonexistent/key.pem",
                "salesforce_username": "u",
                "salesforce_client_id": "ck",
            },
            "SALESFORCE_JWT_KEY_FILE",
        ),
        ({"salesforce_jwt_key_file": "/dev/null"}, "SALESFORCE_USERNAME"),
        ({"salesforce_username": "u"}, "SALESFORCE_PASSWORD"),
        ({"salesforce_client_secret": "cs"}, "SALESFORCE_CLIENT_ID"),
        (
            {
                "salesforce_client_id": "ck",
                "salesforce_client_secret": "cs",
                "salesforce_username": "u",
            },
            "SALESFORCE_PASSWORD",
        ),
        ({}, "SALESFORCE_USERNAME"),
    ],
)
def test_config_errors_name_the_setting(values: dict[str, Any], setting: str) -> None:
    with pytest.raises(SalesforceConfigError) as caught:
        login_spec(settings(**values))
    assert setting in caught.value.settings
    assert setting in str(caught.value)
    assert caught.value.kind == "salesforce.config"


def test_jwt_key_file_that_is_not_a_key(tmp_path: Path) -> None:
    bad = tmp_path / "cert.pem"
    bad.write_text("-----BEGIN CERTIFICATE-----\n")
    with pytest.raises(SalesforceConfigError, match="not a PEM private key"):
        login_spec(
            settings(salesforce_username="u", salesforce_client_id="c", salesforce_jwt_key_file=bad)
        )


def test_session_mode_needs_instance_url() -> None:
    with pytest.raises(SalesforceConfigError):
        login_spec(settings(), session_id="00D!x")
    spec = login_spec(settings(salesforce_instance_url="https://x.my.salesforce.com"), "00D!x")
    assert spec.mode == LoginMode.SESSION and not spec.can_relogin


def test_explanations() -> None:
    soap = login_spec(settings(salesforce_username="u", salesforce_password="p"))
    text, names = explain_login_failure(soap, "INVALID_LOGIN", "Invalid username, password")
    assert names == ("SALESFORCE_USERNAME", "SALESFORCE_PASSWORD", "SALESFORCE_SECURITY_TOKEN")
    assert "Reset My Security Token" in text and "test.salesforce.com" in text
    text, names = explain_login_failure(soap, "invalid_client_id", "client identifier invalid")
    assert names == ("SALESFORCE_CLIENT_ID",)
    text, names = explain_login_failure(soap, "invalid_client", "invalid client credentials")
    assert names == ("SALESFORCE_CLIENT_SECRET",)
