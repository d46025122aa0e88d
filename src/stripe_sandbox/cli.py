"""``stripe-sandbox``: run the local Stripe test-mode API as a process."""

from __future__ import annotations

import argparse
import logging
from collections.abc import Sequence

from stripe_sandbox.settings import Settings
from stripe_sandbox.shapes import API_VERSION

DEFAULTS = Settings()


def _days(value: str) -> list[float]:
    return [float(part) for part in value.split(",") if part.strip()]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="stripe-sandbox",
        description=(
            f"A local, stateful Stripe in test mode (API version {API_VERSION}) over HTTP, "
            "backed by SQLite. Point the official stripe SDK at it with "
            "stripe.StripeClient('sk_test_...', base_addresses={'api': 'http://HOST:PORT'}). "
            "Accepts sk_test_/rk_test_ keys only. Control plane under /_sandbox/ (reset, seed, "
            "settings, faults, deliveries, time, stats, wait_idle)."
        ),
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument("--host", default="127.0.0.1", help="interface to bind")
    parser.add_argument("--port", type=int, default=8702, help="port to bind (0 = any free)")
    parser.add_argument(
        "--data",
        default=argparse.SUPPRESS,
        metavar="DIR",
        help="keep state in DIR/stripe-sandbox.sqlite3 (default: in memory, lost on exit)",
    )
    parser.add_argument(
        "--dunning-retry-days",
        type=_days,
        default=",".join(f"{d:g}" for d in DEFAULTS.dunning_retry_days),
        help="days after each failed automatic invoice payment before the next retry",
    )
    parser.add_argument(
        "--dunning-final-status",
        choices=["canceled", "unpaid", "past_due"],
        default=DEFAULTS.dunning_final_status,
        help="subscription status once every retry has failed",
    )
    parser.add_argument(
        "--invoice-finalize-delay",
        type=int,
        default=DEFAULTS.invoice_finalize_delay_seconds,
        help="seconds between a renewal invoice's creation and its finalization and first "
        "payment attempt",
    )
    parser.add_argument(
        "--webhook-retry-base",
        type=float,
        default=DEFAULTS.webhook_retry_base_seconds,
        help="seconds before the first webhook retry; doubles on each further retry",
    )
    parser.add_argument(
        "--webhook-max-attempts",
        type=int,
        default=DEFAULTS.webhook_max_attempts,
        help="delivery attempts per event and endpoint before giving up",
    )
    parser.add_argument(
        "--webhook-timeout",
        type=float,
        default=DEFAULTS.webhook_timeout_seconds,
        help="seconds to wait for a webhook endpoint's answer",
    )
    parser.add_argument(
        "--rate-limit",
        type=float,
        default=0,
        metavar="N",
        help="answer requests beyond N per second with 429 rate_limit, as Stripe does (25 in a "
        "real sandbox, 100 live); 0 = no limit. Also the api_rate_limit setting.",
    )
    parser.add_argument(
        "--log-level",
        default="info",
        choices=["critical", "error", "warning", "info", "debug"],
        help="log level",
    )
    return parser


def settings_from(args: argparse.Namespace) -> Settings:
    days = args.dunning_retry_days
    if isinstance(days, str):
        days = _days(days)
    return Settings(
        dunning_retry_days=list(days),
        dunning_final_status=args.dunning_final_status,
        invoice_finalize_delay_seconds=args.invoice_finalize_delay,
        webhook_retry_base_seconds=args.webhook_retry_base,
        webhook_max_attempts=args.webhook_max_attempts,
        webhook_timeout_seconds=args.webhook_timeout,
        api_rate_limit=args.rate_limit,
    )


def main(argv: Sequence[str] | None = None) -> None:
    args = build_parser().parse_args(argv)
    import uvicorn

    from stripe_sandbox.app import create_app

    logging.basicConfig(level=args.log_level.upper())
    app = create_app(getattr(args, "data", None), settings_from(args))
    uvicorn.run(
        app.asgi,
        host=args.host,
        port=args.port,
        log_level=args.log_level,
        access_log=args.log_level == "debug",
    )


if __name__ == "__main__":
    main()
