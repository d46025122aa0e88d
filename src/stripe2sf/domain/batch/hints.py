"""What to do about a refused write, when the refusal itself says it (pure).

A dead letter keeps Salesforce's code and message; these hints add the fix an admin needs, so
the failure reads as a task rather than a puzzle.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from stripe2sf.domain.audit import OpOutcome

REPLAY = "stripe2sf replay --dead-letters"
_RESTRICTED_VALUE = re.compile(r"bad value for restricted picklist field: ([^\s(]+)")


def inactive_currency(outcome: OpOutcome) -> str | None:
    """The ISO code an org with multiple currencies refused as CurrencyIsoCode (it is not
    one of its active currencies), else None."""
    text = outcome.error or ""
    if outcome.code != "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST" or "CurrencyIsoCode" not in text:
        return None
    found = _RESTRICTED_VALUE.search(text)
    return found.group(1) if found else "(unknown)"


def hint(outcome: OpOutcome) -> str | None:
    code = inactive_currency(outcome)
    if code is not None:
        return (
            f"{code} is not an active currency of the Salesforce org: activate it (Setup > "
            f"Company Settings > Manage Currencies: New, or Activate for {code}), then "
            f"`{REPLAY}`"
        )
    text = outcome.error or ""
    if outcome.code == "INVALID_FIELD" and "'CurrencyIsoCode'" in text:
        return (
            "the org has a single currency, but stripe2sf.toml says [org] multi_currency = "
            'true: set it to "auto" (or false), restart, then `' + REPLAY + "`"
        )
    return None


def hints(outcomes: Iterable[OpOutcome]) -> list[str]:
    """The distinct hints of the failed outcomes, in order."""
    found = (hint(o) for o in outcomes if not o.ok)
    return list(dict.fromkeys(h for h in found if h))
