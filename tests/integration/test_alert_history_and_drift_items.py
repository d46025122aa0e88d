"""The alert history and the reconciliation drift items in their tables (migration 0010), on
SQLite and PostgreSQL: one row per alert sent and per drift item, bounded as the stores say;
migration 0010 moves the JSON kept before into them (and the downgrade puts it back); the
dashboard's alerts page and a run's page read them a page at a time, newest alert first, and
show a viewer no subjects, ids or amounts."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from alembic import command
from fastapi.testclient import TestClient
from sqlalchemy import Engine, select, text

from stripe2sf.engine.handlers import Registry
from stripe2sf.runtime import Runtime
from stripe2sf.settings import load_settings
from stripe2sf.store import alert_log, db, history
from stripe2sf.store.alert_log import AlertLog
from stripe2sf.store.history import ReconcileItem, ReconcileStore, reconcile_counts
from stripe2sf.store.history_tables import reconcile_runs
from stripe2sf.store.tables import alerts
from stripe2sf.web.app import create_app
from stripe2sf.web.dashboard.auth import hash_password

HOUR = timedelta(hours=1)
HALF = HOUR / 2
T0 = datetime(2026, 11, 2, 9, 30, tzinfo=UTC)


@pytest.fixture
def engine(db_url: str) -> Iterator[Engine]:
    db.upgrade(db_url)
    made = db.make_engine(db_url)
    yield made
    made.dispose()


def item(n: int, fixed: bool | None = None, kind: str = "payment_missing") -> ReconcileItem:
    return ReconcileItem(
        kind=kind,
        stripe_id=f"ch_{n:04d}",
        customer_id=f"cus_{n:04d}",
        salesforce_id=None if n % 2 else f"a01000000000{n:03d}AAA",
        expected=f"{n}.00 USD",
        actual="missing",
        fixable=True,
        fix_object=f"charges:ch_{n:04d}",
        fixed=fixed,
    )


def last_message(engine: Engine, kind: str) -> str | None:
    with engine.connect() as conn:
        value = conn.execute(select(alerts.c.last_message).where(alerts.c.kind == kind)).scalar()
    return None if value is None else str(value)


def test_each_alert_sent_is_a_row_and_the_history_is_bounded(
    engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    log = AlertLog(engine)
    kind = "dead_letter:salesforce.503"
    assert log.try_acquire(kind, T0, HOUR, "Event dead-lettered", "evt_1: 503") == 0
    assert log.try_acquire(kind, T0 + timedelta(minutes=5), HOUR, "Again", "evt_2") is None
    assert log.try_acquire(kind, T0 + timedelta(minutes=9), HOUR, "Again", "evt_3") is None
    assert log.try_acquire(kind, T0 + HOUR, HOUR, "Event dead-lettered (2)", "evt_4") == 2
    done = f"{kind}:recovered"
    assert log.try_acquire(done, T0 + 2 * HOUR, HOUR, "Recovered", "all well", True) == 0

    assert log.count_sent() == 3  # the held-back ones are counted, not kept
    sent = log.sent()
    assert [(a.kind, a.subject, a.held_back, a.recovered, a.message) for a in sent] == [
        (done, "Recovered", 0, True, "all well"),
        (kind, "Event dead-lettered (2)", 2, False, "evt_4"),
        (kind, "Event dead-lettered", 0, False, "evt_1: 503"),
    ]
    assert sent[0].at == T0 + 2 * HOUR
    assert [a.subject for a in log.sent(limit=1, offset=1)] == ["Event dead-lettered (2)"]
    kinds = {k.kind: k for k in log.kinds()}
    assert (kinds[kind].kept, kinds[kind].suppressed) == (2, 0)
    assert [k.kind for k in log.kinds()] == [done, kind]  # most recently sent first
    assert last_message(engine, kind) == "Event dead-lettered (2)"  # the last subject, as text

    # At most HISTORY_PER_KIND of a kind: the oldest of that kind go, other kinds stay.
    monkeypatch.setattr(alert_log, "HISTORY_PER_KIND", 3)
    for n in range(5):
        at = T0 + 3 * HOUR + n * timedelta(seconds=1)
        assert log.try_acquire("api_usage", at, timedelta(0), f"usage {n}") == 0
    busy = [a.subject for a in log.sent() if a.kind == "api_usage"]
    assert busy == ["usage 4", "usage 3", "usage 2"]
    assert log.count_sent() == 6
    # Nothing older than HISTORY_DAYS: an alert sent 90 days and a minute after the first
    # ones leaves only the alerts of the last 90 days.
    later = T0 + 3 * HOUR + timedelta(days=alert_log.HISTORY_DAYS, minutes=1)
    assert log.try_acquire("catchup_window", later, HOUR, "Catch-up") == 0
    assert [a.subject for a in log.sent()] == ["Catch-up"]
    assert {k.kind: k.kept for k in log.kinds()}[kind] == 0


def test_drift_items_are_rows_of_their_run_and_bounded(
    engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = ReconcileStore(engine)
    items = [item(1, True), item(2, False), item(3), item(4, kind="in_review")]
    first = store.record(
        started_at=T0,
        fix=True,
        drift=3,
        fixed=1,
        remaining=2,
        counts={"payment_missing": 3, "in_review": 1},
        report_path=None,
        items=items,
    )
    assert store.items(first) == items  # in the report's order, every field kept
    assert store.count_items(first) == 4
    assert store.items(first, limit=2, offset=1) == items[1:3]
    with engine.connect() as conn:
        column = conn.execute(
            select(reconcile_runs.c.counts).where(reconcile_runs.c.id == first)
        ).scalar_one()
    assert json.loads(column) == {"payment_missing": 3, "in_review": 1}  # plain counts again
    assert reconcile_counts(column) == {"payment_missing": 3, "in_review": 1}

    # At most ITEMS_PER_RUN of a run; only the newest RUNS_WITH_ITEMS runs keep theirs.
    monkeypatch.setattr(history, "ITEMS_PER_RUN", 3)
    monkeypatch.setattr(history, "RUNS_WITH_ITEMS", 2)
    runs = [first]
    for n in range(2):
        runs.append(
            store.record(
                started_at=T0 + (n + 1) * HOUR,
                fix=False,
                drift=5,
                fixed=0,
                remaining=5,
                counts={"payment_missing": 5},
                report_path=None,
                items=[item(10 * n + i) for i in range(5)],
            )
        )
    assert [store.count_items(r) for r in runs] == [0, 3, 3]
    assert [i.stripe_id for i in store.items(runs[2])] == ["ch_0010", "ch_0011", "ch_0012"]


# -- migration 0010 ------------------------------------------------------------------------------

OLD_ALERTS = {
    "dead_letter:salesforce.503": [
        {"at": (T0 - HOUR).isoformat(), "subject": "Event dead-lettered", "held": 0},
        {"at": T0.isoformat(), "subject": "Event dead-lettered again", "held": 4},
    ],
    "reconcile_drift:recovered": [
        {"at": (T0 + HOUR).isoformat(), "subject": "Recovered: no drift", "held": 0},
    ],
}
OLD_ITEMS = [
    ["payment_missing", "ch_1", "cus_1", "", "43.21 USD", "missing", "yes"],
    ["account_missing", "cus_2", "cus_2", "001000000000002AAA", "an Account", "none", "no"],
]
OLD_RUN = {"counts": {"payment_missing": 4, "account_missing": 1}, "items": OLD_ITEMS}


def _naive(at: datetime) -> datetime:
    return at.replace(tzinfo=None)


def _old_rows(conn: Any) -> None:
    """Rows as the code before revision 0010 wrote them."""
    rows = [
        {
            "k": kind,
            "at": _naive(datetime.fromisoformat(doc[-1]["at"])),
            "n": 0,
            "m": json.dumps(doc),
        }
        for kind, doc in OLD_ALERTS.items()
    ]
    rows.append({"k": "api_usage", "at": _naive(T0 - HALF), "n": 1, "m": "API usage at 95%"})
    rows.append({"k": "error_rate", "at": None, "n": 2, "m": None})  # raised, never sent
    conn.execute(
        text(
            "INSERT INTO alerts (kind, last_sent_at, suppressed, last_message) "
            "VALUES (:k, :at, :n, :m)"
        ),
        rows,
    )
    insert_run = text(
        "INSERT INTO reconcile_runs (id, started_at, finished_at, fix, drift, fixed, remaining,"
        " counts, report_path) VALUES (:id, :at, :at, false, :d, 0, :d, :c, NULL)"
    )
    conn.execute(
        insert_run,
        [
            {"id": 1, "at": _naive(T0), "d": 5, "c": json.dumps({**OLD_RUN, "items_total": 5})},
            {"id": 2, "at": _naive(T0 + HOUR), "d": 0, "c": json.dumps({})},  # plain: as it was
        ],
    )


def _old_columns(engine: Engine) -> tuple[dict[str, Any], dict[int, Any]]:
    with engine.connect() as conn:
        kinds = {
            str(k): (json.loads(m) if m and m.startswith("[") else m)
            for k, m in conn.execute(text("SELECT kind, last_message FROM alerts"))
        }
        runs = {
            int(i): json.loads(c)
            for i, c in conn.execute(text("SELECT id, counts FROM reconcile_runs"))
        }
    return kinds, runs


def test_migration_0010_moves_the_json_into_the_tables_and_back(db_url: str) -> None:
    config = db.alembic_config(db_url)
    command.upgrade(config, "0009")
    engine = db.make_engine(db_url)
    try:
        with engine.begin() as conn:
            _old_rows(conn)
        command.upgrade(config, "0010")

        log = AlertLog(engine)
        assert [(a.kind, a.at, a.subject, a.held_back, a.recovered) for a in log.sent()] == [
            ("reconcile_drift:recovered", T0 + HOUR, "Recovered: no drift", 0, True),
            ("dead_letter:salesforce.503", T0, "Event dead-lettered again", 4, False),
            ("api_usage", T0 - HALF, "API usage at 95%", 0, False),
            ("dead_letter:salesforce.503", T0 - HOUR, "Event dead-lettered", 0, False),
        ]
        assert all(a.message is None for a in log.sent())  # bodies were never kept
        assert {k.kind: (k.kept, k.suppressed) for k in log.kinds()} == {
            "reconcile_drift:recovered": (1, 0),
            "dead_letter:salesforce.503": (2, 0),
            "api_usage": (1, 1),
            "error_rate": (0, 2),
        }
        assert last_message(engine, "dead_letter:salesforce.503") == "Event dead-lettered again"
        assert last_message(engine, "api_usage") == "API usage at 95%"
        assert last_message(engine, "error_rate") is None

        store = ReconcileStore(engine)
        assert store.items(1) == [
            ReconcileItem("payment_missing", "ch_1", "cus_1", None, "43.21 USD", "missing", True),
            ReconcileItem(
                "account_missing",
                "cus_2",
                "cus_2",
                "001000000000002AAA",
                "an Account",
                "none",
                False,
            ),
        ]
        assert store.count_items(2) == 0
        _, runs = _old_columns(engine)
        assert runs == {1: OLD_RUN["counts"], 2: {}}

        # What the new code writes after the upgrade goes back too.
        assert log.try_acquire("api_usage", T0 + 2 * HOUR, HOUR, "API usage at 97%") == 1
        command.downgrade(config, "0009")
        kinds, runs = _old_columns(engine)
        assert kinds["dead_letter:salesforce.503"] == OLD_ALERTS["dead_letter:salesforce.503"]
        assert kinds["reconcile_drift:recovered"] == OLD_ALERTS["reconcile_drift:recovered"]
        assert kinds["api_usage"] == [
            {"at": (T0 - HALF).isoformat(), "subject": "API usage at 95%", "held": 0},
            {"at": (T0 + 2 * HOUR).isoformat(), "subject": "API usage at 97%", "held": 1},
        ]
        assert kinds["error_rate"] is None
        assert runs == {1: {**OLD_RUN, "items_total": 5}, 2: {}}

        command.upgrade(config, "head")  # and forward again, to the same rows
        assert len(AlertLog(engine).sent()) == 5
        assert len(ReconcileStore(engine).items(1)) == 2
    finally:
        engine.dispose()


# -- the pages ----------------------------------------------------------------------------------

USERS = [
    f"olga:operator:{hash_password('olga-pass', n=2**12)}",
    f"vera:viewer:{hash_password('vera-pass', n=2**12)}",
]


@pytest.fixture
def runtime(db_url: str, tmp_path: Path) -> Iterator[Runtime]:
    settings = load_settings(database_url=db_url, dashboard_users=USERS)
    rt = Runtime.build(settings, registry=Registry())
    yield rt
    rt.close()


def logged_in(web: TestClient, user: str, password: str) -> None:
    form = web.get("/login").text
    token = re.search(r'name="csrf" value="([^"]+)"', form)
    assert token is not None
    web.post("/login", data={"username": user, "password": password, "csrf": token[1]})
    assert web.get("/alerts").status_code == 200


def summary(html: str) -> str:
    found = re.search(r'data-testid="page-summary">([^<]*)<', html)
    assert found is not None, html
    return " ".join(found[1].split())


def rows(html: str, test_id: str) -> list[str]:
    start = html.index(f'data-testid="{test_id}"')
    body = html[start : html.index("</table>", start)]
    return re.findall(r"<tr>(.*?)</tr>", body[body.index("<tbody>") :])


def test_alerts_and_drift_items_are_paged_and_hidden_from_viewers(runtime: Runtime) -> None:
    log = AlertLog(runtime.engine)
    for n in range(60):
        at = T0 + n * timedelta(minutes=1)
        log.try_acquire(f"kind_{n % 3}", at, timedelta(0), f"alert {n:02d}", f"body of cus_{n}")
    run_id = ReconcileStore(runtime.engine).record(
        started_at=T0,
        fix=False,
        drift=120,
        fixed=0,
        remaining=120,
        counts={"payment_missing": 120},
        report_path=None,
        items=[item(n) for n in range(120)],
    )
    with TestClient(create_app(runtime)) as web:
        logged_in(web, "olga", "olga-pass")
        first = web.get("/alerts").text
        assert summary(first) == "1-50 of 60 alerts"
        shown = rows(first, "alerts-sent")
        assert len(shown) == 50 and "alert 59" in shown[0] and "alert 10" in shown[-1]
        assert "body of cus_59" in shown[0]  # operators read what was sent
        second = web.get("/alerts?page=2").text
        assert summary(second) == "51-60 of 60 alerts"
        assert "alert 09" in rows(second, "alerts-sent")[0]
        assert summary(web.get("/alerts?page=2&size=25").text) == "26-50 of 60 alerts"

        items = web.get(f"/reconcile/{run_id}?page=3").text
        assert summary(items) == "101-120 of 120 items"
        listed = rows(items, "drift-items")
        assert len(listed) == 20 and "ch_0100" in listed[0] and "100.00 USD" in listed[0]

        web.cookies.clear()
        logged_in(web, "vera", "vera-pass")
        for path in ("/alerts", "/alerts?page=2", f"/reconcile/{run_id}?page=3"):
            html = web.get(path).text
            assert not re.search(r"alert \d\d|cus_\d|ch_\d|\d+\.00 USD", html), path
        assert len(rows(web.get("/alerts").text, "alerts-sent")) == 50
        assert len(rows(web.get(f"/reconcile/{run_id}").text, "drift-items")) == 50
