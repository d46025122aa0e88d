"""The `stripe2sf` command line."""

from __future__ import annotations

import json
import secrets
import signal
import sys
import threading
from datetime import UTC, datetime
from typing import Annotated, Any

import typer
import uvicorn
from rich.console import Console
from rich.table import Table

from stripe2sf import logs
from stripe2sf.runtime import Runtime
from stripe2sf.settings import Settings, SettingsError, load_settings
from stripe2sf.store import db

app = typer.Typer(help="Keeps Salesforce in step with Stripe.", no_args_is_help=True)
db_app = typer.Typer(help="Database maintenance.", no_args_is_help=True)
app.add_typer(db_app, name="db")
console = Console()
err = Console(stderr=True)


def _settings(**overrides: Any) -> Settings:
    try:
        return load_settings(**overrides)
    except SettingsError as exc:
        err.print(f"[red]stripe2sf cannot start:[/red] {exc}")
        raise typer.Exit(2) from exc


def _runtime(settings: Settings) -> Runtime:
    try:
        return Runtime.build(settings)
    except Exception as exc:
        err.print(
            f"[red]cannot open the database[/red] {settings.database_url}: {exc}\n"
            "Check STRIPE2SF_DATABASE_URL and that the server is reachable."
        )
        raise typer.Exit(2) from exc


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8700,
    no_worker: Annotated[bool, typer.Option("--no-worker", help="Only take webhooks.")] = False,
) -> None:
    """Webhook endpoint, health checks and an in-process worker."""
    logs.configure()
    settings = _settings()
    if not settings.stripe_webhook_secrets:
        generated = "whsec_" + secrets.token_hex(24)
        settings.stripe_webhook_secrets = [generated]
        err.print(
            "[yellow]STRIPE_WEBHOOK_SECRET is not set: using a secret generated for this run:"
            f"[/yellow] {generated}\nSet STRIPE_WEBHOOK_SECRET to the endpoint's signing secret."
        )
    runtime = _runtime(settings)
    from stripe2sf.web.app import create_app

    err.print(f"stripe2sf listening on http://{host}:{port} (database {settings.database_url})")
    uvicorn.run(
        create_app(runtime, run_worker=not no_worker),
        host=host,
        port=port,
        log_level="warning",
        access_log=False,
    )
    runtime.close()


@app.command()
def worker(
    concurrency: Annotated[
        int | None, typer.Option(help="Lanes applied at once (default from settings).")
    ] = None,
) -> None:
    """A worker process; run several against PostgreSQL."""
    logs.configure()
    runtime = _runtime(_settings())
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    err.print(f"stripe2sf worker started (database {runtime.settings.database_url})")
    runtime.worker(concurrency).run(stop)
    runtime.close()


@app.command()
def status(
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable.")] = False,
) -> None:
    """Inbox counts by state, dead letters and lag."""
    runtime = _runtime(_settings())
    counts = runtime.inbox.counts()
    oldest = runtime.inbox.oldest_pending_received()
    lag = (datetime.now(UTC) - oldest).total_seconds() if oldest else 0.0
    report = {"inbox": counts, "dead_letters": counts["dead"], "lag_seconds": round(lag, 3)}
    runtime.close()
    if as_json:
        typer.echo(json.dumps(report))
        return
    table = Table(title="stripe2sf inbox")
    table.add_column("state")
    table.add_column("events", justify="right")
    for state, count in counts.items():
        table.add_row(state, str(count))
    console.print(table)
    console.print(f"lag (oldest pending event): {lag:.1f} s; dead letters: {counts['dead']}")


@app.command()
def replay(
    event_ids: Annotated[list[str] | None, typer.Argument(help="Event ids to re-drive.")] = None,
    dead_letters: Annotated[
        bool, typer.Option("--dead-letters", help="Re-drive every dead letter.")
    ] = False,
) -> None:
    """Put events back in line to be applied again."""
    runtime = _runtime(_settings())
    ids = list(event_ids or [])
    if dead_letters:
        ids += runtime.inbox.dead_letter_ids()
    if not ids:
        err.print("Nothing to replay: give event ids or --dead-letters.")
        raise typer.Exit(1)
    found = runtime.inbox.replay(ids, datetime.now(UTC))
    missing = sorted(set(ids) - set(found))
    runtime.close()
    console.print(f"replayed {len(found)} event(s)")
    if missing:
        err.print(f"[red]not in the inbox:[/red] {', '.join(missing)}")
        raise typer.Exit(1)


@db_app.command("upgrade")
def db_upgrade() -> None:
    """Apply database migrations."""
    settings = _settings()
    db.upgrade(settings.database_url)
    console.print(f"database at head: {settings.database_url}")


def main() -> None:
    try:
        app()
    except KeyboardInterrupt:
        sys.exit(130)
