"""The org's duplicate management: matching and duplicate rules that came as metadata (a
Metadata API deploy, ``--metadata`` source directories) or were turned on from the control plane
(Salesforce's standard rules), enforced on API writes as a ``Records`` hook.

* The rules' documents live in the store's ``meta`` table (``RULES_META``), so they survive a
  restart with a data directory and a ``reset()`` (not ``reset(schema=True)``); they are
  mirrored as DuplicateRule / MatchingRule / MatchingRuleItem records for SOQL.
* Only API requests are checked (a user acts, ``permissions.acting_user()``): seeding and the
  control plane write what they are given, as a data import with rules bypassed would.
* A request's ``Sforce-Duplicate-Rule-Header`` (REST, Composite and sObject Collections; Bulk
  API jobs have none) is in effect for its writes through ``request_options``.

What a match answers is ``schema.duplicate_rules``'s (``DuplicatesDetected``).
"""

from __future__ import annotations

import contextlib
import contextvars
import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from salesforce_sandbox.models.permissions import acting_user
from salesforce_sandbox.models.records import Records
from salesforce_sandbox.models.store import Record, Store
from salesforce_sandbox.schema import duplicate_rules as rules
from salesforce_sandbox.schema.duplicate_rules import (
    DUPLICATE_TYPE,
    MATCHING_TYPE,
    TYPES,
    Documents,
    DuplicatesDetected,
    HeaderOptions,
    Parsed,
    RuleError,
    merged,
    parse_documents,
)
from salesforce_sandbox.schema.mdapi import document, strip_namespaces
from salesforce_sandbox.schema.model import ObjectDef, Schema

RULES_META = "duplicate_rules"
HEADER = "sforce-duplicate-rule-header"


@dataclass(frozen=True)
class RequestOptions:
    header: HeaderOptions
    version: str


_OPTIONS: contextvars.ContextVar[RequestOptions | None] = contextvars.ContextVar(
    "salesforce_sandbox_duplicate_rule_header", default=None
)


@contextlib.contextmanager
def request_options(header: str | None, version: str) -> Iterator[None]:
    """The duplicate rule header of the request being served (absent: every option false)."""
    token = _OPTIONS.set(RequestOptions(rules.parse_header(header), version))
    try:
        yield
    finally:
        _OPTIONS.reset(token)


