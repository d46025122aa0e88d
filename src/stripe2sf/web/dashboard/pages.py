"""The dashboard served by `stripe2sf serve` at `/`: overview, event explorer, dead letters,
review queue, audit trail, reconciliation runs and business figures.

Access: every page and action needs a login (users and roles from STRIPE2SF_DASHBOARD_USERS).
A viewer sees figures and statuses only (no amounts, payloads, customer ids or error texts);
an operator may also replay. Every POST carries the session's CSRF token.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Annotated
from urllib.parse import parse_qs, urlencode

from fastapi import FastAPI, Query, Request
from fastapi.responses import FileResponse, HTMLResponse, RedirectResponse, Response
from starlette.concurrency import run_in_threadpool

from stripe2sf.domain import figures
from stripe2sf.domain.batch.budget import projection
from stripe2sf.domain.errors import SyncError
from stripe2sf.domain.flows.cardguard import redact
from stripe2sf.engine import review
from stripe2sf.runtime import Runtime
from stripe2sf.store.alert_log import AlertLog
from stripe2sf.store.audit_trail import AuditTrail
from stripe2sf.store.history import ReconcileStore
from stripe2sf.store.inbox import STATES
from stripe2sf.store.reports import Reports
from stripe2sf.web.dashboard import capture_panel, intake_panel
from stripe2sf.web.dashboard import formatting as fmt
from stripe2sf.web.dashboard.alerts_view import alerts_body
from stripe2sf.web.dashboard.auth import (
    LoginLimiter,
    Session,
    Sessions,
    authenticate,
    csrf_ok,
    parse_users,
)
from stripe2sf.web.dashboard.events_view import event_detail, event_table, pager
from stripe2sf.web.dashboard.html import (
    CSS,
    bar_chart,
    card,
    e,
    hidden_csrf,
    layout,
    line_chart,
    table,
)
from stripe2sf.web.dashboard.paging import paging
from stripe2sf.web.dashboard.reconcile_view import REPORT_TYPES, report_file, run_page, runs_table
from stripe2sf.web.dashboard.review_view import review_body
from stripe2sf.web.dashboard.timeline import (
    LATENCY_HOURS,
    latency_buckets,
    latency_window,
    time_ticks,
)

SESSION_COOKIE = "s2s_session"
LOGIN_COOKIE = "s2s_login"
MAX_FORM_BYTES = 256 * 1024
SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'none'; style-src 'self'; img-src 'self' data:; form-action 'self'; "
        "frame-ancestors 'none'; base-uri 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",
}


class LoginRequired(Exception):
    pass


@dataclass
class Dashboard:
    runtime: Runtime
    sessions: Sessions
    limiter: LoginLimiter

    @property
    def reports(self) -> Reports:
        return Reports(self.runtime.engine)


def _page(html: str, status: int = 200) -> HTMLResponse:
    return HTMLResponse(html, status_code=status, headers=SECURITY_HEADERS)


def _secure(request: Request) -> bool:
    return request.url.scheme == "https"


def _ago(value: datetime | None, now: datetime) -> str:
    if value is None:
        return ""
    seconds = (now - value).total_seconds()
    if seconds < 0:
        return f"in {-seconds:.0f} s"
    return f"{seconds:.0f} s ago" if seconds < 120 else value.strftime("%Y-%m-%d %H:%M:%S")


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{value:.1%}"


def _secs(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f} s"


def _field(form: dict[str, list[str]], name: str) -> str:
    values = form.get(name) or [""]
    return values[0]


async def _form(request: Request) -> dict[str, list[str]]:
    body = await request.body()
    if len(body) > MAX_FORM_BYTES:
        return {}
    return parse_qs(body.decode("utf-8", "replace"), keep_blank_values=True)


def mount(app: FastAPI, runtime: Runtime) -> None:
    """Add the dashboard's routes to `app`."""
    s = runtime.settings
    users = parse_users(s.dashboard_users)
    board = Dashboard(
        runtime,
        Sessions(s.dashboard_session_hours * 3600),
        LoginLimiter(s.dashboard_login_attempts),
    )
    app.state.dashboard = board

    async def _login_required(_request: Request, _exc: Exception) -> Response:
        return RedirectResponse("/login", status_code=303)

    app.add_exception_handler(LoginRequired, _login_required)

    def session_of(request: Request) -> Session:
        session = board.sessions.get(request.cookies.get(SESSION_COOKIE))
        if session is None:
            raise LoginRequired
        return session

    def page(session: Session, title: str, body: str, status: int = 200) -> HTMLResponse:
        return _page(
            layout(title, body, user=session.user.name, role=session.user.role, csrf=session.csrf),
            status,
        )

    def refuse(session: Session | None, status: int, why: str) -> HTMLResponse:
        body = f'<p class="bad" data-testid="refused">{e(why)}</p>'
        if session is None:
            return _page(layout("Refused", body), status)
        return page(session, "Refused", body, status)

    async def action(
        request: Request, operator: bool = True
    ) -> tuple[Session, dict[str, list[str]]]:
        session = session_of(request)
        form = await _form(request)
        if not csrf_ok(session.csrf, _field(form, "csrf")):
            raise _Refused(session, 403, "Refused: the form's CSRF token is missing or wrong.")
        if operator and not session.user.is_operator:
            raise _Refused(session, 403, "Refused: only operators may do this.")
        return session, form

    async def _refused(_request: Request, exc: Exception) -> Response:
        assert isinstance(exc, _Refused)
        return refuse(exc.session, exc.status, exc.why)

    app.add_exception_handler(_Refused, _refused)

    # -- assets and login ---------------------------------------------------------------------

    @app.get("/favicon.ico", include_in_schema=False)
    def favicon() -> Response:
        return Response(status_code=204)

    @app.get("/assets/dashboard.css", include_in_schema=False)
    def css() -> Response:
        return Response(CSS, media_type="text/css", headers={"Cache-Control": "max-age=3600"})

    @app.get("/login", include_in_schema=False)
    def login_form(request: Request, error: str = "") -> HTMLResponse:
        token = request.cookies.get(LOGIN_COOKIE) or _token()
        note = (
            ""
            if users
            else ('<p class="bad">No users are configured: set STRIPE2SF_DASHBOARD_USERS.</p>')
        )
        message = f'<p class="bad" data-testid="login-error">{e(error)}</p>' if error else ""
        body = (
            f'<form class="login" method="post" action="/login">{note}{message}'
            '<label>User <input name="username" autocomplete="username" required></label>'
            '<label>Password <input name="password" type="password" '
            'autocomplete="current-password" required></label>'
            f'<input type="hidden" name="csrf" value="{e(token)}">'
            '<button type="submit">Log in</button></form>'
        )
        response = _page(layout("Log in", body))
        response.set_cookie(
            LOGIN_COOKIE, token, httponly=True, samesite="strict", secure=_secure(request)
        )
        return response

    @app.post("/login", include_in_schema=False)
    async def login(request: Request) -> Response:
        form = await _form(request)
        token = request.cookies.get(LOGIN_COOKIE)
        if not token or not csrf_ok(token, _field(form, "csrf")):
            return refuse(None, 403, "Refused: the login form's CSRF token is missing or wrong.")
        name = (form.get("username") or [""])[0]
        password = (form.get("password") or [""])[0]
        address = request.client.host if request.client else "?"
        if board.limiter.blocked(name, address):
            return _page(
                layout(
                    "Log in",
                    '<p class="bad" data-testid="login-error">Too many failed '
                    "logins; wait a few minutes.</p>",
                ),
                429,
            )
        user = await run_in_threadpool(authenticate, users, name, password)
        if user is None:
            board.limiter.failed(name, address)
            return RedirectResponse("/login?error=Wrong+user+or+password", status_code=303)
        board.limiter.succeeded(name, address)
        session = board.sessions.create(user)
        response = RedirectResponse("/", status_code=303)
        response.set_cookie(
            SESSION_COOKIE,
            session.token,
            max_age=int(s.dashboard_session_hours * 3600),
            httponly=True,
            samesite="strict",
            secure=_secure(request),
        )
        response.delete_cookie(LOGIN_COOKIE)
        return response

    @app.post("/logout", include_in_schema=False)
    async def logout(request: Request) -> Response:
        session, _ = await action(request, operator=False)
        board.sessions.drop(session.token)
        response = RedirectResponse("/login", status_code=303)
        response.delete_cookie(SESSION_COOKIE)
        return response

    # -- overview -----------------------------------------------------------------------------

    @app.get("/", include_in_schema=False)
    def overview(request: Request) -> HTMLResponse:
        session = session_of(request)
        now = datetime.now(UTC)
        health = intake_panel.render(app.state, board.runtime, session.user.is_operator, now)
        capture = capture_panel.render(board.runtime, now)
        return page(session, "Overview", health + capture + _overview(board, now))

    # -- events -------------------------------------------------------------------------------

    @app.get("/events", include_in_schema=False)
    def events_page(
        request: Request,
        q: str = "",
        type: str = "",
        state: str = "",
        kind: str = "",
        done: str = "",
        page_no: Annotated[str, Query(alias="page")] = "",
        size: str = "",
    ) -> HTMLResponse:
        session = session_of(request)
        operator = session.user.is_operator
        text = q.strip()
        filters = {"q": text, "type": type, "state": state, "kind": kind}
        if text and not operator and not text.startswith("evt_"):
            text = "\x00"  # a viewer finds an event by its id, never by a customer
        where = {"text": text, "event_type": type, "state": state, "error_kind": kind}
        total = board.reports.count_events(**where)
        paged = paging(page_no, size, total)
        rows = board.reports.search_events(**where, limit=paged.size, offset=paged.offset)
        search = (
            '<form class="filters" method="get" action="/events">'
            + (
                f'<input name="q" placeholder="event id or customer id" value="{e(q)}"> '
                if operator
                else f'<input name="q" placeholder="event id" value="{e(q)}"> '
            )
            + _select("type", board.reports.event_types(), type)
            + _select("state", list(STATES), state)
            + _select("kind", board.reports.error_kinds(), kind, "error kind")
            + (f'<input type="hidden" name="size" value="{paged.size}">' if size else "")
            + "<button>Search</button></form>"
        )
        back = "/events?" + urlencode(
            {k: v for k, v in filters.items() if v} | {"page": paged.page}
        )
        listing = pager("/events", filters | {"size": size}, paged, len(rows), "events")
        body = search + _flash(done) + listing + event_table(rows, session, back)
        if paged.pages > 1:
            body += listing
        return page(session, "Event explorer", body)

    @app.get("/events/{event_id}", include_in_schema=False)
    def event_page(request: Request, event_id: str) -> HTMLResponse:
        session = session_of(request)
        row = board.runtime.inbox.row(event_id)
        if row is None:
            return page(session, "Not found", f"<p>No event {e(event_id)}.</p>", 404)
        detail = event_detail(
            row,
            session,
            board.runtime.inbox.attempts_of(event_id),
            board.reports.audit_of(event_id),
            lambda record_id: _record_link(board, record_id),
        )
        return page(session, f"Event {event_id}", detail)

    @app.get("/events/{event_id}/plan", include_in_schema=False)
    def event_plan(request: Request, event_id: str) -> HTMLResponse:
        """The Salesforce operations the event causes now (dry run: reads, never writes)."""
        session = session_of(request)
        if not session.user.is_operator:
            return refuse(
                session, 403, "Refused: only operators may see plans (they hold amounts)."
            )
        row = board.runtime.inbox.row(event_id)
        if row is None:
            return page(session, "Not found", f"<p>No event {e(event_id)}.</p>", 404)
        handler = board.runtime.registry.get(row["type"])
        planner = getattr(handler, "plan_event", None)
        if planner is None:
            text = "This event type is kept, not synced (Stripe or Salesforce is not configured)."
        else:
            try:
                text = planner(json.loads(row["payload"])).render()
            except Exception as exc:  # a lookup failed: show why instead of a plan
                text = f"No plan: {type(exc).__name__}: {exc}"
        body = (
            f'<p><a href="/events/{e(event_id)}">back to the event</a></p>'
            f'<pre data-testid="plan">{e(redact(text))}</pre>'
        )
        return page(session, f"Plan of {event_id} (dry run)", body)

    @app.post("/events/replay", include_in_schema=False)
    async def replay(request: Request) -> Response:
        _session, form = await action(request)
        ids = [i for i in form.get("event_id", []) if i]
        back = (form.get("back") or ["/events"])[0]
        if not back.startswith("/") or back.startswith("//"):
            back = "/events"
        found = await run_in_threadpool(board.runtime.inbox.replay, ids, datetime.now(UTC))
        sep = "&" if "?" in back else "?"
        return RedirectResponse(f"{back}{sep}{urlencode({'done': len(found)})}", status_code=303)

    # -- dead letters, review queue -----------------------------------------------------------

    @app.get("/dead-letters", include_in_schema=False)
    def dead_letters(
        request: Request,
        type: str = "",
        kind: str = "",
        done: str = "",
        page_no: Annotated[str, Query(alias="page")] = "",
        size: str = "",
    ) -> HTMLResponse:
        session = session_of(request)
        where = {"state": "dead", "event_type": type, "error_kind": kind}
        total = board.reports.count_events(**where)
        paged = paging(page_no, size or "200", total)
        rows = board.reports.search_events(**where, limit=paged.size, offset=paged.offset)
        filters = (
            '<form class="filters" method="get" action="/dead-letters">'
            + _select("type", board.reports.event_types(), type)
            + _select("kind", board.reports.error_kinds("dead"), kind, "error kind")
            + "<button>Filter</button></form>"
        )
        count = f'<p>Dead letters: <span data-testid="dead-count">{e(fmt.number(total))}</span></p>'
        kept = {"type": type, "kind": kind}
        back = "/dead-letters?" + urlencode(kept | {"page": paged.page, "size": paged.size})
        listing = pager("/dead-letters", kept | {"size": size}, paged, len(rows), "dead letters")
        body = filters + _flash(done) + count + listing + event_table(rows, session, back)
        if session.user.is_operator and rows:
            body += (
                f'<form method="post" action="/events/replay">{hidden_csrf(session.csrf)}'
                f'<input type="hidden" name="back" value="{e(back)}">'
                + "".join(
                    f'<input type="hidden" name="event_id" value="{e(r["event_id"])}">'
                    for r in rows
                )
                + f'<button type="submit" data-testid="replay-all">Replay all '
                f"{fmt.number(len(rows))} shown</button></form>"
            )
        return page(session, "Dead letters", body)

    @app.get("/review", include_in_schema=False)
    def review_page(request: Request, done: str = "") -> HTMLResponse:
        session = session_of(request)
        customers = board.reports.review_queue()
        operator = session.user.is_operator
        facts = board.reports.customer_facts(customers) if operator else {}

        def candidates(email: str) -> list[review.Candidate] | str:
            try:
                return review.candidates(board.runtime, email)
            except review.ReviewError as exc:
                return str(exc)
            except Exception as exc:  # Salesforce unreachable: the page still shows the queue
                return f"Salesforce could not be asked for Contacts: {type(exc).__name__}"

        body = review_body(
            session,
            customers,
            facts,
            candidates,
            lambda record_id: _record_link(board, record_id),
            done,
        )
        return page(session, "Review queue", body)

    @app.post("/review/resolve", include_in_schema=False)
    async def resolve_review(request: Request) -> Response:
        session, form = await action(request)
        customer = _field(form, "customer_id").strip()
        contact = _field(form, "contact_id").strip()
        try:
            done = await run_in_threadpool(
                review.resolve, board.runtime, customer, contact, session.user.name
            )
        except (review.ReviewError, SyncError) as exc:
            message = f"Not resolved: {exc}"
        else:
            message = (
                f"Linked Contact {done.contact_id} to {done.customer_id}; "
                f"{done.replayed} event(s) replayed."
            )
        return RedirectResponse("/review?" + urlencode({"done": message}), status_code=303)

    # -- audit, reconciliation, figures ---------------------------------------------------------

    @app.get("/audit", include_in_schema=False)
    def audit(request: Request, before: int | None = None, verify: int = 0) -> HTMLResponse:
        session = session_of(request)
        body = '<form method="get" action="/audit"><input type="hidden" name="verify" value="1">'
        body += "<button>Check the chain</button></form>"
        if verify:
            check = AuditTrail(board.runtime.engine).verify()  # with its anchor
            body += (
                f'<p class="ok" data-testid="chain">Chain intact: {check.checked} entries.</p>'
                if check.ok
                else f'<p class="bad" data-testid="chain">Chain broken at entry '
                f"{e(check.first_bad_seq)}: {e(check.reason)} ({check.checked} verified).</p>"
            )
        rows = board.reports.audit_page(before=before)
        operator = session.user.is_operator
        headers = ["seq", "at", "action", "outcome", "object"]
        headers += ["external id", "record", "event", "error"] if operator else []
        cells = []
        for r in rows:
            row = [
                e(r["seq"]),
                e(fmt.when(r["at"])),
                e(r["action"]),
                e(r["outcome"]),
                e(r["sobject"]),
            ]
            if operator:
                row += [
                    e(r["external_id"]),
                    _record_link(board, r["record_id"]),
                    f'<a href="/events/{e(r["event_id"])}">{e(r["event_id"])}</a>',
                    e(redact(r["error"] or "")),
                ]
            cells.append(row)
        body += table(headers, cells)
        if rows:
            body += f'<p><a href="/audit?before={rows[-1]["seq"]}">older</a></p>'
        return page(session, "Audit trail", body)

    @app.get("/reconcile", include_in_schema=False)
    def reconcile(request: Request) -> HTMLResponse:
        session = session_of(request)
        body = runs_table(board.reports.reconcile_runs(), session)
        return page(session, "Reconciliation runs", body)

    @app.get("/reconcile/{run_id}", include_in_schema=False)
    def reconcile_run(
        request: Request,
        run_id: int,
        page_no: Annotated[str, Query(alias="page")] = "",
        size: str = "",
    ) -> HTMLResponse:
        session = session_of(request)
        run = board.reports.reconcile_run(run_id)
        if run is None:
            return page(session, "Not found", f"<p>No reconciliation run {e(run_id)}.</p>", 404)
        store = ReconcileStore(board.runtime.engine)
        paged = paging(page_no, size, store.count_items(run_id))
        items = store.items(run_id, limit=paged.size, offset=paged.offset)
        listing = pager(f"/reconcile/{run_id}", {"size": size}, paged, len(items), "items")
        body = run_page(
            run,
            session,
            lambda record_id: _record_link(board, record_id),
            items,
            paged.total,
            listing,
        )
        return page(session, f"Reconciliation run {run_id}", body)

    @app.get("/reconcile/{run_id}/report", include_in_schema=False)
    def reconcile_report(request: Request, run_id: int) -> Response:
        """The report file the run wrote (`reconcile --output`), as a download: it holds ids
        and amounts, so operators only."""
        session = session_of(request)
        if not session.user.is_operator:
            return refuse(session, 403, "Refused: only operators may read reports (amounts).")
        run = board.reports.reconcile_run(run_id)
        found = report_file(run) if run is not None else None
        if found is None:
            return page(session, "Not found", "<p>This run has no report file.</p>", 404)
        return FileResponse(
            found,
            media_type=REPORT_TYPES[found.suffix.lower()],
            filename=found.name,
            content_disposition_type="attachment",
            headers={k: v for k, v in SECURITY_HEADERS.items() if k != "Cache-Control"},
        )

    @app.get("/alerts", include_in_schema=False)
    def alerts_page(
        request: Request,
        page_no: Annotated[str, Query(alias="page")] = "",
        size: str = "",
    ) -> HTMLResponse:
        session = session_of(request)
        log = AlertLog(board.runtime.engine)
        paged = paging(page_no, size, log.count_sent())
        sent = log.sent(limit=paged.size, offset=paged.offset)
        listing = pager("/alerts", {"size": size}, paged, len(sent), "alerts")
        body = alerts_body(log.kinds(), sent, session, board.runtime.alerter.enabled, listing)
        return page(session, "Alerts", body)

    @app.get("/figures", include_in_schema=False)
    def business(request: Request) -> HTMLResponse:
        session = session_of(request)
        return page(session, "Business figures", _figures(board, session))


