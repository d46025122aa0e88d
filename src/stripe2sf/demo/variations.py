"""The kinds of Salesforce org the demo can run on (`stripe2sf demo --org A,B`): what each
variation asks of the Salesforce sandbox, of the org's administrator and of stripe2sf's own
configuration. Pure: `run` starts the processes and makes the calls.

- `person-accounts`: the org has Person Accounts; stripe2sf runs with `[org] account_model =
  "person"`, so the permission set it generates grants the person record type to the
  integration user and every new customer becomes a person account.
- `multi-currency`: the org has multiple currencies, USD (corporate), EUR, GBP and JPY active,
  so the scenario's EUR and JPY payments are saved in their currencies; stripe2sf finds out from
  the org's describe (`[org] multi_currency = "auto"`, the default).
- `rules`: Salesforce's standard Account and Contact duplicate rules are on, and the admin's
  validation rules, a required field with a default and Account record types
  (`demo.org_rules`) are deployed after stripe2sf's metadata.

Without a variation the demo runs as it always has: a business, single-currency org with no
rules and no stripe2sf.toml.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from stripe2sf.demo.org_rules import ORG_RULES

PERSON_ACCOUNTS = "person-accounts"
MULTI_CURRENCY = "multi-currency"
RULES = "rules"
VARIATIONS: dict[str, str] = {
    PERSON_ACCOUNTS: "Person Accounts: new customers become person accounts",
    MULTI_CURRENCY: "multiple currencies: USD (corporate), EUR, GBP and JPY active",
    RULES: "standard duplicate rules, validation rules, a required field, record types",
}
CORPORATE_CURRENCY = "USD"
ACTIVE_CURRENCIES = ("USD", "EUR", "GBP", "JPY")


def parse_variations(values: Iterable[str]) -> tuple[str, ...]:
    """`--org` values (each may be comma-separated) as the variations they name, in the order
    of VARIATIONS. Raises ValueError naming what is unknown and what is known."""
    names = {n.strip().lower() for value in values for n in value.split(",") if n.strip()}
    unknown = sorted(names - set(VARIATIONS))
    if unknown:
        raise ValueError(
            f"unknown org variation {', '.join(unknown)}; "
            f"choose among {', '.join(VARIATIONS)} (comma-separated)"
        )
    return tuple(name for name in VARIATIONS if name in names)


@dataclass(frozen=True)
class OrgPlan:
    """What the demo does for its variations."""

    variations: tuple[str, ...] = ()
    # flags of `salesforce-sandbox`
    sandbox_args: tuple[str, ...] = ()
    # stripe2sf.toml for every stripe2sf process of the demo (None: no file, the defaults)
    config_toml: str | None = None
    # the administrator turns on Salesforce's standard Account and Contact duplicate rules
    standard_duplicate_rules: bool = False
    # SFDX source files the administrator deploys after stripe2sf's metadata
    admin_metadata: dict[str, str] = field(default_factory=dict)

    @property
    def label(self) -> str:
        return ", ".join(self.variations) if self.variations else "business, single currency"


def _config_toml(variations: tuple[str, ...]) -> str:
    """Only what the variations need; everything else keeps its default."""
    lines = [
        "# stripe2sf's configuration for the demo's org: " + ", ".join(variations),
        "# (written by `stripe2sf demo --org`; every stripe2sf process of the demo reads it",
        "# through STRIPE2SF_CONFIG, and the deployed metadata was generated from it)",
        "",
        "[org]",
    ]
    if PERSON_ACCOUNTS in variations:
        lines += [
            "# new customers become person accounts; the generated permission set grants the",
            "# person record type to the integration user",
            'account_model = "person"',
        ]
    if MULTI_CURRENCY in variations:
        lines += [
            "# the org's describe shows CurrencyIsoCode: payments carry their charge's currency",
            'multi_currency = "auto"',
        ]
    if RULES in variations:
        lines += [
            "",
            "[matching]",
            "# a create a duplicate rule refuses links the one record it matched (else review)",
            'on_duplicate = "link"',
        ]
    return "\n".join(lines) + "\n"


def plan_org(variations: tuple[str, ...]) -> OrgPlan:
    """The plan of `variations` (as `parse_variations` returns them)."""
    if not variations:
        return OrgPlan()
    features = [v for v in (PERSON_ACCOUNTS, MULTI_CURRENCY) if v in variations]
    args: list[str] = []
    if features:
        args += ["--features", ",".join(features)]
    if MULTI_CURRENCY in variations:
        args += [
            "--corporate-currency",
            CORPORATE_CURRENCY,
            "--currencies",
            ",".join(ACTIVE_CURRENCIES),
        ]
    rules = RULES in variations
    return OrgPlan(
        variations=variations,
        sandbox_args=tuple(args),
        config_toml=_config_toml(variations),
        standard_duplicate_rules=rules,
        admin_metadata=dict(ORG_RULES) if rules else {},
    )
