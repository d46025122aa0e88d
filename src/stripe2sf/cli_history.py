"""`stripe2sf backfill` and `stripe2sf reconcile`: history and truth.

Registered on the main Typer app by `cli.py` (`cli_history.register(app)`). The engine, the
store and the clients are imported inside the commands: `stripe2sf --help` loads none of them."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    ProgressColumn,
    Task,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.table import Table
from rich.text import Text

from stripe2sf.cli_common import runtime_or_exit as _runtime
from stripe2sf.cli_common import settings_or_exit as _settings
from stripe2sf.cli_common import sync_config_or_exit as _config

if TYPE_CHECKING:
    from stripe2sf.domain.backfill.plan import Estimate
    from stripe2sf.domain.reconcile.drift import DriftReport
    from stripe2sf.engine.backfill import BackfillResult
    from stripe2sf.runtime import Runtime
    from stripe2sf.salesforce.client import SalesforceClient
    from stripe2sf.settings import Settings
    from stripe2sf.stripe.reader import StripeReader

# domain.backfill.plan.DEFAULT_JOB_SIZE, written out so that `--help` need not import the
# planner (tests/acceptance/test_cli_startup.py keeps the two equal).
DEFAULT_JOB_SIZE = 25_000

console = Console()
err = Console(stderr=True)


class RichProgress:
    """Progress bars with counts, rate and time left (on stderr)."""

    def __init__(self, progress: Progress) -> None:
        self.progress = progress
        self.task: TaskID | None = None

    def phase(self, name: str, total: int | None, done: int = 0) -> None:
        if self.task is not None:
            self.progress.stop_task(self.task)
        self.task = self.progress.add_task(name, total=total, completed=done)

    def advance(self, n: int) -> None:
        if self.task is not None:
            self.progress.advance(self.task, n)

    def note(self, text: str) -> None:
        self.progress.console.print(f"[dim]{text}[/dim]")


class RateColumn(ProgressColumn):
    """Objects per second (blank until known)."""

    def render(self, task: Task) -> Text:
        speed = task.speed
        return Text(f"{speed:>8.0f}/s" if speed is not None else " " * 10)


def _progress() -> Progress:
    return Progress(
        TextColumn("{task.description:<24}"),
        BarColumn(),
        MofNCompleteColumn(),
        RateColumn(),
        TimeElapsedColumn(),
        TextColumn("ETA"),
        TimeRemainingColumn(),
        console=err,
        transient=False,
    )


def _parts(
    settings: Settings, poll: float, needs_existing: str | None = None
) -> tuple[Runtime, StripeReader, SalesforceClient]:
    from stripe2sf.domain.errors import SyncError
    from stripe2sf.engine.handlers import default_registry
    from stripe2sf.salesforce.client import connect

    runtime = _runtime(settings, needs_existing=needs_existing, registry=default_registry())
    reader = runtime.stripe_reader()
    if reader is None:
        err.print("needs STRIPE_API_KEY (and STRIPE_API_BASE for the sandbox)")
        raise typer.Exit(2)
    try:
        salesforce = connect(settings, bulk_poll_interval=poll)
    except SyncError as exc:
        err.print(f"[red]cannot log in to Salesforce:[/red] {exc}")
        raise typer.Exit(2) from exc
    return runtime, reader, salesforce


def _since(value: str | None) -> int | None:
    if not value:
        return None
    try:
        day = datetime.strptime(value, "%Y-%m-%d").replace(tzinfo=UTC)
    except ValueError as exc:
        err.print(f"--since: expected a date like 2025-01-31, got {value!r}")
        raise typer.Exit(2) from exc
    return int(day.timestamp())


def print_estimate(est: Estimate, result: BackfillResult) -> None:
    table = Table(title="backfill plan")
    for col in (
        "objects",
        "Stripe objects",
        "Salesforce records",
        "write path",
        "jobs",
        "API calls",
    ):
        table.add_column(col, justify="left" if col in ("objects", "write path") else "right")
    for p in est.phases:
        path = "Bulk API 2.0" if p.strategy == "bulk" else "sObject Collections"
        table.add_row(
            p.phase, str(p.objects), str(p.records), path, str(p.jobs or "-"), str(p.calls)
        )
    table.add_row("index reads (done)", "", "", "SOQL", "", str(est.read_calls))
    console.print(table)
    budget = result.budget
    if budget is not None:
        colour = "green" if budget.ok else "red"
        console.print(f"[{colour}]{budget.message}[/{colour}]")


def print_summary(result: BackfillResult) -> None:
    table = Table(title=f"backfill run {result.run_id}: {result.status}")
    for col in ("objects", "Stripe objects", "created", "updated", "skipped", "failed"):
        table.add_column(col, justify="left" if col == "objects" else "right")
    for phase, t in result.tallies.items():
        table.add_row(
            phase, str(t.objects), str(t.created), str(t.updated), str(t.skipped), str(t.failed)
        )
    total = result.total()
    table.add_row(
        "total",
        str(total.objects),
        str(total.created),
        str(total.updated),
        str(total.skipped),
        str(total.failed),
    )
    console.print(table)
    console.print(
        "created/updated/failed count Salesforce records; skipped counts Stripe objects "
        "unchanged since the last backfill or with nothing to sync"
    )
    if result.failures_csv is not None:
        console.print(f"failed records and their Salesforce errors: {result.failures_csv}")


def backfill(
    since: Annotated[
        str | None, typer.Option(help="Only objects created on or after this day (YYYY-MM-DD).")
    ] = None,
    objects: Annotated[
        str, typer.Option(help="Comma-separated: customers,subscriptions,charges,invoices.")
    ] = "customers,subscriptions,charges,invoices",
    dry_run: Annotated[
        bool,
        typer.Option(
            "--dry-run", help="Read and count; print planned records and API calls; write nothing."
        ),
    ] = False,
    rate: Annotated[
        float | None,
        typer.Option(help="Stripe requests per second (default 20 live key, 10 test key)."),
    ] = None,
    max_share: Annotated[
        float, typer.Option(help="Largest share of today's remaining Salesforce API calls to use.")
    ] = 0.5,
    job_size: Annotated[
        int, typer.Option(help="Records per Bulk API 2.0 job and per checkpoint.")
    ] = DEFAULT_JOB_SIZE,
    max_wait: Annotated[
        float,
        typer.Option(help="Seconds to wait out Salesforce rate limits in all before stopping."),
    ] = 1800.0,
    restart: Annotated[
        bool, typer.Option("--restart", help="Start over instead of resuming an unfinished run.")
    ] = False,
    force: Annotated[
        bool, typer.Option("--force", help="Write objects even if unchanged since last time.")
    ] = False,
    workdir: Annotated[Path, typer.Option(help="Scratch files and the failures CSV.")] = Path(
        "var/backfill"
    ),
    failures: Annotated[
        Path | None, typer.Option(help="Where to write failed records (CSV).")
    ] = None,
    poll: Annotated[
        float, typer.Option(help="Longest wait between Bulk API job status polls, seconds.")
    ] = 5.0,
) -> None:
    """Sync Stripe history into Salesforce: resumable, within rate limits and an API budget."""
    from stripe2sf.domain.backfill.plan import BackfillOptionError, default_rate, parse_objects
    from stripe2sf.engine.backfill import Backfill, BackfillOptions

    try:
        phases = parse_objects(objects)
    except BackfillOptionError as exc:
        err.print(str(exc))
        raise typer.Exit(2) from exc
    if not 0 < max_share <= 1:
        err.print("--max-share must be in (0, 1]")
        raise typer.Exit(2)
    settings = _settings()
    config = _config(settings)
    runtime, reader, salesforce = _parts(settings, poll)
    options = BackfillOptions(
        objects=phases,
        since=_since(since),
        dry_run=dry_run,
        rate=rate or default_rate(settings.stripe_key),
        max_share=max_share,
        job_size=job_size,
        workdir=workdir,
        max_wait=max_wait,
        rate_limit_pause=settings.budget_pause_seconds,
        restart=restart,
        force=force,
        failures_csv=failures,
    )
    try:
        with _progress() as bars:
            job = Backfill(
                runtime.engine,
                reader,
                salesforce,
                config,
                options,
                RichProgress(bars),
                announce=lambda r: print_estimate(r.estimate, r) if r.estimate else None,
            )
            result = job.run()
    finally:
        salesforce.close()
        runtime.close()
    if result.status not in ("dry-run", "refused"):
        print_summary(result)
    colour = "green" if result.exit_code == 0 else "red"
    console.print(f"[{colour}]{result.message}[/{colour}]")
    raise typer.Exit(result.exit_code)


def _print_report(report: DriftReport, title: str) -> None:
    from stripe2sf.domain.reconcile.drift import CSV_HEADER, KIND_TITLES

    if report.clean:
        console.print(f"[green]{title}: no drift[/green] ({json.dumps(report.checked)})")
    else:
        table = Table(title=f"{title}: {len(report.drift)} difference(s)")
        for col in CSV_HEADER:
            table.add_column(col)
        for d in report.items:
            table.add_row(*d.to_row())
        console.print(table)
    for kind, n in sorted(report.counts().items()):
        console.print(f"  {KIND_TITLES.get(kind, kind)}: {n}")


def reconcile(
    fix: Annotated[
        bool, typer.Option("--fix", help="Repair the drift through the planner.")
    ] = False,
    fmt: Annotated[str, typer.Option("--format", help="table, csv or html")] = "table",
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="Write the report here.")
    ] = None,
    since: Annotated[
        str | None, typer.Option(help="Only Stripe objects created on or after (YYYY-MM-DD).")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="A JSON summary on stdout.")] = False,
) -> None:
    """Compare Stripe and Salesforce; print the drift report; with --fix repair it.

    Checks every customer's Account (subscription status, card on file, deleted mark), the
    Contacts linked by the sync (one per email), every succeeded and failed charge (amount,
    currency, status, refunded amount), disputes and dunning Tasks/Cases. Duplicate Contacts
    are never merged or deleted: --fix opens a review Task for them. Drift found raises the
    drift alert (STRIPE2SF_ALERT_*); a clean run after drift sends the recovery.

    Exit 0 when no drift remains, 1 otherwise."""
    from stripe2sf.engine.monitor import reconcile_alert
    from stripe2sf.engine.reconcile import Reconciler

    if fmt not in ("table", "csv", "html"):
        err.print(f"--format must be table, csv or html, not {fmt!r}")
        raise typer.Exit(2)
    settings = _settings()
    config = _config(settings)
    runtime, reader, salesforce = _parts(settings, 0.5, needs_existing="reconcile")
    try:
        alerter = runtime.alerter

        def alert(run_id: int, drift: int, checked: int, previous: int | None) -> None:
            reconcile_alert(alerter, run_id, drift, checked, previous_drift=previous)

        reconciler = Reconciler(
            runtime.engine, reader, salesforce, config, _since(since), on_drift=alert
        )
        outcome = reconciler.run(fix=fix, report_path=str(output) if output else None)
    finally:
        salesforce.close()
        runtime.close()
    text = None
    if fmt == "csv":
        text = outcome.report.to_csv()
    elif fmt == "html":
        text = outcome.report.to_html()
    if output is not None and text is not None:
        output.parent.mkdir(parents=True, exist_ok=True)
        output.write_text(text, encoding="utf-8")
        err.print(f"wrote {output}")
    elif text is not None and not as_json:
        typer.echo(text, nl=False)
    if as_json:
        doc = {
            "run_id": outcome.run_id,
            "before": outcome.report.to_dict(),
            "after": outcome.after.to_dict() if outcome.after else None,
            "fixed": outcome.fixed,
            "fix_failures": [f.__dict__ for f in outcome.fixes if not f.ok],
            "review_tasks": [f.__dict__ for f in outcome.reviews],
            "remaining": outcome.remaining,
        }
        typer.echo(json.dumps(doc))
    elif fmt == "table" or output is not None:
        _print_report(outcome.report, "drift")
        if outcome.after is not None:
            console.print(f"fixed {outcome.fixed} of {len(outcome.fixes)} object(s)")
            for f in outcome.fixes:
                if not f.ok:
                    console.print(f"  [red]not fixed[/red] {f.item}: {f.error}")
            for f in outcome.reviews:
                state = "opened" if f.ok else f"[red]not opened[/red] ({f.error})"
                console.print(f"  review Task {f.item} for duplicate Contacts: {state}")
            _print_report(outcome.after, "after --fix")
    raise typer.Exit(0 if outcome.remaining == 0 else 1)


def register(app: typer.Typer) -> None:
    app.command("backfill")(backfill)
    app.command("reconcile")(reconcile)
