"""The `stripe2sf` command line.

Start-up is kept light: only Typer and Rich (which Typer's help needs anyway) load with this
module; every command imports what it needs (pydantic settings, SQLAlchemy, the Stripe and
Salesforce clients, uvicorn, structlog, prometheus) inside its function, so `stripe2sf --help`
and `stripe2sf status` spend little CPU before doing their work (bench/cli_startup.py;
tests/acceptance/test_cli_startup.py checks `--help` loads none of them). Keep new imports of
this module, cli_common and cli_history that way."""

from __future__ import annotations

import gc
import json
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from stripe2sf import cli_capture, cli_history
from stripe2sf.cli_common import database_or_exit as _database
from stripe2sf.cli_common import runtime_or_exit as _runtime
from stripe2sf.cli_common import settings_or_exit as _settings
from stripe2sf.cli_common import sync_config_or_exit as _sync_config

if TYPE_CHECKING:
    from stripe2sf.settings import Settings

app = typer.Typer(help="Keeps Salesforce in step with Stripe.", no_args_is_help=True)
db_app = typer.Typer(help="Database maintenance.", no_args_is_help=True)
app.add_typer(db_app, name="db")
config_app = typer.Typer(help="The sync configuration (stripe2sf.toml).", no_args_is_help=True)
app.add_typer(config_app, name="config")
mapping_app = typer.Typer(help="The field mapping document.", no_args_is_help=True)
app.add_typer(mapping_app, name="mapping")
audit_app = typer.Typer(help="The audit trail of every Salesforce write and refusal.")
app.add_typer(audit_app, name="audit")
console = Console()
err = Console(stderr=True)


MIXED_MODES = typer.Option(
    "--allow-mixed-modes",
    help="Let a live Stripe key feed a sandbox org, or a test key a production org.",
)


def _refuse_mixed_modes(settings: Settings) -> None:
    """The safety interlock: checked at start when Salesforce is reachable (and again by the
    worker whenever it logs in)."""
    from stripe2sf.domain.errors import SyncError
    from stripe2sf.engine.doctor import interlock_problem
    from stripe2sf.salesforce.client import connect

    if settings.allow_mixed_modes or not settings.stripe_key:
        return
    if not (settings.salesforce_username or settings.salesforce_client_id):
        return
    try:
        with connect(settings) as client:
            problem = interlock_problem(settings, client)
    except SyncError as exc:
        err.print(f"[yellow]Salesforce not reachable at start ({exc}); checked again on login[/]")
        return
    if problem:
        err.print(
            f"[red]refusing to start:[/red] {problem}. Use the matching key or org, or pass "
            "--allow-mixed-modes (STRIPE2SF_ALLOW_MIXED_MODES=true) if that is intended."
        )
        raise typer.Exit(2)


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8700,
    no_worker: Annotated[bool, typer.Option("--no-worker", help="Only take webhooks.")] = False,
    allow_mixed_modes: Annotated[bool, MIXED_MODES] = False,
) -> None:
    """Webhook endpoint, health checks and an in-process worker."""
    import secrets

    import uvicorn

    from stripe2sf import logs

    logs.configure()
    # Hand the GIL over more often than every 5 ms, so worker threads applying events never
    # hold up the event loop that acknowledges webhooks.
    sys.setswitchinterval(0.0005)
    settings = _settings()
    if not settings.stripe_webhook_secrets:
        generated = "whsec_" + secrets.token_hex(24)
        settings.stripe_webhook_secrets = [generated]
        err.print(
            "[yellow]STRIPE_WEBHOOK_SECRET is not set: using a secret generated for this run:"
            f"[/yellow] {generated}\nSet STRIPE_WEBHOOK_SECRET to the endpoint's signing secret."
        )
    if allow_mixed_modes:
        settings.allow_mixed_modes = True
    _refuse_mixed_modes(settings)
    runtime = _runtime(settings)
    from stripe2sf.web.app import create_app

    err.print(f"stripe2sf listening on http://{host}:{port}")
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
    allow_mixed_modes: Annotated[bool, MIXED_MODES] = False,
    metrics_port: Annotated[
        int | None,
        typer.Option(
            help="Serve this process's own counters (events applied, retries, sync latency) "
            "at http://HOST:PORT/metrics; the inbox gauges come from `serve`'s /metrics."
        ),
    ] = None,
    metrics_host: Annotated[str, typer.Option(help="Address for --metrics-port.")] = "127.0.0.1",
) -> None:
    """A worker process; run several against PostgreSQL."""
    import signal
    import threading

    from stripe2sf import logs

    logs.configure()
    settings = _settings()
    if allow_mixed_modes:
        settings.allow_mixed_modes = True
    if concurrency is not None:  # the pools are sized to it (`domain.batch.pools`)
        settings.worker_concurrency = concurrency
    _refuse_mixed_modes(settings)
    runtime = _runtime(settings)
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    if metrics_port is not None:
        import prometheus_client

        from stripe2sf import metrics
        from stripe2sf.web.operations import state_collector

        every = metrics.process_registry(state_collector(runtime))  # Salesforce calls too
        prometheus_client.start_http_server(metrics_port, metrics_host, registry=every)
    err.print("stripe2sf worker started")
    runtime.worker(concurrency).run(stop)
    runtime.close()


