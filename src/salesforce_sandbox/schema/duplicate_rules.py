"""Duplicate management (pure): ``MatchingRules`` and ``DuplicateRule`` metadata, parsed and
checked against the schema, which existing records a record matches, and the
``duplicateResult`` Salesforce answers with.

Metadata format (what the Metadata API deploys and ``sf project deploy`` sends)::

    matchingRules/Contact.matchingRule            <MatchingRules> with one <matchingRules> per rule
    duplicateRules/Contact.Contact_Email.duplicateRule   <DuplicateRule>

(source format: the same paths ending in ``-meta.xml``). A matching rule's items compare one
field each (``fieldName``, ``matchingMethod``, ``blankValueBehavior``); all items must match
unless ``booleanFilter`` (``1 AND (2 OR 3)``) says otherwise. A duplicate rule names its
matching rule(s) in ``duplicateRuleMatchRules`` and what happens on a match:
``actionOnInsert``/``actionOnUpdate`` ``Block`` (never saved) or ``Allow`` (saved; with
``Alert`` in ``operationsOnInsert``/``operationsOnUpdate`` an API save is refused unless the
request's ``Sforce-Duplicate-Rule-Header`` says ``allowSave=true``).

Matching, as the sandbox does it: Salesforce compares fields case-insensitively with every
method. ``Exact`` is equality of the trimmed, lower-cased values (Salesforce also only looks at
the first 99 characters); the fuzzy methods (``FirstName``, ``LastName``, ``CompanyName``,
``Title``, ``City``, ``Street``, ``Zip``, ``Phone``) are modelled as equality after the
method's normalization (punctuation and spacing ignored, company suffixes such as ``Inc`` or
``LLC`` dropped, a phone's digits, a ZIP's first five characters), not Salesforce's scored
algorithms (Jaro-Winkler, edit distance, initials...): ``Jon`` and ``Jonathan`` do not match
here. Every match is reported with ``matchConfidence`` 100.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from salesforce_sandbox.errors import SalesforceError
from salesforce_sandbox.schema.model import ObjectDef, Schema

MATCHING_METHODS = (
    "Exact",
    "FirstName",
    "LastName",
    "CompanyName",
    "Phone",
    "City",
    "Street",
    "Zip",
    "Title",
)
BLANK_BEHAVIORS = ("NullNotAllowed", "MatchBlanks")
RULE_STATUSES = ("Active", "Inactive", "Activating", "Deactivating", "DeactivationFailed")
ACTIONS = ("Allow", "Block")
OPERATIONS = ("Alert", "Report")
MAX_ACTIVE_PER_OBJECT = 5  # active matching rules, and active duplicate rules, per object
DEFAULT_ALERT = "Use one of these records?"
_EXACT_CHARS = 99
_COMPANY_SUFFIXES = frozenset(
    {"inc", "incorporated", "llc", "ltd", "limited", "corp", "corporation", "co", "company"}
    | {"gmbh", "sa", "sas", "sarl", "ag", "bv", "plc", "pty", "the"}
)
_WORDS = re.compile(r"[^\w]+", re.UNICODE)
_FILTER_TOKEN = re.compile(r"\s*(\d+|AND\b|OR\b|NOT\b|\(|\))", re.IGNORECASE)


class RuleError(SalesforceError):
    """Metadata the org refuses (a deploy's component failure)."""

    def __init__(self, message: str) -> None:
        super().__init__("INVALID_METADATA", message)


class DuplicatesDetected(SalesforceError):
    """A save duplicate rules refuse. REST answers one item per rule with its
    ``duplicateResult`` (and no ``fields``); sObject Collections and Bulk API results carry only
    the code and the first rule's message, as Salesforce sends them."""

    def __init__(self, results: list[dict[str, Any]]) -> None:
        super().__init__("DUPLICATES_DETECTED", str(results[0]["errorMessage"]))
        self.results = results

    def rest_item(self) -> dict[str, Any]:
        return self.rest_body()[0]

    def rest_body(self) -> list[dict[str, Any]]:
        return [
            {"duplicateResult": r, "errorCode": self.code, "message": r["errorMessage"]}
            for r in self.results
        ]


# parsed metadata --------------------------------------------------------------------------------
@dataclass(frozen=True)
class MatchingItem:
    field: str
    method: str = "Exact"
    blank: str = "NullNotAllowed"


@dataclass(frozen=True)
class MatchingRule:
    sobject: str
    name: str  # DeveloperName (the ``fullName`` inside the file)
    label: str
    items: tuple[MatchingItem, ...]
    boolean_filter: str | None = None
    status: str = "Active"
    description: str = ""

    @property
    def full_name(self) -> str:
        return f"{self.sobject}.{self.name}"

    @property
    def active(self) -> bool:
        return self.status == "Active"

    @property
    def engine(self) -> str:
        """``matchEngine`` in a duplicate result."""
        fuzzy = any(item.method != "Exact" for item in self.items)
        return "FuzzyMatchEngine" if fuzzy else "ExactMatchEngine"


@dataclass(frozen=True)
class DuplicateRule:
    sobject: str
    name: str
    label: str
    matching_rules: tuple[tuple[str, str], ...]  # (matchRuleSObjectType, matchingRule)
    active: bool = True
    action_on_insert: str = "Allow"
    action_on_update: str = "Allow"
    alert_text: str = ""
    operations_on_insert: tuple[str, ...] = ("Alert",)
    operations_on_update: tuple[str, ...] = ("Alert",)
    sort_order: int = 1
    description: str = ""

    @property
    def full_name(self) -> str:
        return f"{self.sobject}.{self.name}"

    def action(self, operation: str) -> str:
        return self.action_on_insert if operation == "create" else self.action_on_update

    def alerts(self, operation: str) -> bool:
        ops = self.operations_on_insert if operation == "create" else self.operations_on_update
        return "Alert" in ops

    @property
    def message(self) -> str:
        return self.alert_text or DEFAULT_ALERT


# XML --------------------------------------------------------------------------------------------
def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def _text(node: ET.Element, name: str, default: str = "") -> str:
    for child in node:
        if _local(child.tag) == name:
            return (child.text or "").strip()
    return default


def _texts(node: ET.Element, name: str) -> tuple[str, ...]:
    return tuple((c.text or "").strip() for c in node if _local(c.tag) == name and c.text)


def _children(node: ET.Element, name: str) -> list[ET.Element]:
    return [c for c in node if _local(c.tag) == name]


def _root(xml_text: str, what: str) -> ET.Element:
    try:
        return ET.fromstring(xml_text)
    except ET.ParseError as exc:
        raise RuleError(f"{what}: Error parsing file: {exc}") from exc


def parse_matching_rules(sobject: str, xml_text: str) -> list[MatchingRule]:
    """The rules of a ``MatchingRules`` document (file ``matchingRules/<sobject>.matchingRule``)."""
    root = _root(xml_text, f"MatchingRules {sobject}")
    rules = []
    for node in _children(root, "matchingRules"):
        name = _text(node, "fullName")
        if "." in name:
            name = name.split(".", 1)[1]
        if not name:
            raise RuleError(f"MatchingRules {sobject}: a matching rule has no fullName")
        items = tuple(
            MatchingItem(
                _text(item, "fieldName"),
                _text(item, "matchingMethod") or "Exact",
                _text(item, "blankValueBehavior") or "NullNotAllowed",
            )
            for item in _children(node, "matchingRuleItems")
        )
        rules.append(
            MatchingRule(
                sobject,
                name,
                _text(node, "label") or name,
                items,
                _text(node, "booleanFilter") or None,
                _text(node, "ruleStatus") or "Active",
                _text(node, "description"),
            )
        )
    return rules


def parse_duplicate_rule(full_name: str, xml_text: str) -> DuplicateRule:
    """A ``DuplicateRule`` document; ``full_name`` is ``<sobject>.<DeveloperName>``."""
    sobject, dot, name = full_name.partition(".")
    if not dot or not name:
        raise RuleError(f"DuplicateRule {full_name!r}: the name must be <Object>.<Rule_Name>")
    root = _root(xml_text, f"DuplicateRule {full_name}")
    matching = tuple(
        (_text(node, "matchRuleSObjectType") or sobject, _text(node, "matchingRule"))
        for node in _children(root, "duplicateRuleMatchRules")
    )
    order = _text(root, "sortOrder")
    return DuplicateRule(
        sobject,
        name,
        _text(root, "masterLabel") or name,
        matching,
        _text(root, "isActive", "true").lower() == "true",
        _text(root, "actionOnInsert") or "Allow",
        _text(root, "actionOnUpdate") or "Allow",
        _text(root, "alertText"),
        _texts(root, "operationsOnInsert"),
        _texts(root, "operationsOnUpdate"),
        int(order) if order.isdigit() else 1,
        _text(root, "description"),
    )


# checks against the schema ----------------------------------------------------------------------
def _object(schema: Schema, name: str, what: str) -> ObjectDef:
    obj = schema.get(name)
    if obj is None:
        raise RuleError(f"{what}: no object named {name} exists in the org")
    return obj


def check_matching_rule(rule: MatchingRule, schema: Schema) -> MatchingRule:
    """The rule with the object's and fields' canonical names; RuleError when invalid."""
    what = f"MatchingRule {rule.full_name}"
    obj = _object(schema, rule.sobject, what)
    if not rule.items:
        raise RuleError(f"{what}: a matching rule needs at least one matchingRuleItems")
    if len(rule.items) > 10:
        raise RuleError(f"{what}: a matching rule compares at most 10 fields")
    items = []
    for item in rule.items:
        definition = obj.field(item.field)
        if definition is None:
            raise RuleError(f"{what}: field {item.field} does not exist on {obj.name}")
        if item.method not in MATCHING_METHODS:
            raise RuleError(
                f"{what}: matchingMethod {item.method!r} of {item.field} is not one of "
                f"{', '.join(MATCHING_METHODS)}"
            )
        if item.blank not in BLANK_BEHAVIORS:
            raise RuleError(
                f"{what}: blankValueBehavior {item.blank!r} of {item.field} is not one of "
                f"{', '.join(BLANK_BEHAVIORS)}"
            )
        items.append(MatchingItem(definition.name, item.method, item.blank))
    if rule.status not in RULE_STATUSES:
        raise RuleError(f"{what}: ruleStatus {rule.status!r} is not one of {RULE_STATUSES}")
    if rule.boolean_filter:
        try:
            evaluate_filter(rule.boolean_filter, [True] * len(items))
        except ValueError as exc:
            raise RuleError(f"{what}: booleanFilter {rule.boolean_filter!r}: {exc}") from exc
    return MatchingRule(
        obj.name,
        rule.name,
        rule.label,
        tuple(items),
        rule.boolean_filter,
        "Active" if rule.status == "Activating" else rule.status,
        rule.description,
    )


def check_duplicate_rule(
    rule: DuplicateRule, schema: Schema, matching: Mapping[str, MatchingRule]
) -> DuplicateRule:
    """The rule with canonical names; RuleError when invalid. ``matching``: the org's matching
    rules by lower-cased full name (``contact.my_rule``)."""
    what = f"DuplicateRule {rule.full_name}"
    obj = _object(schema, rule.sobject, what)
    for label, value, allowed in (
        ("actionOnInsert", rule.action_on_insert, ACTIONS),
        ("actionOnUpdate", rule.action_on_update, ACTIONS),
    ):
        if value not in allowed:
            raise RuleError(f"{what}: {label} {value!r} is not one of {', '.join(allowed)}")
    for value in (*rule.operations_on_insert, *rule.operations_on_update):
        if value not in OPERATIONS:
            raise RuleError(f"{what}: operation {value!r} is not one of {', '.join(OPERATIONS)}")
    if not rule.matching_rules:
        raise RuleError(f"{what}: a duplicate rule needs a duplicateRuleMatchRules")
    if len(rule.matching_rules) > 3:
        raise RuleError(f"{what}: a duplicate rule uses at most 3 matching rules")
    resolved = []
    for sobject, name in rule.matching_rules:
        found = matching.get(f"{sobject}.{name}".lower())
        if found is None:
            raise RuleError(
                f"{what}: the matching rule {name} on {sobject} does not exist; deploy its "
                f"matchingRules/{sobject}.matchingRule first (or in the same deploy)"
            )
        if rule.active and not found.active:
            raise RuleError(
                f"{what}: the matching rule {found.full_name} is {found.status}; activate it "
                "(ruleStatus Active) before activating the duplicate rule"
            )
        resolved.append((found.sobject, found.name))
    return DuplicateRule(
        obj.name,
        rule.name,
        rule.label,
        tuple(resolved),
        rule.active,
        rule.action_on_insert,
        rule.action_on_update,
        rule.alert_text,
        rule.operations_on_insert,
        rule.operations_on_update,
        rule.sort_order,
        rule.description,
    )


def check_limits(matching: Iterable[MatchingRule], duplicates: Iterable[DuplicateRule]) -> None:
    """At most five active matching rules and five active duplicate rules per object."""
    for kind, rules in (("matching", matching), ("duplicate", duplicates)):
        counts: dict[str, list[str]] = {}
        for rule in rules:
            if rule.active:
                counts.setdefault(rule.sobject, []).append(rule.name)
        for sobject, names in counts.items():
            if len(names) > MAX_ACTIVE_PER_OBJECT:
                raise RuleError(
                    f"{sobject} would have {len(names)} active {kind} rules "
                    f"({', '.join(sorted(names))}); the limit is {MAX_ACTIVE_PER_OBJECT}"
                )


# documents of an org ---------------------------------------------------------------------------
MATCHING_TYPE = "MatchingRules"  # one document per object, full name = the object
DUPLICATE_TYPE = "DuplicateRule"  # one document per rule, full name = Object.Rule_Name
TYPES = (MATCHING_TYPE, DUPLICATE_TYPE)


Documents = dict[str, dict[str, str]]  # type -> full name -> XML


@dataclass(frozen=True)
class Parsed:
    matching: dict[str, MatchingRule]  # lower-cased Object.Rule -> rule
    duplicates: dict[str, DuplicateRule]


def parse_documents(documents: Documents, schema: Schema) -> Parsed:
    """Every rule of ``documents``, checked against ``schema`` (RuleError names the first
    problem)."""
    matching: dict[str, MatchingRule] = {}
    for sobject, text in sorted(documents.get(MATCHING_TYPE, {}).items()):
        for rule in parse_matching_rules(sobject, text):
            checked = check_matching_rule(rule, schema)
            matching[checked.full_name.lower()] = checked
    duplicates: dict[str, DuplicateRule] = {}
    for full_name, text in sorted(documents.get(DUPLICATE_TYPE, {}).items()):
        checked_rule = check_duplicate_rule(parse_duplicate_rule(full_name, text), schema, matching)
        duplicates[checked_rule.full_name.lower()] = checked_rule
    check_limits(matching.values(), duplicates.values())
    return Parsed(matching, duplicates)


def merged(documents: Documents, components: Mapping[tuple[str, str], str]) -> Documents:
    """``documents`` with the duplicate management ``components`` of a deploy over them (a
    MatchingRules file replaces the object's rules, as Salesforce's deploy of it does)."""
    out: Documents = {kind: dict(documents.get(kind, {})) for kind in TYPES}
    for (kind, name), text in components.items():
        if kind in TYPES:
            for existing in [n for n in out[kind] if n.lower() == name.lower()]:
                del out[kind][existing]
            out[kind][name] = text
    return out


# matching ---------------------------------------------------------------------------------------
def _blank(value: Any) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())


