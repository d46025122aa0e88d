"""Reconciliation runs as people read them: when, how long, check or check-and-fix, drift
found / fixed / remaining, what kinds; each run's page lists its drift items and links the
report file written with `--output`.

A viewer sees counts and kinds only: no ids, amounts (expected/actual) or report."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from stripe2sf.domain.reconcile.drift import KIND_TITLES, NOT_DRIFT
from stripe2sf.store.history import RUNS_WITH_ITEMS, ReconcileItem, reconcile_counts
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
        counts = reconcile_counts(r.get("counts"))
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
                e(_kinds(counts)),
                report,
            ]
        )
    return table(
        ["run", "started", "took", "mode", "drift found", "fixed", "remaining", "what", "report"],
        rows,
        "reconcile-runs",
    )


def _fixed(item: ReconcileItem) -> str:
    if item.fixed is None:
        return fmt.DASH
    return "fixed" if item.fixed else "fix failed"


def run_page(
    run: Mapping[str, Any],
    session: Session,
    record_link: Callable[[str | None], str],
    items: list[ReconcileItem],
    kept: int,
    pager: str,
) -> str:
    """`items`: the page of the run's items shown, of `kept` kept; `pager`: its links."""
    operator = session.user.is_operator
    counts = reconcile_counts(run.get("counts"))
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
            for k, n in sorted(counts.items())
        ],
        "run-kinds",
    )
    found = sum(counts.values())
    if not kept:
        if found:
            body += (
                '<p class="muted" data-testid="items-gone">This run\'s items are not kept '
                f"(the newest {fmt.number(RUNS_WITH_ITEMS)} runs keep theirs).</p>"
            )
        return body
    shown = f"{fmt.number(kept)} kept of {fmt.number(max(found, kept))}"
    body += f'<h2>Items <span class="muted" data-testid="items-shown">{e(shown)}</span></h2>'
    rows = []
    for item in items:
        row = [e(kind_title(item.kind)), e(fmt.yes_no(item.fixable)), e(_fixed(item))]
        if operator:
            row += [
                e(item.customer_id or ""),
                e(item.stripe_id),
                record_link(item.salesforce_id or None),
                e(item.expected),
                e(item.actual),
            ]
        rows.append(row)
    headers = ["kind", "fixable", "fix"]
    headers += (
        ["customer", "Stripe object", "Salesforce record", "expected", "actual"] if operator else []
    )
    return body + pager + table(headers, rows, "drift-items")
