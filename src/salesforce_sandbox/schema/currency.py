"""Multi-currency as Salesforce models it, for the schema (pure).

An org with multiple currencies enabled differs from a single-currency org in what describe
shows:

* ``CurrencyType`` exists (IsoCode, ConversionRate, DecimalPlaces, IsActive, IsCorporate):
  one record per currency the org knows, one of them the corporate currency. The object is
  absent from single-currency orgs, which is how clients tell the two apart from describe
  (the SOAP ``getUserInfo``/login result says ``organizationMultiCurrency`` too).
* ``CurrencyIsoCode`` is a restricted picklist of the active currencies on the CRM objects
  (Account, Contact, Opportunity, Case, activities), on every custom object and on every other
  object with currency fields; its label is "<Object> Currency" on the standard objects and
  "Currency ISO Code" elsewhere. A record's currency fields are amounts in that currency.
* ``User.DefaultCurrencyIsoCode``: the currency a user's new records get when they name none
  (the corporate currency unless the user chose another).

Field-level security does not govern ``CurrencyIsoCode`` (it follows its object), so it is not
``permissionable``.

Decimal places: Salesforce shows a record's currency fields with the decimals of the record's
currency (JPY 0, USD 2) in its user interface; the API stores what it is given either way, so
the sandbox keeps each field's own scale (``validation``).
"""

from __future__ import annotations

from dataclasses import dataclass

from salesforce_sandbox.schema.model import FieldDef, ObjectDef, PicklistValue, Schema
from salesforce_sandbox.schema.standard import system_fields

CURRENCY_FIELD = "CurrencyIsoCode"
USER_DEFAULT_FIELD = "DefaultCurrencyIsoCode"
CURRENCY_TYPE = "CurrencyType"
CURRENCY_TYPE_PREFIX = "02c"

# ISO 4217 codes Salesforce offers (a common subset): name, decimal places.
ISO_CURRENCIES: dict[str, tuple[str, int]] = {
    "AED": ("UAE Dirham", 2),
    "ARS": ("Argentine Peso", 2),
    "AUD": ("Australian Dollar", 2),
    "BGN": ("Bulgarian Lev", 2),
    "BHD": ("Bahraini Dinar", 3),
    "BRL": ("Brazilian Real", 2),
    "CAD": ("Canadian Dollar", 2),
    "CHF": ("Swiss Franc", 2),
    "CLP": ("Chilean Peso", 0),
    "CNY": ("Chinese Yuan", 2),
    "COP": ("Colombian Peso", 2),
    "CZK": ("Czech Koruna", 2),
    "DKK": ("Danish Krone", 2),
    "EGP": ("Egyptian Pound", 2),
    "EUR": ("Euro", 2),
    "GBP": ("British Pound", 2),
    "HKD": ("Hong Kong Dollar", 2),
    "HUF": ("Hungarian Forint", 2),
    "IDR": ("Indonesian Rupiah", 2),
    "ILS": ("Israeli Shekel", 2),
    "INR": ("Indian Rupee", 2),
    "ISK": ("Iceland Krona", 0),
    "JOD": ("Jordanian Dinar", 3),
    "JPY": ("Japanese Yen", 0),
    "KRW": ("Korean Won", 0),
    "KWD": ("Kuwaiti Dinar", 3),
    "MXN": ("Mexican Peso", 2),
    "MYR": ("Malaysian Ringgit", 2),
    "NGN": ("Nigerian Naira", 2),
    "NOK": ("Norwegian Krone", 2),
    "NZD": ("New Zealand Dollar", 2),
    "OMR": ("Omani Rial", 3),
    "PEN": ("Peruvian Sol", 2),
    "PHP": ("Philippine Peso", 2),
    "PLN": ("Polish Zloty", 2),
    "RON": ("Romanian Leu", 2),
    "SAR": ("Saudi Riyal", 2),
    "SEK": ("Swedish Krona", 2),
    "SGD": ("Singapore Dollar", 2),
    "THB": ("Thai Baht", 2),
    "TND": ("Tunisian Dinar", 3),
    "TRY": ("Turkish Lira", 2),
    "TWD": ("Taiwan Dollar", 2),
    "UAH": ("Ukraine Hryvnia", 2),
    "USD": ("U.S. Dollar", 2),
    "VND": ("Vietnam Dong", 0),
    "XAF": ("CFA Franc (BEAC)", 0),
    "XOF": ("CFA Franc (BCEAO)", 0),
    "ZAR": ("South African Rand", 2),
}

