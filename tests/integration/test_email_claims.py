"""Email claims on SQLite and PostgreSQL: the first customer of an email holds it, whatever
the number of workers asking at once (separate engines, as separate processes have)."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

from stripe2sf.store import db
from stripe2sf.store.email_claims import EmailClaims


def test_one_holder_per_email_across_engines(db_url: str) -> None:
    db.upgrade(db_url)
    engines = [db.make_engine(db_url) for _ in range(4)]
    start = threading.Barrier(8)

    def ask(n: int) -> str:
        claims = EmailClaims(engines[n % 4])
        start.wait()
        spelled = "Pat@Shared.example" if n % 2 else " pat@shared.EXAMPLE"
        return claims.claim(f"cus_{n}", spelled)

    try:
        with ThreadPoolExecutor(8) as pool:
            holders = list(pool.map(ask, range(8)))
        assert len(set(holders)) == 1 and holders[0] in {f"cus_{n}" for n in range(8)}
        again = EmailClaims(engines[0]).claim_many(
            [("cus_new", "PAT@shared.example"), ("cus_new", "other@shared.example")]
        )
        assert again == {
            ("cus_new", "pat@shared.example"): holders[0],
            ("cus_new", "other@shared.example"): "cus_new",
        }
    finally:
        for engine in engines:
            engine.dispose()
