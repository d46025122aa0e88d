"""`stripe2sf doctor` decisions: each check with what to do when it fails. Pure: the I/O code
hands in what it read (keys, describes, limits, the org's type)."""

from __future__ import annotations

import dataclasses
import shlex
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal


@dataclass(frozen=True)
class Check:
    """One finding. `warning`: it passes, but something may refuse stripe2sf's writes later
    (an active validation rule): shown with its fix, not counted as a failure."""

    name: str
    ok: bool
    detail: str
    fix: str = ""
    warning: bool = False


def stripe_mode(key: str | None) -> str | None:
    """'live', 'test', or None for a missing or unknown key."""
    if not key:
        return None
    for prefix, mode in (
        ("sk_live_", "live"),
        ("rk_live_", "live"),
        ("sk_test_", "test"),
        ("rk_test_", "test"),
    ):
        if key.startswith(prefix):
            return mode
    return None


def stripe_key_check(key: str | None) -> Check:
    mode = stripe_mode(key)
    if mode is None:
        return Check(
            "Stripe API key",
            False,
            "missing or not a Stripe secret/restricted key",
            "set STRIPE_API_KEY to an sk_test_/sk_live_ (or rk_) key from the Stripe Dashboard",
        )
    return Check("Stripe API key", True, f"{mode} mode key")


def webhook_secret_check(secrets: Sequence[str]) -> Check:
    if not secrets:
        return Check(
            "webhook signing secret",
            False,
            "STRIPE_WEBHOOK_SECRET is not set: every webhook would be refused",
            "copy the endpoint's signing secret (whsec_...) from Stripe into STRIPE_WEBHOOK_SECRET",
        )
    return Check("webhook signing secret", True, f"{len(secrets)} secret(s) configured")


def mixed_modes(stripe_live: bool, org_is_sandbox: bool, org_type: str) -> str | None:
    """Why a Stripe mode and a Salesforce org do not belong together, or None.

    Live payments belong in a production org; test payments never go to a production org
    (Developer Edition orgs count as test orgs)."""
    developer = "developer" in org_type.lower()
    if stripe_live and (org_is_sandbox or developer):
        return (
            f"a live Stripe key with a Salesforce {'sandbox' if org_is_sandbox else org_type} org"
        )
    if not stripe_live and not org_is_sandbox and not developer:
        return "a test Stripe key with a production Salesforce org"
    return None


def api_version_check(wanted: str, available: Sequence[str]) -> Check:
    wanted = wanted.lstrip("v")
    if wanted in available:
        return Check("Salesforce API version", True, f"v{wanted} is available")
    newest = max(available, key=lambda v: float(v)) if available else "none"
    return Check(
        "Salesforce API version",
        False,
        f"v{wanted} is not offered by this org (newest: v{newest})",
        f"set SALESFORCE_API_VERSION to {newest} or another listed version",
    )


# ---- what the integration user may read and write ----------------------------------------
#
# `stripe2sf doctor` logs in as the user stripe2sf runs as and reads that user's describes: an
# object it cannot read is absent (NOT_FOUND), a field it cannot read is absent from its
# object's describe, a field it cannot edit is neither createable nor updateable. Describe
# alone cannot tell "this custom field does not exist in the org" from "it exists and the user
# may not see it": the hint then gives both (deploy the metadata, or fix the permission set).
# Standard objects and fields exist in every org, so their absence is always a permission.

Right = Literal["read", "create", "edit"]
RIGHT_LABELS: Mapping[str, str] = {"read": "Read", "create": "Create", "edit": "Edit"}
PERMISSION_SET = "Stripe2sf_Integration"
ORG_QUERY = "SELECT IsSandbox, OrganizationType FROM Organization"
# The one way every message tells how to deploy stripe2sf's metadata (doctor's fixes, the
# `metadata` command, the account-model check): the README's commands (Against real Stripe and
# Salesforce, step 1; a unit test holds these to them): generate the metadata, deploy it with
# the sf CLI, assign the permission set.
ORG_ALIAS = "<org>"
METADATA_DIR = "sf-metadata"


