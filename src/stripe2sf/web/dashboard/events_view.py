"""The event explorer's listing (paged, filtered) and an event's page (attempts, the
Salesforce writes with the reason of every skip and refusal, the payload for operators).

A viewer sees types, states, counts and reasons with their ids and figures taken out
(formatting.for_viewer); never the customer, an error text, an external id or the payload."""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from stripe2sf.domain.flows.cardguard import redact
from stripe2sf.web.dashboard import formatting as fmt
from stripe2sf.web.dashboard.auth import Session
from stripe2sf.web.dashboard.html import e, hidden_csrf, table
from stripe2sf.web.dashboard.paging import PAGE_SIZES, Paging, page_link

UNCHANGED_REASON = "unchanged since stripe2sf last wrote it: nothing sent"


def pager(path: str, filters: Mapping[str, str], paged: Paging, shown: int, what: str) -> str:
    """`101-150 of 578 events` with first/previous/next/last links keeping the filters, and
    a page-size choice (a small GET form carrying the filters)."""
    links = []
    for label, target, ok in (
        ("first", 1, paged.has_previous),
        ("previous", paged.page - 1, paged.has_previous),
        ("next", paged.page + 1, paged.has_next),
        ("last", paged.pages, paged.has_next),
    ):
        if ok:
            href = page_link(path, filters, target, paged.size)
            links.append(
                f'<a href="{e(href)}" data-testid="page-{e(label.split()[-1])}">{e(label)}</a>'
            )
        else:
            links.append(f'<span class="muted">{e(label)}</span>')
    hidden = "".join(
        f'<input type="hidden" name="{e(k)}" value="{e(v)}">' for k, v in filters.items() if v
    )
    sizes = "".join(
        f'<option value="{n}"{" selected" if n == paged.size else ""}>{n} a page</option>'
        for n in PAGE_SIZES
    )
    return (
        f'<div class="pager"><span data-testid="page-summary">{e(paged.summary(shown))} '
        f"{e(what)}</span> <span>page {fmt.number(paged.page)} of {fmt.number(paged.pages)}"
        f"</span> {' '.join(links)}"
        f'<form class="inline" method="get" action="{e(path)}">{hidden}'
        f'<select name="size" aria-label="rows a page">{sizes}</select> '
        "<button>Show</button></form></div>"
    )


def event_table(rows: list[dict[str, Any]], session: Session, back: str) -> str:
    now = datetime.now(UTC)
    operator = session.user.is_operator
    headers = (["", "event", "type", "state", "attempts", "error kind", "received"]) + (
        ["customer", "error"] if operator else []
    )
    cells = []
    for r in rows:
        box = (
            f'<input type="checkbox" name="event_id" value="{e(r["event_id"])}" '
            f'aria-label="select {e(r["event_id"])}">'
            if operator
            else ""
        )
        row = [
            box,
            f'<a href="/events/{e(r["event_id"])}">{e(r["event_id"])}</a>',
            e(r["type"]),
            f'<span data-testid="state">{e(r["state"])}</span>',
            e(fmt.number(r["attempts"])),
            e(r["error_kind"]),
            e(fmt.ago(r["received_at"], now)),
        ]
        if operator:
            row += [e(r["lane"]), e(redact(str(r["last_error"] or ""))[:300])]
        cells.append(row)
    listing = table(headers, cells, "events")
    if not operator:
        return listing
    return (
        f'<form method="post" action="/events/replay">{hidden_csrf(session.csrf)}'
        f'<input type="hidden" name="back" value="{e(back)}">{listing}'
        '<button type="submit" data-testid="replay-selected">Replay selected</button></form>'
    )


def write_reason(entry: Mapping[str, Any], operator: bool) -> str:
    """Why a write was skipped, refused or failed, as the audit trail recorded it; for a
    viewer, without ids, e-mail addresses, figures or error texts."""
    outcome = str(entry.get("outcome") or "")
    error = str(entry.get("error") or "")
    if outcome == "unchanged":
        return UNCHANGED_REASON
    if outcome == "skipped":
        return redact(error) if operator else fmt.for_viewer(error)
    if outcome == "refused":
        reason = fmt.refusal_reason(error)
        return redact(error) if operator else f"refused: {fmt.for_viewer(reason)}"
    if outcome == "error":
        return redact(error) if operator else "Salesforce refused the write (operators see why)"
    return ""


def writes_table(audit: list[dict[str, Any]], operator: bool, record_link: Any) -> str:
    headers = ["seq", "action", "outcome", "object", "fields", "reason"]
    headers += ["external id", "record"] if operator else []
    cells = []
    for a in audit:
        try:
            names = ", ".join(json.loads(a["fields"] or "[]"))
        except (ValueError, TypeError):
            names = str(a["fields"] or "")
        row = [
            e(a["seq"]),
            e(a["action"]),
            f'<span data-testid="write-outcome">{e(a["outcome"])}</span>',
            e(a["sobject"]),
            e(names),
            f'<span class="reason" data-testid="write-reason">'
            f"{e(write_reason(a, operator))}</span>",
        ]
        if operator:
            row += [e(a["external_id"]), record_link(a["record_id"])]
        cells.append(row)
    if not cells:
        return '<p class="muted">No Salesforce write recorded for this event yet.</p>'
    return table(headers, cells, "writes")


def event_detail(
    row: Mapping[str, Any],
    session: Session,
    attempts: list[Mapping[str, Any]],
    audit: list[dict[str, Any]],
    record_link: Any,
) -> str:
    now = datetime.now(UTC)
    operator = session.user.is_operator
    facts = [
        ("type", row["type"]),
        ("state", row["state"]),
        ("source", row["source"]),
        ("attempts", fmt.number(row["attempts"])),
        ("received", fmt.when(row["received_at"])),
        ("processed", fmt.when(row["processed_at"])),
        ("next attempt", fmt.ago(row["next_attempt_at"], now)),
        ("error kind", row["error_kind"]),
    ]
    if operator:
        facts += [("customer", row["lane"]), ("last error", redact(row["last_error"] or ""))]
    body = table(["", ""], [[e(k), e(v)] for k, v in facts])
    if operator:
        body += (
            f'<form method="post" action="/events/replay">{hidden_csrf(session.csrf)}'
            f'<input type="hidden" name="event_id" value="{e(row["event_id"])}">'
            f'<input type="hidden" name="back" value="/events/{e(row["event_id"])}">'
            '<button type="submit" data-testid="replay">Replay</button></form>'
            f'<p><a href="/events/{e(row["event_id"])}/plan">Plan (dry run)</a></p>'
        )
    body += "<h2>Attempts</h2>" + table(
        ["#", "worker", "started", "took", "outcome", "error kind"]
        + (["error"] if operator else []),
        [
            [
                e(a["attempt"]),
                e(a["worker"]),
                e(fmt.when(a["started_at"])),
                e(fmt.took(a["started_at"], a["finished_at"])),
                e(a["outcome"]),
                e(a["error_kind"]),
            ]
            + ([e(redact(a["error"] or ""))] if operator else [])
            for a in attempts
        ],
    )
    body += "<h2>Salesforce writes (audit trail)</h2>" + writes_table(audit, operator, record_link)
    if operator:
        try:
            pretty = json.dumps(json.loads(row["payload"]), indent=2, sort_keys=True)
        except ValueError:
            pretty = row["payload"]
        body += f'<h2>Payload (card-safe)</h2><pre data-testid="payload">{e(redact(pretty))}</pre>'
    return body
