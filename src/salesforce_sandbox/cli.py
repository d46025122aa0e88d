"""``salesforce-sandbox``: a local Salesforce org over HTTPS (see ``--help``)."""

from __future__ import annotations

import argparse
import asyncio
import shutil
import sys
from pathlib import Path

import uvicorn

from salesforce_sandbox import config, ids
from salesforce_sandbox.config import Settings
from salesforce_sandbox.features import FEATURES

EPILOG = f"""\
defaults (all configurable with the flags above):
  username          {config.DEFAULT_USERNAME}
  password          {config.DEFAULT_PASSWORD}
  security token    {config.DEFAULT_SECURITY_TOKEN}
  client id         {config.DEFAULT_CLIENT_ID}   (connected app consumer key)
  client secret     {config.DEFAULT_CLIENT_SECRET}
  access token      {config.DEFAULT_ACCESS_TOKEN}   (never expires; --access-token '' disables)
  JWT signing       the connected app trusts DIR/jwt-cert.pem; sign assertions with
                    DIR/jwt-private-key.pem (salesforce_sandbox.jwt_keys.JWT_PRIVATE_KEY_PEM)
  API limit         {config.DEFAULT_API_LIMIT} calls (then 403 REQUEST_LIMIT_EXCEEDED)
  sessions          valid {config.DEFAULT_SESSION_SECONDS} s (then 401 INVALID_SESSION_ID)

TLS: a local CA is created once and written to DIR/ca.pem (DIR = --data, else a temporary
directory that is printed at start). Trust it: REQUESTS_CA_BUNDLE=DIR/ca.pem.

simple-salesforce:
  Salesforce(instance_url="https://127.0.0.1:8701", session_id=ACCESS_TOKEN)
  Salesforce(username=U, password=P, security_token=T, domain="127.0.0.1:8701/login")  # SOAP
  Salesforce(username=U, password=P+T, consumer_key=ID, consumer_secret=SECRET,
             domain="127.0.0.1:8701/login")                                       # OAuth
  (any path ending in /services/oauth2/token or /services/Soap/u/NN.0 is a login endpoint)

control plane (loopback only, no auth; JSON in and out):
  GET    /_sandbox/                  instance URL, credentials, objects
  POST   /_sandbox/reset             {{"schema": false}}  wipe records, jobs, counters, faults
  POST   /_sandbox/seed              {{"records": [{{"attributes": {{"type": "Account"}}, ...}}]}}
                                     -> {{"ids": [...]}}  (system fields may be given)
  POST   /_sandbox/deploy            {{"path": "DIR"}}
                                     or {{"files": {{"objects/X/fields/F.field-meta.xml": XML}}}}
  GET    /_sandbox/features          {{"enabled": [...], "available": [{{"name", "summary",
                                     "enabled"}}]}}  org features (--features)
  POST   /_sandbox/features          {{"enable": ["person-accounts"], "disable": [...]}}
  GET    /_sandbox/currencies        multi-currency: {{"currencies": [...], "active": [...]}}
  POST   /_sandbox/currencies        {{"activate": ["JPY"], "deactivate": [...]}}
  GET    /_sandbox/duplicate-rules   {{"rules": [...]}}  the duplicate rules (metadata-deployed too)
  POST   /_sandbox/duplicate-rules/standard  {{"objects": ["Contact"]}}  Salesforce's standard
                                     Account and Contact rules, active (off in a new org)
  DELETE /_sandbox/duplicate-rules   {{"names": ["Contact.X"]}} some, or every rule (kept by reset)
  GET    /_sandbox/requests          {{"api_calls", "daily_limit", "requests", "by_endpoint"}}
  DELETE /_sandbox/requests          reset the counters (and the API usage)
  POST   /_sandbox/limits            {{"daily_limit": N, "used": M}}
  POST   /_sandbox/faults            {{"route": "PATCH /composite/sobjects*", "mode": MODE,
                                     "count": N, "rate": 0.5, "hang_seconds": 30,
                                     "after": "error" | "process", "per_record": true,
                                     "record_rate": 0.3}}  -> the rule, with its "id"
        MODE  "503"                      503 SERVER_UNAVAILABLE
              "500"                      500 UNKNOWN_EXCEPTION
              "UNABLE_TO_LOCK_ROW"       400; on collection writes a 200 with every record
                                         failed (per_record false: the 400)
              "REQUEST_LIMIT_EXCEEDED"   403
              "INVALID_SESSION_ID"       401 (clients log in again)
              "hang"                     sleep hang_seconds, then 503 (after "process": run it)
              "reset"                    close the connection unanswered (TCP RST); after
                                         "process": once the request ran and committed
        count N: the next N matching calls; rate R: a share R of them (both: a share of N).
        record_rate (modes "500", "UNABLE_TO_LOCK_ROW"): on sObject Collections writes only
        that share of the records fail, the others commit (allOrNone true: all roll back);
        on /composite and /composite/graph that share of write subrequests fail.
        Bad values answer 400 INVALID_FAULT.
  GET    /_sandbox/faults            {{"faults": [rules with "hits", "failed_records"],
                                     "latency": [...]}}
  DELETE /_sandbox/faults            remove every rule;  DELETE /_sandbox/faults/ID  one rule
                                     (404 for an unknown id)
  POST   /_sandbox/latency           {{"route": "*", "ms": 50, "jitter_ms": 20}}  50-70 ms,
                                     or {{"route": "*", "min_ms": 20, "max_ms": 40}};
                                     ms 0 removes the route's latency
  GET|DELETE /_sandbox/latency       list / remove all added latency
  POST   /_sandbox/sessions/expire   {{"token": optional}}  expire one / all issued sessions
  GET    /_sandbox/records/OBJECT    stored records; GET /_sandbox/stats  peak memory, counts
  GET    /_sandbox/cdc               Change Data Capture: {{"selected": [...], "channels",
                                     "available"}}  (none selected in a new org)
  PUT    /_sandbox/cdc               {{"entities": ["Contact", "Account"]}}  the selection
  POST   /_sandbox/cdc               {{"add": [...], "remove": [...]}}; faults:
                                     {{"gap": {{"Contact": 2}}}} the next 2 Contact changes
                                     are GAP_* events (header only), {{"overflow_threshold":
                                     K}} past K changes of an entity in one transaction one
                                     GAP_OVERFLOW event (0: off)
  GET    /_sandbox/pubsub            the Pub/Sub API's target, port, TLS, tenant id

Pub/Sub API (Change Data Capture, gRPC eventbus.v1 on --pubsub-port, TLS with ca.pem): call
metadata accesstoken (a session), instanceurl, tenantid ({ids.ORG_ID}); topics
/data/ChangeEvents and /data/<Entity>ChangeEvent of the selected entities (also selected by
deploying PlatformEventChannelMember metadata of the ChangeEvents channel).
  Routes are "METHOD /path-template", e.g. "POST /sobjects/{{sobject}}",
  "PATCH /sobjects/{{sobject}}/{{field}}/{{value}}", "GET /query", "POST /composite".
"""


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="salesforce-sandbox",
        description="A local Salesforce org over HTTPS, backed by SQLite, for tests and demos.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--host", default=config.DEFAULT_HOST, help="bind address (default %(default)s)"
    )
    parser.add_argument(
        "--port", type=int, default=config.DEFAULT_PORT, help="port (default %(default)s)"
    )
    parser.add_argument(
        "--data", type=Path, help="state directory (SQLite + ca.pem); in memory without"
    )
    parser.add_argument(
        "--metadata",
        type=Path,
        action="append",
        default=[],
        help="SFDX source-format directory to deploy at start (repeatable)",
    )
    parser.add_argument("--username", default=config.DEFAULT_USERNAME, help="the org's user")
    parser.add_argument("--password", default=config.DEFAULT_PASSWORD)
    parser.add_argument("--security-token", default=config.DEFAULT_SECURITY_TOKEN)
    parser.add_argument("--client-id", default=config.DEFAULT_CLIENT_ID)
    parser.add_argument("--client-secret", default=config.DEFAULT_CLIENT_SECRET)
    parser.add_argument("--access-token", default=config.DEFAULT_ACCESS_TOKEN)
    parser.add_argument(
        "--jwt-cert", type=Path, help="PEM certificate that verifies JWT assertions"
    )
    parser.add_argument("--api-limit", type=int, default=config.DEFAULT_API_LIMIT)
    parser.add_argument("--session-seconds", type=int, default=config.DEFAULT_SESSION_SECONDS)
    parser.add_argument(
        "--public-url", help="instance URL to advertise (default https://HOST:PORT)"
    )
    parser.add_argument(
        "--features",
        action="append",
        default=[],
        metavar="A,B",
        help="org features on at start (repeatable, comma-separated): "
        + ", ".join(sorted(FEATURES)),
    )
    parser.add_argument(
        "--currencies",
        default="USD,EUR,GBP",
        metavar="A,B",
        help="multi-currency: the active currencies (default %(default)s)",
    )
    parser.add_argument(
        "--corporate-currency", default="USD", help="multi-currency: corporate (default USD)"
    )
    parser.add_argument(
        "--inactive-currencies",
        default="JPY",
        metavar="A,B",
        help="multi-currency: known but inactive until activated (default %(default)s)",
    )
    parser.add_argument(
        "--latency-ms", type=float, default=0.0, help="latency added to every API call"
    )
    parser.add_argument(
        "--latency-jitter-ms",
        type=float,
        default=0.0,
        help="a uniform extra of 0..N ms on top of --latency-ms",
    )
    parser.add_argument(
        "--pubsub-port",
        type=int,
        default=config.DEFAULT_PUBSUB_PORT,
        help="Pub/Sub API (gRPC, Change Data Capture) port; 0 = any free port "
        "(default %(default)s)",
    )
    parser.add_argument(
        "--pubsub-insecure",
        action="store_true",
        help="serve the Pub/Sub API as plain gRPC (default: TLS with the HTTPS certificate)",
    )
    parser.add_argument(
        "--pubsub-keepalive-seconds",
        type=float,
        default=270.0,
        help="empty FetchResponse after this long without events (default %(default)s)",
    )
    parser.add_argument(
        "--pubsub-retention-hours",
        type=float,
        default=72.0,
        help="how long change events stay replayable (default %(default)s, as Salesforce)",
    )
    return parser.parse_args(argv)


