from __future__ import annotations

from pathlib import Path

import pytest

from stripe2sf.settings import SettingsError, load_settings


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for name in (
        "STRIPE_WEBHOOK_SECRET",
        "STRIPE2SF_CONFIG",
        "STRIPE2SF_LEASE_SECONDS",
        "STRIPE_API_VERSION",
    ):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)


def test_defaults_work_without_any_configuration() -> None:
    s = load_settings()
    assert s.database_url.startswith("sqlite:///")
    assert s.webhook_tolerance_seconds == 300
    assert s.stripe_webhook_secrets == []


def test_comma_separated_secrets_for_rotation(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("STRIPE_WEBHOOK_SECRET", "whsec_new, whsec_old")
    assert load_settings().stripe_webhook_secrets == ["whsec_new", "whsec_old"]


def test_bad_value_names_the_variable_and_what_is_expected(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("STRIPE2SF_LEASE_SECONDS", "soon")
    with pytest.raises(SettingsError) as info:
        load_settings()
    message = str(info.value)
    assert "STRIPE2SF_LEASE_SECONDS" in message and "'soon'" in message
    assert "a number > 0" in message


def test_secret_values_are_never_echoed(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("STRIPE_WEBHOOK_SECRET", "not-a-secret-format")
    with pytest.raises(SettingsError) as info:
        load_settings()
    assert "not-a-secret-format" not in str(info.value)
    assert "whsec_" in str(info.value)


def test_toml_settings_table_with_env_taking_precedence(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    path = tmp_path / "stripe2sf.toml"
    path.write_text("[settings]\nlease_seconds = 12\nmax_attempts = 3\n")
    monkeypatch.setenv("STRIPE2SF_MAX_ATTEMPTS", "7")
    s = load_settings()
    assert s.lease_seconds == 12 and s.max_attempts == 7
    assert s.config_path == Path("stripe2sf.toml")


def test_unknown_toml_key_is_refused_with_the_known_ones(tmp_path: Path) -> None:
    (tmp_path / "stripe2sf.toml").write_text("[settings]\nleese_seconds = 1\n")
    with pytest.raises(SettingsError, match="unknown keys in \\[settings\\]: leese_seconds"):
        load_settings()


def test_broken_toml_names_the_file(tmp_path: Path) -> None:
    (tmp_path / "stripe2sf.toml").write_text("[settings\n")
    with pytest.raises(SettingsError, match="not valid TOML"):
        load_settings()


def test_missing_config_file(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("STRIPE2SF_CONFIG", "/nonexistent/stripe2sf.toml")
    with pytest.raises(SettingsError, match="does not exist"):
        load_settings()


def test_unsupported_database_url() -> None:
    with pytest.raises(SettingsError, match="STRIPE2SF_DATABASE_URL"):
        load_settings(database_url="mysql://x")


def test_stripe_api_version_is_the_sdks_unless_set(monkeypatch: pytest.MonkeyPatch) -> None:
    assert load_settings().stripe_api_version is None  # the reader then sends the SDK's pin
    monkeypatch.setenv("STRIPE_API_VERSION", "2025-03-31.basil")
    assert load_settings().stripe_api_version == "2025-03-31.basil"
    monkeypatch.setenv("STRIPE_API_VERSION", "last year")
    with pytest.raises(SettingsError) as info:
        load_settings()
    assert "STRIPE_API_VERSION" in str(info.value) and "2024-06-20" in str(info.value)
