"""What every CLI command does first: load the settings and the sync configuration, or stop
with a message that names what is wrong (exit 2).

Everything heavy (pydantic, SQLAlchemy, the Stripe and Salesforce clients) is imported inside
the functions, so `stripe2sf --help` and the commands that need little start fast: see
tests/acceptance/test_cli_startup.py and bench/cli_startup.py."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import typer

if TYPE_CHECKING:
    from rich.console import Console

    from stripe2sf.domain.config import SyncConfig
    from stripe2sf.engine.handlers import Registry
    from stripe2sf.runtime import Runtime
    from stripe2sf.settings import Settings
    from stripe2sf.store.db import Engine


def stderr_console() -> Console:
    """Rich's console on stderr (Rich is imported on first use)."""
    from rich.console import Console

    return Console(stderr=True)


def settings_or_exit(**overrides: Any) -> Settings:
    from stripe2sf.settings import SettingsError, load_settings

    try:
        return load_settings(**overrides)
    except SettingsError as exc:
        stderr_console().print(f"[red]stripe2sf cannot start:[/red] {exc}")
        raise typer.Exit(2) from exc


def sync_config_or_exit(settings: Settings) -> SyncConfig:
    from stripe2sf.domain.config import ConfigError
    from stripe2sf.settings import load_sync_config

    try:
        return load_sync_config(settings)
    except ConfigError as exc:
        err = stderr_console()
        err.print(f"[red]the sync configuration is invalid[/red] ({settings.config_path}):")
        for problem in exc.problems:
            err.print(f"  - {problem}")
        raise typer.Exit(2) from exc


def runtime_or_exit(
    settings: Settings, *, needs_existing: str | None = None, registry: Registry | None = None
) -> Runtime:
    """Open the database (saying which one, on stderr, password hidden) and build the runtime.

    `needs_existing` names a command that only makes sense on the database `serve` and the
    workers use (status, replay, audit, reconcile): run in the wrong folder, it would otherwise
    create an empty database there and report nothing. It refuses instead (exit 2).
    """
    from stripe2sf.runtime import Runtime

    shown = _announce_database(settings, needs_existing)
    try:
        return Runtime.build(settings, registry=registry)
    except Exception as exc:
        raise _cannot_open(shown, exc) from exc


def database_or_exit(settings: Settings, *, needs_existing: str) -> Engine:
    """The existing database as a bare engine, for a command that only reads it (`status`):
    no migration, no runtime (workers, clients, alerter), so the command starts fast. Refuses a
    missing database as `runtime_or_exit` does (exit 2)."""
    from stripe2sf.store.db import make_engine

    shown = _announce_database(settings, needs_existing)
    try:
        return make_engine(settings.database_url, pool_size=1, max_overflow=0)
    except Exception as exc:
        raise _cannot_open(shown, exc) from exc


def _announce_database(settings: Settings, needs_existing: str | None) -> str:
    """Say which database (on stderr, password hidden); refuse to create one for a command
    that reads the deployment's database. Returns the database as shown."""
    from stripe2sf.store.db import describe, missing_database

    shown = describe(settings.database_url)
    typer.echo(f"database: {shown}", err=True)
    if needs_existing is not None:
        problem = missing_database(settings.database_url)
        if problem is not None:
            typer.echo(
                f"stripe2sf {needs_existing}: refusing to create a new database: {problem}.\n"
                f"`stripe2sf {needs_existing}` reads the database that `stripe2sf serve` and "
                "the workers use. Run it from your deployment's folder (a relative SQLite path "
                "is resolved there), set STRIPE2SF_DATABASE_URL to that database, or create a "
                "new one with `stripe2sf db upgrade`.",
                err=True,
            )
            raise typer.Exit(2)
    return shown


def _cannot_open(shown: str, exc: Exception) -> typer.Exit:
    typer.echo(
        f"cannot open the database {shown}: {exc}\n"
        "Check STRIPE2SF_DATABASE_URL and that the server is reachable.",
        err=True,
    )
    return typer.Exit(2)
