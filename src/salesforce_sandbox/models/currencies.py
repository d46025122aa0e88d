"""The org's currencies when multiple currencies are on: CurrencyType records and what they
decide (``schema.currency`` has the schema side).

* Turning the feature on seeds CurrencyType once: the corporate currency (USD unless
  configured) and the configured active currencies, plus known ones left inactive (JPY by
  default) so that an admin, or a test, activates them later.
* Every CurrencyIsoCode picklist lists the active currencies (restricted: an inactive or
  unknown code fails with INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST, "<label>: bad value for
  restricted picklist field: JPY"); a CurrencyType write refreshes them at once.
* A record created without a currency gets its creating user's DefaultCurrencyIsoCode (the
  corporate currency when the user has none, or when that currency is inactive).
* CurrencyType: IsoCode once per org (DUPLICATE_VALUE), the corporate currency stays active,
  and making another currency corporate moves the flag and re-bases every conversion rate on it
  (as Salesforce does).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from salesforce_sandbox.config import Settings
from salesforce_sandbox.errors import SalesforceError
from salesforce_sandbox.models.records import Records
from salesforce_sandbox.models.store import Record, Store
from salesforce_sandbox.schema import currency
from salesforce_sandbox.schema.currency import (
    CURRENCY_FIELD,
    CURRENCY_TYPE,
    USER_DEFAULT_FIELD,
    Currency,
)
from salesforce_sandbox.schema.model import ObjectDef, Schema

DEFAULT_CORPORATE = "USD"
DEFAULT_ACTIVE = ("USD", "EUR", "GBP")
DEFAULT_INACTIVE = ("JPY",)
# Sample rates against USD (units of the currency per U.S. dollar), fixed so tests can rely on them.
SAMPLE_RATES = {"USD": 1.0, "EUR": 0.92, "GBP": 0.79, "JPY": 150.0, "CAD": 1.36, "AUD": 1.52}


@dataclass(frozen=True)
class UserCurrencyInfo:
    """The currency part of the SOAP login's userInfo (getUserInfo): a multi-currency org
    names the user's default currency, a single-currency org its one currency and symbol."""

    multi_currency: bool
    user_default: str | None
    org_default: str | None
    currency_symbol: str | None


SYMBOLS = {"USD": "$", "EUR": "€", "GBP": "£", "JPY": "¥", "CAD": "$", "AUD": "$"}


@dataclass(frozen=True)
class CurrencySettings:
    """Which currencies a multi-currency org starts with."""

    corporate: str = DEFAULT_CORPORATE
    active: tuple[str, ...] = DEFAULT_ACTIVE
    inactive: tuple[str, ...] = DEFAULT_INACTIVE

    @classmethod
    def of(cls, settings: Settings) -> CurrencySettings:
        return cls(
            settings.corporate_currency,
            tuple(settings.currencies),
            tuple(settings.inactive_currencies),
        )

    def initial(self) -> list[Currency]:
        corporate = self.corporate.upper()
        active = dict.fromkeys([corporate, *(c.upper() for c in self.active)])
        inactive = [c.upper() for c in self.inactive if c.upper() not in active]
        base = SAMPLE_RATES.get(corporate, 1.0)
        out = []
        for code in [*active, *inactive]:
            unknown = code not in currency.ISO_CURRENCIES
            if unknown:
                raise SalesforceError(
                    "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST",
                    f"Currency ISO Code: bad value for restricted picklist field: {code}",
                )
            out.append(
                Currency(
                    code,
                    conversion_rate=round(SAMPLE_RATES.get(code, 1.0) / base, 6),
                    decimal_places=currency.default_decimals(code),
                    active=code in active,
                    corporate=code == corporate,
                )
            )
        return out


def _currency(record: Record) -> Currency:
    return Currency(
        str(record.get("IsoCode")),
        float(record.get("ConversionRate") or 1.0),
        int(record.get("DecimalPlaces") or 0),
        bool(record.get("IsActive")),
        bool(record.get("IsCorporate")),
    )


