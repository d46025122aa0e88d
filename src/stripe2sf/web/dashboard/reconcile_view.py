"""Reconciliation runs as people read them: when, how long, check or check-and-fix, drift
found / fixed / remaining, what kinds; each run's page lists its drift items and links the
report file written with `--output`.

A viewer sees counts and kinds only: no ids, amounts (expected/actual) or report."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from stripe2sf.domain.reconcile.drift import CSV_HEADER, KIND_TITLES, NOT_DRIFT
from stripe2sf.store.history import reconcile_detail
from stripe2sf.web.dashboard import formatting as fmt
from stripe2sf.web.dashboard.auth import Session
from stripe2sf.web.dashboard.html import card, e, table

REPORT_TYPES = {".csv": "text/csv", ".html": "text/html", ".htm": "text/html"}


def kind_title(kind: str) -> str:
    return KIND_TITLES.get(kind, kind.replace("_", " "))


def report_file(run: Mapping[str, Any]) -> Path | None:
    """The report written by the run (`reconcile --output FILE`), when it is still there."""
    path = run.get("report_path")
    if not path:
        return None
    found = Path(str(path))
    return found if found.is_file() and found.suffix.lower() in REPORT_TYPES else None


def _kinds(counts: Mapping[str, int]) -> str:
    drift = {k: n for k, n in counts.items() if k not in NOT_DRIFT and n}
    if not drift:
        return "no drift"
    return "; ".join(f"{kind_title(k)}: {fmt.number(n)}" for k, n in sorted(drift.items()))


def runs_table(runs: list[Mapping[str, Any]], session: Session) -> str:
    if not runs:
        return "<p>No reconciliation run yet (<code>stripe2sf reconcile</code>).</p>"
    rows = []
    for r in runs:
        detail = reconcile_detail(r.get("counts"))
        report = ""
        if session.user.is_operator and report_file(r) is not None:
            report = f'<a href="/reconcile/{e(r["id"])}/report">report</a>'
        rows.append(
            [
                f'<a href="/reconcile/{e(r["id"])}" data-testid="run-link">run {e(r["id"])}</a>',
                e(fmt.when(r.get("started_at"))),
                e(fmt.took(r.get("started_at"), r.get("finished_at"))),
                e("check and fix" if r.get("fix") else "check only"),
                f'<span data-testid="run-drift">{e(fmt.number(r.get("drift")))}</span>',
                e(fmt.number(r.get("fixed")) if r.get("fix") else fmt.DASH),
                e(fmt.number(r.get("remaining"))),
                e(_kinds(detail.counts)),
                report,
            ]
        )
    return table(
        ["run", "started", "took", "mode", "drift found", "fixed", "remaining", "what", "report"],
        rows,
        "reconcile-runs",
    )


def run_page(
    run: Mapping[str, Any], session: Session, record_link: Callable[[str | None], str]
) -> str:
    operator = session.user.is_operator
    detail = reconcile_detail(run.get("counts"))
    cards = [
        card("started", fmt.when(run.get("started_at")), "run-started"),
        card("took", fmt.took(run.get("started_at"), run.get("finished_at")), "run-took"),
        card("mode", "check and fix" if run.get("fix") else "check only", "run-mode"),
        card(
            "drift found",
            fmt.number(run.get("drift")),
            "run-drift",
            "bad" if run.get("drift") else "ok",
        ),
        card("fixed", fmt.number(run.get("fixed")) if run.get("fix") else fmt.DASH, "run-fixed"),
        card("remaining", fmt.number(run.get("remaining")), "run-remaining"),
    ]
    body = f'<p><a href="/reconcile">all runs</a></p><div class="cards">{"".join(cards)}</div>'
    if operator and report_file(run) is not None:
        body += (
            f'<p><a href="/reconcile/{e(run["id"])}/report" data-testid="report-link">'
            f"Download the report ({e(Path(str(run['report_path'])).name)})</a></p>"
        )
    elif operator and run.get("report_path"):
        body += f'<p class="muted">The report {e(run["report_path"])} is not there any more.</p>'
    body += "<h2>What was found</h2>" + table(
        ["kind", "items", "counts as drift"],
        [
            [e(kind_title(k)), e(fmt.number(n)), e(fmt.yes_no(k not in NOT_DRIFT))]
            for k, n in sorted(detail.counts.items())
        ],
        "run-kinds",
    )
    if not detail.items:
        if detail.counts:
            body += '<p class="muted">This run kept no items (recorded before they were).</p>'
        return body
    shown = f"{fmt.number(len(detail.items))} of {fmt.number(detail.items_total)}"
    body += f'<h2>Items <span class="muted" data-testid="items-shown">{e(shown)}</span></h2>'
    index = {name: i for i, name in enumerate(CSV_HEADER)}
    rows = []
    for item in detail.items:
        values = {name: item[i] if i < len(item) else "" for name, i in index.items()}
        row = [e(kind_title(values["kind"])), e(values["fixable"])]
        if operator:
            row += [
                e(values["customer_id"]),
                e(values["stripe_id"]),
                record_link(values["salesforce_id"] or None),
                e(values["expected"]),
                e(values["actual"]),
            ]
        rows.append(row)
    headers = ["kind", "fixable"]
    headers += (
        ["customer", "Stripe object", "Salesforce record", "expected", "actual"] if operator else []
    )
    return body + table(headers, rows, "drift-items")