def normalize(method: str, value: Any) -> str:
    """What a method compares of a (non-blank) value."""
    text = str(value).strip().lower()
    if method == "Exact":
        return text[:_EXACT_CHARS]
    if method == "Phone":
        return re.sub(r"\D", "", text)
    if method == "Zip":
        return re.sub(r"\s", "", text)[:5]
    words = [w for w in _WORDS.split(text) if w]
    if method == "CompanyName":
        words = [w for w in words if w not in _COMPANY_SUFFIXES] or words
    return " ".join(words)


def item_matches(
    item: MatchingItem, candidate: Mapping[str, Any], existing: Mapping[str, Any]
) -> bool:
    mine, theirs = candidate.get(item.field), existing.get(item.field)
    if _blank(mine) or _blank(theirs):
        return item.blank == "MatchBlanks" and _blank(mine) and _blank(theirs)
    return normalize(item.method, mine) == normalize(item.method, theirs)


def rule_matches(
    rule: MatchingRule, candidate: Mapping[str, Any], existing: Mapping[str, Any]
) -> bool:
    results = [item_matches(item, candidate, existing) for item in rule.items]
    if rule.boolean_filter:
        return evaluate_filter(rule.boolean_filter, results)
    return all(results)


def evaluate_filter(expression: str, values: list[bool]) -> bool:
    """``1 AND (2 OR NOT 3)`` over ``values`` (1-based); ValueError when malformed."""
    tokens = _tokens(expression)
    position = 0

    def peek() -> str | None:
        return tokens[position] if position < len(tokens) else None

    def take() -> str:
        nonlocal position
        if position >= len(tokens):
            raise ValueError("the expression ends too early")
        position += 1
        return tokens[position - 1]

    def unary() -> bool:
        token = take()
        if token == "NOT":
            return not unary()
        if token == "(":
            value = disjunction()
            if take() != ")":
                raise ValueError("a parenthesis is not closed")
            return value
        if token.isdigit():
            index = int(token)
            if not 1 <= index <= len(values):
                raise ValueError(f"{index} names no matching rule item (1 to {len(values)})")
            return values[index - 1]
        raise ValueError(f"unexpected {token!r}")

    def conjunction() -> bool:
        value = unary()
        while peek() == "AND":
            take()
            value = unary() and value
        return value

    def disjunction() -> bool:
        value = conjunction()
        while peek() == "OR":
            take()
            value = conjunction() or value
        return value

    result = disjunction()
    if position != len(tokens):
        raise ValueError(f"unexpected {tokens[position]!r}")
    return result


