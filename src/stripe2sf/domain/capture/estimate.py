"""Doctor's line about change capture: what capture costs in Salesforce API calls a day. CDC
costs none per change (the Pub/Sub API is not the REST API; a login and the org id per
process start); polling costs a Composite call per five objects per round (`plan_polling`)."""

from __future__ import annotations

from collections.abc import Sequence

from stripe2sf.domain.capture.polling import plan_polling
from stripe2sf.domain.setup.doctor import Check

NAME = "Salesforce change capture"


def capture_check(
    mode: str,
    objects: Sequence[str],
    *,
    poll_seconds: float,
    api_share: float,
    daily_limit: int | None,
) -> Check:
    if mode == "off":
        return Check(NAME, True, "off (STRIPE2SF_CAPTURE=cdc or poll to capture changes)")
    names = ", ".join(objects)
    if mode == "cdc":
        return Check(
            NAME,
            True,
            f"Change Data Capture of {names}: no REST API calls per change (select these "
            "objects in Setup > Change Data Capture)",
        )
    plan = plan_polling(
        objects, minimum_seconds=poll_seconds, api_share=api_share, daily_limit=daily_limit
    )
    if plan.calls_per_day == 0:
        return Check(
            NAME,
            False,
            f"polling {names} is given no API calls (STRIPE2SF_POLL_API_SHARE = {api_share})",
            "raise STRIPE2SF_POLL_API_SHARE, or use STRIPE2SF_CAPTURE=cdc (no API calls)",
        )
    share = (
        f"{plan.calls_per_day / daily_limit:.1%} of the org's {daily_limit:,} daily calls"
        if daily_limit
        else "the org's daily limit unknown"
    )
    return Check(
        NAME,
        True,
        f"polling {names}: a round every {plan.interval_seconds:.0f} s ({plan.reason}), "
        f"{plan.calls_per_round} call(s) a round, about {plan.calls_per_day:,} calls a day "
        f"({share})",
    )
