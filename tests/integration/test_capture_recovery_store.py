"""Capture's recovery state in the database (SQLite and PostgreSQL): a first start's position
stored once, a refused replay id forgotten, own-change and recovery counters kept out of the
channel list and added up in the same transaction as the changes."""

from __future__ import annotations

from datetime import UTC, datetime

from stripe2sf.store.capture import CaptureStore, counter
from stripe2sf.store.db import make_engine, upgrade
from stripe2sf.store.inbox import Inbox

TOPIC = "/data/ContactChangeEvent"
T0 = datetime(2026, 12, 3, 12, 0, tzinfo=UTC)


def _store(db_url: str) -> CaptureStore:
    upgrade(db_url)
    engine = make_engine(db_url)
    return CaptureStore(engine, Inbox(engine))


def test_start_forget_and_counters(db_url: str) -> None:
    store = _store(db_url)
    assert store.start(TOPIC, 1_000) is True
    assert store.start(TOPIC, 2_000) is False  # a second start leaves the first
    state = store.channel(TOPIC)
    assert state is not None and state.replay_id is None and state.last_commit_ms == 1_000

    own, recovered = counter(TOPIC, "own"), counter(TOPIC, "recovered")
    store.store([], T0, channel=TOPIC, replay_id="00000000000000aa", counters={own: 2})
    store.store([], T0, channel=TOPIC, counters={own: 1, recovered: 1})
    assert [c.channel for c in store.channels()] == [TOPIC]
    counts = store.counters()
    assert counts[own].events == 3 and counts[recovered].events == 1

    store.forget_replay(TOPIC)
    state = store.channel(TOPIC)
    assert state is not None and state.replay_id is None and state.last_commit_ms == 1_000
