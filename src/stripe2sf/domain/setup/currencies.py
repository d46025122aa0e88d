"""`stripe2sf doctor`: do the org's currencies fit the Stripe account's? (pure)

In an org with multiple currencies, a payment is written with its charge's currency as
CurrencyIsoCode, and Salesforce refuses a currency that is not active there (the payment
dead-letters until an admin activates it). The I/O side hands in the org's CurrencyType
records and the currencies the Stripe account uses (its recent charges and active prices), so
the admin learns of a missing currency before the first such payment fails.

In a single-currency org every amount is read in the org's one currency; the payment's
Currency__c text field still names the real one. Not a failure, but worth saying when Stripe
charges in several currencies.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from stripe2sf.domain.config import SyncConfig
from stripe2sf.domain.setup.doctor import Check

NAME = "Salesforce currencies"
MANAGE = "Setup > Company Settings > Manage Currencies"


def stripe_currencies(objects: Iterable[Mapping[str, Any]]) -> set[str]:
    """Upper-case ISO codes of Stripe objects with a `currency` (charges, prices)."""
    return {str(o["currency"]).upper() for o in objects if o.get("currency")}


def currency_check(
    config: SyncConfig,
    org_multi_currency: bool,
    currency_types: Iterable[Mapping[str, Any]] | None,
    used: set[str],
) -> Check:
    """`org_multi_currency`: the payment object's describe shows CurrencyIsoCode.
    `currency_types`: CurrencyType rows (IsoCode, IsActive, IsCorporate), None when they could
    not be read. `used`: ISO codes the Stripe account charges in."""
    setting = config.org.multi_currency
    shown = ", ".join(sorted(used)) or "none seen yet"
    if setting is True and not org_multi_currency:
        return Check(
            NAME,
            False,
            f"stripe2sf.toml says [org] multi_currency = true, but {config.objects.payment_object}"
            " has no CurrencyIsoCode: the org has a single currency, every payment write would "
            "fail",
            'set [org] multi_currency = "auto" (or false) in stripe2sf.toml',
        )
    if not org_multi_currency or setting is False:
        detail = (
            "the org has a single currency"
            if not org_multi_currency
            else (
                "the org has multiple currencies, but [org] multi_currency = false: payments are "
                "written in the user's default currency"
            )
        )
        several = len(used) > 1
        note = (
            f"; Stripe charges in {shown}: amounts are read in the org's currency in reports "
            "(Currency__c names each payment's own)"
            if several
            else f"; Stripe charges in {shown}"
        )
        return Check(NAME, True, detail + note)
    if currency_types is None:
        return Check(
            NAME,
            True,
            f"the org has multiple currencies (its CurrencyType could not be read to compare "
            f"with Stripe's {shown})",
        )
    rows = list(currency_types)
    active = {str(r.get("IsoCode")).upper() for r in rows if r.get("IsActive")}
    corporate = next((str(r.get("IsoCode")) for r in rows if r.get("IsCorporate")), "?")
    missing = sorted(used - active)
    detail = (
        f"multiple currencies, corporate {corporate}; active: {', '.join(sorted(active))}; "
        f"Stripe charges in {shown}"
    )
    if missing:
        names = ", ".join(missing)
        return Check(
            NAME,
            False,
            f"{detail}: {names} not active, so payments in {names} are refused (dead letters)",
            f"activate {names} in {MANAGE}, then `stripe2sf replay --dead-letters`",
        )
    return Check(NAME, True, detail)
