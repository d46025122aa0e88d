"""The dashboard's pages in real headless Chromium (Debian's chromium driven by Playwright)
against the app, its worker and both sandboxes (tests.support.dashboard_world): the event
explorer's paging and filters, an event's skipped writes with their reasons, the review
queue's candidate Contacts and one-click link, readable reconciliation runs with their items
and report, the alerts page, formatted figures and labelled charts; and on every page, what
a viewer may not see."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Page

from stripe2sf.store.reports import Reports
from tests.support.browser import CHROMIUM
from tests.support.dashboard_world import OPERATOR, VIEWER, World, dashboard_world

pytestmark = pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="needs Debian's chromium")


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    workdir = tmp_path_factory.mktemp("dashboard-pages")
    with dashboard_world(f"sqlite:///{workdir / 'stripe2sf.db'}", workdir) as built:
        yield built


def login(page: Page, base: str, who: tuple[str, str]) -> None:
    page.goto(base + "/login")
    page.fill("input[name=username]", who[0])
    page.fill("input[name=password]", who[1])
    page.click("button[type=submit]")
    assert page.url == base + "/"


def test_explorer_pages_through_every_event_and_keeps_its_filters(world: World, page: Page) -> None:
    base = world.env.url
    reports = Reports(world.env.runtime.engine)
    total = reports.count_events()
    assert total > 25
    login(page, base, OPERATOR)
    page.goto(base + "/events?size=25")
    assert page.get_by_test_id("page-summary").first.inner_text() == f"1-25 of {total} events"
    assert page.locator("[data-testid=events] tbody tr").count() == 25
    first_page = set(page.locator("[data-testid=events] tbody a").all_inner_texts())
    page.get_by_test_id("page-next").first.click()
    shown = min(50, total)
    assert page.get_by_test_id("page-summary").first.inner_text() == f"26-{shown} of {total} events"
    second_page = set(page.locator("[data-testid=events] tbody a").all_inner_texts())
    assert first_page.isdisjoint(second_page)
    # A filter survives paging: the type chosen stays in every page link.
    page.goto(base + "/events")
    page.select_option("select[name=type]", "customer.created")
    page.get_by_role("button", name="Search").click()
    created = reports.count_events(event_type="customer.created")
    assert created > 25
    assert page.get_by_test_id("page-summary").first.inner_text() == (
        f"1-{min(50, created)} of {created} events"
    )
    page.select_option("select[name=size]", "25")
    page.get_by_role("button", name="Show").first.click()
    page.get_by_test_id("page-next").first.click()
    assert "type=customer.created" in page.url and "page=2" in page.url
    assert set(page.locator("[data-testid=events] tbody td:nth-child(3)").all_inner_texts()) == {
        "customer.created"
    }
    assert page.get_by_test_id("page-summary").first.inner_text().endswith(f"of {created} events")
    # State and error kind together: the one dead letter (now replayed? no: still dead).
    page.goto(base + "/events?state=dead")
    assert page.get_by_test_id("page-summary").first.inner_text() == "1-1 of 1 events"


def test_an_event_page_gives_the_reason_of_every_skipped_write(world: World, page: Page) -> None:
    base = world.env.url
    audit = Reports(world.env.runtime.engine).audit_of(world.payment_event)
    skipped = [a for a in audit if a["outcome"] == "skipped"]
    assert skipped, audit
    login(page, base, OPERATOR)
    page.goto(f"{base}/events/{world.payment_event}")
    outcomes = page.get_by_test_id("write-outcome").all_inner_texts()
    reasons = page.get_by_test_id("write-reason").all_inner_texts()
    assert len(outcomes) == len(audit)
    for outcome, reason in zip(outcomes, reasons, strict=True):
        if outcome in ("skipped", "refused", "error", "unchanged"):
            assert reason.strip(), outcome
    assert skipped[0]["error"] in reasons
    # A viewer reads the same reasons, with the ids taken out.
    page.context.clear_cookies()
    login(page, base, VIEWER)
    page.goto(f"{base}/events/{world.payment_event}")
    viewer_reasons = [
        r
        for o, r in zip(
            page.get_by_test_id("write-outcome").all_inner_texts(),
            page.get_by_test_id("write-reason").all_inner_texts(),
            strict=True,
        )
        if o == "skipped"
    ]
    assert viewer_reasons and all(r.strip() for r in viewer_reasons)
    assert not any(re.search(r"\b(pi|ch|cus)_", r) for r in viewer_reasons)


def test_reconciliation_runs_are_readable_and_link_their_items_and_report(
    world: World, page: Page
) -> None:
    base = world.env.url
    login(page, base, OPERATOR)
    page.goto(base + "/reconcile")
    runs = page.get_by_test_id("reconcile-runs").inner_text()
    assert "check only" in runs and "False" not in runs and "{" not in runs
    assert not re.search(r"\d\d:\d\d:\d\d\.\d", runs)  # no microseconds
    assert "Charge (succeeded or failed) without a payment record: 1" in runs
    page.get_by_text(f"run {world.run_id}", exact=True).click()
    assert page.url.endswith(f"/reconcile/{world.run_id}")
    items = page.get_by_test_id("drift-items").inner_text()
    assert "Charge (succeeded or failed) without a payment record" in items
    assert "43.21" in items  # operators see the amounts
    with page.expect_download() as download:
        page.get_by_test_id("report-link").click()
    saved = download.value.path()
    assert Path(saved).read_text(encoding="utf-8") == world.report.read_text(encoding="utf-8")


def test_alerts_page_lists_what_was_sent(world: World, page: Page) -> None:
    base = world.env.url
    login(page, base, OPERATOR)
    page.goto(base + "/alerts")
    kinds = page.get_by_test_id("alert-kinds").inner_text()
    assert "dead_letter:" in kinds and "reconcile_drift" in kinds
    sent = page.get_by_test_id("alerts-sent").inner_text()
    subjects = [" ".join(str(m["Subject"]).split()) for m in world.mailbox.messages]
    assert len(page.locator("[data-testid=alerts-sent] tbody tr").all()) == len(subjects)
    total = len(subjects)
    assert page.get_by_test_id("page-summary").inner_text() == f"1-{total} of {total} alerts"
    for subject in subjects:
        assert subject.removeprefix("[stripe2sf] ") in sent


def test_overview_and_figures_are_formatted_and_charts_labelled(world: World, page: Page) -> None:
    base = world.env.url
    login(page, base, OPERATOR)
    used = page.get_by_test_id("api-used").inner_text()
    assert re.fullmatch(r"\d{1,3}(,\d{3})* / \d{1,3}(,\d{3})*", used), used
    assert "," in used.split(" / ")[1]  # the daily limit is in the thousands
    for chart in ("chart-events", "chart-latency"):
        svg = page.get_by_test_id(chart)
        assert svg.is_visible()
        text = svg.inner_html()
        assert "time (UTC)" in text and len(svg.locator("text.tick").all()) >= 8
    # The charts stand apart, side by side or one under the other.
    a = page.get_by_test_id("chart-events").bounding_box()
    b = page.get_by_test_id("chart-latency").bounding_box()
    assert a and b and (b["x"] >= a["x"] + a["width"] + 8 or b["y"] >= a["y"] + a["height"] + 8)
    # Latency points spread over the chart, not only at its right edge.
    xs = [
        float(c.get_attribute("cx") or 0)
        for c in page.get_by_test_id("chart-latency").locator("circle").all()
    ]
    assert xs and min(xs) < 0.9 * float(b["width"])
    page.goto(base + "/figures")
    assert page.get_by_test_id("recovered").count() == 1
    assert re.fullmatch(r"[\d,]+", page.get_by_test_id("customers-billed").inner_text())


def test_viewer_sees_no_amounts_ids_payloads_or_error_texts_on_any_page(
    world: World, page: Page
) -> None:
    base = world.env.url
    login(page, base, VIEWER)
    paths = [
        "/",
        "/events",
        "/events?size=200",
        f"/events/{world.payment_event}",
        "/dead-letters",
        "/review",
        "/reconcile",
        f"/reconcile/{world.run_id}",
        "/alerts",
        "/figures",
        "/audit",
    ]
    for path in paths:
        page.goto(base + path)
        html = page.content()
        for secret in world.secrets:
            assert secret not in html, (path, secret)
        assert page.get_by_test_id("payload").count() == 0, path
        assert "503" not in page.locator("main").inner_text(), path  # no error text
        assert page.get_by_test_id("report-link").count() == 0, path
    page.goto(f"{base}/reconcile/{world.run_id}")
    assert page.get_by_test_id("drift-items").is_visible()  # kinds, without ids or amounts
    response = page.request.get(f"{base}/reconcile/{world.run_id}/report")
    assert response.status == 403
    page.goto(base + "/review")
    assert page.get_by_test_id("review-count").inner_text() == "1"
    assert page.get_by_role("button", name="Link").count() == 0


def test_operator_links_a_candidate_contact_in_one_click(world: World, page: Page) -> None:
    base = world.env.url
    login(page, base, OPERATOR)
    page.goto(base + "/review")
    section = page.get_by_test_id(f"review-{world.carol}")
    assert "Carol Poe" in section.inner_text() and "carol@example.com" in section.inner_text()
    candidates = page.get_by_test_id(f"candidates-{world.carol}")
    rows = candidates.locator("tbody tr").all_inner_texts()
    assert len(rows) == 2
    assert any("Carol Poe-Smith" in r and "Shared Ltd" in r for r in rows)
    assert any("Carol Poe" in r and "Poe Consulting" in r for r in rows)
    owner = world.env.query("SELECT Owner.Name FROM Account WHERE Name = 'Shared Ltd'")[0]
    assert all(owner["Owner"]["Name"] in r for r in rows)
    picked = world.contacts["Poe-Smith"]
    page.get_by_test_id(f"link-{picked}").click()
    assert page.get_by_test_id("flash").inner_text().startswith(f"Linked Contact {picked}")
    assert page.get_by_test_id("review-count").inner_text() == "0"
    world.env.drain()
    linked = world.env.query(
        f"SELECT Id FROM Contact WHERE Stripe_Customer_Id__c = '{world.carol}'"
    )
    assert [c["Id"] for c in linked] == [picked]