@app.command()
def status(
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable.")] = False,
) -> None:
    """Inbox counts by state, dead letters, lag, the Salesforce org's API usage today, and the
    intake's health: webhooks accepted and refused by reason in the last hour, the last one
    accepted, Stripe and Salesforce reachability, catch-up, the refused-signature alert."""
    from stripe2sf.engine.intake_report import salesforce_api, status_report
    from stripe2sf.store.inbox import Inbox

    settings = _settings()
    engine = _database(settings, needs_existing="status")  # a read: no runtime, no migration
    inbox = Inbox(engine)
    counts = inbox.counts()
    oldest = inbox.oldest_pending_received()
    lag = (datetime.now(UTC) - oldest).total_seconds() if oldest else 0.0
    health = status_report(settings, engine)
    from stripe2sf.engine.capture_status import capture_lines, capture_status

    capture = capture_status(settings, engine)
    engine.dispose()
    report: dict[str, Any] = {
        "inbox": counts,
        "dead_letters": counts["dead"],
        "lag_seconds": round(lag, 3),
        "salesforce_api": salesforce_api(health.salesforce),
        **health.to_json(),
        "capture": capture,
    }
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
    api = report["salesforce_api"]
    if api is None:
        console.print("Salesforce API usage: Salesforce is not configured")
    elif "error" in api:
        console.print(f"Salesforce API usage unknown: {api['error']}")
    else:
        console.print(
            f"Salesforce API usage today: {api['used']:,} of {api['limit']:,} "
            f"({api['remaining']:,} left)"
        )
    for line in health.lines():
        console.print(line, markup=False, highlight=False, soft_wrap=True)
    for line in capture_lines(capture):
        console.print(line, markup=False, highlight=False, soft_wrap=True)


@app.command()
def replay(
    event_ids: Annotated[list[str] | None, typer.Argument(help="Event ids to re-drive.")] = None,
    dead_letters: Annotated[
        bool, typer.Option("--dead-letters", help="Re-drive every dead letter.")
    ] = False,
) -> None:
    """Put events back in line to be applied again."""
    from stripe2sf.domain.flows.integrity import livemode_refusal

    settings = _settings()
    runtime = _runtime(settings, needs_existing="replay")
    key = settings.stripe_key
    ids = list(event_ids or [])
    if dead_letters:
        ids += runtime.inbox.dead_letter_ids()
    if not ids:
        err.print("Nothing to replay: give event ids or --dead-letters.")
        raise typer.Exit(1)
    found = runtime.inbox.replay(ids, datetime.now(UTC))
    refused = [row for row in map(runtime.inbox.row, set(ids) - set(found)) if row is not None]
    still = {r["event_id"]: why for r in refused if (why := livemode_refusal(r["livemode"], key))}
    found += runtime.inbox.replay(
        [r["event_id"] for r in refused if r["event_id"] not in still],
        datetime.now(UTC),
        include_refused=True,
    )
    missing = sorted(set(ids) - set(found) - set(still))
    runtime.close()
    console.print(f"replayed {len(found)} event(s)")
    for event_id, why in sorted(still.items()):
        err.print(f"[red]not replayed:[/red] {event_id}: {why}")
    if still and not missing:
        raise typer.Exit(1)
    if missing:
        err.print(f"[red]not in the inbox:[/red] {', '.join(missing)}")
        raise typer.Exit(1)


@db_app.command("upgrade")
def db_upgrade() -> None:
    """Apply database migrations."""
    from stripe2sf.store import db

    settings = _settings()
    db.upgrade(settings.database_url)
    console.print(f"database at head: {db.describe(settings.database_url)}", soft_wrap=True)


