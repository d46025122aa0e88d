"""`stripe2sf capture`: Salesforce change capture as its own process (`serve` runs it too when
STRIPE2SF_CAPTURE is on). Imports stay inside the command (see cli.py's docstring)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer

if TYPE_CHECKING:
    from stripe2sf.runtime import Runtime
    from stripe2sf.salesforce.client import SalesforceClient
    from stripe2sf.settings import Settings


def capture(
    mode: Annotated[
        str | None,
        typer.Option(
            "--mode", help="cdc or poll (default: STRIPE2SF_CAPTURE; off refuses to start)."
        ),
    ] = None,
    once: Annotated[
        bool, typer.Option("--once", help="Polling only: one round, print what it stored, exit.")
    ] = False,
) -> None:
    """Capture Salesforce changes into the inbox until stopped (SIGINT/SIGTERM).

    cdc: Change Data Capture over the Pub/Sub API (SALESFORCE_PUBSUB_ENDPOINT), one stream per
    object of STRIPE2SF_CAPTURE_OBJECTS (unset: those the configuration uses), resuming from
    the replay id stored with the last change. poll: a SystemModstamp window of every object
    per round, within STRIPE2SF_POLL_API_SHARE of the org's daily API limit. Exit 2 when it
    cannot start."""
    import signal
    import threading

    from stripe2sf.cli_common import runtime_or_exit, settings_or_exit, stderr_console
    from stripe2sf.logs import configure

    err = stderr_console()
    overrides = {"capture": mode} if mode else {}
    settings = settings_or_exit(**overrides)
    if settings.capture == "off":
        err.print(
            "capture is off: set STRIPE2SF_CAPTURE=cdc (Change Data Capture, recommended) or "
            "poll, or pass --mode cdc|poll"
        )
        raise typer.Exit(2)
    if not (settings.salesforce_username or settings.salesforce_client_id):
        err.print("capture needs a Salesforce login: set the SALESFORCE_* settings")
        raise typer.Exit(2)
    configure()
    runtime = runtime_or_exit(settings)
    try:
        if once:
            _once(settings, runtime)
            return
        from stripe2sf.engine.capture import run_capture
        from stripe2sf.settings import capture_objects

        stop = threading.Event()
        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, lambda *_: stop.set())

        def ready(how: str) -> None:
            err.print(
                f"capturing Salesforce changes ({how}) of {', '.join(capture_objects(settings))}"
            )

        run_capture(settings, runtime.inbox, runtime.registry.handles, stop, on_ready=ready)
    finally:
        runtime.close()


ONCE_WHOAMI_TRIES = 3  # --once asks userinfo this many times, then exits 2


def _once(settings: Settings, runtime: Runtime) -> None:
    from stripe2sf.salesforce.client import connect

    if settings.capture != "poll":
        raise typer.BadParameter("--once is for polling (--mode poll)")
    with connect(settings) as client:
        _poll_once(settings, runtime, client)


def _poll_once(
    settings: Settings, runtime: Runtime, client: SalesforceClient, whoami_wait: float = 2.0
) -> None:
    """One polling round, printed. Exit 2 when Salesforce's userinfo keeps failing (capture
    would not know which changes are stripe2sf's own)."""
    import threading

    from stripe2sf.cli_common import stderr_console
    from stripe2sf.engine.capture import (
        ChangeWriter,
        OwnUserUnknown,
        Poller,
        own_user_ids,
    )
    from stripe2sf.store.capture import CaptureStore

    store = CaptureStore(runtime.inbox.engine, runtime.inbox)
    try:
        own = own_user_ids(
            settings,
            client,
            threading.Event(),
            tries=ONCE_WHOAMI_TRIES,
            retry_seconds=whoami_wait,
        )
    except OwnUserUnknown as exc:
        stderr_console().print(f"capture --once: {exc}", markup=False)
        raise typer.Exit(2) from exc
    writer = ChangeWriter(store, runtime.registry.handles, settings.salesforce_api_version, own)
    poller = Poller.configured(settings, writer, client)
    report = poller.round()
    typer.echo(
        f"polled {len(poller.objects)} objects with {report.calls} API calls; "
        f"{report.added} new changes stored" + (f" ({report.skipped})" if report.skipped else "")
    )


def register(app: typer.Typer) -> None:
    app.command("capture")(capture)