@dataclass
class Currencies:
    """The CurrencyType records' decisions, as a ``Records`` hook (``RecordHook``)."""

    store: Store
    records: Records
    schema: Callable[[], Schema]
    settings: CurrencySettings = field(default_factory=CurrencySettings)

    # state ------------------------------------------------------------------------------------
    def all(self) -> list[Currency]:
        return sorted(
            (_currency(r) for r in self.store.scan(CURRENCY_TYPE, False)),
            key=lambda c: c.iso_code,
        )

    def corporate(self) -> Currency | None:
        return next((c for c in self.all() if c.corporate), None)

    def active_codes(self) -> list[str]:
        return [c.iso_code for c in self.all() if c.active]

    @property
    def enabled(self) -> bool:
        return self.schema().get(CURRENCY_TYPE) is not None

    # the feature ------------------------------------------------------------------------------
    def enable(self, schema: Schema) -> None:
        """Add the currency schema to ``schema`` (again after a deploy or a reset), seeding
        CurrencyType the first time."""
        currency.enable(schema, self.settings.initial())
        obj = schema.get(CURRENCY_TYPE)
        assert obj is not None
        if not self.store.count(CURRENCY_TYPE):
            with self.store.transaction():
                for item in self.settings.initial():
                    self.records.create(obj, _record_of(item), system=True)
        currency.set_picklists(schema, self.all())
        self._backfill(schema)

    def _backfill(self, schema: Schema) -> None:
        """Records from before the feature was on get the corporate currency, as Salesforce
        gives every existing record when an admin enables multiple currencies."""
        corporate = self.corporate()
        if corporate is None:
            return
        with self.store.transaction():
            for obj in schema.objects():
                if obj.field(CURRENCY_FIELD) is None:
                    continue
                for record in list(self.store.scan(obj.name, True)):
                    if record.get(CURRENCY_FIELD) is not None:
                        continue
                    changed = {**record, CURRENCY_FIELD: corporate.iso_code}
                    if obj.name == "User":
                        changed.setdefault(USER_DEFAULT_FIELD, corporate.iso_code)
                    self.store.replace(
                        str(record["Id"]), changed, deleted=bool(record.get("IsDeleted"))
                    )

    def refresh(self, schema: Schema | None = None) -> None:
        """Every CurrencyIsoCode field of ``schema`` (the org's by default; objects deployed
        since get theirs) to the CurrencyType records as stored now."""
        target = schema or self.schema()
        if target.get(CURRENCY_TYPE) is not None:
            currency.set_picklists(target, self.all())

    def activate(self, codes: Iterable[str], active: bool = True) -> list[str]:
        """Turn currencies on (creating their CurrencyType) or off; answers the active codes."""
        obj = self.schema().get(CURRENCY_TYPE)
        if obj is None:
            raise SalesforceError(
                "INVALID_TYPE",
                "sObject type 'CurrencyType' is not supported: multiple currencies are off "
                "(enable the multi-currency feature)",
            )
        corporate = self.corporate()
        base = SAMPLE_RATES.get(corporate.iso_code if corporate else "USD", 1.0)
        with self.store.transaction():
            for raw in codes:
                code = str(raw).upper()
                found = self.store.lookup(CURRENCY_TYPE, "IsoCode", code.lower())
                if found:
                    self.records.update(obj, found[0], {"IsActive": active}, system=True)
                elif active:
                    item = Currency(
                        code,
                        round(SAMPLE_RATES.get(code, 1.0) / base, 6),
                        currency.default_decimals(code),
                    )
                    self.records.create(obj, _record_of(item), system=True)
        return self.active_codes()

    # RecordHook ---------------------------------------------------------------------------------
    def before_write(
        self, obj: ObjectDef, record: Record, current: Record | None, user: str
    ) -> None:
        if obj.name == CURRENCY_TYPE:
            self._check_currency_type(record, current)
            return
        if obj.field(CURRENCY_FIELD) is None or record.get(CURRENCY_FIELD) is not None:
            return
        # a record always has a currency: its creator's default, or the one it had
        before = current.get(CURRENCY_FIELD) if current is not None else None
        record[CURRENCY_FIELD] = before if current is not None else self.default_for(user)
        if obj.name == "User" and current is None and record.get(USER_DEFAULT_FIELD) is None:
            record[USER_DEFAULT_FIELD] = record[CURRENCY_FIELD]

    def after_write(self, obj: ObjectDef, record: Record) -> None:
        if obj.name == CURRENCY_TYPE:
            self.refresh()

    def user_info(self, user: str) -> UserCurrencyInfo:
        if self.enabled:
            return UserCurrencyInfo(True, self.default_for(user), None, None)
        code = self.settings.corporate.upper()
        return UserCurrencyInfo(False, None, code, SYMBOLS.get(code, code))

    def default_for(self, user: str) -> str | None:
        """The currency of a record ``user`` creates without naming one."""
        active = self.active_codes()
        found = self.store.get(user)
        chosen = found[2].get(USER_DEFAULT_FIELD) if found else None
        if chosen in active:
            return str(chosen)
        corporate = self.corporate()
        return corporate.iso_code if corporate else None

    def _check_currency_type(self, record: Record, current: Record | None) -> None:
        if record.get("DecimalPlaces") is None and record.get("IsoCode"):
            record["DecimalPlaces"] = currency.default_decimals(str(record["IsoCode"]))
        if record.get("IsCorporate") and not record.get("IsActive"):
            raise SalesforceError(
                "FIELD_INTEGRITY_EXCEPTION",
                "The corporate currency must be active.",
                fields=["IsActive"],
            )
        if current is not None and current.get("IsCorporate") and not record.get("IsCorporate"):
            raise SalesforceError(
                "FIELD_INTEGRITY_EXCEPTION",
                "The corporate currency cannot be unset; make another currency corporate.",
                fields=["IsCorporate"],
            )
        if record.get("IsCorporate") and not (current or {}).get("IsCorporate"):
            self._rebase(record)

    def _rebase(self, record: Record) -> None:
        """``record`` becomes the corporate currency: the old one loses the flag and every
        rate is expressed against the new one."""
        rate = float(record.get("ConversionRate") or 1.0)
        obj = self.schema().get(CURRENCY_TYPE)
        assert obj is not None
        for other in list(self.store.scan(CURRENCY_TYPE, False)):
            if other["Id"] == record.get("Id"):
                continue
            changed = dict(other)
            changed["ConversionRate"] = round(float(other.get("ConversionRate") or 1.0) / rate, 6)
            changed["IsCorporate"] = False
            self.store.replace(str(other["Id"]), changed)
        record["ConversionRate"] = 1.0


def _record_of(item: Currency) -> Record:
    return {
        "IsoCode": item.iso_code,
        "ConversionRate": item.conversion_rate,
        "DecimalPlaces": item.decimal_places,
        "IsActive": item.active,
        "IsCorporate": item.corporate,
    }
