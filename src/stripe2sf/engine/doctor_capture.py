"""`stripe2sf doctor`'s capture checks, as the configured user: with STRIPE2SF_CAPTURE=cdc each
object's change event channel is subscribed to and let go at once (`PubSub.probe`: nothing is
read or stored), with =poll the describes say which watched fields the user may read.
`domain.setup.doctor_capture` decides what that means and what to do."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

from stripe2sf.domain.capture.polling import watched_fields
from stripe2sf.domain.config import SyncConfig
from stripe2sf.domain.errors import SyncError
from stripe2sf.domain.setup.access import captured_fields, captured_objects
from stripe2sf.domain.setup.doctor import Check
from stripe2sf.domain.setup.doctor_capture import (
    Outcome,
    Probe,
    cdc_checks,
    missing_objects,
    poll_checks,
)
from stripe2sf.salesforce.changes import field_names
from stripe2sf.salesforce.client import SalesforceClient
from stripe2sf.settings import Settings, capture_objects

OUTCOMES: dict[str, Outcome] = {"pubsub.not_found": "not_found", "pubsub.permission": "denied"}


def capture_access(
    settings: Settings, config: SyncConfig, client: SalesforceClient, user: str
) -> list[Check]:
    """The capture checks (none when capture is off and the configuration needs none)."""
    captured = captured_objects(config)
    objects = capture_objects(settings, config)
    checks: list[Check] = []
    missing = missing_objects(settings.capture, objects, captured)
    if missing is not None:
        checks.append(missing)
    if settings.capture == "cdc":
        checks.extend(cdc_checks(probes(settings, client, objects), captured, user=user))
    elif settings.capture == "poll":
        watched = {e: watched_fields(e, settings.capture_poll_fields) for e in objects}
        readable: dict[str, set[str] | None] = {}
        for entity in objects:
            try:
                readable[entity] = field_names(client, entity)
            except SyncError:  # NOT_FOUND: out of the user's sight
                readable[entity] = None
        required = [(sobject, name) for sobject, name, _ in captured_fields(config)]
        checks.extend(
            poll_checks(
                watched, readable, required, configured=settings.capture_poll_fields, user=user
            )
        )
    return checks


def probes(settings: Settings, client: SalesforceClient, objects: list[str]) -> list[Probe]:
    """Each object's channel subscribed to and let go, concurrently."""
    from stripe2sf.salesforce.pubsub import PubSub, topic_of

    try:
        pubsub = PubSub.from_client(settings, client)
    except SyncError as exc:
        return [Probe(e, topic_of(e), "failed", str(exc)) for e in objects]

    def one(entity: str) -> Probe:
        topic = topic_of(entity)
        try:
            pubsub.probe(topic)
        except SyncError as exc:
            return Probe(entity, topic, OUTCOMES.get(exc.kind, "failed"), _said(str(exc)))
        return Probe(entity, topic, "ok")

    try:
        with ThreadPoolExecutor(max_workers=max(1, len(objects))) as pool:
            return list(pool.map(one, objects))
    finally:
        pubsub.close()


def _said(text: str) -> str:
    """The Pub/Sub API's own words, without our prefix and its rpc id."""
    text = text.split(" failed: ", 1)[-1]
    return text.split(" rpcId:", 1)[0].strip()