def _codes(text: str) -> list[str]:
    return [c.strip().upper() for c in text.split(",") if c.strip()]


def settings_from(args: argparse.Namespace) -> Settings:
    settings = Settings(
        host=args.host,
        port=args.port,
        data_dir=args.data,
        metadata_dirs=list(args.metadata),
        username=args.username,
        password=args.password,
        security_token=args.security_token,
        client_id=args.client_id,
        client_secret=args.client_secret,
        access_token=args.access_token or None,
        api_limit=args.api_limit,
        session_seconds=args.session_seconds,
        public_url=args.public_url,
        features=[n.strip() for a in args.features for n in a.split(",") if n.strip()],
        corporate_currency=args.corporate_currency.strip().upper(),
        currencies=_codes(args.currencies),
        inactive_currencies=_codes(args.inactive_currencies),
        pubsub_port=args.pubsub_port,
        pubsub_insecure=args.pubsub_insecure,
        pubsub_keepalive_seconds=args.pubsub_keepalive_seconds,
        pubsub_retention_hours=args.pubsub_retention_hours,
    )
    if args.jwt_cert:
        settings.jwt_certificate_pem = args.jwt_cert.read_text()
    return settings


def main(argv: list[str] | None = None) -> int:
    from salesforce_sandbox.errors import SalesforceError
    from salesforce_sandbox.pubsub.server import PubSubServer, serve
    from salesforce_sandbox.server import bind_socket, prepare, uvicorn_config

    args = parse_args(argv)
    settings = settings_from(args)
    try:
        org, app, tls = prepare(settings)
    except SalesforceError as error:
        print(f"salesforce-sandbox: {error.code}: {error.message}", file=sys.stderr)
        return 2
    if args.latency_ms or args.latency_jitter_ms:
        org.faults.set_latency("*", args.latency_ms, args.latency_jitter_ms)
    sock = bind_socket(settings.host, settings.port)
    port = sock.getsockname()[1]
    settings.port = port
    url = settings.public_url or f"https://{settings.host}:{port}"
    print(f"salesforce-sandbox listening on {url}", flush=True)
    print(f"  CA certificate  {tls.ca_path}", flush=True)
    print(f"  login domain    {url.split('://', 1)[1]}/login", flush=True)
    print(f"  username        {settings.username}", flush=True)
    print(f"  access token    {settings.access_token}", flush=True)
    server = uvicorn.Server(uvicorn_config(app, settings, tls))
    pubsub = PubSubServer(org, None if settings.pubsub_insecure else tls.server_path)

    async def started() -> None:  # the Pub/Sub port is known once it is bound
        await pubsub.start()
        kind = "plain gRPC" if settings.pubsub_insecure else "gRPC over TLS, trust the CA"
        print(f"  Pub/Sub API     {pubsub.target} ({kind})", flush=True)
        await serve(server, [sock], None)
        await pubsub.stop()

    try:
        asyncio.run(started())
    except KeyboardInterrupt:
        pass
    finally:
        org.close()
        if settings.data_dir is None:
            shutil.rmtree(tls.ca_path.parent, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
