"""Org features: parts of an org that Salesforce switches on per org (Person Accounts,
multiple currencies, ...), switchable per run and from the control plane.

    salesforce-sandbox --features person-accounts,multi-currency
    POST /_sandbox/features {"enable": ["person-accounts"], "disable": ["multi-currency"]}
    GET  /_sandbox/features  -> {"enabled": [...], "available": [{"name", "summary", ...}]}
    run_sandbox(features=["person-accounts"]);  sandbox.set_features(enable=[...])

The enabled set is kept with the org (its data directory), like the deployed schema: a restart
keeps what was enabled, plus the ``--features`` given; a schema reset goes back to those.

A feature is registered here (``FEATURES``) as a ``FeatureSpec``: a name, what it does, and how
to bind it to an org (``bind``: ``Org`` -> ``OrgFeature``). The bound feature:

* ``enable(schema)``: adds what it needs to the schema and seeds the records it needs (record
  types, currencies); called again after every start and reset, so idempotent;
* ``refresh(schema)``: the same on a deploy's candidate schema (objects or fields deployed
  since may need the feature's fields);
* ``disable(schema)``: removes it, or refuses with a ``SalesforceError`` saying why;
* ``strip(schema)``: removes what it added from a copy of the schema about to be saved (what a
  feature adds is derived again at start, never saved as deployed metadata).

Its record behaviour is a ``Records`` hook (``models.records.RecordHook``) that does nothing
while the feature is off (the org registers every feature's hook once).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, Protocol

from salesforce_sandbox.config import Settings
from salesforce_sandbox.errors import SalesforceError
from salesforce_sandbox.models.currencies import Currencies, CurrencySettings
from salesforce_sandbox.models.person_accounts import PersonAccounts
from salesforce_sandbox.models.store import Store
from salesforce_sandbox.schema import currency
from salesforce_sandbox.schema import person_accounts as person_schema
from salesforce_sandbox.schema.model import Schema

FEATURES_META = "features.enabled"


class Org(Protocol):
    """What features need of the org (``models.org.Org``; a protocol, not an import: the org
    imports this module)."""

    @property
    def settings(self) -> Settings: ...

    @property
    def store(self) -> Store: ...

    @property
    def full_schema(self) -> Schema: ...

    @property
    def person_accounts(self) -> PersonAccounts: ...

    @property
    def currencies(self) -> Currencies: ...

    def features_changed(self) -> None: ...


class OrgFeature(Protocol):
    @property
    def enabled(self) -> bool: ...

    def enable(self, schema: Schema) -> None: ...

    def refresh(self, schema: Schema) -> None: ...

    def disable(self, schema: Schema) -> None: ...

    def strip(self, schema: Schema) -> None: ...


@dataclass(frozen=True)
class FeatureSpec:
    name: str
    summary: str
    bind: Callable[[Org], OrgFeature]


@dataclass
class _Bound:
    """An ``OrgFeature`` made of an org model's methods and the feature's schema functions."""

    is_enabled: Callable[[], bool]
    on: Callable[[Schema], None]
    again: Callable[[Schema], None]
    off: Callable[[Schema], None]
    schema_off: Callable[[Schema], None]

    @property
    def enabled(self) -> bool:
        return self.is_enabled()

    def enable(self, schema: Schema) -> None:
        self.on(schema)

    def refresh(self, schema: Schema) -> None:
        self.again(schema)

    def disable(self, schema: Schema) -> None:
        self.off(schema)

    def strip(self, schema: Schema) -> None:
        self.schema_off(schema)


def _person_accounts(org: Org) -> OrgFeature:
    model = org.person_accounts
    return _Bound(
        lambda: model.enabled, model.enable, model.refresh, model.disable, person_schema.remove
    )


def _multi_currency(org: Org) -> OrgFeature:
    model = org.currencies
    model.settings = CurrencySettings.of(org.settings)
    return _Bound(
        lambda: model.enabled, model.enable, model.refresh, currency.disable, currency.disable
    )


FEATURES: dict[str, FeatureSpec] = {}


def register(spec: FeatureSpec) -> FeatureSpec:
    FEATURES[spec.name] = spec
    return spec


register(
    FeatureSpec(
        person_schema.NAME,
        "Person Accounts: Account.IsPersonAccount, PersonEmail, FirstName/LastName, the Person "
        "Account record type and the hidden person contact (PersonContactId); Contact custom "
        "fields show on the Account as __pc fields",
        _person_accounts,
    )
)
register(
    FeatureSpec(
        "multi-currency",
        "Multiple currencies: CurrencyType with the active currencies, CurrencyIsoCode on "
        "every object that carries a currency",
        _multi_currency,
    )
)


def parse_names(raw: Iterable[str] | str | None) -> list[str]:
    """Feature names from a list or a comma-separated text, checked against the registry."""
    items = raw.split(",") if isinstance(raw, str) else list(raw or [])
    names = [str(n).strip().lower() for n in items if str(n).strip()]
    unknown = [n for n in names if n not in FEATURES]
    if unknown:
        raise SalesforceError(
            "INVALID_FEATURE",
            f"unknown org feature {unknown[0]!r}; the features are {', '.join(sorted(FEATURES))}",
        )
    return list(dict.fromkeys(names))


class OrgFeatures:
    """The features of one org: which are on, turning them on and off, and the schema hooks
    the org calls (deploy, save, reset)."""

    def __init__(self, org: Org) -> None:
        self.org = org
        self.bound = {name: spec.bind(org) for name, spec in FEATURES.items()}

    @property
    def enabled(self) -> list[str]:
        return [name for name, feature in self.bound.items() if feature.enabled]

    def start(self, wanted: Iterable[str]) -> None:
        """At start: the saved features plus ``wanted`` (the settings')."""
        saved = self.org.store.meta_get(FEATURES_META) or []
        names = parse_names([*(n for n in saved if n in FEATURES), *wanted])
        self.set(names, ())

    def set(self, enable: Iterable[str], disable: Iterable[str]) -> list[str]:
        """Turn features on and off (on first), save the set; answers the enabled names."""
        on, off = parse_names(list(enable)), parse_names(list(disable))
        both = sorted(set(on) & set(off))
        if both:
            raise SalesforceError(
                "INVALID_FEATURE", f"{both[0]!r} cannot be both enabled and disabled"
            )
        schema = self.org.full_schema
        for name in on:
            self.bound[name].enable(schema)
        for name in off:
            if self.bound[name].enabled:
                self.bound[name].disable(schema)
        self.org.features_changed()
        with self.org.store.transaction():
            self.org.store.meta_set(FEATURES_META, self.enabled)
        return self.enabled

    def refresh(self, schema: Schema) -> None:
        for feature in self.bound.values():
            if feature.enabled:
                feature.refresh(schema)

    def strip(self, schema: Schema) -> None:
        for feature in self.bound.values():
            feature.strip(schema)

    def describe(self) -> dict[str, Any]:
        on = set(self.enabled)
        return {
            "enabled": sorted(on),
            "available": [
                {"name": name, "summary": FEATURES[name].summary, "enabled": name in on}
                for name in sorted(FEATURES)
            ],
        }
