"""When a plan made from a remembered link is planned again from fresh reads."""

from __future__ import annotations

from stripe2sf.domain.audit import OpOutcome
from stripe2sf.domain.matching.links import stale


def test_a_gone_id_or_a_permanent_failure_makes_the_link_stale() -> None:
    lock = {"payment": OpOutcome(False, code="UNABLE_TO_LOCK_ROW")}
    assert not stale(lock, permanent=False)  # transient: retried with the link kept
    assert stale({"x": OpOutcome(False, code="ENTITY_IS_DELETED")}, permanent=False)
    # A deleted Account answered through the customer id, not its Id (upsert turned insert,
    # reference by external id): permanent, and explained by a stale link as well.
    missing = {"account": OpOutcome(False, code="REQUIRED_FIELD_MISSING")}
    assert stale(missing, permanent=True)
    foreign = {"payment": OpOutcome(False, code="INVALID_FIELD")}
    assert stale(foreign, permanent=True)
