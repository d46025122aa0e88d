"""Integrity rules decided before an event may write anything.

Livemode (decided at intake, `livemode_refusal`): Stripe signs test and live events alike,
so a correctly signed event can still belong to the other mode than the configured key (an
endpoint of the live account pointed at a test deployment, or the reverse). Such an event is
stored as `refused`, with the reason, and never applied: it would write production data from
test objects (or the reverse), and every refetch with our key would answer 404 anyway. The
webhook still answers 200 once it is stored: a 4xx would make Stripe retry it for three days
and then disable the endpoint, while the mistake is a configuration one that the operator
sees in `stripe2sf status`, the dashboard and the inbox row (state `refused`, error kind
`refused.livemode`). Without a recognisable key (no STRIPE_API_KEY) the mode is unknown:
test events are accepted and live ones refused, so that production data is never written
by a deployment that cannot say it runs live.

Unknown subjects (decided by the planner, `subjects.unknown_to_stripe`): see there.
"""

from __future__ import annotations

from stripe2sf.domain.setup.doctor import stripe_mode

LIVEMODE_REFUSED = "refused.livemode"


def livemode_refusal(livemode: object, api_key: str | None) -> str | None:
    """Why an event of this `livemode` must not be applied with this key, or None."""
    event_mode = "live" if livemode is True else "test"
    key_mode = stripe_mode(api_key)
    if key_mode is None:
        if event_mode == "test":
            return None
        return (
            "livemode event refused: no Stripe API key (sk_live_/rk_live_) is configured, so "
            "this deployment does not run in live mode; set STRIPE_API_KEY to a live key to "
            "accept live events, then replay this one"
        )
    if key_mode == event_mode:
        return None
    return (
        f"{event_mode}-mode event refused: the configured Stripe key is a {key_mode}-mode key; "
        f"point the Stripe endpoint of the {key_mode}-mode account here, or configure a "
        f"{event_mode}-mode key and replay this event"
    )