# Standard objects that carry CurrencyIsoCode in a multi-currency org, and its label there.
STANDARD_LABELS = {
    "Account": "Account Currency",
    "Contact": "Contact Currency",
    "Opportunity": "Opportunity Currency",
    "Case": "Case Currency",
    "Task": "Activity Currency",
    "Event": "Activity Currency",
    "User": "Currency",
}
# The org's configuration and permission objects never carry a currency.
NO_CURRENCY = frozenset(
    {
        "group",
        "organization",
        "profile",
        "permissionset",
        "permissionsetassignment",
        "objectpermissions",
        "fieldpermissions",
        "currencytype",
    }
)


@dataclass(frozen=True)
class Currency:
    """One CurrencyType record."""

    iso_code: str
    conversion_rate: float = 1.0
    decimal_places: int = 2
    active: bool = True
    corporate: bool = False

    @property
    def label(self) -> str:
        """The picklist label Salesforce shows: ``USD - U.S. Dollar``."""
        name = ISO_CURRENCIES.get(self.iso_code, (self.iso_code, 2))[0]
        return f"{self.iso_code} - {name}"


def default_decimals(iso_code: str) -> int:
    return ISO_CURRENCIES.get(iso_code.upper(), ("", 2))[1]


def picklist_of(currencies: list[Currency], default: str | None) -> list[PicklistValue]:
    """The CurrencyIsoCode picklist: the active currencies, ``default`` marked."""
    return [
        PicklistValue(c.iso_code, c.label, c.iso_code == default)
        for c in sorted(currencies, key=lambda c: c.iso_code)
        if c.active
    ]


def currency_type_object() -> ObjectDef:
    obj = ObjectDef(
        CURRENCY_TYPE,
        CURRENCY_TYPE_PREFIX,
        "Currency Type",
        "Currency Types",
        deletable=False,
    )
    system_fields(obj, owner=False)
    obj.remove("IsDeleted")  # CurrencyType records cannot be deleted
    obj.fields["id"].label = "Currency Type ID"
    obj.add(
        FieldDef(
            "IsoCode",
            "picklist",
            "Currency ISO Code",
            length=3,
            required=True,
            restricted=True,
            unique=True,
            updateable=False,
            picklist=[PicklistValue(code, Currency(code).label) for code in sorted(ISO_CURRENCIES)],
        )
    )
    obj.add(
        FieldDef(
            "ConversionRate", "double", "Conversion Rate", precision=18, scale=6, required=True
        )
    )
    obj.add(FieldDef("DecimalPlaces", "int", "Decimal Places", precision=9, required=True))
    obj.add(FieldDef("IsActive", "boolean", "Active"))
    obj.add(FieldDef("IsCorporate", "boolean", "Corporate Currency"))
    return obj


def carries_currency(obj: ObjectDef) -> bool:
    """Whether ``obj`` gets CurrencyIsoCode when multiple currencies are on."""
    if obj.name.lower() in NO_CURRENCY:
        return False
    if obj.custom or obj.name in STANDARD_LABELS:
        return True
    return any(f.type == "currency" for f in obj.fields.values())


def currency_field(obj: ObjectDef, picklist: list[PicklistValue]) -> FieldDef:
    return FieldDef(
        CURRENCY_FIELD,
        "picklist",
        STANDARD_LABELS.get(obj.name, "Currency ISO Code"),
        length=3,
        restricted=True,
        picklist=list(picklist),
    )


def user_default_field(picklist: list[PicklistValue]) -> FieldDef:
    return FieldDef(
        USER_DEFAULT_FIELD,
        "picklist",
        "User Currency",
        length=3,
        restricted=True,
        picklist=list(picklist),
    )


def enable(schema: Schema, currencies: list[Currency]) -> None:
    """Add CurrencyType and the currency fields (again after a deploy: idempotent), with the
    picklists of ``currencies``."""
    if schema.get(CURRENCY_TYPE) is None:
        schema.add(currency_type_object())
    set_picklists(schema, currencies)


def set_picklists(schema: Schema, currencies: list[Currency]) -> None:
    """Give every object that carries a currency its CurrencyIsoCode field with the active
    ``currencies`` (the corporate one is the default)."""
    corporate = next((c.iso_code for c in currencies if c.corporate), None)
    values = picklist_of(currencies, corporate)
    for obj in schema.objects():
        if not carries_currency(obj):
            continue
        current = obj.field(CURRENCY_FIELD)
        if current is None:
            obj.add(currency_field(obj, values))
        else:
            current.picklist[:] = values  # in place: users' schema views share the list
        if obj.name == "User":
            default = obj.field(USER_DEFAULT_FIELD)
            if default is None:
                obj.add(user_default_field(values))
            else:
                default.picklist[:] = values


def disable(schema: Schema) -> None:
    """Back to a single-currency schema."""
    for obj in schema.objects():
        obj.remove(CURRENCY_FIELD)
        obj.remove(USER_DEFAULT_FIELD)
    if schema.get(CURRENCY_TYPE) is not None:
        schema.remove(CURRENCY_TYPE)
