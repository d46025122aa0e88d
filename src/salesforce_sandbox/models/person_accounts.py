"""Person Accounts, the record side: a ``Records`` hook (``RecordHook``) that keeps a person
account and its person contact one record, as Salesforce does (``schema.person_accounts`` has
the schema side). It does nothing while the feature is off.

* An Account's record type decides its kind: the "Person Account" record type (``IsPersonType``)
  makes a person account; an Account created without ``RecordTypeId`` gets the business
  account record type (the default one). A record type of another object, or an inactive or
  unknown one, fails with INVALID_CROSS_REFERENCE_KEY "Record Type ID: this ID value isn't
  valid for the user: 012...".
* A person account needs ``LastName`` (REQUIRED_FIELD_MISSING) and refuses ``Name``
  (INVALID_FIELD_FOR_INSERT_UPDATE "Account: bad field names on insert/update call: Name"):
  its Name is "FirstName LastName". A business account refuses the person fields the same way
  ("... call: PersonEmail, Stripe_Customer_Id__pc").
* Creating a person account creates its person contact (``IsPersonAccount`` true, ``AccountId``
  the account, ``OwnerId`` the account's owner; ``PersonContactId`` names it); a write to
  either side shows on the other (``PersonEmail`` is the contact's ``Email``, ``X__pc`` its
  ``X__c``, ``Phone`` and ``OwnerId`` are shared). Both are checked before either is written.
* A person contact keeps its account: changing its ``AccountId`` fails with
  INVALID_FIELD_FOR_INSERT_UPDATE "Account: bad field names on insert/update call: AccountId";
  no other Contact may join a person account, and a person contact is deleted with its account
  only (INVALID_PERSON_ACCOUNT_OPERATION otherwise).
* Changing an Account's record type between the two kinds converts it, and takes no other
  field ("Cannot specify any additional fields when marrying or separating a
  Person-Account"): a person account keeps its contact as an ordinary one; a business account
  with exactly one contact makes it its person contact.
* Turning the feature off is refused while person accounts exist (Salesforce never turns it
  off; the sandbox does, for tests, when nothing depends on it).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from salesforce_sandbox.errors import SalesforceError
from salesforce_sandbox.models.records import Records
from salesforce_sandbox.models.store import Record, Store
from salesforce_sandbox.schema import person_accounts as pa
from salesforce_sandbox.schema.model import ObjectDef, Schema
from salesforce_sandbox.validation import missing_required

# Fields every write sets itself: a conversion may change these along with RecordTypeId.
_AUDIT = frozenset(
    {"RecordTypeId", "LastModifiedDate", "LastModifiedById", "SystemModstamp", "CurrencyIsoCode"}
)


def _bad_fields(names: list[str]) -> SalesforceError:
    return SalesforceError(
        "INVALID_FIELD_FOR_INSERT_UPDATE",
        f"Account: bad field names on insert/update call: {', '.join(names)}",
        fields=names,
    )


def _changed(record: Record, current: Record | None, name: str) -> bool:
    """Whether a write sets ``name``: any value on a create, a new one on an update."""
    if current is None:
        return record.get(name) is not None
    return record.get(name) != current.get(name)


def person_name(record: Record) -> str | None:
    parts = [record.get("FirstName"), record.get("LastName")]
    return " ".join(str(p) for p in parts if p) or None


class PersonAccounts:
    """The person account hook of one org's ``Records``; also turns the feature on and off."""

    def __init__(self, store: Store, records: Records, schema: Callable[[], Schema]) -> None:
        self.store = store
        self.records = records
        self.schema = schema
        self._mirroring = False
        # record Id -> (object name, record Id, changes) to write once the record is stored
        self._pending: dict[str, list[tuple[str, str, dict[str, Any]]]] = {}

    # the feature ------------------------------------------------------------------------------
    @property
    def enabled(self) -> bool:
        return pa.enabled(self.schema())

    def enable(self, schema: Schema) -> None:
        """Add the schema, seed the record types, and make the accounts and contacts that exist
        business ones (as enabling Person Accounts does)."""
        pa.apply(schema)
        record_type = schema.get("RecordType")
        assert record_type is not None
        with self.store.transaction():
            for row in pa.record_types():
                if self.store.get(str(row["Id"])) is None:
                    self.records.create(record_type, row, system=True)
            for sobject in ("Account", "Contact"):
                for record in list(self.store.scan(sobject, True)):
                    if record.get("IsPersonAccount") is not None:
                        continue
                    changed = {**record, "IsPersonAccount": False}
                    if sobject == "Account":
                        changed.setdefault("RecordTypeId", pa.BUSINESS_RECORD_TYPE_ID)
                    self.store.replace(
                        str(record["Id"]), changed, deleted=bool(record.get("IsDeleted"))
                    )

    def refresh(self, schema: Schema) -> None:
        """A deployed schema: Contact custom fields get their ``__pc`` twins."""
        if pa.enabled(schema):
            pa.apply(schema)

    def disable(self, schema: Schema) -> None:
        people = sum(1 for r in self.store.scan("Account", False) if r.get("IsPersonAccount"))
        if people:
            raise SalesforceError(
                "FEATURE_IN_USE",
                f"person-accounts cannot be turned off: the org has {people} person account(s) "
                "(Salesforce never turns Person Accounts off; delete them first, or reset)",
            )
        pa.remove(schema)

    # RecordHook -------------------------------------------------------------------------------
    def before_write(
        self, obj: ObjectDef, record: Record, current: Record | None, user: str
    ) -> None:
        if obj.name not in ("Account", "Contact") or obj.field("IsPersonAccount") is None:
            return
        if obj.name == "Account":
            self._account(obj, record, current)
        else:
            self._contact(obj, record, current)

    def after_write(self, obj: ObjectDef, record: Record) -> None:
        for sobject, record_id, changes in self._pending.pop(str(record.get("Id")), []):
            target = self.schema().get(sobject)
            assert target is not None
            self._mirroring = True
            try:
                if self.store.get(record_id) is None:
                    self.records.create(target, {"Id": record_id, **changes}, system=True)
                else:
                    self.records.update(
                        target, record_id, changes, user=record.get("LastModifiedById"), system=True
                    )
            finally:
                self._mirroring = False

    def before_delete(self, obj: ObjectDef, current: Record) -> None:
        if obj.name == "Contact" and current.get("IsPersonAccount"):
            raise SalesforceError(
                "INVALID_PERSON_ACCOUNT_OPERATION",
                "cannot reference person contact: delete its person account "
                f"{current.get('AccountId')} instead",
            )

    # accounts ---------------------------------------------------------------------------------
    def _record_type(self, record_type_id: Any) -> Record:
        found = self.store.get(str(record_type_id))
        row = found[2] if found is not None and not found[1] else None
        if (
            row is None
            or found is None
            or found[0] != "RecordType"
            or row.get("SobjectType") != "Account"
            or not row.get("IsActive", True)
        ):
            raise SalesforceError(
                "INVALID_CROSS_REFERENCE_KEY",
                f"Record Type ID: this ID value isn't valid for the user: {record_type_id}",
                fields=["RecordTypeId"],
            )
        return row

    def _account(self, obj: ObjectDef, record: Record, current: Record | None) -> None:
        if current is None and record.get("RecordTypeId") is None:
            record["RecordTypeId"] = pa.BUSINESS_RECORD_TYPE_ID
        person = bool(self._record_type(record["RecordTypeId"]).get("IsPersonType"))
        if current is not None and person != bool(current.get("IsPersonAccount")):
            self._convert(obj, record, current, person)
            return
        if not person:
            bad = [
                f.name
                for f in obj.fields.values()
                if pa.is_person_field(f.name)
                and _changed(record, current, f.name)
                and (current is not None or record.get(f.name) != f.default)
            ]
            if bad:
                raise _bad_fields(bad)
            record["IsPersonAccount"] = False
            return
        if _changed(record, current, "Name"):
            raise _bad_fields(["Name"])
        if record.get("LastName") is None:
            raise SalesforceError(
                "REQUIRED_FIELD_MISSING",
                "Required fields are missing: [LastName]",
                fields=["LastName"],
            )
        record["IsPersonAccount"] = True
        record["Name"] = person_name(record)
        if self._mirroring:
            return
        contact_id = record.get("PersonContactId")
        if current is None or not contact_id:
            contact_id = self.records.new_id("003")
            record["PersonContactId"] = contact_id
            changes = self._contact_values(obj, record)
        else:
            changes = self._differences(
                self._contact_values(obj, record), self._stored(str(contact_id))
            )
        if changes:
            self._check_contact(str(contact_id), changes)
            self._pending[str(record["Id"])] = [("Contact", str(contact_id), changes)]

    def _contact_values(self, obj: ObjectDef, record: Record) -> dict[str, Any]:
        """The person contact as the account shows it."""
        values: dict[str, Any] = {
            "AccountId": record["Id"],
            "IsPersonAccount": True,
            "CreatedById": record.get("CreatedById"),
            "CreatedDate": record.get("CreatedDate"),
        }
        contact = self.schema().get("Contact")
        assert contact is not None
        for definition in obj.fields.values():
            source = pa.contact_field_of(definition.name)
            if source is not None and contact.field(source) is not None:
                values[source] = record.get(definition.name)
        return values

    def _convert(self, obj: ObjectDef, record: Record, current: Record, person: bool) -> None:
        others = [
            name
            for name in sorted(set(record) | set(current))
            if name not in _AUDIT and record.get(name) != current.get(name)
        ]
        if others:
            raise SalesforceError(
                "INVALID_FIELD_FOR_INSERT_UPDATE",
                "Cannot specify any additional fields when marrying or separating a Person-Account",
                fields=others,
            )
        if not person:  # separating: the person contact stays as an ordinary contact
            contact_id = str(current.get("PersonContactId") or "")
            for definition in obj.fields.values():
                if pa.is_person_field(definition.name):
                    record[definition.name] = None
            record["IsPersonAccount"], record["PersonContactId"] = False, None
            if contact_id:
                self._pending[str(record["Id"])] = [
                    ("Contact", contact_id, {"IsPersonAccount": False})
                ]
            return
        contacts = [
            c for c in self.store.scan("Contact", False) if c.get("AccountId") == record["Id"]
        ]
        if len(contacts) != 1:
            raise SalesforceError(
                "INVALID_PERSON_ACCOUNT_OPERATION",
                "a business account becomes a person account only with exactly one contact; "
                f"account {record['Id']} has {len(contacts)}",
                fields=["RecordTypeId"],
            )
        contact = contacts[0]
        for definition in obj.fields.values():
            source = pa.contact_field_of(definition.name)
            if pa.is_person_field(definition.name) and source is not None:
                record[definition.name] = contact.get(source)
        record["IsPersonAccount"], record["PersonContactId"] = True, contact["Id"]
        record["Name"] = person_name(record)
        self._pending[str(record["Id"])] = [
            (
                "Contact",
                str(contact["Id"]),
                {"IsPersonAccount": True, "OwnerId": record.get("OwnerId")},
            )
        ]

    # contacts ---------------------------------------------------------------------------------
    def _contact(self, obj: ObjectDef, record: Record, current: Record | None) -> None:
        if self._mirroring:
            return
        is_person = bool(current and current.get("IsPersonAccount"))
        if is_person and current is not None:
            if _changed(record, current, "AccountId"):
                raise _bad_fields(["AccountId"])
            account_id = str(current.get("AccountId"))
            stored = self._stored(account_id)
            if not stored:
                return
            account = self.schema().get("Account")
            assert account is not None
            wanted: dict[str, Any] = {}
            for definition in obj.fields.values():
                target = pa.account_field_of(definition.name)
                if target is not None and account.field(target) is not None:
                    wanted[target] = record.get(definition.name)
            changes = self._differences(wanted, stored)
            if changes:
                self._pending[str(record["Id"])] = [("Account", account_id, changes)]
            return
        if record.get("IsPersonAccount") is None:
            record["IsPersonAccount"] = False
        parent_id = record.get("AccountId")
        if parent_id and _changed(record, current, "AccountId"):
            parent = self._stored(str(parent_id))
            if parent.get("IsPersonAccount"):
                raise SalesforceError(
                    "INVALID_PERSON_ACCOUNT_OPERATION",
                    f"cannot reference person account {parent_id}: a person account has "
                    "only its own person contact",
                    fields=["AccountId"],
                )

    # helpers ----------------------------------------------------------------------------------
    def _stored(self, record_id: str) -> Record:
        found = self.store.get(record_id)
        return found[2] if found is not None and not found[1] else {}

    @staticmethod
    def _differences(wanted: dict[str, Any], stored: Record) -> dict[str, Any]:
        return {
            k: v
            for k, v in wanted.items()
            if k not in ("CreatedById", "CreatedDate") and stored.get(k) != v
        }

    def _check_contact(self, contact_id: str, changes: dict[str, Any]) -> None:
        """Unique Contact fields the account's values would take: checked before anything is
        written, so that a refused contact leaves no account behind."""
        contact = self.schema().get("Contact")
        assert contact is not None
        merged = {**self._stored(contact_id), **changes}
        self.records.check_unique(contact, merged, contact_id)
        missing = missing_required(contact, merged)
        if missing is not None:
            raise missing
