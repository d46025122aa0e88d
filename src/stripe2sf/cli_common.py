"""What every CLI command does first: load the settings and the sync configuration, or stop
with a message that names what is wrong (exit 2)."""

from __future__ import annotations

from typing import Any

import typer
from rich.console import Console

from stripe2sf.domain.config import ConfigError, SyncConfig
from stripe2sf.engine.handlers import Registry
from stripe2sf.runtime import Runtime, load_sync_config
from stripe2sf.settings import Settings, SettingsError, load_settings
from stripe2sf.store.db import describe, missing_database

err = Console(stderr=True)


def settings_or_exit(**overrides: Any) -> Settings:
    try:
        return load_settings(**overrides)
    except SettingsError as exc:
        err.print(f"[red]stripe2sf cannot start:[/red] {exc}")
        raise typer.Exit(2) from exc


def sync_config_or_exit(settings: Settings) -> SyncConfig:
    try:
        return load_sync_config(settings)
    except ConfigError as exc:
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
    try:
        return Runtime.build(settings, registry=registry)
    except Exception as exc:
        typer.echo(
            f"cannot open the database {shown}: {exc}\n"
            "Check STRIPE2SF_DATABASE_URL and that the server is reachable.",
            err=True,
        )
        raise typer.Exit(2) from exc
