"""Run a parsed SOSL search over a ``RecordSource`` (pure).

Each RETURNING object is a SOQL query the engine runs (its WHERE, ORDER BY, LIMIT, OFFSET and
field shaping) over a source that only yields that object's records matching the term. Matching
is by word: a field's text is split into lowercased words (letters, digits, ``_``); a term word
matches one of them (``*`` any characters, ``?`` one), a phrase matches consecutive words of one
field, and a word written with punctuation (``jane@example.com``, ``555-1234``) is the phrase
of its parts. Phone fields also match on their digits run together.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from functools import lru_cache
from typing import Any

from salesforce_sandbox.schema.model import FieldDef, ObjectDef, Schema
from salesforce_sandbox.soql import ast
from salesforce_sandbox.soql.binder import BoundQuery, bind
from salesforce_sandbox.soql.engine import RecordSource, execute
from salesforce_sandbox.soql.sosl import (
    AllOf,
    AnyOf,
    Excluding,
    Phrase,
    Search,
    Term,
    search_errors,
)

Record = dict[str, Any]
Words = list[list[str]]  # per searched field, its words

_WORD = re.compile(r"\w+")
_SEARCHED_TYPES = frozenset({"string", "textarea", "email", "phone", "url"})
_NAME_FIELDS = ("Name", "FirstName", "LastName", "MiddleName", "Subject", "CaseNumber")
_NOT_SEARCHED = frozenset({"organization", "group"})


def scope_fields(obj: ObjectDef, scope: str) -> list[FieldDef]:
    """The fields of ``obj`` an ``IN <scope> FIELDS`` search looks at."""
    if scope == "NAME":
        found = [obj.field(name) for name in _NAME_FIELDS]
        return [f for f in found if f is not None]
    if scope == "EMAIL":
        return [f for f in obj.fields.values() if f.type == "email"]
    if scope == "PHONE":
        return [f for f in obj.fields.values() if f.type == "phone"]
    return [f for f in obj.fields.values() if f.type in _SEARCHED_TYPES]


def record_words(record: Record, fields: list[FieldDef]) -> Words:
    out: Words = []
    for definition in fields:
        value = record.get(definition.name)
        if value is None or value == "":
            continue
        text = str(value).lower()
        out.append(_WORD.findall(text))
        if definition.type == "phone":
            digits = "".join(ch for ch in text if ch.isdigit())
            if digits:
                out.append([digits])
    return out


@lru_cache(maxsize=512)
def _word_pattern(word: str) -> re.Pattern[str]:
    body = "".join(
        r"\w*" if ch == "*" else r"\w" if ch == "?" else re.escape(ch) for ch in word.lower()
    )
    return re.compile(body)


def matches(term: Term, words: Words) -> bool:
    """Whether a record whose searched fields hold ``words`` matches ``term``."""
    if isinstance(term, Phrase):
        return _phrase_in(term.words, words)
    if isinstance(term, AllOf):
        return all(matches(t, words) for t in term.items)
    if isinstance(term, AnyOf):
        return any(matches(t, words) for t in term.items)
    if isinstance(term, Excluding):
        return matches(term.keep, words) and not matches(term.drop, words)
    raise TypeError(term)


def _phrase_in(phrase: tuple[str, ...], words: Words) -> bool:
    if not phrase:
        return False
    patterns = [_word_pattern(w) for w in phrase]
    size = len(patterns)
    for field_words in words:
        for start in range(len(field_words) - size + 1):
            if all(p.fullmatch(field_words[start + i]) for i, p in enumerate(patterns)):
                return True
    return False


class _Matching:
    """``source`` with the records of ``sobject`` narrowed to those ``keep`` accepts."""

    def __init__(self, source: RecordSource, sobject: str, keep: Callable[[Record], bool]):
        self.source = source
        self.sobject = sobject
        self.keep = keep

    def _narrow(self, sobject: str, rows: Iterable[Record]) -> Iterable[Record]:
        if sobject != self.sobject:
            return rows
        return [r for r in rows if self.keep(r)]

    def scan(self, sobject: str, include_deleted: bool) -> Iterable[Record]:
        return self._narrow(sobject, self.source.scan(sobject, include_deleted))

    def by_ids(self, sobject: str, ids: list[str], include_deleted: bool) -> Iterable[Record]:
        return self._narrow(sobject, self.source.by_ids(sobject, ids, include_deleted))

    def by_key(
        self, sobject: str, field: str, keys: list[str], include_deleted: bool
    ) -> Iterable[Record]:
        return self._narrow(sobject, self.source.by_key(sobject, field, keys, include_deleted))

    def get(self, record_id: str) -> Record | None:
        return self.source.get(record_id)


def bind_targets(search: Search, schema: Schema) -> list[BoundQuery]:
    """The RETURNING objects bound to the schema (every searchable object when none)."""
    targets = search.targets
    if targets is None:
        targets = [
            ast.Query([ast.FieldRef(["Id"], 1)], obj.name, 1, text=search.masked)
            for obj in schema.objects()
            if obj.name.lower() not in _NOT_SEARCHED
        ]
    with search_errors(search):
        return [bind(target, schema) for target in targets]


def run_search(
    search: Search, schema: Schema, source: RecordSource, version: str = "59.0"
) -> list[Record]:
    """The ``searchRecords`` of ``search``: per RETURNING object in order, then the overall
    LIMIT."""
    out: list[Record] = []
    for bound in bind_targets(search, schema):
        remaining = search.limit - len(out)
        if remaining <= 0:
            break
        fields = scope_fields(bound.obj, search.scope)
        if not fields:
            continue

        def keep(record: Record, fields: list[FieldDef] = fields) -> bool:
            return matches(search.term, record_words(record, fields))

        result = execute(bound, _Matching(source, bound.obj.name, keep), schema, version)
        out.extend(result.records[:remaining])
    return out
