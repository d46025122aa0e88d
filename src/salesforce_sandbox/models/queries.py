"""SOQL over the store, with server-side cursors for ``nextRecordsUrl`` paging."""

from __future__ import annotations

import itertools
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

from salesforce_sandbox import ids
from salesforce_sandbox.errors import SalesforceError
from salesforce_sandbox.models.records import StoreSource
from salesforce_sandbox.models.store import Store
from salesforce_sandbox.schema.model import Schema
from salesforce_sandbox.soql import bind, execute, parse

MAX_CURSORS = 200


@dataclass
class Cursor:
    records: list[dict[str, Any]]
    total: int


class Queries:
    def __init__(self, store: Store) -> None:
        self.store = store
        self.cursors: OrderedDict[str, Cursor] = OrderedDict()
        self._numbers = itertools.count(1)

    def run(
        self, soql: str, schema: Schema, version: str, include_deleted: bool, batch_size: int
    ) -> dict[str, Any]:
        bound = bind(parse(soql), schema)
        result = execute(bound, StoreSource(self.store), schema, version, include_deleted)
        if bound.count_only:
            return {"totalSize": result.total_size, "done": True, "records": []}
        return self.page(Cursor(result.records, result.total_size), None, 0, batch_size, version)

    def page(
        self, cursor: Cursor, locator: str | None, offset: int, batch_size: int, version: str
    ) -> dict[str, Any]:
        end = offset + batch_size
        body: dict[str, Any] = {
            "totalSize": cursor.total,
            "done": end >= len(cursor.records),
            "records": cursor.records[offset:end],
        }
        if end < len(cursor.records):
            if locator is None:
                locator = ids.make_id("01g", next(self._numbers))[:15]
                self.cursors[locator] = cursor
                while len(self.cursors) > MAX_CURSORS:
                    self.cursors.popitem(last=False)
            body["nextRecordsUrl"] = f"/services/data/v{version}/query/{locator}-{end}"
        elif locator is not None:
            self.cursors.pop(locator, None)
        return body

    def more(self, locator_text: str, version: str, batch_size: int) -> dict[str, Any]:
        locator, _, offset_text = locator_text.rpartition("-")
        cursor = self.cursors.get(locator)
        if cursor is None or not offset_text.isdigit():
            raise SalesforceError("INVALID_QUERY_LOCATOR", "invalid query locator")
        return self.page(cursor, locator, int(offset_text), batch_size, version)

    def reset(self) -> None:
        self.cursors.clear()