@app.command("catch-up")
def catch_up_command() -> None:
    """Store every Stripe event (Events API, last 30 days) that never reached the webhook.

    Lists from where the last completed round ended (a first run: from the oldest stored
    event, or the last 3 days); resumes a round that stopped half-way. Exit 0 when the round
    completed, 1 when it stopped (what it stored is kept) or events are past Stripe's
    retention, 2 when it cannot start."""
    from stripe2sf.engine.catchup import CatchUpFailed, catch_up

    runtime = _runtime(_settings())
    reader = runtime.stripe_reader()
    if reader is None:
        runtime.close()
        err.print("catch-up needs STRIPE_API_KEY (and STRIPE_API_BASE for the sandbox)")
        raise typer.Exit(2)

    def progress(listed: int, added: int) -> None:
        err.print(f"  listed {listed} events, {added} new", highlight=False)

    try:
        report = catch_up(runtime.inbox, reader, runtime.registry, on_page=progress)
    except CatchUpFailed as exc:
        err.print(f"[red]catch-up failed:[/red] {escape(str(exc))}", soft_wrap=True)
        raise typer.Exit(1) from None
    except Exception as exc:  # the database, most likely: say what, never a traceback
        err.print(
            f"[red]catch-up failed:[/red] {type(exc).__name__}: {escape(str(exc))}\n"
            "Events stored so far are kept; run it again once the cause is fixed.",
            soft_wrap=True,
        )
        raise typer.Exit(1) from None
    finally:
        runtime.close()
    if report.warning:
        err.print(f"[yellow]{report.warning}[/yellow]")
    resumed = " (resumed an unfinished round)" if report.resumed else ""
    console.print(
        f"listed {report.listed} Stripe events{resumed}, {report.added} were missing and are queued"
    )
    if report.needs_backfill:
        raise typer.Exit(1)


