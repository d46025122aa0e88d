"""What kind of Salesforce org stripe2sf writes to, from what the org reports (pure).

`[org]` settings left at "auto" are decided from describes the I/O side reads once per process
(`describes_needed`, then `resolved`): an org with multiple currencies enabled shows
`CurrencyIsoCode` on every object that has currency fields or is custom, so the payment
object's describe tells (there is no Organization field for it; Apex asks
`UserInfo.isMultiCurrencyOrganization()`, the SOAP login result `organizationMultiCurrency`).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from stripe2sf.domain.config import SyncConfig
from stripe2sf.domain.sources import CURRENCY_FIELD


def describes_needed(config: SyncConfig) -> list[str]:
    """The objects whose describes decide the "auto" settings (none when all are set)."""
    if config.org.multi_currency == "auto":
        return [config.objects.payment_object]
    return []


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
    if org == config.org:
        return config
    return config.model_copy(update={"org": org})
