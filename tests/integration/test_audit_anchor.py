"""`stripe2sf audit verify` against a real database: entries deleted with SQL at the end (which
a hash chain alone cannot see), in the middle, or the anchor itself, are reported with how many
and from where, and the command exits non-zero; entries appended while it runs are no alarm."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from sqlalchemy import delete, update

from stripe2sf.domain.audit import AuditRecord, verify_chain
from stripe2sf.store import db
from stripe2sf.store.audit_trail import AuditTrail
from stripe2sf.store.tables import audit_head, audit_log
from tests.support.procs import clean_env

ROOT = Path(__file__).resolve().parents[2]


def rec(i: int) -> AuditRecord:
    return AuditRecord(
        at=f"2026-01-01T00:00:{i:02d}Z",
        event_id=f"evt_{i}",
        action="upsert",
        outcome="ok",
        sobject="Account",
        external_id=f"cus_{i}",
        record_id="001A",
        fields=("Billing_Status__c",),
    )


def verify_cli(db_url: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = clean_env()
    env.update(PYTHONPATH=str(ROOT), STRIPE2SF_DATABASE_URL=db_url, COLUMNS="200")
    return subprocess.run(
        [sys.executable, "-m", "stripe2sf", "audit", "verify"],
        env=env,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_deleting_the_newest_entries_is_reported_by_audit_verify(
    db_url: str, tmp_path: Path
) -> None:
    db.upgrade(db_url)
    engine = db.make_engine(db_url)
    try:
        trail = AuditTrail(engine)
        for batch in range(3):  # as the worker appends: a batch per transaction
            trail.add([rec(batch * 4 + i) for i in range(4)])
        assert trail.verify().ok and trail.verify().checked == 12
        intact = verify_cli(db_url, tmp_path)
        assert intact.returncode == 0, intact.stdout + intact.stderr
        assert "intact: 12 entries" in intact.stdout

        with engine.begin() as conn:  # someone removes the newest three entries
            conn.execute(delete(audit_log).where(audit_log.c.seq > 9))
        check = trail.verify()
        assert (check.ok, check.checked, check.first_bad_seq, check.missing) == (False, 9, 10, 3)
        broken = verify_cli(db_url, tmp_path)
        assert broken.returncode == 1, broken.stdout + broken.stderr
        text = " ".join(broken.stderr.split())
        assert "audit chain broken at entry 10" in text
        assert "the newest 3 entries (entries 10 to 12) are missing" in text
        assert "deleted at the end of the trail" in text

        with engine.begin() as conn:  # and one in the middle
            conn.execute(delete(audit_log).where(audit_log.c.seq == 5))
        middle = verify_cli(db_url, tmp_path)
        assert middle.returncode == 1
        assert "entry 5 missing (deleted in the middle" in " ".join(middle.stderr.split())

        with engine.begin() as conn:  # the anchor itself
            conn.execute(delete(audit_head))
        anchorless = trail.verify()
        assert not anchorless.ok and "anchor" in (anchorless.reason or "")
        assert verify_cli(db_url, tmp_path).returncode == 1
    finally:
        engine.dispose()


def test_entries_appended_after_the_anchor_was_read_are_no_alarm(db_url: str) -> None:
    db.upgrade(db_url)
    engine = db.make_engine(db_url)
    try:
        trail = AuditTrail(engine)
        trail.add([rec(i) for i in range(3)])
        head = trail.head()
        assert head is not None and head.seq == 3
        # a worker appends between the anchor read and the entry reads of a verification
        entries = trail.iter_all(upto=head.seq)
        first = next(entries)
        trail.add([rec(7)])
        assert verify_chain([first, *entries], head=head).ok
        assert trail.verify().ok and trail.verify().checked == 4
        # an anchor pushed back to hide deleted entries still has to match the newest hash
        with engine.begin() as conn:
            conn.execute(delete(audit_log).where(audit_log.c.seq == 4))
            conn.execute(update(audit_head).values(seq=3, hash="f" * 64))
        check = trail.verify()
        assert not check.ok and "replaced" in (check.reason or "")
    finally:
        engine.dispose()
