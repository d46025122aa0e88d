"""`stripe2sf doctor`: business accounts or person accounts, and can stripe2sf create them?
(pure)

An org with Person Accounts shows `IsPersonAccount` in the Account describe; creating a person
account takes the person record type, which the user's profile or permission sets must make
available (the describe's `recordTypeInfos[].available`). `[org] account_model = "auto"` uses
person accounts only then, and quietly keeps business accounts otherwise: this check says
which it will be, and what to change when that is not what the admin wants.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from stripe2sf.domain.config import SyncConfig
from stripe2sf.domain.org_profile import has_field, person_record_type_id
from stripe2sf.domain.setup.doctor import DEPLOY_HINT, PERMISSION_SET, Check

NAME = "Salesforce account model"
METADATA_HINT = (
    f'set [org] account_model = "person" and redeploy stripe2sf\'s metadata ({DEPLOY_HINT}): '
    f"the {PERMISSION_SET} permission set then grants the person record type"
)


def account_model_check(
    configured: SyncConfig, resolved: SyncConfig, account: Mapping[str, Any] | None
) -> Check:
    """`configured`: the configuration as written; `resolved`: as the org decided it;
    `account`: the user's Account describe (None when it cannot see Account)."""
    setting = configured.org.account_model
    person_org = has_field(account, "IsPersonAccount")
    name = configured.org.person_record_type
    record_type = configured.org.person_record_type_id or person_record_type_id(account, name)
    if account is None:
        return Check(NAME, False, "Account is not visible to the user", "see the Account check")
    if not person_org:
        if setting == "person":
            return Check(
                NAME,
                False,
                'account_model = "person", but the org has no Person Accounts (the Account '
                "describe shows no IsPersonAccount)",
                'set [org] account_model = "auto" (or "business"), or enable Person Accounts',
            )
        return Check(NAME, True, "business accounts: a new customer gets an Account and a Contact")
    if setting == "business":
        return Check(
            NAME,
            True,
            'business accounts (account_model = "business"), though the org has Person Accounts',
        )
    if record_type is None:
        fix = (
            f"make the Account record type {name!r} available to the user: {METADATA_HINT}; "
            'or set account_model = "business" to keep business accounts'
        )
        if setting == "person":
            detail = (
                f'account_model = "person", but the record type {name!r} is not available to '
                "the user: events wait until it is"
            )
        else:
            detail = (
                f"the org has Person Accounts, but the record type {name!r} is not available "
                "to the user: new customers get business accounts"
            )
        return Check(NAME, False, detail, fix)
    chosen = resolved.org.person_record_type_id or record_type
    return Check(
        NAME,
        True,
        f"person accounts: a new customer gets a person account (record type {name}, {chosen}),"
        " matched by its PersonEmail",
    )
