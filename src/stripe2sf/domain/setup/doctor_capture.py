"""`stripe2sf doctor` on Salesforce change capture as the configured user may do it (pure: the
engine hands in what the Pub/Sub API and the describes answered).

Change Data Capture (STRIPE2SF_CAPTURE=cdc): every object of STRIPE2SF_CAPTURE_OBJECTS must be
selected for Change Data Capture and its channel subscribable by the user. Salesforce lets a
user receive an object's change events only with "View All Records" on it (View All Data
otherwise: CDC ignores sharing); the generated Stripe2sf_Integration set grants it on the
objects the configuration captures (`access.captured_objects`), so the fix is the one deploy
and assignment every doctor hint gives. An object captured that the configuration never uses
is better left out of STRIPE2SF_CAPTURE_OBJECTS than granted.

Polling (STRIPE2SF_CAPTURE=poll): the fields a round reads must be readable by the user: a
field it may not read is silently left out of the query (the describe does not list it), and
its changes would never be seen.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

from stripe2sf.domain.setup.doctor import (
    DEPLOY_HINT,
    PERMISSION_SET,
    USER_PLACEHOLDER,
    Check,
    assign_command,
)

NAME = "Salesforce capture access"
Outcome = Literal["ok", "not_found", "denied", "failed"]
SETUP_CDC = "Setup > Integrations > Change Data Capture"


@dataclass(frozen=True)
class Probe:
    """What subscribing to one object's change event channel answered."""

    entity: str
    topic: str
    outcome: Outcome
    detail: str = ""  # the Pub/Sub API's message when it refused


def _fix_grant(what: str, user: str) -> str:
    """Deploy and assign the generated set, which grants `what`."""
    return (
        f"the generated {PERMISSION_SET} permission set grants {what}: {DEPLOY_HINT}, then "
        f"`{assign_command(user)}`"
    )


def cdc_checks(
    probes: Iterable[Probe],
    captured: Sequence[str],
    *,
    user: str = USER_PLACEHOLDER,
) -> list[Check]:
    """One check per channel; `captured` is what the configuration captures (the objects the
    generated set grants View All Records on)."""
    out: list[Check] = []
    for probe in probes:
        name = f"{NAME}: {probe.topic}"
        said = f" (Salesforce: {probe.detail})" if probe.detail else ""
        if probe.outcome == "ok":
            out.append(
                Check(name, True, f"the user may subscribe (View All Records on {probe.entity})")
            )
        elif probe.outcome in ("not_found", "denied") and probe.entity not in captured:
            why = (
                "not selected for Change Data Capture"
                if probe.outcome == "not_found"
                else f"refused (View All Records on {probe.entity})"
            )
            out.append(
                Check(
                    name,
                    False,
                    f"the channel is {why}, and the configuration uses none of its changes{said}",
                    f"remove {probe.entity} from STRIPE2SF_CAPTURE_OBJECTS (least privilege: "
                    f"the generated {PERMISSION_SET} grants View All Records only on "
                    f"{', '.join(captured) or 'nothing'})",
                )
            )
        elif probe.outcome == "not_found":
            out.append(
                Check(
                    name,
                    False,
                    f"{probe.entity} is not selected for Change Data Capture{said}",
                    f"select {probe.entity} in {SETUP_CDC}, or deploy the channel members "
                    f"`stripe2sf metadata` writes: {DEPLOY_HINT}",
                )
            )
        elif probe.outcome == "denied":
            out.append(
                Check(
                    name,
                    False,
                    f"the user may not receive {probe.entity} change events: that takes View "
                    f"All Records on {probe.entity} (or View All Data){said}",
                    _fix_grant(f"View All Records on {probe.entity}", user),
                )
            )
        else:
            out.append(
                Check(
                    name,
                    False,
                    f"cannot check the subscription: {probe.detail or 'no answer'}",
                    "check SALESFORCE_PUBSUB_ENDPOINT (host:port of the Pub/Sub API) and run "
                    "`stripe2sf doctor` again",
                )
            )
    return out


def missing_objects(mode: str, objects: Sequence[str], captured: Sequence[str]) -> Check | None:
    """The objects the configuration needs changes of that capture leaves out (None: none)."""
    left_out = [o for o in captured if o not in objects]
    if mode == "off" and captured:
        detail = (
            "STRIPE2SF_CAPTURE is off, but the configuration uses the changes of "
            f"{', '.join(captured)} ([salesforce_to_stripe] or [actions])"
        )
        fix = "set STRIPE2SF_CAPTURE=cdc (or poll for an org without Change Data Capture)"
    elif not left_out or mode == "off":
        return None
    else:
        detail = f"STRIPE2SF_CAPTURE_OBJECTS leaves out {', '.join(left_out)}, whose changes "
        detail += "the configuration uses"
        fix = f"set STRIPE2SF_CAPTURE_OBJECTS={','.join(dict.fromkeys([*objects, *captured]))}"
    return Check(NAME, False, detail, fix)


def poll_checks(
    watched: Mapping[str, Sequence[str]],
    readable: Mapping[str, set[str] | None],
    required: Iterable[tuple[str, str]],
    *,
    configured: Sequence[str] = (),
    user: str = USER_PLACEHOLDER,
) -> list[Check]:
    """`watched`: object -> the fields its poll reads (the defaults or STRIPE2SF_CAPTURE_POLL_
    FIELDS); `readable`: object -> the fields the user's describe lists (None: the object is
    out of its sight); `required`: (object, field) the configuration reads from changes."""
    needed: dict[str, set[str]] = {}
    for sobject, field in required:
        needed.setdefault(sobject, set()).add(field)
    named = set(configured)
    out: list[Check] = []
    for sobject, fields in watched.items():
        name = f"{NAME}: poll {sobject}"
        have = readable.get(sobject)
        if have is None:
            fix = (
                _fix_grant(f"read on {sobject}", user)
                if sobject in needed
                else f"grant the user read on {sobject}, or remove it from "
                "STRIPE2SF_CAPTURE_OBJECTS"
            )
            out.append(Check(name, False, f"the user may not read {sobject}", fix))
            continue
        hidden = [f for f in dict.fromkeys([*fields, *needed.get(sobject, ())]) if f not in have]
        must = [f for f in hidden if f in needed.get(sobject, ()) or f"{sobject}.{f}" in named]
        if must:
            fix = (
                _fix_grant("read on them", user)
                if all(f in needed.get(sobject, ()) for f in must)
                else "grant the user read on them, or leave them out of "
                "STRIPE2SF_CAPTURE_POLL_FIELDS"
            )
            listed = ", ".join(f"{sobject}.{f}" for f in must)
            detail = f"the user may not read {listed}: polling leaves them out, so their "
            out.append(Check(name, False, detail + "changes are never seen", fix))
            continue
        seen = [f for f in fields if f in have]
        skipped = f"; not readable, left out: {', '.join(hidden)}" if hidden else ""
        out.append(Check(name, True, f"reads {', '.join(seen) or 'no field'}{skipped}"))
    return out
