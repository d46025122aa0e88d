"""sObject Get Updated / Get Deleted (the polling side of capturing Salesforce changes), their
shapes and errors as Salesforce answers them, and SOQL on SystemModstamp / LastModifiedById."""

from __future__ import annotations

import datetime as dt

import pytest
from simple_salesforce import Salesforce
from simple_salesforce.exceptions import SalesforceError as ClientError

from salesforce_sandbox.testing import SandboxServer
from tests.sandbox import salesforce_fixtures

salesforce_server = salesforce_fixtures.salesforce_server
sandbox = salesforce_fixtures.sandbox
sf = salesforce_fixtures.sf

ADMIN_ID = "005000000000001AAA"


def iso(value: dt.datetime) -> str:
    return value.strftime("%Y-%m-%dT%H:%M:%S+00:00")


def now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def test_updated_answers_ids_and_latest_date_covered(sf: Salesforce) -> None:
    old = sf.Contact.create({"LastName": "Old"})["id"]
    fresh = sf.Contact.create({"LastName": "Fresh"})["id"]
    gone = sf.Contact.create({"LastName": "Gone"})["id"]
    sf.Contact.delete(gone)
    start = now() - dt.timedelta(minutes=5)
    end = now() + dt.timedelta(minutes=5)
    answer = sf.restful("sobjects/Contact/updated/", params={"start": iso(start), "end": iso(end)})
    assert sorted(answer) == ["ids", "latestDateCovered"]
    assert answer["ids"] == [old, fresh]  # the deleted one is getDeleted's
    # end is later than now: the answer covers up to now, in Salesforce's date-time form
    covered = dt.datetime.strptime(answer["latestDateCovered"], "%Y-%m-%dT%H:%M:%S.%f%z")
    assert start < covered <= now()

    past_end = start + dt.timedelta(minutes=3)
    earlier = sf.Contact.updated(start, past_end)
    assert earlier["ids"] == []
    assert earlier["latestDateCovered"] == past_end.strftime("%Y-%m-%dT%H:%M:00.000+0000")


def test_deleted_answers_records_with_deleted_date(sf: Salesforce) -> None:
    kept = sf.Account.create({"Name": "Kept"})["id"]
    gone = sf.Account.create({"Name": "Gone"})["id"]
    contact = sf.Contact.create({"LastName": "Goes along", "AccountId": gone})["id"]
    sf.Account.delete(gone)
    start = now() - dt.timedelta(minutes=5)
    end = now() + dt.timedelta(minutes=5)
    answer = sf.Account.deleted(start, end)
    assert sorted(answer) == ["deletedRecords", "earliestDateAvailable", "latestDateCovered"]
    assert [r["id"] for r in answer["deletedRecords"]] == [gone]
    deleted_date = answer["deletedRecords"][0]["deletedDate"]
    assert dt.datetime.strptime(deleted_date, "%Y-%m-%dT%H:%M:%S.%f%z") > start
    assert answer["earliestDateAvailable"] < deleted_date
    contacts = sf.Contact.deleted(start, end)["deletedRecords"]
    assert [r["id"] for r in contacts] == [contact]  # the cascade is a deletion too
    assert kept not in [r["id"] for r in answer["deletedRecords"]]


@pytest.mark.parametrize(
    ("params", "code", "words"),
    [
        ({"end": "2030-01-01T00:00:00Z"}, "MISSING_ARGUMENT", "start"),
        ({"start": "yesterday", "end": "2030-01-01T00:00:00Z"}, "INVALID_REPLICATION_DATE", "ISO"),
        (
            {"start": "NOW", "end": "NOW"},
            "INVALID_REPLICATION_DATE",
            "must chronologically precede endDate",
        ),
        (
            {"start": "OLD", "end": "NOW"},
            "INVALID_REPLICATION_DATE",
            "cannot be more than",
        ),
    ],
)
def test_window_errors_as_salesforce_answers_them(
    sf: Salesforce, params: dict[str, str], code: str, words: str
) -> None:
    moments = {
        "NOW": iso(now()),
        "OLD": iso(now() - dt.timedelta(days=40)),
    }
    query = {k: moments.get(v, v) for k, v in params.items()}
    for resource in ("updated", "deleted"):
        with pytest.raises(ClientError) as caught:
            sf.restful(f"sobjects/Contact/{resource}/", params=query)
        assert caught.value.status == 400
        error = caught.value.content[0]
        assert error["errorCode"] == code
        assert words in error["message"]


def test_deleted_looks_back_15_days_and_updated_30(sf: Salesforce) -> None:
    start = now() - dt.timedelta(days=20)
    assert sf.Contact.updated(start, now())["ids"] == []
    with pytest.raises(ClientError) as caught:
        sf.Contact.deleted(start, now())
    assert "15 days" in caught.value.content[0]["message"]


def test_soql_on_system_modstamp_and_last_modified_by(sandbox: SandboxServer) -> None:
    sf = sandbox.salesforce()
    before = now() - dt.timedelta(seconds=2)
    contact = sf.Contact.create({"LastName": "Polled"})["id"]
    sandbox.seed(
        [
            {
                "attributes": {"type": "Contact"},
                "LastName": "Ancient",
                "SystemModstamp": "2020-01-01T00:00:00.000+0000",
                "LastModifiedDate": "2020-01-01T00:00:00.000+0000",
            }
        ]
    )
    since = before.strftime("%Y-%m-%dT%H:%M:%SZ")
    rows = sf.query_all(
        f"SELECT Id, SystemModstamp, LastModifiedById FROM Contact "
        f"WHERE SystemModstamp > {since} AND LastModifiedById = '{ADMIN_ID}' "
        "ORDER BY SystemModstamp"
    )["records"]
    assert [r["Id"] for r in rows] == [contact]
    assert rows[0]["LastModifiedById"] == ADMIN_ID
    sf.Contact.update(contact, {"Title": "CFO"})
    moved = sf.Contact.get(contact)
    assert moved["SystemModstamp"] >= rows[0]["SystemModstamp"]
    assert moved["LastModifiedById"] == ADMIN_ID
