"""What kind of Salesforce org stripe2sf writes to, from what the org reports (pure).

`[org]` settings left at "auto" are decided from describes the I/O side reads once per process
(`describes_needed`, then `resolved`): an org with multiple currencies enabled shows
`CurrencyIsoCode` on every object that has currency fields or is custom, so the payment
object's describe tells (there is no Organization field for it; Apex asks
`UserInfo.isMultiCurrencyOrganization()`, the SOAP login result `organizationMultiCurrency`).
An org with Person Accounts shows `IsPersonAccount` on Account, and the Account describe's
`recordTypeInfos` name the person record type's Id, if the user may use it. The record types
`[record_types]` names by DeveloperName get their Ids the same way.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from stripe2sf.domain.config import SyncConfig, is_record_type_id
from stripe2sf.domain.sources import CURRENCY_FIELD


def describes_needed(config: SyncConfig) -> list[str]:
    """The objects whose describes decide the "auto" settings (none when all are set)."""
    needed = []
    if config.org.multi_currency == "auto":
        needed.append(config.objects.payment_object)
    if _reads_account(config):
        needed.append("Account")
    needed += [name for name in _named_record_types(config) if name not in needed]
    return needed


def _named_record_types(config: SyncConfig) -> list[str]:
    """Objects whose `[record_types]` entry is a DeveloperName still to turn into an Id."""
    return [o for o, value in config.record_types.items() if not is_record_type_id(value)]


def record_type_problem(config: SyncConfig) -> str | None:
    """Why `[record_types]` cannot be used as (resolved) configured, or None."""
    unresolved = [
        f"{sobject} = {value!r}"
        for sobject, value in config.record_types.items()
        if not is_record_type_id(value)
    ]
    if not unresolved:
        return None
    return (
        f"[record_types] {', '.join(unresolved)}: no such active record type is available to "
        "stripe2sf's Salesforce user (the object's describe, recordTypeInfos): create or "
        "activate it, give the user's profile or permission set that record type, or fix the "
        "DeveloperName; `stripe2sf doctor` lists the ones the user has"
    )


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
    record_types = dict(config.record_types)
    for sobject in _named_record_types(config):
        found = person_record_type_id(describes.get(sobject), record_types[sobject])
        if found:
            record_types[sobject] = found
    if org == config.org and record_types == config.record_types:
        return config
    return config.model_copy(update={"org": org, "record_types": record_types})