def generate_command(out: str = METADATA_DIR) -> str:
    return f"stripe2sf metadata --out {shlex.quote(out)}"


def deploy_command(out: str = METADATA_DIR) -> str:
    return (
        f"cd {shlex.quote(out)} && sf project deploy start --source-dir force-app "
        f"--target-org {ORG_ALIAS}"
    )


def deploy_hint(out: str = METADATA_DIR) -> str:
    """'`stripe2sf metadata --out DIR`, then `cd DIR && sf project deploy start ...`'."""
    return f"`{generate_command(out)}`, then `{deploy_command(out)}`"


GENERATE_COMMAND = generate_command()
DEPLOY_COMMAND = deploy_command()
DEPLOY_HINT = deploy_hint()
# Task and Event: every user reads them; writing them takes a user permission, not an
# object permission.
ACTIVITY_PERMISSIONS: Mapping[str, tuple[str, str]] = {
    "Task": ("EditTask", "Edit Tasks"),
    "Event": ("EditEvent", "Edit Events"),
}


def assign_command(user: str) -> str:
    return (
        f"sf org assign permset --name {PERMISSION_SET} --target-org {ORG_ALIAS} "
        f"--on-behalf-of {user}"
    )


USER_PLACEHOLDER = "<integration user>"


def after_generating(out: str, user: str = USER_PLACEHOLDER) -> str:
    """What `stripe2sf metadata --out DIR` tells once it wrote the files: the deploy and the
    assignment, as the README and doctor say them."""
    return (
        f"deploy it with the sf CLI: `{deploy_command(out)}`, then give the integration user "
        f"its permission set: `{assign_command(user)}` (README: Against real Stripe and "
        "Salesforce, step 1)"
    )


@dataclass(frozen=True)
class Need:
    """An object (`field` None) or a field that the configuration reads or writes, the rights
    that takes, and why (`why`: the mapping, lookup or report that needs it)."""

    sobject: str
    field: str | None
    rights: frozenset[Right]
    why: tuple[str, ...] = ()
    values: tuple[str, ...] = ()  # picklist values stripe2sf writes
    create_only: bool = False  # written only when stripe2sf creates the record

    @property
    def where(self) -> str:
        return f"{self.sobject}.{self.field}" if self.field else self.sobject

    @property
    def exists_everywhere(self) -> bool:
        """A standard object or field exists in every org; a custom one only once deployed."""
        return not (self.field or self.sobject).endswith("__c")


@dataclass(frozen=True)
class Grants:
    """What a permission set grants: object and field rights ("Object.Field"; implied read
    included) and user permissions (API names such as EditTask)."""

    objects: Mapping[str, frozenset[Right]] = dataclasses.field(default_factory=dict)
    fields: Mapping[str, frozenset[Right]] = dataclasses.field(default_factory=dict)
    user_permissions: frozenset[str] = frozenset()

    def gives(self, sobject: str, field_name: str | None, rights: Iterable[Right]) -> bool:
        wanted = frozenset(rights)
        if field_name is None:
            if sobject in ACTIVITY_PERMISSIONS:
                return wanted <= {"read"} or ACTIVITY_PERMISSIONS[sobject][0] in (
                    self.user_permissions
                )
            return wanted <= self.objects.get(sobject, frozenset())
        return wanted <= self.fields.get(f"{sobject}.{field_name}", frozenset())


@dataclass(frozen=True)
class UserView:
    """What the configured user sees. `describes[sobject]`: its describe, or None when the
    object is not visible to the user (NOT_FOUND); an object left out was not described (its
    describe failed: the I/O side reports that). `assigned`: the permission sets assigned to
    the user, None when the user may not read its assignments."""

    username: str
    describes: Mapping[str, Mapping[str, Any] | None]
    assigned: frozenset[str] | None = None


ORDER: tuple[Right, ...] = ("read", "create", "edit")


def _labels(rights: Iterable[Right]) -> str:
    """'Read', 'Read and Edit', 'Read, Create and Edit'."""
    names = [RIGHT_LABELS[r] for r in ORDER if r in rights]
    return " and ".join([", ".join(names[:-1]), names[-1]] if len(names) > 1 else names)