def _tokens(expression: str) -> list[str]:
    tokens: list[str] = []
    rest = expression.strip()
    while rest:
        found = _FILTER_TOKEN.match(rest)
        if found is None:
            raise ValueError(f"cannot read {rest!r}")
        tokens.append(found.group(1).upper())
        rest = rest[found.end() :].strip()
    return tokens


# what a write answers ---------------------------------------------------------------------------
@dataclass(frozen=True)
class RuleHit:
    """A duplicate rule that found matches for a record being saved."""

    rule: DuplicateRule
    results: tuple[tuple[MatchingRule, tuple[Mapping[str, Any], ...]], ...]  # rule -> records

    def blocks(self, operation: str, allow_save: bool) -> bool:
        """Whether the save is refused: Block always; Allow with Alert over the API unless
        the request's header says allowSave=true."""
        if self.rule.action(operation) == "Block":
            return True
        return self.rule.alerts(operation) and not allow_save

    def allow_save(self, operation: str) -> bool:
        return self.rule.action(operation) == "Allow"


def find_hits(
    rules: Iterable[DuplicateRule],
    matching: Mapping[str, MatchingRule],
    candidate: Mapping[str, Any],
    records_of: Callable[[str], Iterable[Mapping[str, Any]]],
    own_id: str | None,
) -> list[RuleHit]:
    """Active rules (in sortOrder) that find existing records matching ``candidate``;
    ``records_of(sobject)`` gives the live records of an object."""
    hits = []
    cache: dict[str, list[Mapping[str, Any]]] = {}
    for rule in sorted(rules, key=lambda r: (r.sort_order, r.name.lower())):
        if not rule.active:
            continue
        results = []
        for sobject, name in rule.matching_rules:
            found = matching.get(f"{sobject}.{name}".lower())
            if found is None or not found.active:
                continue
            if sobject not in cache:
                cache[sobject] = list(records_of(sobject))
            matched = tuple(
                record
                for record in cache[sobject]
                if record.get("Id") != own_id and rule_matches(found, candidate, record)
            )
            if matched:
                results.append((found, matched))
        if results:
            hits.append(RuleHit(rule, tuple(results)))
    return hits