class _Refused(Exception):
    def __init__(self, session: Session | None, status: int, why: str) -> None:
        super().__init__(why)
        self.session = session
        self.status = status
        self.why = why


def _token() -> str:
    import secrets

    return secrets.token_urlsafe(32)


def _select(name: str, options: list[str], chosen: str, label: str = "") -> str:
    items = ['<option value="">any ' + e(label or name) + "</option>"] + [
        f'<option value="{e(o)}"{" selected" if o == chosen else ""}>{e(o)}</option>'
        for o in options
    ]
    return f'<select name="{e(name)}" aria-label="{e(label or name)}">{"".join(items)}</select> '


def _flash(done: str) -> str:
    if not done:
        return ""
    return f'<p class="flash" data-testid="flash">{e(done)} event(s) put back in line.</p>'


def _record_link(board: Dashboard, record_id: str | None) -> str:
    if not record_id:
        return ""
    port = board.runtime.salesforce
    client = port.connected if port is not None else None
    if client is None:
        return e(record_id)
    return f'<a href="{e(client.instance_url)}/{e(record_id)}" rel="noreferrer">{e(record_id)}</a>'


def _overview(board: Dashboard, now: datetime) -> str:
    runtime = board.runtime
    reports = board.reports
    counts = runtime.inbox.counts()
    oldest = runtime.inbox.oldest_pending_received()
    lag = (now - oldest).total_seconds() if oldest else 0.0
    hour_ago = now - timedelta(hours=1)
    outcomes = reports.attempt_outcomes_since(hour_ago)
    rate = figures.error_rate(outcomes)
    usage = runtime.salesforce_usage()
    midnight = now.replace(hour=0, minute=0, second=0, microsecond=0)
    if usage is not None and usage.used is not None:
        used = fmt.usage(usage.used, usage.limit)
        proj = projection(usage.used, (now - midnight).total_seconds())
        projected = (
            f"{fmt.number(proj)} ({proj / usage.limit:.0%} of the limit)"
            if usage.limit
            else fmt.number(proj)
        )
    else:
        used, projected = "no Salesforce answer yet", "-"
    budget = runtime.budget()
    level = budget.reading()
    from stripe2sf.domain.batch.budget import Priority, allowed_level

    allowed = allowed_level(level, budget.policy)
    budget_text = (
        "paused"
        if allowed < 0
        else "all work"
        if allowed >= Priority.BACKFILL
        else f"up to {Priority(allowed).name}"
    )
    cards = "".join(
        [
            card("inbox depth (pending)", fmt.number(counts["pending"]), "inbox-pending"),
            card("applied", fmt.number(counts["done"]), "inbox-done"),
            card("ignored types", fmt.number(counts["ignored"]), "inbox-ignored"),
            card(
                "dead letters",
                fmt.number(counts["dead"]),
                "dead-letters",
                "bad" if counts["dead"] else "",
            ),
            card("lag (oldest pending)", fmt.seconds(lag), "lag"),
            card("review queue", fmt.number(len(reports.review_queue())), "review-queue"),
            card("error rate (1 h)", _pct(rate), "error-rate"),
            card("attempts (1 h)", fmt.number(sum(outcomes.values())), "attempts-hour"),
            card("SF API used today", used, "api-used"),
            card("projected by midnight", projected, "api-projection"),
            card("API budget allows", budget_text, "api-budget"),
        ]
    )
    start = (now - timedelta(minutes=59)).replace(second=0, microsecond=0)
    per_min = figures.per_minute(reports.received_since(start), start, 60)
    first = reports.first_processed_since(now - timedelta(hours=LATENCY_HOURS))
    window = latency_window(first, now)
    latencies = reports.latencies_since(min(window.start, hour_ago))
    series = latency_buckets(latencies, window)
    charts = line_chart(
        [("events/min", "#4c6ef5", [float(v) for v in per_min])],
        time_ticks(start, now),
        title="Events received per minute (last hour)",
        x_title="time (UTC)",
        y_title="events / min",
        test_id="chart-events",
    ) + line_chart(
        [
            ("p50", "#2b8a3e", [p for p, _ in series]),
            ("p95", "#e8590c", [q for _, q in series]),
        ],
        time_ticks(window.start, window.end),
        title=f"Sync latency, arrival to Salesforce committed ({window.step_text} buckets)",
        unit=" s",
        x_title="time (UTC)",
        y_title="seconds",
        test_id="chart-latency",
    )
    charts = f'<div class="charts">{charts}</div>'
    samples = [v for at, v in latencies if at >= hour_ago]
    latency = (
        f"<p>Latency over the last hour: p50 {_secs(figures.percentile(samples, 0.5))}, "
        f"p95 {_secs(figures.percentile(samples, 0.95))} "
        f"({fmt.number(len(samples))} events).</p>"
    )
    inbox = f'<h2>Inbox and Salesforce API</h2><div class="cards">{cards}</div>'
    return f"{inbox}<h2>Flow</h2>{charts}{latency}"


