"""Capture's recovery decisions (`domain.capture.recovery`): where a stream starts and when a
catch-up round runs, stripe2sf's own changes told apart, GAP changes filled from a read."""

from __future__ import annotations

from stripe2sf.domain.capture.change import SalesforceChange
from stripe2sf.domain.capture.recovery import (
    fill_gap,
    gap_reads,
    ids_soql,
    plan_start,
    split_own,
)

NOW = 1_800_000_000_000


def _change(
    record: str = "003A",
    kind: str = "updated",
    user: str | None = "005OTHER0000001",
    gap: bool = False,
    entity: str = "Contact",
) -> SalesforceChange:
    return SalesforceChange(
        entity=entity,
        change=kind,  # type: ignore[arg-type]
        record_id=record,
        fields={} if gap else {"Email": "a@b.c"},
        changed=() if gap else ("Email",),
        commit_ts_ms=NOW,
        source="cdc",
        position="tx:1",
        commit_user=user,
        extra={"gap": True} if gap else {},
    )


def _plan(**kw: object):  # type: ignore[no-untyped-def]
    args = {
        "exists": True,
        "replay_id_hex": None,
        "complete_to_ms": None,
        "saved_ms": NOW - 5_000,
        "now_ms": NOW,
        "overlap_seconds": 10.0,
    }
    args.update(kw)
    return plan_start(**args)  # type: ignore[arg-type]


def test_a_stored_replay_id_resumes_with_nothing_to_catch_up() -> None:
    plan = _plan(replay_id_hex="00000000000000ff", complete_to_ms=NOW - 60_000)
    assert plan.replay_id == bytes.fromhex("00000000000000ff")
    assert plan.catch_up_from_ms is None and plan.store_start_ms is None


def test_a_first_start_stores_its_start_before_subscribing_and_catches_nothing_up() -> None:
    plan = _plan(exists=False)
    assert plan.replay_id is None and plan.store_start_ms == NOW
    assert plan.catch_up_from_ms is None


def test_a_start_without_a_replay_id_catches_up_from_where_it_was_complete() -> None:
    # a first start killed before its first event or keepalive stored its start time
    plan = _plan(complete_to_ms=NOW - 3_600_000)
    assert plan.replay_id is None and plan.store_start_ms is None
    assert plan.catch_up_from_ms == NOW - 3_600_000 - 10_000
    # a row saved only by keepalives (no change time): complete up to when it was saved
    assert _plan(complete_to_ms=None).catch_up_from_ms == NOW - 5_000 - 10_000


def test_own_changes_are_split_off_on_the_first_15_characters_of_the_user_id() -> None:
    mine = _change("003A", user="005000000000001AAA")
    theirs = _change("003B", user="005000000000002AAA")
    nobody = _change("003C", user=None)
    kept, own = split_own([mine, theirs, nobody], ["005000000000001"])
    assert own == [mine] and kept == [theirs, nobody]
    assert split_own([mine], []) == ([mine], [])


def test_gap_changes_name_the_records_to_read_except_deletes() -> None:
    changes = [
        _change("003A", gap=True),
        _change("003A", gap=True),
        _change("003B", kind="deleted", gap=True),
        _change("003C"),
        _change("001A", gap=True, entity="Account"),
    ]
    assert gap_reads(changes) == {"Contact": ["003A"], "Account": ["001A"]}


def test_a_gap_change_takes_every_used_field_of_the_record_as_changed() -> None:
    gap = _change("003A", gap=True)
    row = {"Id": "003A", "IsDeleted": False, "Email": "now@x.com", "Phone": None}
    filled = fill_gap(gap, row, ["Email", "Phone"])
    assert filled.fields == {"Email": "now@x.com", "Phone": None}
    assert filled.changed == ("Email", "Phone")
    assert filled.extra["gap"] and filled.extra["gap_filled"] and filled.event_id == gap.event_id
    created = fill_gap(_change("003A", kind="created", gap=True), row, ["Email", "Phone"])
    assert created.fields == {"Email": "now@x.com"}  # a create lists only values it has
    # gone since, or deleted: left as a gap without fields (its DELETE event follows)
    assert fill_gap(gap, None, ["Email"]) == gap
    assert fill_gap(gap, {**row, "IsDeleted": True}, ["Email"]) == gap


def test_the_gap_read_names_its_ids_quoted() -> None:
    soql = ids_soql("Contact", ["Email", "Id"], ["003A", "00'3"])
    assert soql == "SELECT Id, IsDeleted, Email FROM Contact WHERE Id IN ('003A', '00\\'3')"