def duplicate_result(
    hit: RuleHit,
    candidate: Mapping[str, Any],
    version: str,
    allow_save: bool,
    include_details: bool = False,
) -> dict[str, Any]:
    """The ``duplicateResult`` of a refused save, as Salesforce's REST API writes it."""
    match_results = []
    for matching_rule, records in hit.results:
        match_records = []
        for record in records:
            shown: dict[str, Any] = {
                "attributes": {
                    "type": matching_rule.sobject,
                    "url": f"/services/data/v{version}/sobjects/{matching_rule.sobject}/"
                    f"{record['Id']}",
                },
                "Id": record["Id"],
            }
            diffs: list[dict[str, str]] = []
            if include_details:
                for item in matching_rule.items:
                    shown[item.field] = record.get(item.field)
                    diffs.append(
                        {"name": item.field, "difference": _difference(item, candidate, record)}
                    )
            match_records.append(
                {
                    "additionalInformation": [],
                    "fieldDiffs": diffs,
                    "matchConfidence": 100.0,
                    "record": shown,
                }
            )
        match_results.append(
            {
                "entityType": matching_rule.sobject,
                "errors": [],
                "matchEngine": matching_rule.engine,
                "matchRecords": match_records,
                "rule": matching_rule.name,
                "size": len(match_records),
                "success": True,
            }
        )
    return {
        "allowSave": allow_save,
        "duplicateRule": hit.rule.name,
        "duplicateRuleEntityType": hit.rule.sobject,
        "errorMessage": hit.rule.message,
        "matchResults": match_results,
    }


