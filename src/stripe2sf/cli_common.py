"""What every CLI command does first: load the settings and the sync configuration, or stop
with a message that names what is wrong (exit 2)."""

from __future__ import annotations

from typing import Any

import typer
from rich.console import Console

from stripe2sf.domain.config import ConfigError, SyncConfig
from stripe2sf.runtime import load_sync_config
from stripe2sf.settings import Settings, SettingsError, load_settings

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