def _why(need: Need) -> str:
    reasons = list(dict.fromkeys(need.why))
    shown = ", ".join(reasons[:3])
    return shown + (f" and {len(reasons) - 3} more" if len(reasons) > 3 else "")


def _lacks(need: Need, rights: Sequence[Right]) -> str:
    """'Stripe2sf_Integration lacks Edit on Account.MRR__c' (or the user permission)."""
    if need.field is None and need.sobject in ACTIVITY_PERMISSIONS and set(rights) - {"read"}:
        _, label = ACTIVITY_PERMISSIONS[need.sobject]
        return (
            f"{PERMISSION_SET} lacks the {label} user permission "
            f"({_labels(rights)} on {need.sobject})"
        )
    return f"{PERMISSION_SET} lacks {_labels(rights)} on {need.where}"


def _remedy(need: Need, rights: Sequence[Right], view: UserView, generated: Grants) -> str:
    user = view.username
    if not generated.gives(need.sobject, need.field, rights):
        return (
            f"the {PERMISSION_SET} that `stripe2sf metadata` generates does not grant it (a gap "
            "in stripe2sf: please report it); until it does, grant it to "
            f"{user} with a permission set of your own"
        )
    if view.assigned is not None and PERMISSION_SET not in view.assigned:
        return f"assign the permission set: `{assign_command(user)}`"
    return f"redeploy the permission set ({DEPLOY_HINT}) and assign it: `{assign_command(user)}`"


def _permission_fix(need: Need, rights: Sequence[Right], view: UserView, gen: Grants) -> str:
    return f"{_lacks(need, rights)}: {_remedy(need, rights, view, gen)}"


def _invisible(need: Need, view: UserView, generated: Grants, what: str) -> Check:
    """An object or field absent from the user's describe."""
    rights: list[Right] = [r for r in ORDER if r in need.rights or r == "read"]
    detail = (
        f"{what} not visible to {view.username}; stripe2sf needs {_labels(rights)} ({_why(need)})"
    )
    if need.exists_everywhere:
        return Check(need.where, False, detail, _permission_fix(need, rights, view, generated))
    kind = "field" if need.field else "object"
    fix = (
        f"describe as {view.username} cannot tell which of two it is: either the {kind} "
        f"{need.where} does not exist in the org: deploy stripe2sf's metadata ({DEPLOY_HINT}); "
        f"or it exists and {_permission_fix(need, rights, view, generated)}. An admin sees "
        f"which in Setup > Object Manager"
        + (f" > {need.sobject} > Fields & Relationships" if need.field else "")
    )
    return Check(need.where, False, detail, fix)


def _object_check(
    need: Need, describe: Mapping[str, Any], view: UserView, gen: Grants
) -> Check | None:
    missing: list[Right] = []
    if "create" in need.rights and not describe.get("createable"):
        missing.append("create")
    if "edit" in need.rights and not describe.get("updateable"):
        missing.append("edit")
    if not missing:
        return None
    flags = ", ".join(f"{f} {bool(describe.get(f))}".lower() for f in ("createable", "updateable"))
    detail = (
        f"{view.username} cannot {' or '.join(r for r in missing)} {need.sobject} records "
        f"(describe: {flags}); stripe2sf needs it ({_why(need)})"
    )
    return Check(need.where, False, detail, _permission_fix(need, missing, view, gen))


def _field_check(need: Need, found: Mapping[str, Any], view: UserView, gen: Grants) -> Check | None:
    if "edit" in need.rights:
        writable = bool(found.get("createable")) and (
            need.create_only or bool(found.get("updateable"))
        )
        if not writable:
            flags = ", ".join(
                f"{f} {bool(found.get(f))}".lower() for f in ("createable", "updateable")
            )
            detail = (
                f"{view.username} can read but not edit it (describe: {flags}); stripe2sf "
                f"writes it ({_why(need)})"
            )
            if found.get("permissionable") is False:
                fix = (
                    f"no permission makes {need.where} writable (a system, formula or "
                    "auto-number field): map to another field"
                )
            else:
                fix = _permission_fix(need, ["edit"], view, gen)
            return Check(need.where, False, detail, fix)
    allowed = {p.get("value") for p in found.get("picklistValues") or [] if p.get("active", True)}
    missing = [v for v in need.values if allowed and v not in allowed]
    if missing:
        return Check(
            need.where,
            False,
            f"picklist lacks {', '.join(missing)}",
            f"add the values to the picklist, or redeploy stripe2sf's metadata ({DEPLOY_HINT})",
        )
    return None