def _difference(item: MatchingItem, candidate: Mapping[str, Any], record: Mapping[str, Any]) -> str:
    if _blank(candidate.get(item.field)) or _blank(record.get(item.field)):
        return "Null"
    return "Same" if item_matches(item, candidate, record) else "Different"


@dataclass(frozen=True)
class HeaderOptions:
    """``Sforce-Duplicate-Rule-Header: allowSave=true; includeRecordDetails=true;
    runAsCurrentUser=true`` (every option false when absent)."""

    allow_save: bool = False
    include_record_details: bool = False
    run_as_current_user: bool = False


def parse_header(value: str | None) -> HeaderOptions:
    options: dict[str, bool] = {}
    for part in re.split(r"[;,]", value or ""):
        name, _, flag = part.partition("=")
        options[name.strip().lower()] = flag.strip().lower() == "true"
    return HeaderOptions(
        options.get("allowsave", False),
        options.get("includerecorddetails", False),
        options.get("runascurrentuser", False),
    )


# the standard rules ------------------------------------------------------------------------------
STANDARD_ALERT = (
    "You're creating a duplicate record. We recommend you use an existing record instead."
)


@dataclass(frozen=True)
class StandardRules:
    """The standard rules of an object, as metadata documents (inactive in a new sandbox)."""

    sobject: str
    matching_xml: str
    duplicate_name: str
    duplicate_xml: str = field(repr=False)


