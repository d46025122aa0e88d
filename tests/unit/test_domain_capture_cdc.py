"""Change Data Capture events decoded the way Salesforce sends them over the Pub/Sub API: an
Avro record (written here with fastavro from a schema shaped like Salesforce's
ContactChangeEvent / AccountChangeEvent) whose header's changedFields / nulledFields /
diffFields are bitmaps over the schema's field positions, with the ``P-0x..`` nested form for
compound fields."""

import io

import fastavro
import pytest

from stripe2sf.domain.capture.bitmap import BitmapError, decode, encode
from stripe2sf.domain.capture.cdc import CdcEventError, changes_of, flat, flatten_name

OPT = ["null", "string"]


def _header_schema():
    arr = {"type": "array", "items": "string"}
    return {
        "type": "record",
        "name": "ChangeEventHeader",
        "namespace": "com.sforce.eventbus",
        "fields": [
            {"name": "entityName", "type": "string"},
            {"name": "recordIds", "type": arr},
            {
                "name": "changeType",
                "type": {
                    "type": "enum",
                    "name": "ChangeType",
                    "namespace": "com.sforce.eventbus",
                    "symbols": [
                        "CREATE",
                        "UPDATE",
                        "DELETE",
                        "UNDELETE",
                        "GAP_CREATE",
                        "GAP_UPDATE",
                        "GAP_DELETE",
                        "GAP_UNDELETE",
                        "GAP_OVERFLOW",
                        "SNAPSHOT",
                    ],
                },
            },
            {"name": "changeOrigin", "type": "string"},
            {"name": "transactionKey", "type": "string"},
            {"name": "sequenceNumber", "type": "int"},
            {"name": "commitTimestamp", "type": "long"},
            {"name": "commitNumber", "type": "long"},
            {"name": "commitUser", "type": "string"},
            {"name": "nulledFields", "type": arr},
            {"name": "diffFields", "type": arr},
            {"name": "changedFields", "type": arr},
        ],
    }


def _opt(name, kind="string", doc=None):
    field = {"name": name, "type": ["null", kind], "default": None}
    if doc:
        field["doc"] = doc
    return field


CONTACT = {
    "type": "record",
    "name": "ContactChangeEvent",
    "namespace": "com.sforce.eventbus",
    "fields": [
        {"name": "ChangeEventHeader", "type": _header_schema()},  # position 0
        _opt("AccountId", doc="Data:Reference"),  # 1
        {  # 2
            "name": "Name",
            "type": [
                "null",
                {
                    "type": "record",
                    "name": "Switchable_PersonName",
                    "fields": [
                        _opt("Salutation"),
                        _opt("FirstName"),
                        _opt("LastName"),
                        _opt("MiddleName"),
                        _opt("Suffix"),
                    ],
                },
            ],
            "default": None,
            "doc": "Data:Switchable_PersonName",
        },
        {  # 3
            "name": "MailingAddress",
            "type": [
                "null",
                {
                    "type": "record",
                    "name": "Address",
                    "fields": [
                        _opt("Street"),
                        _opt("City"),
                        _opt("State"),
                        _opt("PostalCode"),
                        _opt("Country"),
                        _opt("Latitude", "double"),
                        _opt("Longitude", "double"),
                        _opt("GeocodeAccuracy"),
                    ],
                },
            ],
            "default": None,
        },
        _opt("Phone"),  # 4
        _opt("Email"),  # 5
        _opt("Description", doc="Data:LongTextArea"),  # 6
        _opt("Birthdate", "long", doc="Data:Date"),  # 7
        _opt("CreatedDate", "long", doc="CreatedDate:DateTime"),  # 8
        _opt("LastModifiedDate", "long", doc="Data:DateTime"),  # 9
        _opt("Stripe_Customer_Id__c"),  # 10
    ],
}
PARSED = fastavro.parse_schema(CONTACT)
TS = 1_764_000_000_123
IDS = ["003000000000001AAA"]


def _event(change_type="UPDATE", changed=(), nulled=(), diff=(), ids=IDS, **values):
    header = {
        "entityName": "Contact",
        "recordIds": list(ids),
        "changeType": change_type,
        "changeOrigin": "com/salesforce/api/rest/62.0;client=simple-salesforce/1.12",
        "transactionKey": "000a1b2c-0000-1111-2222-333344445555",
        "sequenceNumber": 3,
        "commitTimestamp": TS,
        "commitNumber": 1_100_670_838_951,
        "commitUser": "005000000000009AAA",
        "changedFields": list(changed),
        "nulledFields": list(nulled),
        "diffFields": list(diff),
    }
    return {"ChangeEventHeader": header, **values}


def _wire(record):
    """Through Avro binary and back, as the Pub/Sub API carries it."""
    buffer = io.BytesIO()
    fastavro.schemaless_writer(buffer, PARSED, record)
    buffer.seek(0)
    return fastavro.schemaless_reader(buffer, PARSED)


def test_the_documented_example_bitmap_decodes_by_bit_position():
    # Salesforce's example shape: top-level bits plus nested P-0x.. elements.
    # 0x30 = bits 4 and 5 -> Phone, Email; 2-0x06 = Name parts 1 and 2; 3-0x02 = City
    assert decode(CONTACT, ["0x30", "2-0x06", "3-0x02"]) == [
        "Phone",
        "Email",
        "Name.FirstName",
        "Name.LastName",
        "MailingAddress.City",
    ]


def test_a_top_level_bit_on_a_compound_field_stands_for_all_its_parts():
    assert decode(CONTACT, ["0x4"]) == [
        f"Name.{p}" for p in ("Salutation", "FirstName", "LastName", "MiddleName", "Suffix")
    ]


