"""The dashboard in real headless Chromium (Debian's chromium driven by Playwright) against the
app with its worker and both sandboxes: login, overview figures against the database, replay
of a dead letter, what a viewer may not see or do, CSRF refusals, the login rate limit."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Page

from stripe2sf.store.reports import Reports
from stripe2sf.web.dashboard.auth import hash_password
from tests.support.browser import CHROMIUM
from tests.support.sync_env import SyncEnv, sync_env

USERS = [
    f"olga:operator:{hash_password('olga-pass', n=2**12)}",
    f"vera:viewer:{hash_password('vera-pass', n=2**12)}",
    f"limit:viewer:{hash_password('limit-pass', n=2**12)}",
]

pytestmark = pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="needs Debian's chromium")


@dataclass
class World:
    env: SyncEnv
    alice: str
    bob: str
    dead_event: str
    carol: str
    contacts: list[str]


def wait_for(check: object, what: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if callable(check) and check():
            return
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    db = tmp_path_factory.mktemp("dashboard") / "stripe2sf.db"
    with sync_env(f"sqlite:///{db}", max_attempts=1, dashboard_users=USERS) as env:
        client = env.client
        alice = client.v1.customers.create({"email": "alice@example.com", "name": "Alice Doe"})
        client.v1.payment_intents.create(
            {
                "amount": 4321,
                "currency": "usd",
                "customer": alice.id,
                "confirm": True,
                "payment_method": "pm_card_visa",
            }
        )
        # Two Contacts share Carol's email: a person must choose (the review queue).
        account = env.sf.Account.create({"Name": "Shared Ltd"})["id"]
        contacts = [
            env.sf.Contact.create(
                {"LastName": name, "Email": "carol@example.com", "AccountId": account}
            )["id"]
            for name in ("Poe", "Poe-Smith")
        ]
        carol = client.v1.customers.create({"email": "carol@example.com", "name": "Carol Poe"})
        env.drain()
        # One Salesforce outage on Bob's sign-up; with max_attempts=1 it is a dead letter.
        env.salesforce.add_fault("*", "503", count=1)
        bob = client.v1.customers.create({"email": "bob@example.com", "name": "Bob Roe"})
        wait_for(lambda: env.runtime.inbox.counts()["dead"] == 1, "a dead letter")
        env.salesforce.clear_faults()
        env.drain()
        dead = env.runtime.inbox.dead_letter_ids()
        yield World(env, alice.id, bob.id, dead[0], carol.id, contacts)


def login(page: Page, base: str, user: str, password: str) -> None:
    page.goto(base + "/")
    assert page.url.endswith("/login")
    page.fill("input[name=username]", user)
    page.fill("input[name=password]", password)
    page.click("button[type=submit]")


def csrf_of(page: Page) -> str:
    value = page.locator("header input[name=csrf]").get_attribute("value")
    assert value
    return value


def test_login(world: World, page: Page) -> None:
    base = world.env.url
    login(page, base, "olga", "wrong")
    assert page.get_by_test_id("login-error").inner_text() == "Wrong user or password"
    login(page, base, "olga", "olga-pass")
    assert page.url == base + "/"
    assert page.locator("h1").inner_text() == "Overview"
    cookie = next(c for c in page.context.cookies() if c["name"] == "s2s_session")
    assert cookie["httpOnly"] and cookie["sameSite"] == "Strict"
    assert not cookie["secure"]  # plain http on loopback; set when served over https


def test_no_page_without_login(world: World, page: Page) -> None:
    for path in ("/", "/events", "/dead-letters", "/audit", "/figures", "/review"):
        page.goto(world.env.url + path)
        assert page.url.endswith("/login"), path
    response = page.request.post(
        world.env.url + "/events/replay", form={"event_id": world.dead_event}
    )
    assert response.url.endswith("/login")  # redirected, nothing done
    assert world.env.runtime.inbox.counts()["dead"] == 1


def test_overview_figures_match_the_database(world: World, page: Page) -> None:
    login(page, world.env.url, "olga", "olga-pass")
    counts = world.env.runtime.inbox.counts()
    assert int(page.get_by_test_id("inbox-pending").inner_text()) == counts["pending"]
    assert int(page.get_by_test_id("inbox-done").inner_text()) == counts["done"]
    assert int(page.get_by_test_id("inbox-ignored").inner_text()) == counts["ignored"]
    assert int(page.get_by_test_id("dead-letters").inner_text()) == counts["dead"] == 1
    review = Reports(world.env.runtime.engine).review_queue()
    assert int(page.get_by_test_id("review-queue").inner_text()) == len(review)
    used = page.get_by_test_id("api-used").inner_text()
    assert re.fullmatch(r"[\d,]+ / [\d,]+", used), used
    assert page.locator("svg").count() == 2
    # The chain check on the audit page.
    page.goto(world.env.url + "/audit?verify=1")
    assert page.get_by_test_id("chain").inner_text().startswith("Chain intact")


def test_viewer_sees_no_amounts_or_personal_data_and_cannot_replay(
    world: World, page: Page
) -> None:
    base = world.env.url
    login(page, base, "vera", "vera-pass")
    page.goto(base + "/figures")
    assert page.get_by_test_id("failed-payments").is_visible()
    assert page.get_by_test_id("recovered").count() == 0
    page.goto(base + "/events")
    html = page.content()
    assert world.alice not in html and "alice@example.com" not in html
    assert page.get_by_test_id("replay-selected").count() == 0
    charge_event = page.locator("a", has_text="evt_").first.inner_text()
    page.goto(f"{base}/events/{charge_event}")
    assert page.get_by_test_id("payload").count() == 0
    assert page.get_by_text("Plan (dry run)").count() == 0
    page.goto(f"{base}/events/{charge_event}/plan")
    assert page.get_by_test_id("refused").is_visible()
    assert "4321" not in page.content() and "43.21" not in page.content()
    page.goto(base + "/dead-letters")
    assert page.get_by_test_id("dead-count").inner_text() == "1"
    assert page.get_by_test_id("replay-selected").count() == 0
    assert page.get_by_test_id("replay-all").count() == 0
    # Even with a valid CSRF token, the server refuses a viewer's replay.
    response = page.request.post(
        base + "/events/replay", form={"event_id": world.dead_event, "csrf": csrf_of(page)}
    )
    assert response.status == 403
    assert "only operators" in response.text()
    assert world.env.runtime.inbox.counts()["dead"] == 1


def test_action_without_csrf_token_is_refused(world: World, page: Page) -> None:
    base = world.env.url
    login(page, base, "olga", "olga-pass")
    for form in ({"event_id": world.dead_event}, {"event_id": world.dead_event, "csrf": "x"}):
        response = page.request.post(base + "/events/replay", form=form)
        assert response.status == 403
        assert "CSRF" in response.text()
    assert world.env.runtime.inbox.counts()["dead"] == 1
    # The login form has its own token.
    response = page.request.post(
        base + "/login", form={"username": "olga", "password": "olga-pass"}
    )
    assert response.status == 403


def test_operator_replays_a_dead_letter(world: World, page: Page) -> None:
    base = world.env.url
    login(page, base, "olga", "olga-pass")
    page.goto(base + "/dead-letters")
    assert page.get_by_test_id("dead-count").inner_text() == "1"
    page.get_by_label(f"select {world.dead_event}").check()
    page.get_by_test_id("replay-selected").click()
    assert page.get_by_test_id("flash").inner_text().startswith("1 event(s)")
    env = world.env
    wait_for(
        lambda: (env.runtime.inbox.row(world.dead_event) or {}).get("state") == "done",
        "the replayed event to be applied",
    )
    accounts = env.query(f"SELECT Id FROM Account WHERE Stripe_Customer_Id__c = '{world.bob}'")
    assert len(accounts) == 1
    page.goto(f"{base}/events/{world.dead_event}")
    assert page.get_by_test_id("payload").is_visible()  # operators see the card-safe payload
    page.get_by_text("Plan (dry run)").click()
    assert "Account" in page.get_by_test_id("plan").inner_text()


def test_operator_resolves_a_review_by_hand(world: World, page: Page) -> None:
    base = world.env.url
    assert Reports(world.env.runtime.engine).review_queue() == [world.carol]
    login(page, base, "olga", "olga-pass")
    page.goto(base + "/review")
    assert page.get_by_test_id("review-count").inner_text() == "1"
    page.get_by_label(f"Contact for {world.carol}").fill(world.contacts[1])
    page.get_by_role("button", name="Link and replay").click()
    assert page.get_by_test_id("flash").inner_text().startswith("Linked Contact")
    assert page.get_by_test_id("review-count").inner_text() == "0"
    world.env.drain()
    linked = world.env.query(
        f"SELECT Id FROM Contact WHERE Stripe_Customer_Id__c = '{world.carol}'"
    )
    assert [c["Id"] for c in linked] == [world.contacts[1]]


def test_login_is_rate_limited(world: World) -> None:
    base = world.env.url
    with httpx.Client(base_url=base, follow_redirects=True) as client:

        def attempt(password: str) -> httpx.Response:
            form = client.get("/login").text
            token = re.search(r'name="csrf" value="([^"]+)"', form)
            assert token is not None
            data = {"username": "limit", "password": password, "csrf": token.group(1)}
            return client.post("/login", data=data)

        for _ in range(5):
            assert "Wrong user or password" in attempt("nope").text
        refused = attempt("limit-pass")  # even the right password, for a while
        assert refused.status_code == 429
