"""``stripe-sandbox``: run the local Stripe test-mode API as a process."""

from __future__ import annotations

import argparse
import logging
import textwrap
from collections.abc import Sequence

from stripe_sandbox import versions
from stripe_sandbox.errors import InvalidRequestError
from stripe_sandbox.settings import Settings, parse_api_keys
from stripe_sandbox.shapes import API_VERSION

DEFAULTS = Settings()


class _HelpFormatter(argparse.ArgumentDefaultsHelpFormatter, argparse.RawDescriptionHelpFormatter):
    """Defaults after each option; the epilog as written."""


def _version(value: str) -> str:
    try:
        return versions.check(value)
    except InvalidRequestError as exc:
        raise argparse.ArgumentTypeError(exc.message) from None


def _api_keys(value: str) -> list[str]:
    try:
        return parse_api_keys(value)
    except InvalidRequestError as exc:
        raise argparse.ArgumentTypeError(exc.message) from None


def _days(value: str) -> list[float]:
    return [float(part) for part in value.split(",") if part.strip()]


FAULTS_HELP = """\
fault knobs (POST /_sandbox/faults, JSON; GET shows them; DELETE /_sandbox/faults turns every
one off and keeps the data; POST /_sandbox/reset clears them too; a bad value answers 400):
  webhooks  {"duplicate_rate": 0.1, "duplicate_delay_seconds": 20}  deliver a share twice, the
              copy that long after the original
            {"drop_rate": 0.02}  a share of deliveries silently dropped (never retried)
            {"shuffle": true}    due deliveries in random order
            {"delay_seconds": 1}  every first attempt held that long
            {"late_rate": 0.05, "late_seconds": 30}  a share of first attempts held that much
              longer, so they arrive after newer events of the same object
            {"webhook_outage": true}  every attempt fails as if the endpoint were down; once
              false, the pending retries deliver on the usual schedule (webhook_retry_base
              x 1, 2, 4, ... up to webhook_max_attempts; an outage longer than that schedule
              fails the deliveries for good, as Stripe gives up after 3 days)
            {"seed": 7}  seeds the random draws
  API       {"api_latency_ms": 20, "api_latency_jitter_ms": 20}  20-40 ms on every call
            {"api_error_rate": 0.02, "api_fail_status": 500}  a share of all calls fail
            {"api_fail_next": 3}  the next 3 calls fail (with api_fail_status)
            {"api_outage": [{"path": "/v1/events*", "status": 503, "rate": 1.0,
              "method": "GET", "count": null}]}  calls whose path matches the pattern (* also
              matches /) fail with status (429 or 5xx, Stripe's error body) at that rate, for
              the next count calls or until replaced ({"api_outage": []} ends every outage)
"""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="stripe-sandbox",
        description=textwrap.fill(
            f"A local, stateful Stripe in test mode (API version {API_VERSION}) over HTTP, "
            "backed by SQLite. Point the official stripe SDK at it with "
            "stripe.StripeClient('sk_test_...', base_addresses={'api': 'http://HOST:PORT'}). "
            "Accepts sk_test_/rk_test_ keys only (with --api-keys: only those). Control plane "
            "under /_sandbox/ (reset, seed, settings, faults, deliveries, time, stats, "
            "wait_idle).",
            79,
        ),
        epilog=FAULTS_HELP,
        formatter_class=_HelpFormatter,
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
        "--api-version",
        type=_version,
        default=DEFAULTS.api_version,
        metavar="VERSION",
        help="the account's default API version (2020-03-02 or later): responses to requests "
        "without a Stripe-Version header, events and webhooks of endpoints without their own "
        "api_version are in its shape. Also the api_version setting.",
    )
    parser.add_argument(
        "--api-keys",
        type=_api_keys,
        default="",
        metavar="KEY[,KEY...]",
        help="the only secret keys the API accepts (sk_test_/rk_test_, comma-separated); any "
        "other key is answered 401 'Invalid API Key provided', as Stripe answers a revoked or "
        "mistyped key (default: any test key). Also the api_keys setting.",
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
        api_version=_version(args.api_version),
        api_keys=list(args.api_keys),
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