class DuplicateManagement:
    """The org's rules (a ``RecordHook``)."""

    def __init__(self, store: Store, records: Records, schema: Callable[[], Schema]) -> None:
        self.store = store
        self.records = records
        self.schema = schema
        # the parsed rules, read again after every change (deploy, remove, reset): a write
        # of an org without rules costs one look at this
        self._cache: Parsed | None = None

    # state ------------------------------------------------------------------------------------
    def documents(self) -> Documents:
        raw = self.store.meta_get(RULES_META) or {}
        return {kind: dict(raw.get(kind, {})) for kind in TYPES}

    def parsed(self) -> Parsed:
        if self._cache is None:
            try:
                self._cache = parse_documents(self.documents(), self.schema())
            except RuleError:  # a field the rules use went away: nothing is enforced
                self._cache = Parsed({}, {})
        return self._cache

    def check(self, components: Mapping[tuple[str, str], str], schema: Schema) -> Parsed:
        """The rules the org would have with ``components`` deployed (RuleError if not)."""
        return parse_documents(merged(self.documents(), components), schema)

    # changes ----------------------------------------------------------------------------------
    def deploy(self, components: Mapping[tuple[str, str], str], schema: Schema) -> list[str]:
        """Keep the duplicate management components of a deploy (checked first: nothing is
        kept when one is invalid); returns ``Type:Name`` of each."""
        mine = {key: text for key, text in components.items() if key[0] in TYPES}
        if not mine:
            return []
        documents = merged(self.documents(), mine)
        parse_documents(documents, schema)
        with self.store.transaction():
            self.store.meta_set(RULES_META, documents)
            self._cache = None
            self.seed()
        return [f"{kind}:{name}" for kind, name in sorted(mine)]

    def enable_standard(self, objects: list[str] | None = None) -> list[str]:
        """Turn on Salesforce's standard matching and duplicate rules (of Account and Contact,
        or the named objects): the ones a new production org has active."""
        wanted = {o.lower() for o in objects} if objects else None
        components: dict[tuple[str, str], str] = {}
        for standard in rules.STANDARD_RULES:
            if wanted is not None and standard.sobject.lower() not in wanted:
                continue
            documents = self.documents()
            current = documents[MATCHING_TYPE].get(standard.sobject)
            components[(MATCHING_TYPE, standard.sobject)] = _with_rule(
                current, standard.matching_xml
            )
            name = f"{standard.sobject}.{standard.duplicate_name}"
            components[(DUPLICATE_TYPE, name)] = standard.duplicate_xml
        if wanted is not None and len(components) // 2 < len(wanted):
            known = ", ".join(s.sobject for s in rules.STANDARD_RULES)
            raise RuleError(f"standard duplicate rules exist for {known} only")
        return self.deploy(components, self.schema())

    def remove(self, names: list[str] | None = None) -> list[str]:
        """Drop duplicate rules (all of them, with every matching rule, when ``names`` is
        None); returns what went."""
        documents = self.documents()
        if names is None:
            gone = [f"{k}:{n}" for k in TYPES for n in documents[k]]
            documents = {kind: {} for kind in TYPES}
        else:
            lowered = {n.lower() for n in names}
            gone = [
                f"{DUPLICATE_TYPE}:{n}" for n in documents[DUPLICATE_TYPE] if n.lower() in lowered
            ]
            documents[DUPLICATE_TYPE] = {
                n: t for n, t in documents[DUPLICATE_TYPE].items() if n.lower() not in lowered
            }
        with self.store.transaction():
            self.store.meta_set(RULES_META, documents)
            self._cache = None
            self.seed()
        return sorted(gone)

    # records for SOQL -------------------------------------------------------------------------
    def restore(self) -> None:
        """The rules' records again after a reset wiped them (nothing when they are there);
        the rules are read again (a reset of the schema drops them)."""
        self._cache = None
        documents = self.documents()
        if any(documents.values()) and not self.store.count("MatchingRule"):
            self.seed()

    def seed(self) -> None:
        """Make the DuplicateRule / MatchingRule / MatchingRuleItem records show the rules
        (after a deploy, or a reset that wiped the records)."""
        schema = self.schema()
        found = self.parsed()
        duplicate_obj = schema.get("DuplicateRule")
        matching_obj = schema.get("MatchingRule")
        item_obj = schema.get("MatchingRuleItem")
        if duplicate_obj is None or matching_obj is None or item_obj is None:
            return
        with self.store.transaction():
            for obj in (item_obj, duplicate_obj, matching_obj):
                for row in list(self.store.scan(obj.name, False)):
                    self.records.delete(obj, str(row["Id"]), system=True)
            for rule in found.matching.values():
                rule_id = self.records.create(
                    matching_obj,
                    {
                        "DeveloperName": rule.name,
                        "MasterLabel": rule.label,
                        "SobjectType": rule.sobject,
                        "RuleStatus": rule.status,
                        "MatchEngine": rule.engine,
                        "BooleanFilter": rule.boolean_filter,
                        "Description": rule.description or None,
                    },
                    system=True,
                )
                for order, item in enumerate(rule.items, 1):
                    self.records.create(
                        item_obj,
                        {
                            "MatchingRuleId": rule_id,
                            "Field": item.field,
                            "MatchingMethod": item.method,
                            "BlankValueBehavior": item.blank,
                            "SortOrder": order,
                        },
                        system=True,
                    )
            for duplicate in found.duplicates.values():
                self.records.create(
                    duplicate_obj,
                    {
                        "DeveloperName": duplicate.name,
                        "MasterLabel": duplicate.label,
                        "SobjectType": duplicate.sobject,
                        "IsActive": duplicate.active,
                        "Language": "en_US",
                    },
                    system=True,
                )

    # the hook ---------------------------------------------------------------------------------
    def before_write(
        self, obj: ObjectDef, record: Record, current: Record | None, user: str
    ) -> None:
        """Refuse an API write that active rules find duplicates of (DUPLICATES_DETECTED)."""
        if acting_user() is None:
            return
        if obj.name == "Contact" and record.get("IsPersonAccount"):
            return  # a person account's contact: its account's rules (Account) apply
        found = self.parsed()
        active = [
            r
            for r in found.duplicates.values()
            if r.active and r.sobject.lower() == obj.name.lower()
        ]
        if not active:
            return
        operation = "create" if current is None else "update"
        options = _OPTIONS.get() or RequestOptions(HeaderOptions(), "59.0")
        hits = rules.find_hits(
            active,
            found.matching,
            record,
            lambda sobject: self.store.scan(sobject, False),
            str(record.get("Id") or "") or None,
        )
        blocking = [h for h in hits if h.blocks(operation, options.header.allow_save)]
        if blocking:
            raise DuplicatesDetected(
                [
                    rules.duplicate_result(
                        hit,
                        record,
                        options.version,
                        hit.allow_save(operation),
                        options.header.include_record_details,
                    )
                    for hit in blocking
                ]
            )

    def after_write(self, obj: ObjectDef, record: Record) -> None:
        return None

    def summary(self) -> list[dict[str, Any]]:
        """The duplicate rules, for the control plane."""
        found = self.parsed()
        return [
            {
                "fullName": r.full_name,
                "active": r.active,
                "actionOnInsert": r.action_on_insert,
                "actionOnUpdate": r.action_on_update,
                "alert": r.alerts("create"),
                "matchingRules": [f"{s}.{n}" for s, n in r.matching_rules],
                "alertText": r.message,
            }
            for r in sorted(found.duplicates.values(), key=lambda r: r.full_name)
        ]


def _with_rule(current: str | None, standard: str) -> str:
    """An object's MatchingRules document with the standard rule added to (or replacing in)
    its other rules."""
    if current is None:
        return standard
    root = strip_namespaces(ET.fromstring(current))
    added = strip_namespaces(ET.fromstring(standard))
    names = {
        (node.findtext("fullName") or "").strip().lower()
        for node in added
        if node.tag == "matchingRules"
    }
    for node in list(root):
        if (
            node.tag == "matchingRules"
            and (node.findtext("fullName") or "").strip().lower() in names
        ):
            root.remove(node)
    root.extend(node for node in added if node.tag == "matchingRules")
    return document(root, "MatchingRules")