def assignment_check(view: UserView) -> Check | None:
    """Whether the integration permission set is assigned (None: the user cannot tell)."""
    if view.assigned is None:
        return None
    if PERMISSION_SET in view.assigned:
        return Check(f"permission set {PERMISSION_SET}", True, f"assigned to {view.username}")
    others = ", ".join(sorted(view.assigned)) or "none"
    return Check(
        f"permission set {PERMISSION_SET}",
        False,
        f"not assigned to {view.username} (assigned: {others})",
        f"deploy it ({DEPLOY_HINT}) and assign it: `{assign_command(view.username)}`",
    )


def access_checks(needs: Sequence[Need], view: UserView, generated: Grants) -> list[Check]:
    """Each object and field the configuration reads or writes, judged from what the
    configured user's describes show: one passing check per object whose needs are all met,
    one failing check per missing permission, naming it and the fix. `generated` is what the
    permission set stripe2sf generates grants (to tell a stale or unassigned set from a gap
    in stripe2sf's own)."""
    checks: list[Check] = []
    assignment = assignment_check(view)
    if assignment is not None:
        checks.append(assignment)
    by_object: dict[str, list[Need]] = {}
    for need in needs:
        by_object.setdefault(need.sobject, []).append(need)
    for sobject, group in by_object.items():
        if sobject not in view.describes:
            continue
        describe = view.describes[sobject]
        whole = next((n for n in group if n.field is None), None) or Need(
            sobject, None, frozenset({"read"})
        )
        if describe is None:
            checks.append(_invisible(whole, view, generated, "object"))
            continue
        failed: list[Check] = []
        problem = _object_check(whole, describe, view, generated)
        if problem is not None:
            failed.append(problem)
        fields = {str(f.get("name")): f for f in describe.get("fields") or []}
        field_needs = [n for n in group if n.field is not None]
        for need in field_needs:
            found = fields.get(str(need.field))
            if found is None:
                failed.append(_invisible(need, view, generated, "field"))
                continue
            problem = _field_check(need, found, view, generated)
            if problem is not None:
                failed.append(problem)
        if failed:
            checks.extend(failed)
            continue
        written = sum(1 for n in field_needs if "edit" in n.rights)
        fields_ok = f"the {len(field_needs)} fields stripe2sf uses are visible" + (
            f", the {written} it writes editable" if written else ""
        )
        checks.append(
            Check(sobject, True, f"{view.username} has {_labels(whole.rights)} on it; {fields_ok}")
        )
    return checks


def daily_api(limits: Mapping[str, Any]) -> tuple[int, int]:
    """(allocation, remaining) of the org's daily API requests from a /limits answer; the
    allocation is 0 when the answer lacks it."""
    daily = limits.get("DailyApiRequests") or {}
    return int(daily.get("Max", 0)), int(daily.get("Remaining", 0))


def budget_check(limits: Mapping[str, Any], reserve_share: float) -> Check:
    maximum, remaining = daily_api(limits)
    if maximum <= 0:
        return Check(
            "Salesforce API budget",
            False,
            "no DailyApiRequests in /limits",
            "check the user's API access",
        )
    reserved = int(maximum * reserve_share)
    usable = remaining - reserved
    ok = usable > 0
    return Check(
        "Salesforce API budget",
        ok,
        f"{remaining:,} of {maximum:,} calls left today; {reserved:,} kept for other integrations",
        "" if ok else "wait for the 24-hour window to roll, or lower the reserved share",
    )
