"""Failures the org's own rules cause, told as what they are (pure).

A validation rule (FIELD_CUSTOM_VALIDATION_EXCEPTION) or a required field stripe2sf does not
fill (REQUIRED_FIELD_MISSING) refuses the write on every attempt until an admin changes the
rule or the mapping: the event goes to the dead letters at once, with the rule's message and
field and the object it guards, e.g.::

    Salesforce validation rule on Account: An account at risk needs a phone number
    (field Billing_Status__c)

and `stripe2sf replay <event>` applies it once the rule (or the mapping) is fixed.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from stripe2sf.domain.audit import OpOutcome
from stripe2sf.domain.batch.results import HALTED_CODES
from stripe2sf.domain.errors import PermanentError, SyncError
from stripe2sf.domain.operations import Operation

VALIDATION = "FIELD_CUSTOM_VALIDATION_EXCEPTION"
REQUIRED = "REQUIRED_FIELD_MISSING"
RULE_KINDS = {
    f"salesforce.{VALIDATION}": "Fix the rule or the mapping",
    f"salesforce.{REQUIRED}": (
        "Fill the field (map a Stripe value to it), give it a default or make it optional"
    ),
}
_FIELDS = re.compile(r"^(?P<message>.*) \(fields: (?P<fields>[^()]*)\)$", re.S)


@dataclass(frozen=True)
class RuleFailure:
    code: str
    sobject: str
    message: str
    fields: tuple[str, ...]

    def text(self) -> str:
        what = "validation rule" if self.code == VALIDATION else "required field"
        shown = f" ({'field' if len(self.fields) == 1 else 'fields'} {', '.join(self.fields)})"
        return f"Salesforce {what} on {self.sobject}: {self.message}{shown if self.fields else ''}"


def message_and_fields(outcome: OpOutcome) -> tuple[str, tuple[str, ...]]:
    """The message and fields of a failed operation: ``msg (fields: A, B)`` as REST and
    Collections answers are read, ``CODE:msg:A,B --`` as a Bulk API result row has it."""
    error = (outcome.error or "").strip()
    code = outcome.code or ""
    if error.startswith(f"{code}:") and error.endswith("--"):
        body = error[len(code) + 1 : -2].rstrip()
        message, _, listed = body.rpartition(":")
        return message, tuple(n for n in listed.split(",") if n)
    found = _FIELDS.match(error)
    if found is None:
        return error, ()
    return found["message"], tuple(n.strip() for n in found["fields"].split(",") if n.strip())


def rule_failure(
    outcomes: Mapping[str, OpOutcome], operations: Sequence[Operation]
) -> RuleFailure | None:
    """The org rule behind an event's first real failure, if that is what it was."""
    by_id = {op.op_id: op for op in operations}
    for op_id, outcome in outcomes.items():
        if outcome.ok or (outcome.code or "") in HALTED_CODES:
            continue
        if outcome.code not in (VALIDATION, REQUIRED):
            return None
        op = by_id.get(op_id)
        message, fields = message_and_fields(outcome)
        return RuleFailure(outcome.code, op.sobject if op else "a record", message, fields)
    return None


def explained(
    error: SyncError, outcomes: Mapping[str, OpOutcome], operations: Sequence[Operation]
) -> SyncError:
    """``error`` told as the rule that caused it (a PermanentError of kind
    ``salesforce.<code>``), else unchanged."""
    if not isinstance(error, PermanentError):
        return error
    found = rule_failure(outcomes, operations)
    if found is None:
        return error
    return PermanentError(found.text(), kind=f"salesforce.{found.code}")


def fix_for(kind: str | None) -> str:
    """What the operator does before replaying a dead letter of this kind."""
    return RULE_KINDS.get(kind or "", "Fix the cause")