def _money(minor: int, currency: str) -> str:
    return fmt.money(minor, currency)


def _figures(board: Dashboard, session: Session) -> str:
    s = board.runtime.settings
    found = figures.business_figures(board.reports.billing_events())
    runs = board.reports.reconcile_runs()
    drift_total = sum(int(r.get("drift") or 0) for r in runs)
    basis = "Salesforce records kept in step"
    records = board.reports.synced_records()
    hours = figures.manual_hours(records, s.manual_minutes_per_record)
    median = found.median_resolve_hours
    cards = [
        card("failed payments", fmt.number(found.failed_payments), "failed-payments"),
        card("resolved", fmt.number(found.resolved), "resolved"),
        card("still open", fmt.number(found.open_failures), "open-failures"),
        card(
            "median time to resolve",
            "-" if median is None else f"{median:.1f} h",
            "median-resolve",
        ),
        card(
            "involuntary churn rate",
            _pct(found.involuntary_churn_rate),
            "churn-rate",
        ),
        card("customers billed", fmt.number(found.customers_billed), "customers-billed"),
        card(
            "data errors caught by reconciliation",
            fmt.number(drift_total) if runs else fmt.DASH,
            "drift",
        ),
        card(
            f"hours of manual checking replaced ({basis})",
            fmt.number(hours, 1),
            "hours-saved",
        ),
    ]
    if session.user.is_operator:
        recovered = ", ".join(_money(v, c) for c, v in sorted(found.recovered.items())) or "0"
        cards.insert(3, card("recovered revenue", recovered, "recovered"))
    body = f'<div class="cards">{"".join(cards)}</div>'
    body += (
        '<div class="charts">'
        + bar_chart(
            [(label, float(n)) for label, n in found.histogram],
            title="Time to resolve failed payments (Stripe time)",
            x_title="time to resolve",
            y_title="failed payments",
            test_id="chart-resolve",
        )
        + "</div>"
    )
    if runs:
        body += "<h2>Data errors caught per reconciliation run</h2>" + table(
            ["run", "started", "drift found", "fixed"],
            [
                [
                    f'<a href="/reconcile/{e(r.get("id"))}">run {e(r.get("id"))}</a>',
                    e(fmt.when(r.get("started_at"))),
                    e(fmt.number(r.get("drift"))),
                    e(fmt.number(r.get("fixed")) if r.get("fix") else fmt.DASH),
                ]
                for r in runs
            ],
            "reconcile-runs",
        )
    body += (
        f'<p class="muted">Churn: customers whose subscription was canceled after a failed '
        f"payment / customers billed. Hours: {fmt.number(records)} records x "
        f"{s.manual_minutes_per_record:g} min (STRIPE2SF_MANUAL_MINUTES_PER_RECORD).</p>"
    )
    return body
