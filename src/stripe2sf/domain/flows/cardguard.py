"""Last line of defence: no card number or CVC ever goes to Salesforce.

Every value the planner is about to send is scanned. A string holding 13-19 digits (single
spaces or dashes allowed between groups) that passes the Luhn check is a card number; a
field whose name looks like a CVC or card-number field is refused whatever it holds. A hit
removes the field from the write, and is reported as a `Refusal` (with the value redacted)
for the audit trail and the logs.

A field the record cannot be created without (`required`: Account.Name, Contact.LastName)
is not just dropped, which would only move the failure to Salesforce (REQUIRED_FIELD_MISSING,
with nothing saying why): it is written with a safe substitute, the value with every card
number replaced by [REDACTED] (or the record's key when nothing else is left), and the
refusal says so.

Only strings are scanned: numeric fields come from typed sources (amounts, counts,
timestamps) and a 13-digit millisecond timestamp would otherwise pass Luhn one time in ten.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from typing import Any

_RUN = re.compile(r"\d+(?:[ -]\d+)*")
_DIGITS = re.compile(r"\d+")
_CVC_NAME = re.compile(
    r"(cvc|cvv|cvn|csc|cid_?code|security_?code|card_?code|card_?number|cc_?number|"
    r"card_?num|pan_?number|track_?[12])",
    re.IGNORECASE,
)
REDACTED = "[REDACTED]"


def luhn_ok(digits: str) -> bool:
    """The Luhn (mod 10) check used by every card number."""
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = ord(ch) - 48
        if i % 2 == 1:
            d *= 2
            if d > 9:
                d -= 9
        total += d
    return total % 10 == 0


def _plausible(digits: str) -> bool:
    """Card numbers start with 1-9 and are never one repeated digit (ids full of zeros
    pass Luhn but are not cards)."""
    return digits[0] != "0" and len(set(digits)) > 1


def _card_spans(text: str) -> list[tuple[int, int]]:
    """Character spans of card numbers in `text`, aligned to digit-group boundaries."""
    spans: list[tuple[int, int]] = []
    if len(text) < 13:  # a card number has 13 to 19 digits
        return spans
    for run in _RUN.finditer(text):
        if run.end() - run.start() < 13:  # fewer than 13 characters: fewer than 13 digits
            continue
        groups = [
            (m.start() + run.start(), m.end() + run.start()) for m in _DIGITS.finditer(run.group())
        ]
        for i in range(len(groups)):
            digits = ""
            for j in range(i, len(groups)):
                digits += text[groups[j][0] : groups[j][1]]
                if len(digits) > 19:
                    break
                if len(digits) >= 13 and _plausible(digits) and luhn_ok(digits):
                    spans.append((groups[i][0], groups[j][1]))
    return spans


def contains_card_number(text: str) -> bool:
    return bool(_card_spans(text))


def redact(text: str) -> str:
    """`text` with every card number replaced by [REDACTED] (safe for logs)."""
    spans = _card_spans(text)
    if not spans:
        return text
    out, pos = [], 0
    for start, end in sorted(spans):
        if start < pos:
            start = pos
        if end <= pos:
            continue
        out.append(text[pos:start])
        out.append(REDACTED)
        pos = end
    out.append(text[pos:])
    return "".join(out)


@functools.lru_cache(maxsize=4096)  # pure; asked for every field of every record
def is_cvc_like_name(name: str) -> bool:
    return bool(_CVC_NAME.search(name))


@dataclass(frozen=True)
class Refusal:
    """A value stripe2sf refused to send; `value` is redacted."""

    sobject: str
    field: str
    reason: str
    value: str
    external_id: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "sobject": self.sobject,
            "field": self.field,
            "reason": self.reason,
            "value": self.value,
            "external_id": self.external_id,
        }


def safe_substitute(value: str, fallback: str | None) -> str:
    """`value` with its card numbers redacted when something else is left of it, else
    `fallback` (the record's key), else the redaction marker itself."""
    redacted = redact(value)
    rest = redacted.replace(REDACTED, "")
    if any(ch.isalnum() for ch in rest) and not contains_card_number(redacted):
        return redacted
    return fallback if fallback and not contains_card_number(fallback) else REDACTED


def scan_fields(
    sobject: str,
    fields: Mapping[str, Any],
    external_id: str | None = None,
    required: Collection[str] = (),
) -> tuple[dict[str, Any], list[Refusal]]:
    """Split `fields` into what may be sent and what is refused; a `required` field that
    held a card number is sent as `safe_substitute` instead of being left out."""
    clean: dict[str, Any] = {}
    refused: list[Refusal] = []
    for name, value in fields.items():
        if is_cvc_like_name(name):
            refused.append(Refusal(sobject, name, "card-data field name", REDACTED, external_id))
            continue
        if isinstance(value, str) and contains_card_number(value):
            reason = "card number in value"
            if name in required:
                clean[name] = safe_substitute(value, external_id)
                reason += (
                    f"; {sobject}.{name} is required, so it was written as "
                    f"{clean[name]!r} instead (removed by the card guard)"
                )
            refused.append(Refusal(sobject, name, reason, redact(value), external_id))
            continue
        clean[name] = value
    return clean, refused
