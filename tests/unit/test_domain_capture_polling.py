"""Polling decisions: the window query, what changed since the last values seen, and how often
a round may run within the API share."""

import math

from stripe2sf.domain.capture.polling import (
    Snapshot,
    diff_round,
    parse_datetime_ms,
    plan_polling,
    soql_datetime,
    watched_fields,
    window_soql,
    window_start,
)

FIELDS = ("FirstName", "LastName", "Email")
START = parse_datetime_ms("2026-12-03T10:00:00.000+0000")


def _row(rid, stamp, created="2026-12-01T00:00:00.000+0000", deleted=False, **values):
    row = {
        "Id": rid,
        "CreatedDate": created,
        "SystemModstamp": stamp,
        "LastModifiedById": "005USER",
        "IsDeleted": deleted,
        "FirstName": "Ada",
        "LastName": "Lovelace",
        "Email": "ada@example.com",
    }
    row.update(values)
    return row


def test_datetimes_parse_in_every_rest_form_and_soql_literals_floor_to_the_second():
    assert parse_datetime_ms("2026-12-03T10:00:00.000+0000") == START
    assert parse_datetime_ms("2026-12-03T10:00:00Z") == START
    assert parse_datetime_ms("2026-12-03T11:00:00.000+01:00") == START
    assert soql_datetime(START + 999) == "2026-12-03T10:00:00Z"


def test_the_window_query_reads_watched_and_system_fields_oldest_first():
    soql = window_soql("Contact", FIELDS, window_start(START + 5_000, 5))
    assert soql == (
        "SELECT Id, CreatedDate, SystemModstamp, LastModifiedById, IsDeleted, FirstName, "
        "LastName, Email FROM Contact WHERE SystemModstamp >= 2026-12-03T10:00:00Z "
        "ORDER BY SystemModstamp, Id"
    )


def test_watched_fields_come_from_configuration_else_defaults_and_only_those_the_org_has():
    assert "Email" in watched_fields("Contact")
    assert watched_fields("Contact", ["Contact.Email", "Account.Name"]) == ("Email",)
    assert "Stripe_Customer_Id__c" not in watched_fields("Account", available=["Name", "Phone"])
    assert watched_fields("Widget__c") == ("Name", "OwnerId")
    assert watched_fields("Contact", ["Contact.Id", "Contact.Email"]) == ("Email",)


def test_a_changed_watched_field_is_an_update_with_only_what_changed():
    before = {
        "003A": Snapshot(START, {"FirstName": "Ada", "LastName": "Lovelace", "Email": "old@x.io"})
    }
    result = diff_round(
        "Contact", [_row("003A", "2026-12-03T10:00:05.000+0000")], FIELDS, before, START
    )
    (change,) = result.changes
    assert change.change == "updated" and change.source == "poll"
    assert change.fields == {"Email": "ada@example.com"} and change.changed == ("Email",)
    assert change.position == "2026-12-03T10:00:05.000+0000"
    assert change.commit_user == "005USER" and change.commit_ts_ms == START + 5_000
    assert result.snapshots["003A"].values["Email"] == "ada@example.com"
    assert result.watermark_ms == START + 5_000


def test_a_record_seen_again_with_the_same_stamp_or_unwatched_changes_is_no_change():
    snap = Snapshot(
        START + 5_000, {"FirstName": "Ada", "LastName": "Lovelace", "Email": "ada@example.com"}
    )
    same = diff_round(
        "Contact", [_row("003A", "2026-12-03T10:00:05.000+0000")], FIELDS, {"003A": snap}, START
    )
    assert same.changes == [] and same.snapshots == {}
    later = diff_round(
        "Contact", [_row("003A", "2026-12-03T10:00:09.000+0000")], FIELDS, {"003A": snap}, START
    )
    assert later.changes == [] and later.snapshots["003A"].modstamp_ms == START + 9_000


def test_records_first_seen_are_created_updated_or_remembered_by_when_polling_began():
    rows = [
        _row("003OLD", "2026-12-03T09:59:58.000+0000"),  # changed before polling began
        _row(
            "003NEW",
            "2026-12-03T10:00:02.000+0000",
            created="2026-12-03T10:00:02.000+0000",
            Email=None,
        ),
        _row("003UPD", "2026-12-03T10:00:03.000+0000"),
    ]
    result = diff_round("Contact", rows, FIELDS, {}, START)
    kinds = {c.record_id: c for c in result.changes}
    assert set(kinds) == {"003NEW", "003UPD"}
    assert kinds["003NEW"].change == "created" and kinds["003NEW"].fields == {
        "FirstName": "Ada",
        "LastName": "Lovelace",
    }
    assert kinds["003UPD"].change == "updated" and kinds["003UPD"].extra == {
        "previous_unknown": True
    }
    assert kinds["003UPD"].changed == FIELDS
    assert set(result.snapshots) == {"003OLD", "003NEW", "003UPD"}


def test_a_deleted_record_from_query_all_is_a_delete():
    before = {"003A": Snapshot(START, {"Email": "a"})}
    (change,) = diff_round(
        "Contact",
        [_row("003A", "2026-12-03T10:00:05.000+0000", deleted=True)],
        FIELDS,
        before,
        START,
    ).changes
    assert change.change == "deleted" and change.fields == {}


def test_the_interval_keeps_a_day_of_rounds_within_the_api_share():
    plan = plan_polling(
        ["Account", "Contact", "Opportunity"],
        minimum_seconds=10,
        api_share=0.05,
        daily_limit=100_000,
    )
    # 5,000 calls a day, one Composite call a round for three objects: every 17.28 s at most
    assert math.isclose(plan.interval_seconds, 86_400 / 5_000)
    assert plan.calls_per_round == 1
    assert plan.calls_per_day <= 5_000 and plan.budget_calls_per_day == 5_000
    six = plan_polling(list("ABCDEF"), minimum_seconds=30, api_share=0.05, daily_limit=100_000)
    assert six.calls_per_round == 2 and math.isclose(six.interval_seconds, 86_400 * 2 / 5_000)
    relaxed = plan_polling(["Contact"], minimum_seconds=60, api_share=0.05, daily_limit=1_000_000)
    assert relaxed.interval_seconds == 60 and relaxed.calls_per_day == 1_440
    unknown = plan_polling(["Contact"], minimum_seconds=10, api_share=0.05, daily_limit=None)
    assert unknown.interval_seconds == 10 and unknown.budget_calls_per_day is None
    none = plan_polling(["Contact"], minimum_seconds=10, api_share=0, daily_limit=15_000)
    assert math.isinf(none.interval_seconds) and none.calls_per_day == 0
