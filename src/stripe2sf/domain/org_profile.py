"""What kind of Salesforce org stripe2sf writes to, from what the org reports (pure).

`[org]` settings left at "auto" are decided from describes the I/O side reads once per process
(`describes_needed`, then `resolved`): an org with multiple currencies enabled shows
`CurrencyIsoCode` on every object that has currency fields or is custom, so the payment
object's describe tells (there is no Organization field for it; Apex asks
`UserInfo.isMultiCurrencyOrganization()`, the SOAP login result `organizationMultiCurrency`).
An org with Person Accounts shows `IsPersonAccount` on Account, and the Account describe's
`recordTypeInfos` name the person record type's Id, if the user may use it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from stripe2sf.domain.config import SyncConfig
from stripe2sf.domain.sources import CURRENCY_FIELD


def describes_needed(config: SyncConfig) -> list[str]:
    """The objects whose describes decide the "auto" settings (none when all are set)."""
    needed = []
    if config.org.multi_currency == "auto":
        needed.append(config.objects.payment_object)
    if _reads_account(config):
        needed.append("Account")
    return needed


def _reads_account(config: SyncConfig) -> bool:
    """Person Accounts are told by the Account describe, which also names the person record
    type's Id (needed unless configured)."""
    org = config.org
    return org.account_model == "auto" or (
        org.account_model == "person" and not org.person_record_type_id
    )


def person_record_type_id(describe: Mapping[str, Any] | None, developer_name: str) -> str | None:
    """The Id of the record type `developer_name` when the describing user may create records
    of it (`recordTypeInfos[].available`)."""
    for info in (describe or {}).get("recordTypeInfos") or ():
        if (
            isinstance(info, Mapping)
            and str(info.get("developerName") or "").lower() == developer_name.lower()
            and info.get("available", True)
            and info.get("active", True)
        ):
            return str(info.get("recordTypeId") or "") or None
    return None


def person_account_problem(config: SyncConfig) -> str | None:
    """Why person accounts cannot be created with this (resolved) configuration, or None."""
    org = config.org
    if org.account_model != "person" or org.person_record_type_id:
        return None
    return (
        f"[org] account_model = 'person', but the record type {org.person_record_type!r} of "
        "Account is not available to stripe2sf's Salesforce user (the Account describe's "
        "recordTypeInfos): give the user's profile or permission set that record type, or set "
        "[org] person_record_type (its DeveloperName) or person_record_type_id"
    )


def has_field(describe: Mapping[str, Any] | None, name: str) -> bool:
    fields = describe.get("fields") if describe else None
    return any(isinstance(f, Mapping) and f.get("name") == name for f in fields or ())


def resolved(config: SyncConfig, describes: Mapping[str, Mapping[str, Any] | None]) -> SyncConfig:
    """`config` with its "auto" settings decided by `describes` (object -> describe, None when
    the object is not visible)."""
    org = config.org
    if org.multi_currency == "auto":
        payment = describes.get(config.objects.payment_object)
        org = org.model_copy(update={"multi_currency": has_field(payment, CURRENCY_FIELD)})
    if _reads_account(config):
        account = describes.get("Account")
        record_type = person_record_type_id(account, org.person_record_type)
        model = org.account_model
        if model == "auto":  # a person org whose record type the user may not use: business
            model = (
                "person" if has_field(account, "IsPersonAccount") and record_type else "business"
            )
        org = org.model_copy(
            update={
                "account_model": model,
                "person_record_type_id": record_type if model == "person" else None,
            }
        )
    if org == config.org:
        return config
    return config.model_copy(update={"org": org})
