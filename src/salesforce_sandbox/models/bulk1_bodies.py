"""Bulk API 1.0 ingest batch bodies as a header and rows of text cells (pure): CSV as sent,
a JSON array of records, or XML ``<sObjects>``. Cells are what the Bulk API 2.0 row code takes
from CSV: ``#N/A`` for null, ``true``/``false`` for booleans, a lookup by a parent's external id
as a ``Relationship.Field`` column."""

from __future__ import annotations

import csv
import io
import json
import xml.etree.ElementTree as ET
from typing import Any

from salesforce_sandbox.errors import SalesforceError

XSI_NIL = "{http://www.w3.org/2001/XMLSchema-instance}nil"


def _invalid(message: str) -> SalesforceError:
    return SalesforceError("InvalidBatch", f"InvalidBatch : {message}")


def batch_rows(content_type: str, text: str) -> tuple[list[str], list[list[str]]]:
    """(header, rows of text cells) of an ingest batch; ``#N/A`` stands for null, as in CSV."""
    if content_type == "JSON":
        return _json_rows(text)
    if content_type == "XML":
        return _xml_rows(text)
    reader = csv.reader(io.StringIO(text, newline=""))
    header = next(reader, None)
    if not header or not any(h.strip() for h in header):
        raise _invalid("The CSV batch has no header row")
    return [h.strip() for h in header], list(reader)


def _cell(value: Any) -> str:
    if value is None:
        return "#N/A"
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _table(records: list[dict[str, str]]) -> tuple[list[str], list[list[str]]]:
    header: dict[str, None] = {}
    for record in records:
        header.update(dict.fromkeys(record))
    if not header:
        raise _invalid("The batch has no records")
    names = list(header)
    return names, [[record.get(name, "") for name in names] for record in records]


def _json_rows(text: str) -> tuple[list[str], list[list[str]]]:
    try:
        data = json.loads(text)
    except ValueError as exc:
        raise _invalid(f"The batch is not JSON: {exc}") from exc
    if not isinstance(data, list) or not all(isinstance(r, dict) for r in data):
        raise _invalid("A JSON batch is an array of records")
    records = []
    for item in data:
        record: dict[str, str] = {}
        for key, value in item.items():
            if key == "attributes":
                continue
            if isinstance(value, dict):  # a lookup by the parent's external id
                for sub_key, sub_value in value.items():
                    if sub_key != "attributes":
                        record[f"{key}.{sub_key}"] = _cell(sub_value)
            else:
                record[key] = _cell(value)
        records.append(record)
    return _table(records)


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def _xml_rows(text: str) -> tuple[list[str], list[list[str]]]:
    try:
        root = ET.fromstring(text)
    except ET.ParseError as exc:
        raise _invalid(f"The batch is not XML: {exc}") from exc
    if _local(root.tag) != "sObjects":
        raise _invalid("An XML batch is <sObjects> of <sObject>")
    records = []
    for element in root:
        record: dict[str, str] = {}
        for child in element:
            name = _local(child.tag)
            parent = next((c for c in child if _local(c.tag) == "sObject"), None)
            if parent is not None:
                for sub in parent:
                    record[f"{name}.{_local(sub.tag)}"] = _xml_cell(sub)
            else:
                record[name] = _xml_cell(child)
        records.append(record)
    return _table(records)


def _xml_cell(element: ET.Element) -> str:
    if element.get(XSI_NIL) == "true":
        return "#N/A"
    return element.text or ""
