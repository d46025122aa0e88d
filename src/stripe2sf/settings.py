"""Typed settings: environment variables, then the `[settings]` table of `stripe2sf.toml`, then
defaults. A bad value stops start-up with `SettingsError`, naming the variable and what it expects.
"""

from __future__ import annotations

import os
import re
import tomllib
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

from pydantic import AliasChoices, Field, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, NoDecode, PydanticBaseSettingsSource, SettingsConfigDict

if TYPE_CHECKING:
    from stripe2sf.domain.config import SyncConfig

DEFAULT_CONFIG_FILE = "stripe2sf.toml"


def _env(name: str, field: str, default: Any, description: str) -> Any:
    """A setting read from env var `name`, or from key `field` of the TOML `[settings]` table."""
    return Field(
        default=default, validation_alias=AliasChoices(name, field), description=description
    )


class SettingsError(Exception):
    """Start-up refused because a setting is missing or malformed; the message says which."""


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_file=None, extra="ignore", case_sensitive=False, populate_by_name=True
    )

    # Stripe
    stripe_api_key: SecretStr | None = _env(
        "STRIPE_API_KEY", "stripe_api_key", None, "a Stripe secret key, sk_test_... or sk_live_..."
    )
    stripe_webhook_secrets: Annotated[list[str], NoDecode] = _env(
        "STRIPE_WEBHOOK_SECRET",
        "stripe_webhook_secrets",
        [],
        "webhook signing secrets whsec_..., comma-separated (several while rotating)",
    )
    stripe_api_base: str | None = _env(
        "STRIPE_API_BASE", "stripe_api_base", None, "a URL such as http://127.0.0.1:8702"
    )
    stripe_api_version: str | None = _env(
        "STRIPE_API_VERSION",
        "stripe_api_version",
        None,
        "the Stripe API version stripe2sf reads in, such as 2024-06-20 or 2025-03-31.basil "
        "(default: the version the stripe SDK pins)",
    )
    webhook_tolerance_seconds: int = _env(
        "STRIPE2SF_WEBHOOK_TOLERANCE",
        "webhook_tolerance_seconds",
        300,
        "seconds a signature timestamp may be old (or ahead), an integer from 1 to 86400",
    )
    public_url: str | None = _env(
        "STRIPE2SF_PUBLIC_URL",
        "public_url",
        None,
        "this service's address as Stripe reaches it, such as https://stripe2sf.example.com "
        "(doctor checks that a webhook endpoint points at it + /webhooks/stripe)",
    )

    allow_mixed_modes: bool = _env(
        "STRIPE2SF_ALLOW_MIXED_MODES",
        "allow_mixed_modes",
        False,
        "true to let a live Stripe key feed a sandbox org, or a test key a production org",
    )

    # Salesforce
    salesforce_login_url: str | None = _env(
        "SALESFORCE_LOGIN_URL", "salesforce_login_url", None, "e.g. https://test.salesforce.com"
    )
    salesforce_instance_url: str | None = _env(
        "SALESFORCE_INSTANCE_URL",
        "salesforce_instance_url",
        None,
        "e.g. https://x.my.salesforce.com",
    )
    salesforce_username: str | None = _env(
        "SALESFORCE_USERNAME", "salesforce_username", None, "the integration user's username"
    )
    salesforce_password: SecretStr | None = _env(
        "SALESFORCE_PASSWORD", "salesforce_password", None, "the integration user's password"
    )
    salesforce_security_token: SecretStr | None = _env(
        "SALESFORCE_SECURITY_TOKEN", "salesforce_security_token", None, "the user's security token"
    )
    salesforce_client_id: str | None = _env(
        "SALESFORCE_CLIENT_ID", "salesforce_client_id", None, "the connected app's consumer key"
    )
    salesforce_client_secret: SecretStr | None = _env(
        "SALESFORCE_CLIENT_SECRET", "salesforce_client_secret", None, "the consumer secret"
    )
    salesforce_jwt_key_file: Path | None = _env(
        "SALESFORCE_JWT_KEY_FILE", "salesforce_jwt_key_file", None, "a PEM private key file"
    )
    salesforce_api_version: str = _env(
        "SALESFORCE_API_VERSION", "salesforce_api_version", "62.0", "a version such as 62.0"
    )
    salesforce_ca_bundle: Path | None = _env(
        "SALESFORCE_CA_BUNDLE", "salesforce_ca_bundle", None, "a PEM file of trusted CAs"
    )

    # Our own store and behaviour
    database_url: str = _env(
        "STRIPE2SF_DATABASE_URL",
        "database_url",
        "sqlite:///var/stripe2sf.db",
        "an SQLAlchemy URL: sqlite:///path.db or postgresql+psycopg://user@host/db",
    )
    config_path: Path | None = _env(
        "STRIPE2SF_CONFIG", "config_path", None, "the path of stripe2sf.toml"
    )
    lease_seconds: float = _env(
        "STRIPE2SF_LEASE_SECONDS",
        "lease_seconds",
        60.0,
        "seconds a worker holds a lane before another may take it, a number > 0",
    )
    worker_concurrency: int = _env(
        "STRIPE2SF_WORKER_CONCURRENCY",
        "worker_concurrency",
        4,
        "lanes a worker process applies at once, an integer from 1 to 64",
    )
    batch_lanes: int = _env(
        "STRIPE2SF_BATCH_LANES",
        "batch_lanes",
        200,
        "lanes a worker thread claims and applies together, an integer from 1 to 2000",
    )
    batch_linger_ms: int = _env(
        "STRIPE2SF_BATCH_LINGER_MS",
        "batch_linger_ms",
        1000,
        "milliseconds a customer's first new event waits for the rest of its burst before a "
        "worker takes it (one Salesforce round trip for them all), an integer from 0 to 5000",
    )
    poll_interval_seconds: float = _env(
        "STRIPE2SF_POLL_INTERVAL", "poll_interval_seconds", 0.2, "seconds between idle polls"
    )
    max_attempts: int = _env(
        "STRIPE2SF_MAX_ATTEMPTS",
        "max_attempts",
        10,
        "attempts before an event goes to the dead letters, an integer >= 1",
    )
    max_age_hours: float = _env(
        "STRIPE2SF_MAX_AGE_HOURS",
        "max_age_hours",
        72.0,
        "hours of retrying before an event goes to the dead letters, a number > 0",
    )
    retry_base_seconds: float = _env(
        "STRIPE2SF_RETRY_BASE_SECONDS",
        "retry_base_seconds",
        2.0,
        "the first retry delay in seconds, doubled at each attempt, a number > 0",
    )

    # Alerts
    alert_email_to: Annotated[list[str], NoDecode] = _env(
        "STRIPE2SF_ALERT_EMAIL_TO", "alert_email_to", [], "administrator addresses, comma-separated"
    )
    alert_email_from: str = _env(
        "STRIPE2SF_ALERT_EMAIL_FROM", "alert_email_from", "stripe2sf@localhost", "the sender"
    )
    smtp_host: str | None = _env("STRIPE2SF_SMTP_HOST", "smtp_host", None, "the SMTP server host")
    smtp_port: int = _env("STRIPE2SF_SMTP_PORT", "smtp_port", 25, "the SMTP port, e.g. 25 or 587")
    smtp_username: str | None = _env(
        "STRIPE2SF_SMTP_USERNAME", "smtp_username", None, "the SMTP login"
    )
    smtp_password: SecretStr | None = _env(
        "STRIPE2SF_SMTP_PASSWORD", "smtp_password", None, "the SMTP password"
    )
    smtp_starttls: bool = _env(
        "STRIPE2SF_SMTP_STARTTLS", "smtp_starttls", False, "true to upgrade with STARTTLS"
    )
    alert_slack_webhook_url: str | None = _env(
        "STRIPE2SF_ALERT_SLACK_URL",
        "alert_slack_webhook_url",
        None,
        "a Slack-compatible incoming webhook URL",
    )
    alert_period_seconds: float = _env(
        "STRIPE2SF_ALERT_PERIOD_SECONDS",
        "alert_period_seconds",
        3600.0,
        "at most one alert per kind of failure in this many seconds, a number >= 0",
    )

    # Operations: alert thresholds, API budget, dashboard
    alert_error_rate: float = _env(
        "STRIPE2SF_ALERT_ERROR_RATE",
        "alert_error_rate",
        0.2,
        "alert when this share of attempts in the alert window failed, from 0 to 1",
    )
    alert_min_attempts: int = _env(
        "STRIPE2SF_ALERT_MIN_ATTEMPTS",
        "alert_min_attempts",
        20,
        "attempts in the window before the error rate is judged, an integer >= 1",
    )
    alert_window_seconds: float = _env(
        "STRIPE2SF_ALERT_WINDOW_SECONDS",
        "alert_window_seconds",
        300.0,
        "the window error rates and bad signatures are counted over, seconds > 0",
    )
    alert_api_usage: float = _env(
        "STRIPE2SF_ALERT_API_USAGE",
        "alert_api_usage",
        0.9,
        "alert when the org's Salesforce API usage passes this share of its limit, 0 to 1",
    )
    alert_bad_signatures: int = _env(
        "STRIPE2SF_ALERT_BAD_SIGNATURES",
        "alert_bad_signatures",
        20,
        "alert when this many webhooks with bad signatures arrive in the window, >= 1",
    )
    alert_catchup_days: float = _env(
        "STRIPE2SF_ALERT_CATCHUP_DAYS",
        "alert_catchup_days",
        25.0,
        "alert when catch-up must reach back this many days (Stripe keeps 30), a number > 0",
    )
    budget_reserve_share: float = _env(
        "STRIPE2SF_BUDGET_RESERVE",
        "budget_reserve_share",
        0.2,
        "share of the org's daily Salesforce API limit kept for other integrations, 0 to 1",
    )
    budget_slow_from: float = _env(
        "STRIPE2SF_BUDGET_SLOW_FROM",
        "budget_slow_from",
        0.8,
        "share of stripe2sf's part of the limit where low-priority work starts waiting, 0 to 1",
    )
    budget_defer_seconds: float = _env(
        "STRIPE2SF_BUDGET_DEFER_SECONDS",
        "budget_defer_seconds",
        60.0,
        "seconds work deferred by the API budget waits before asking again, > 0",
    )
    budget_pause_seconds: float = _env(
        "STRIPE2SF_BUDGET_PAUSE_SECONDS",
        "budget_pause_seconds",
        300.0,
        "seconds of pause after REQUEST_LIMIT_EXCEEDED, > 0",
    )
    dashboard_users: Annotated[list[str], NoDecode] = _env(
        "STRIPE2SF_DASHBOARD_USERS",
        "dashboard_users",
        [],
        "name:role:password-hash entries, comma-separated; role viewer or operator; hash from "
        "`python -m stripe2sf.web.dashboard.auth NAME`",
    )
    dashboard_session_hours: float = _env(
        "STRIPE2SF_DASHBOARD_SESSION_HOURS",
        "dashboard_session_hours",
        12.0,
        "hours a dashboard login lasts, > 0",
    )
    dashboard_login_attempts: int = _env(
        "STRIPE2SF_DASHBOARD_LOGIN_ATTEMPTS",
        "dashboard_login_attempts",
        5,
        "failed logins per user and address in 5 minutes before the login is refused, >= 1",
    )
    manual_minutes_per_record: float = _env(
        "STRIPE2SF_MANUAL_MINUTES_PER_RECORD",
        "manual_minutes_per_record",
        2.0,
        "estimated minutes a person spends checking one record by hand (business figures)",
    )

    # Salesforce change capture (Step 12): Salesforce-owned changes into the inbox
    capture: str = _env(
        "STRIPE2SF_CAPTURE",
        "capture",
        "off",
        "off, cdc (Change Data Capture over the Pub/Sub API: no REST calls per change) or poll "
        "(SystemModstamp windows, for orgs without CDC)",
    )
    salesforce_pubsub_endpoint: str = _env(
        "SALESFORCE_PUBSUB_ENDPOINT",
        "salesforce_pubsub_endpoint",
        "api.pubsub.salesforce.com:7443",
        "the Pub/Sub API's host:port (gRPC over TLS; SALESFORCE_CA_BUNDLE is trusted too)",
    )
    capture_objects: Annotated[list[str], NoDecode] = _env(
        "STRIPE2SF_CAPTURE_OBJECTS",
        "capture_objects",
        [],
        "the objects whose changes are captured, comma-separated API names (unset: those the "
        "configuration uses: Account and Contact with [salesforce_to_stripe], Opportunity and "
        "Stripe_Request__c with [actions])",
    )
    capture_poll_fields: Annotated[list[str], NoDecode] = _env(
        "STRIPE2SF_CAPTURE_POLL_FIELDS",
        "capture_poll_fields",
        [],
        "fields polling reads, Object.Field comma-separated (an object named here reads only "
        "these; others their defaults)",
    )
    capture_poll_seconds: float = _env(
        "STRIPE2SF_CAPTURE_POLL_SECONDS",
        "capture_poll_seconds",
        60.0,
        "the shortest time between polling rounds in seconds (the API share may lengthen it), "
        "a number > 0",
    )
    poll_api_share: float = _env(
        "STRIPE2SF_POLL_API_SHARE",
        "poll_api_share",
        0.05,
        "share of the org's daily Salesforce API limit polling may use, 0 to 1",
    )
    capture_poll_overlap_seconds: float = _env(
        "STRIPE2SF_CAPTURE_POLL_OVERLAP",
        "capture_poll_overlap_seconds",
        10.0,
        "seconds each polling window reaches back behind the newest change seen (changes "
        "committed a little after their SystemModstamp), a number >= 0",
    )
    capture_batch: int = _env(
        "STRIPE2SF_CAPTURE_BATCH",
        "capture_batch",
        100,
        "change events requested from the Pub/Sub API at a time (flow control), 1 to 1000",
    )

    capture_own_changes: str = _env(
        "STRIPE2SF_CAPTURE_OWN_CHANGES",
        "capture_own_changes",
        "drop",
        "drop (default: stripe2sf's own Salesforce writes coming back as changes are counted, "
        "not stored) or keep (the Salesforce user is shared with other tools)",
    )

    @field_validator("capture_own_changes")
    @classmethod
    def _check_own_changes(cls, value: str) -> str:
        value = value.strip().lower()
        if value not in ("drop", "keep"):
            raise ValueError("must be drop or keep")
        return value

    @field_validator("capture")
    @classmethod
    def _check_capture(cls, value: str) -> str:
        value = value.strip().lower()
        if value not in ("off", "cdc", "poll"):
            raise ValueError("must be off, cdc or poll")
        return value

    @field_validator("capture_objects", "capture_poll_fields", mode="before")
    @classmethod
    def _split_names(cls, value: Any) -> Any:
        if isinstance(value, str):
            return [part.strip() for part in value.split(",") if part.strip()]
        return value

    @field_validator("capture_objects")
    @classmethod
    def _check_objects(cls, value: list[str]) -> list[str]:
        for name in value:
            if not re.fullmatch(r"[A-Za-z][A-Za-z0-9_]*", name):
                raise ValueError(f"{name!r} is not an object API name such as Contact or Foo__c")
        return value

    @field_validator("capture_poll_fields")
    @classmethod
    def _check_poll_fields(cls, value: list[str]) -> list[str]:
        for entry in value:
            if not re.fullmatch(r"[A-Za-z][A-Za-z0-9_]*\.[A-Za-z][A-Za-z0-9_]*", entry):
                raise ValueError(f"{entry!r} is not Object.Field, such as Contact.Email")
        return value

    @field_validator("poll_api_share")
    @classmethod
    def _check_poll_share(cls, value: float) -> float:
        if not 0 <= value <= 1:
            raise ValueError("must be from 0 to 1")
        return value

    @field_validator("capture_poll_seconds")
    @classmethod
    def _check_poll_seconds(cls, value: float) -> float:
        if value <= 0:
            raise ValueError("must be greater than 0")
        return value

    @field_validator("capture_poll_overlap_seconds")
    @classmethod
    def _check_overlap(cls, value: float) -> float:
        if value < 0:
            raise ValueError("must be 0 or more")
        return value

    @field_validator("capture_batch")
    @classmethod
    def _check_capture_batch(cls, value: int) -> int:
        if not 1 <= value <= 1000:
            raise ValueError("must be from 1 to 1000")
        return value

    @field_validator("dashboard_users", mode="before")
    @classmethod
    def _split_users(cls, value: Any) -> Any:
        if isinstance(value, str):
            return [part.strip() for part in value.split(",") if part.strip()]
        return value

    @field_validator("dashboard_users")
    @classmethod
    def _check_users(cls, value: list[str]) -> list[str]:
        for entry in value:
            parts = entry.split(":")
            if len(parts) != 3 or parts[1] not in ("viewer", "operator") or not parts[2]:
                raise ValueError(
                    "each entry must be name:role:hash with role viewer or operator "
                    f"(got an entry for {parts[0]!r})"
                )
        return value

    @field_validator(
        "alert_error_rate", "alert_api_usage", "budget_reserve_share", "budget_slow_from"
    )
    @classmethod
    def _check_share(cls, value: float) -> float:
        if not 0 <= value <= 1:
            raise ValueError("must be from 0 to 1")
        return value

    @field_validator("stripe_webhook_secrets", "alert_email_to", mode="before")
    @classmethod
    def _split_commas(cls, value: Any) -> Any:
        if isinstance(value, str):
            return [part.strip() for part in value.split(",") if part.strip()]
        return value

    @field_validator("stripe_webhook_secrets")
    @classmethod
    def _check_secrets(cls, value: list[str]) -> list[str]:
        for secret in value:
            if not secret.startswith("whsec_"):
                raise ValueError("each secret must start with whsec_ (Stripe's signing secret)")
        return value

    @field_validator("stripe_api_key")
    @classmethod
    def _check_key(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and not value.get_secret_value().startswith(("sk_", "rk_")):
            raise ValueError("must be a secret or restricted key: sk_test_, sk_live_, rk_...")
        return value

    @field_validator("stripe_api_version")
    @classmethod
    def _check_stripe_version(cls, value: str | None) -> str | None:
        if value is not None and not re.fullmatch(r"\d{4}-\d{2}-\d{2}(\.[a-z]+)?", value):
            raise ValueError("must be a Stripe API version such as 2024-06-20 or 2025-03-31.basil")
        return value

    @field_validator("public_url")
    @classmethod
    def _check_public_url(cls, value: str | None) -> str | None:
        if not value:
            return None
        if not re.fullmatch(r"https?://[^\s/?#]+(/[^\s?#]*)?", value):
            raise ValueError("must be an http(s) URL such as https://stripe2sf.example.com")
        return value

    @field_validator("database_url")
    @classmethod
    def _check_url(cls, value: str) -> str:
        if not value.startswith(("sqlite", "postgresql")):
            raise ValueError("only sqlite:/// and postgresql+psycopg:// URLs are supported")
        return value

    @field_validator("webhook_tolerance_seconds")
    @classmethod
    def _check_tolerance(cls, value: int) -> int:
        if not 1 <= value <= 86400:
            raise ValueError("must be from 1 to 86400 seconds")
        return value

    @field_validator("worker_concurrency")
    @classmethod
    def _check_concurrency(cls, value: int) -> int:
        if not 1 <= value <= 64:
            raise ValueError("must be from 1 to 64")
        return value

    @field_validator("batch_lanes")
    @classmethod
    def _check_batch_lanes(cls, value: int) -> int:
        if not 1 <= value <= 2000:
            raise ValueError("must be from 1 to 2000")
        return value

    @field_validator("batch_linger_ms")
    @classmethod
    def _check_linger(cls, value: int) -> int:
        if not 0 <= value <= 5000:
            raise ValueError("must be from 0 to 5000")
        return value

    @field_validator("max_attempts")
    @classmethod
    def _check_attempts(cls, value: int) -> int:
        if value < 1:
            raise ValueError("must be at least 1")
        return value

    @field_validator(
        "lease_seconds", "max_age_hours", "retry_base_seconds", "poll_interval_seconds"
    )
    @classmethod
    def _check_positive(cls, value: float) -> float:
        if value <= 0:
            raise ValueError("must be greater than 0")
        return value

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return (init_settings, env_settings)

    @property
    def stripe_key(self) -> str | None:
        return self.stripe_api_key.get_secret_value() if self.stripe_api_key else None


def config_file_path(env: dict[str, str] | None = None) -> Path | None:
    """The stripe2sf.toml in use: $STRIPE2SF_CONFIG, else ./stripe2sf.toml if it exists."""
    env = dict(os.environ) if env is None else env
    explicit = env.get("STRIPE2SF_CONFIG")
    if explicit:
        return Path(explicit)
    default = Path(DEFAULT_CONFIG_FILE)
    return default if default.exists() else None


def read_config_file(path: Path | None) -> dict[str, Any]:
    """The parsed TOML document, or {} without a file. Errors name the file and the line."""
    if path is None:
        return {}
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise SettingsError(
            f"STRIPE2SF_CONFIG: {path} does not exist; create it or unset STRIPE2SF_CONFIG"
        ) from exc
    except tomllib.TOMLDecodeError as exc:
        raise SettingsError(f"{path}: not valid TOML ({exc}); fix the file") from exc


def load_sync_config(settings: Settings) -> SyncConfig:
    """The mapping, matching and flow configuration: stripe2sf.toml without its [settings].
    Raises domain.config.ConfigError listing every problem."""
    from stripe2sf.domain.config import from_mapping

    doc = read_config_file(settings.config_path)
    doc.pop("settings", None)
    return from_mapping(doc)


def capture_objects(settings: Settings, config: SyncConfig | None = None) -> list[str]:
    """The objects capture follows: STRIPE2SF_CAPTURE_OBJECTS, else those the configuration
    uses (`domain.setup.access.objects_to_capture`; the configuration read when not given)."""
    if settings.capture_objects:
        return list(settings.capture_objects)
    from stripe2sf.domain.config import ConfigError
    from stripe2sf.domain.setup.access import objects_to_capture

    if config is None:
        try:
            config = load_sync_config(settings)
        except (ConfigError, SettingsError):  # reported by config check and serve's start
            return list(objects_to_capture(None))
    return list(objects_to_capture(config))


def _field_of(name: str) -> str:
    """The field behind an env var name or a field name, as pydantic reports either."""
    for field, info in Settings.model_fields.items():
        alias = info.validation_alias
        names = [str(c).lower() for c in alias.choices] if isinstance(alias, AliasChoices) else []
        if name.lower() in names or name == field:
            return field
    return name


def _describe(error: dict[str, Any]) -> str:
    loc = [str(part) for part in error.get("loc", ())]
    field = _field_of(loc[0]) if loc else "?"
    info = Settings.model_fields.get(field)
    env_name = field
    expected = ""
    if info is not None:
        alias = info.validation_alias
        if isinstance(alias, AliasChoices) and alias.choices:
            env_name = str(alias.choices[0])
        expected = info.description or ""
    got = error.get("input")
    shown = "***" if "secret" in field or "password" in field or "key" in field else repr(got)
    message = str(error.get("msg", "invalid")).removeprefix("Value error, ")
    return f"{env_name} ({field}): {message}; got {shown}; expected {expected}"


def load_settings(**overrides: Any) -> Settings:
    """Settings from overrides > environment > the TOML `[settings]` table > defaults."""
    path = overrides.pop("config_path", None) or config_file_path()
    table = read_config_file(Path(path) if path else None).get("settings", {})
    if not isinstance(table, dict):
        raise SettingsError(f"{path}: [settings] must be a table of key = value")
    unknown = sorted(set(table) - set(Settings.model_fields))
    if unknown:
        raise SettingsError(
            f"{path}: unknown keys in [settings]: {', '.join(unknown)}; "
            f"known keys: {', '.join(sorted(Settings.model_fields))}"
        )
    try:
        from_env = Settings(**overrides)  # environment and overrides win over the file
        rest = {k: v for k, v in table.items() if k not in from_env.model_fields_set}
        settings = Settings(**rest, **overrides) if rest else from_env
    except ValidationError as exc:
        lines = [_describe(dict(err)) for err in exc.errors()]
        raise SettingsError("invalid settings:\n  " + "\n  ".join(lines)) from exc
    if path is not None and settings.config_path is None:
        settings.config_path = Path(path)
    return settings
