"""`stripe2sf doctor` on the org's own rules, before they refuse a write (pure; the I/O side
reads the describes, the Tooling API's ValidationRule rows and the record types' picklist
values):

- a required field (describe: not nillable, createable, no default) on an object stripe2sf
  creates that stripe2sf never fills: every such insert would fail REQUIRED_FIELD_MISSING;
- active validation rules on the objects stripe2sf writes, with their error messages
  (warnings: whether a rule refuses a write depends on the data);
- the record type of the records stripe2sf creates (`[record_types]`, else the user's
  default) exists for the user, and allows the picklist values stripe2sf writes.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from stripe2sf.domain.config import BILLING_STATUS_VALUES, SyncConfig, is_record_type_id
from stripe2sf.domain.setup.doctor import Check
from stripe2sf.domain.setup.needs import needs, written_fields, written_objects

VALIDATION_RULES_QUERY = (
    "SELECT Id, ValidationName, ErrorMessage, ErrorDisplayField, EntityDefinitionId "
    "FROM ValidationRule WHERE Active = true"
)
CUSTOM_OBJECTS_QUERY = "SELECT Id, DeveloperName, NamespacePrefix FROM CustomObject"
MASTER = "012000000000000AAA"
REPLAY = "`stripe2sf replay --dead-letters`"


def created_objects(config: SyncConfig) -> list[str]:
    return list(dict.fromkeys(sobject for sobject, _ in written_objects(config)))


def _fields(describe: Mapping[str, Any] | None) -> dict[str, Mapping[str, Any]]:
    return {str(f.get("name")): f for f in (describe or {}).get("fields") or []}


# required fields --------------------------------------------------------------------------------
def required_field_checks(
    config: SyncConfig, describes: Mapping[str, Mapping[str, Any] | None]
) -> list[Check]:
    """A failing check per required field stripe2sf never fills on an object it creates."""
    filled: dict[str, set[str]] = {}
    for sobject, name, _why in written_fields(config):
        filled.setdefault(sobject, set()).add(name.lower())
    checks: list[Check] = []
    for sobject in created_objects(config):
        for name, field in _fields(describes.get(sobject)).items():
            required = (
                field.get("nillable") is False
                and field.get("createable")
                and not field.get("defaultedOnCreate")
                and field.get("type") != "boolean"
            )
            if not required or name.lower() in filled.get(sobject, set()):
                continue
            checks.append(
                Check(
                    f"{sobject}.{name}",
                    False,
                    f"required in the org (no default) and stripe2sf does not fill it: every "
                    f"{sobject} it creates would fail REQUIRED_FIELD_MISSING",
                    f'map a Stripe value to it ([[mappings]] target = "{sobject}.{name}"), give '
                    f"the field a default value, or make it optional; then {REPLAY}",
                )
            )
    return checks


# validation rules -------------------------------------------------------------------------------
def object_names(custom_objects: Sequence[Mapping[str, Any]]) -> dict[str, str]:
    """CustomObject Id -> API name (ValidationRule.EntityDefinitionId of a custom object)."""
    out: dict[str, str] = {}
    for row in custom_objects:
        prefix = f"{row['NamespacePrefix']}__" if row.get("NamespacePrefix") else ""
        out[str(row.get("Id"))[:15]] = f"{prefix}{row.get('DeveloperName')}__c"
    return out


def validation_rule_checks(
    config: SyncConfig,
    rules: Sequence[Mapping[str, Any]] | None,
    names: Mapping[str, str],
    problem: str | None = None,
) -> list[Check]:
    """A warning per active validation rule on an object stripe2sf writes (its message is
    what a refused write's dead letter will say); one warning when they cannot be read."""
    if rules is None:
        return [
            Check(
                "validation rules",
                True,
                f"could not be read ({problem}); a rule that refuses a write sends its event "
                "to the dead letters with the rule's message",
                "give the user View Setup and Configuration to let doctor list them",
                warning=True,
            )
        ]
    written = {sobject.lower() for sobject in _written_objects(config)}
    checks: list[Check] = []
    for rule in rules:
        entity = str(rule.get("EntityDefinitionId") or "")
        sobject = names.get(entity[:15], entity)
        if sobject.lower() not in written:
            continue
        field = rule.get("ErrorDisplayField")
        where = f" (field {field})" if field else ""
        checks.append(
            Check(
                f"validation rule {sobject}.{rule.get('ValidationName')}",
                True,
                f'active: a {sobject} write it refuses goes to the dead letters with "'
                f'{rule.get("ErrorMessage")}"{where}',
                f"check that stripe2sf's {sobject} writes pass it (Setup > Object Manager > "
                f"{sobject} > Validation Rules), or change the rule or the mapping; a refused "
                f"event is applied by {REPLAY} once it passes",
                warning=True,
            )
        )
    if not checks:
        checks.append(
            Check("validation rules", True, "none active on the objects stripe2sf writes")
        )
    return checks


def _written_objects(config: SyncConfig) -> list[str]:
    return list(dict.fromkeys(sobject for sobject, _, _ in written_fields(config)))


# record types -----------------------------------------------------------------------------------
def written_values(config: SyncConfig) -> dict[tuple[str, str], tuple[str, ...]]:
    """(object, picklist field) -> the values stripe2sf writes there."""
    out: dict[tuple[str, str], list[str]] = {}

    def add(sobject: str, field: str, *values: str) -> None:
        out.setdefault((sobject, field), []).extend(v for v in values if v)

    for need in needs(config):
        if need.field and need.values:
            add(need.sobject, need.field, *need.values)
    add("Account", config.objects.billing_status_field, *BILLING_STATUS_VALUES)
    fp = config.failed_payments
    if config.dunning_object() == "Task":
        add("Task", "Status", "Not Started", fp.task_closed_status)
    else:
        add("Case", "Status", "New", fp.case_closed_status)
        add("Case", "Origin", fp.case_origin)
    add(config.dunning_object(), "Priority", fp.priority, fp.final_attempt_priority)
    if config.disputes.enabled:
        add("Case", "Status", "New")
        add("Case", "Origin", config.disputes.case_origin)
        add("Case", "Priority", config.disputes.priority)
    add("Task", "Status", "Not Started")  # review Tasks
    add("Task", "Priority", "Normal")
    return {key: tuple(dict.fromkeys(values)) for key, values in out.items()}


def record_type_in_use(
    config: SyncConfig, sobject: str, describe: Mapping[str, Any] | None
) -> tuple[Mapping[str, Any] | None, str | None]:
    """(recordTypeInfos entry, problem) of the record type new `sobject` records get: the
    configured one, else the user's default; (None, None) when the object has none."""
    infos = [i for i in (describe or {}).get("recordTypeInfos") or [] if isinstance(i, Mapping)]
    wanted = config.record_types.get(sobject)
    if wanted is None:
        default = next((i for i in infos if i.get("defaultRecordTypeMapping")), None)
        if default is None or default.get("master"):
            return None, None
        return default, None
    for info in infos:
        same = (
            str(info.get("recordTypeId") or "")[:15] == wanted[:15]
            if is_record_type_id(wanted)
            else str(info.get("developerName") or "").lower() == wanted.lower()
        )
        if same and info.get("available", True) and info.get("active", True):
            return info, None
    usable = [
        str(i.get("developerName")) for i in infos if i.get("available") and not i.get("master")
    ]
    return None, (
        f"[record_types] {sobject} = {wanted!r} is not an active record type of {sobject} "
        f"available to the user (available: {', '.join(usable) or 'none'})"
    )


def record_type_checks(
    config: SyncConfig,
    describes: Mapping[str, Mapping[str, Any] | None],
    allowed: Mapping[str, Mapping[str, Sequence[str]]],
) -> list[Check]:
    """The record type of each object stripe2sf creates, and the picklist values it allows
    (`allowed`: object -> picklist field -> values, for the record type `record_type_in_use`
    names) against those stripe2sf writes. A restricted picklist refuses other values
    (INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST); an unrestricted one takes them through the API
    but shows them as not valid for the record type."""
    checks: list[Check] = []
    values = written_values(config)
    for sobject in dict.fromkeys([*created_objects(config), *config.record_types]):
        describe = describes.get(sobject)
        info, problem = record_type_in_use(config, sobject, describe)
        if problem is not None:
            checks.append(
                Check(
                    f"record type of {sobject}",
                    False,
                    problem,
                    "create or activate it (Setup > Object Manager > "
                    f"{sobject} > Record Types) and give the user's profile or permission set "
                    "that record type, or fix [record_types] in stripe2sf.toml",
                )
            )
            continue
        if info is None:
            continue
        name = str(info.get("developerName"))
        fields = _fields(describe)
        lacking: list[Check] = []
        for (target, field), written in values.items():
            if target != sobject or field not in allowed.get(sobject, {}):
                continue
            missing = [v for v in written if v not in allowed[sobject][field]]
            if not missing:
                continue
            restricted = bool(fields.get(field, {}).get("restrictedPicklist"))
            lacking.append(
                Check(
                    f"{sobject}.{field} in record type {name}",
                    not restricted,
                    f"the record type does not allow {', '.join(missing)}, which stripe2sf "
                    "writes"
                    + (
                        ": those writes fail INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST"
                        if restricted
                        else " (an unrestricted picklist: saved, but not a value of the "
                        "record type)"
                    ),
                    f"add them to the record type's values (Setup > Object Manager > {sobject} "
                    f"> Record Types > {name} > picklist {field}: Edit), or map to values it "
                    f"allows; then {REPLAY}",
                    warning=not restricted,
                )
            )
        checks.extend(lacking)
        if not lacking:
            checks.append(
                Check(
                    f"record type of {sobject}",
                    True,
                    f"{name}{' (the default)' if sobject not in config.record_types else ''} "
                    "allows the picklist values stripe2sf writes",
                )
            )
    return checks


def record_type_ids(
    config: SyncConfig, describes: Mapping[str, Mapping[str, Any] | None]
) -> dict[str, str]:
    """Object -> the Id of the record type whose picklist values the I/O side reads."""
    out: dict[str, str] = {}
    for sobject in dict.fromkeys([*created_objects(config), *config.record_types]):
        info, _ = record_type_in_use(config, sobject, describes.get(sobject))
        if info is not None and info.get("recordTypeId") not in (None, MASTER):
            out[sobject] = str(info["recordTypeId"])
    return out