def test_encode_is_the_inverse_of_decode():
    names = ["Email", "Stripe_Customer_Id__c", "MailingAddress.Street", "Name.LastName"]
    bitmap = encode(CONTACT, names)
    assert bitmap == ["0x420", "2-0x4", "3-0x1"]
    assert sorted(decode(CONTACT, bitmap)) == sorted(names)


def test_a_bitmap_past_the_schema_asks_for_the_schema_again():
    with pytest.raises(BitmapError, match="fetch its schema again"):
        decode(CONTACT, ["0x1000"])
    with pytest.raises(BitmapError, match="not a compound field"):
        decode(CONTACT, ["5-0x1"])
    with pytest.raises(BitmapError, match="not hexadecimal"):
        decode(CONTACT, ["0xZZ"])


def test_names_instead_of_bitmaps_are_taken_as_names():
    assert decode(CONTACT, ["Email", "Name.FirstName"]) == ["Email", "Name.FirstName"]


def test_compound_parts_flatten_to_rest_names():
    assert flatten_name("BillingAddress", "City") == "BillingCity"
    assert flatten_name("MailingAddress", "PostalCode") == "MailingPostalCode"
    assert flatten_name("Name", "FirstName") == "FirstName"
    assert flatten_name("Location__c", "Latitude") == "Location__Latitude__s"
    assert flat("Email") == "Email"


def test_an_update_carries_changed_and_nulled_fields_flattened():
    record = _wire(
        _event(
            changed=encode(
                CONTACT, ["Email", "Name.FirstName", "MailingAddress.City", "LastModifiedDate"]
            ),
            nulled=encode(CONTACT, ["Phone"]),
            Email="new@example.com",
            Name={"FirstName": "Ada"},
            MailingAddress={"City": "Paris"},
            LastModifiedDate=TS,
        )
    )
    (change,) = changes_of(CONTACT, record, replay_id="00ff").changes
    assert change.entity == "Contact" and change.change == "updated"
    assert change.record_id == IDS[0]
    assert change.fields == {
        "FirstName": "Ada",
        "MailingCity": "Paris",
        "Email": "new@example.com",
        "LastModifiedDate": "2025-11-24T16:00:00.123+0000",
        "Phone": None,
    }
    assert set(change.changed) == {"Email", "FirstName", "MailingCity", "LastModifiedDate", "Phone"}
    assert change.commit_user == "005000000000009AAA"
    assert change.position == "000a1b2c-0000-1111-2222-333344445555:3"
    assert change.transaction_key == "000a1b2c-0000-1111-2222-333344445555"
    assert change.origin.startswith("com/salesforce/api/rest/62.0")
    assert change.source == "cdc" and change.commit_ts_ms == TS
    assert change.extra["replay_id"] == "00ff"
    # unchanged fields (null in the event) are not claimed as changed or nulled
    assert "LastName" not in change.fields and "AccountId" not in change.fields


def test_a_diff_field_is_named_changed_but_its_diff_is_not_a_value():
    record = _wire(
        _event(
            changed=encode(CONTACT, ["Description"]),
            diff=encode(CONTACT, ["Description"]),
            Description="@@ -1 +1 @@\n-a\n+b",
        )
    )
    (change,) = changes_of(CONTACT, record).changes
    assert change.changed == ("Description",)
    assert "Description" not in change.fields
    assert change.extra["diffs"] == {"Description": "@@ -1 +1 @@\n-a\n+b"}


def test_a_create_carries_every_field_with_a_value():
    record = _wire(
        _event(
            "CREATE",
            Name={"FirstName": "Ada", "LastName": "Lovelace"},
            Email="ada@example.com",
            Birthdate=19_000 * 86_400_000,
            CreatedDate=TS,
        )
    )
    (change,) = changes_of(CONTACT, record).changes
    assert change.change == "created"
    assert change.fields == {
        "FirstName": "Ada",
        "LastName": "Lovelace",
        "Email": "ada@example.com",
        "Birthdate": "2022-01-08",
        "CreatedDate": "2025-11-24T16:00:00.123+0000",
    }
    assert set(change.changed) == set(change.fields)


def test_one_change_per_record_id_each_with_its_own_event_id():
    record = _wire(_event(changed=encode(CONTACT, ["Phone"]), ids=["003A", "003B"], Phone="1"))
    changes = changes_of(CONTACT, record).changes
    assert [c.record_id for c in changes] == ["003A", "003B"]
    assert len({c.event_id for c in changes}) == 2
    assert all(c.fields == {"Phone": "1"} for c in changes)


def test_delete_undelete_and_gap_events():
    (deleted,) = changes_of(CONTACT, _wire(_event("DELETE"))).changes
    assert deleted.change == "deleted" and deleted.fields == {} and deleted.changed == ()
    (back,) = changes_of(CONTACT, _wire(_event("UNDELETE", Email="a@b.c"))).changes
    assert back.change == "undeleted" and back.fields == {"Email": "a@b.c"}
    (gap,) = changes_of(CONTACT, _wire(_event("GAP_UPDATE"))).changes
    assert gap.change == "updated" and gap.extra["gap"] is True and gap.fields == {}
    overflow = changes_of(CONTACT, _wire(_event("GAP_OVERFLOW", ids=[])))
    assert overflow.changes == [] and [o.entity for o in overflow.overflows] == ["Contact"]
    assert overflow.overflows[0].commit_ts_ms > 0


def test_a_malformed_event_says_what_is_missing():
    with pytest.raises(CdcEventError, match="ChangeEventHeader"):
        changes_of(CONTACT, {"Email": "x"})
    with pytest.raises(CdcEventError, match="recordIds"):
        changes_of(CONTACT, _event(ids=[]))
    with pytest.raises(CdcEventError, match="changeType"):
        changes_of(CONTACT, _event("SNAPSHOT"))