def _matching_xml(name: str, label: str, items: list[tuple[str, str]], boolean_filter: str) -> str:
    parts = "".join(
        "<matchingRuleItems><blankValueBehavior>NullNotAllowed</blankValueBehavior>"
        f"<fieldName>{f}</fieldName><matchingMethod>{m}</matchingMethod></matchingRuleItems>"
        for f, m in items
    )
    return (
        '<?xml version="1.0" encoding="UTF-8"?>'
        '<MatchingRules xmlns="http://soap.sforce.com/2006/04/metadata"><matchingRules>'
        f"<fullName>{name}</fullName><booleanFilter>{boolean_filter}</booleanFilter>"
        f"<label>{label}</label>{parts}<ruleStatus>Active</ruleStatus>"
        "</matchingRules></MatchingRules>"
    )


def _duplicate_xml(sobject: str, label: str, matching: str) -> str:
    return (
        '<?xml version="1.0" encoding="UTF-8"?>'
        '<DuplicateRule xmlns="http://soap.sforce.com/2006/04/metadata">'
        f"<actionOnInsert>Allow</actionOnInsert><actionOnUpdate>Allow</actionOnUpdate>"
        f"<alertText>{STANDARD_ALERT}</alertText>"
        f"<duplicateRuleMatchRules><matchRuleSObjectType>{sobject}</matchRuleSObjectType>"
        f"<matchingRule>{matching}</matchingRule></duplicateRuleMatchRules>"
        f"<isActive>true</isActive><masterLabel>{label}</masterLabel>"
        "<operationsOnInsert>Alert</operationsOnInsert><operationsOnInsert>Report</operationsOnInsert>"
        "<operationsOnUpdate>Alert</operationsOnUpdate>"
        "<securityOption>EnforceSharingRules</securityOption><sortOrder>1</sortOrder>"
        "</DuplicateRule>"
    )


# Approximations of Salesforce's standard matching rules (their real criteria also use fuzzy
# scores and parent fields the sandbox does not model): a person's first and last name with
# their email or phone; a company's name with its billing city, postal code or phone.
STANDARD_RULES = (
    StandardRules(
        "Account",
        _matching_xml(
            "Standard_Account_Match_Rule_v1_0",
            "Standard Account Matching Rule",
            [
                ("Name", "CompanyName"),
                ("BillingCity", "City"),
                ("BillingPostalCode", "Zip"),
                ("Phone", "Phone"),
            ],
            "(1 AND 2) OR (1 AND 3) OR (1 AND 4)",
        ),
        "Standard_Account_Duplicate_Rule",
        _duplicate_xml(
            "Account", "Standard Account Duplicate Rule", "Standard_Account_Match_Rule_v1_0"
        ),
    ),
    StandardRules(
        "Contact",
        _matching_xml(
            "Standard_Contact_Match_Rule_v1_1",
            "Standard Contact Matching Rule",
            [
                ("FirstName", "FirstName"),
                ("LastName", "LastName"),
                ("Email", "Exact"),
                ("Phone", "Phone"),
            ],
            "(1 AND 2 AND 3) OR (1 AND 2 AND 4)",
        ),
        "Standard_Contact_Duplicate_Rule",
        _duplicate_xml(
            "Contact", "Standard Contact Duplicate Rule", "Standard_Contact_Match_Rule_v1_1"
        ),
    ),
)