@app.command()
def plan(
    event_file: Annotated[
        Path,
        typer.Argument(
            help="A Stripe event as JSON, whole as Stripe sends it (`stripe events retrieve "
            "evt_...`, a webhook's body), or only its data part with --type.",
            exists=True,
        ),
    ],
    event_type: Annotated[
        str | None,
        typer.Option(
            "--type",
            help="The event type (such as invoice.payment_failed) when the file holds only "
            'an event\'s data part ({"object": {...}}); a whole event names its own.',
        ),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="The plan as JSON.")] = False,
) -> None:
    """Print the Salesforce operations an event would cause (a dry run: nothing is read or
    written; lookups not done are listed as assumptions)."""
    from stripe2sf.domain.events import EventParseError, parse_event
    from stripe2sf.domain.flows.planner import plan as plan_event

    config = _sync_config(_settings())
    try:
        doc = json.loads(event_file.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        err.print(f"[red]{event_file} is not JSON:[/red] {exc}")
        raise typer.Exit(2) from exc
    try:
        result = plan_event(parse_event(doc, event_type=event_type), None, config)
    except EventParseError as exc:
        why = str(exc)
        if why.startswith("event has no type"):
            why = (
                'it has no "type": give the whole event as Stripe sends it, or pass --type '
                "(such as invoice.payment_failed) for an event's data part"
            )
        err.print(f"[red]{event_file} is not a Stripe event stripe2sf can read:[/red] {why}")
        raise typer.Exit(2) from exc
    typer.echo(result.to_json() if as_json else result.render())


@config_app.command("check")
def config_check() -> None:
    """Validate stripe2sf.toml and explain every problem."""
    settings = _settings()
    _sync_config(settings)
    console.print(f"configuration OK ({settings.config_path or 'built-in defaults'})")


@mapping_app.command("export")
def mapping_export(
    fmt: Annotated[str, typer.Option("--format", help="csv or markdown")] = "markdown",
    output: Annotated[Path | None, typer.Option("--output", "-o")] = None,
) -> None:
    """Write the mapping document that finance and admins review."""
    from stripe2sf.domain.setup.mapping_doc import to_csv, to_markdown

    if fmt not in ("csv", "markdown"):
        err.print(f"--format must be csv or markdown, not {fmt!r}")
        raise typer.Exit(2)
    config = _sync_config(_settings())
    text = to_csv(config) if fmt == "csv" else to_markdown(config)
    if output:
        output.write_text(text, encoding="utf-8")
        console.print(f"wrote {output}")
    else:
        typer.echo(text)


@app.command()
def metadata(out: Annotated[Path, typer.Option("--out", help="Directory to write.")]) -> None:
    """Write SFDX source-format metadata: custom fields, objects and permission sets."""
    from stripe2sf.domain.setup.doctor import after_generating
    from stripe2sf.metadata_files import write_metadata

    count = write_metadata(out, _sync_config(_settings()))
    console.print(f"wrote {count} files under {out}; {after_generating(str(out))}", soft_wrap=True)


@audit_app.callback(invoke_without_command=True)
def audit(
    ctx: typer.Context,
    event: Annotated[str | None, typer.Option("--event", help="An event id.")] = None,
    customer: Annotated[str | None, typer.Option("--customer", help="A customer id.")] = None,
    limit: Annotated[int, typer.Option(help="At most this many entries.")] = 200,
) -> None:
    """Show audit entries, oldest first."""
    if ctx.invoked_subcommand:
        return
    from stripe2sf.store.audit_trail import AuditTrail

    runtime = _runtime(_settings(), needs_existing="audit")
    rows = AuditTrail(runtime.engine).rows(event_id=event, customer_id=customer, limit=limit)
    runtime.close()
    table = Table(title=f"audit trail ({len(rows)} entries)")
    for col in ("seq", "at", "event", "action", "outcome", "object", "record", "fields", "error"):
        table.add_column(col)
    for r in rows:
        table.add_row(
            str(r["seq"]),
            r["at"][:19],
            r["event_id"] or "",
            r["action"],
            r["outcome"],
            f"{r['sobject'] or ''} {r['external_id'] or ''}".strip(),
            r["record_id"] or "",
            ", ".join(json.loads(r["fields"])),
            r["error"] or "",
        )
    console.print(table)


@audit_app.command("verify")
def audit_verify() -> None:
    """Check the hash chain of the whole audit trail, and that it ends at its anchor (the
    entry count and newest hash kept apart): edits and deleted entries (at the end too)."""
    from stripe2sf.store.audit_trail import AuditTrail

    runtime = _runtime(_settings(), needs_existing="audit verify")
    check = AuditTrail(runtime.engine).verify()
    runtime.close()
    if not check.ok:
        at = f" at entry {check.first_bad_seq}" if check.first_bad_seq else ""
        err.print(
            f"[red]audit chain broken[/red]{at}: {check.reason} "
            f"({check.checked} entries verified before it)"
        )
        raise typer.Exit(1)
    head = check.anchor
    anchor = f", newest hash {head.hash}" if head and head.seq else ""
    console.print(f"audit chain intact: {check.checked} entries{anchor}")


@app.command()
def doctor() -> None:
    """Check the configuration end to end; each failed check says what to do."""
    from stripe2sf.engine.doctor import run_doctor

    settings = _settings()
    checks = run_doctor(settings, _sync_config(settings))
    for check in checks:
        mark = "[green]ok  [/]" if check.ok else "[red]FAIL[/]"
        if check.ok and check.warning:
            mark = "[yellow]WARN[/]"
        console.print(f"{mark} {check.name}: {check.detail}")
        if (not check.ok or check.warning) and check.fix:
            console.print(f"       fix: {check.fix}")
    failed = [c for c in checks if not c.ok]
    console.print(f"{len(checks) - len(failed)} of {len(checks)} checks passed")
    if failed:
        raise typer.Exit(1)


@app.command()
def demo(
    customers: Annotated[int, typer.Option(help="Stripe customers to sign up.")] = 24,
    months: Annotated[int, typer.Option(help="Months of billing to play.")] = 3,
    seed: Annotated[int, typer.Option(help="Random seed of the scenario.")] = 7,
    workdir: Annotated[Path, typer.Option(help="Where state and logs go.")] = Path("var/demo"),
    exit_after: Annotated[
        bool,
        typer.Option("--exit", help="Stop after the summary; exit 0 only if every check passed."),
    ] = False,
    stripe_version: Annotated[
        str | None,
        typer.Option(
            help="The Stripe account's and its webhook endpoint's API version, such as "
            "2020-08-27 (default: today's); stripe2sf reads in the SDK's version."
        ),
    ] = None,
    org: Annotated[
        list[str] | None,
        typer.Option(
            "--org",
            metavar="VARIATION[,VARIATION...]",
            help="The kind of Salesforce org: person-accounts, multi-currency (USD, EUR, GBP, "
            "JPY), rules (standard duplicate rules, validation rules, a required field, record "
            "types); comma-separated or repeated (default: business, single currency, no rules).",
        ),
    ] = None,
) -> None:
    """The whole system on this machine: both sandboxes, the service, a scenario, a summary."""
    from stripe2sf.demo.processes import Terminated
    from stripe2sf.demo.run import DemoOptions, run_demo
    from stripe2sf.demo.variations import parse_variations

    try:
        variations = parse_variations(org or [])
    except ValueError as exc:
        raise typer.BadParameter(str(exc), param_hint="--org") from None
    options = DemoOptions(customers, months, seed, workdir, exit_after, stripe_version, variations)
    try:
        summary = run_demo(options, console)
    except Terminated as exc:
        err.print(f"the demo {exc}; the sandboxes and the service are stopped")
        raise typer.Exit(128 + exc.signum) from None
    except Exception as exc:
        err.print(f"[red]the demo failed:[/red] {exc}\nLogs: {workdir / 'logs'}")
        raise typer.Exit(1) from exc
    if not summary.ok:
        raise typer.Exit(1)


cli_history.register(app)
cli_capture.register(app)


def main() -> None:
    # The objects imported so far live as long as the process: out of the cyclic collector's
    # sight, the collections that the commands' own imports trigger, and the one at exit, need
    # not walk them again (about 0.1 s of CPU of a short command; bench/cli_startup.py).
    gc.freeze()
    try:
        app()
    except KeyboardInterrupt:
        sys.exit(130)
    finally:
        gc.freeze()
