"""Capture's recovery state in the database (SQLite and PostgreSQL): a first start's position
stored once, a refused replay id forgotten, own-change and recovery counters kept in their own
table (migration 0011), added up in the same transaction as the changes; the migration moves
the counters kept as ``#`` rows of capture_positions before it into that table, and back."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from alembic import command
from sqlalchemy import select, text

from stripe2sf.store import db
from stripe2sf.store.capture import (
    OWN_DROPPED,
    RECOVERED,
    CaptureStore,
    Count,
    capture_positions,
)
from stripe2sf.store.inbox import Inbox

TOPIC = "/data/ContactChangeEvent"
T0 = datetime(2026, 12, 3, 12, 0, tzinfo=UTC)


def _store(db_url: str) -> CaptureStore:
    db.upgrade(db_url)
    engine = db.make_engine(db_url)
    return CaptureStore(engine, Inbox(engine))


def test_start_forget_and_counters(db_url: str) -> None:
    store = _store(db_url)
    assert store.start(TOPIC, 1_000) is True
    assert store.start(TOPIC, 2_000) is False  # a second start leaves the first
    state = store.channel(TOPIC)
    assert state is not None and state.replay_id is None and state.last_commit_ms == 1_000

    own, recovered = (TOPIC, OWN_DROPPED), (TOPIC, RECOVERED)
    later = T0 + timedelta(minutes=1)
    store.store([], T0, channel=TOPIC, replay_id="00000000000000aa", counters={own: 2})
    store.store([], later, channel=TOPIC, counters={own: 1, recovered: 1})
    store.store([], later, poll_entity="Contact", counters={("poll:Contact", OWN_DROPPED): 4})
    assert [c.channel for c in store.channels()] == [TOPIC]
    assert store.counters() == {
        own: Count(TOPIC, OWN_DROPPED, 3, later),
        recovered: Count(TOPIC, RECOVERED, 1, later),
        ("poll:Contact", OWN_DROPPED): Count("poll:Contact", OWN_DROPPED, 4, later),
    }
    position = store.channel(TOPIC)
    assert position is not None and position.replay_id == "00000000000000aa"

    store.forget_replay(TOPIC)
    state = store.channel(TOPIC)
    assert state is not None and state.replay_id is None and state.last_commit_ms == 1_000


def _naive(at: datetime) -> datetime:
    return at.replace(tzinfo=None)


def test_migration_0011_moves_the_counter_rows_into_their_table_and_back(db_url: str) -> None:
    config = db.alembic_config(db_url)
    command.upgrade(config, "0010")
    engine = db.make_engine(db_url)
    insert = text(
        "INSERT INTO capture_positions (channel, replay_id, last_commit_ms, events, updated_at)"
        " VALUES (:c, :r, :m, :n, :at)"
    )
    old = [  # as the code before revision 0011 wrote them
        {"c": TOPIC, "r": "00aa", "m": 5_000, "n": 7, "at": _naive(T0)},
        {"c": f"{TOPIC}#own", "r": None, "m": None, "n": 3, "at": _naive(T0)},
        {"c": f"{TOPIC}#recovered", "r": None, "m": None, "n": 2, "at": _naive(T0)},
        {"c": "poll:Account#own", "r": None, "m": None, "n": 9, "at": _naive(T0)},
    ]
    try:
        with engine.begin() as conn:
            conn.execute(insert, old)
        command.upgrade(config, "0011")
        store = CaptureStore(engine, Inbox(engine))
        [channel] = store.channels()
        assert (channel.channel, channel.replay_id, channel.events) == (TOPIC, "00aa", 7)
        assert store.counters() == {
            (TOPIC, OWN_DROPPED): Count(TOPIC, OWN_DROPPED, 3, T0),
            (TOPIC, RECOVERED): Count(TOPIC, RECOVERED, 2, T0),
            ("poll:Account", OWN_DROPPED): Count("poll:Account", OWN_DROPPED, 9, T0),
        }

        # what the new code counts after the upgrade goes back too
        later = T0 + timedelta(hours=1)
        store.store([], later, channel=TOPIC, counters={(TOPIC, OWN_DROPPED): 1})
        command.downgrade(config, "0010")
        with engine.connect() as conn:
            rows = conn.execute(select(capture_positions)).all()
        back = {r.channel: (r.replay_id, int(r.events), r.updated_at) for r in rows}
        assert back == {
            TOPIC: ("00aa", 7, later),
            f"{TOPIC}#own": (None, 4, later),
            f"{TOPIC}#recovered": (None, 2, T0),
            "poll:Account#own": (None, 9, T0),
        }

        command.upgrade(config, "head")  # and forward again, to the same counts
        assert CaptureStore(engine, Inbox(engine)).counters()[(TOPIC, OWN_DROPPED)].total == 4
    finally:
        engine.dispose()
