"""Salesforce change capture (Step 12): Salesforce-owned changes into the inbox, as events of
type ``salesforce.<Object>.<change>`` (`domain.capture.change`), applied by whatever handlers
the registry has for them.

    STRIPE2SF_CAPTURE=cdc    Change Data Capture over the Pub/Sub API: one stream per object
                             (/data/ContactChangeEvent ...); no REST call per change
    STRIPE2SF_CAPTURE=poll   a polling round every interval: one Composite call of queryAll
                             windows per five objects (`domain.capture.polling`)

Both write the changes of one response (or one object's window) and the new position (replay
id; watermark and snapshots) in ONE transaction (`store.capture.CaptureStore.store`): a process
killed at any point resumes from what it stored, and a change received again is the same inbox
event id. Runs inside `serve` (`start_capture`) or as `stripe2sf capture` (`run_capture`).
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any

import structlog
from prometheus_client import Counter, Gauge

from stripe2sf.domain.batch import budget
from stripe2sf.domain.batch.budget import BudgetPolicy
from stripe2sf.domain.capture.cdc import changes_of
from stripe2sf.domain.capture.change import SalesforceChange
from stripe2sf.domain.capture.polling import (
    PollPlan,
    diff_round,
    plan_polling,
    watched_fields,
    window_soql,
    window_start,
)
from stripe2sf.domain.capture.recovery import plan_start, split_own
from stripe2sf.domain.errors import PermanentError, RateLimitedError, SyncError
from stripe2sf.engine.budget import BudgetGate, is_limit_exceeded
from stripe2sf.engine.capture_recovery import RECOVERIES, CatchUpReader
from stripe2sf.metrics import REGISTRY
from stripe2sf.salesforce.changes import KIND, field_names, query_windows
from stripe2sf.salesforce.client import SalesforceClient, connect
from stripe2sf.salesforce.pubsub import PubSub, PubSubError, topic_of
from stripe2sf.settings import Settings, capture_objects
from stripe2sf.store.capture import OWN_DROPPED, RECOVERED, CaptureStore, to_new_event
from stripe2sf.store.inbox import Inbox, NewEvent

log = structlog.get_logger(__name__)

CAPTURED = Counter(
    "stripe2sf_capture_events",
    "Salesforce changes captured into the inbox (new ones), by source (cdc, poll) and object.",
    ["source", "entity"],
    registry=REGISTRY,
)
OWN = Counter(
    "stripe2sf_capture_own_changes",
    "stripe2sf's own Salesforce writes coming back as captured changes, dropped at capture "
    "(STRIPE2SF_CAPTURE_OWN_CHANGES=drop), by object.",
    ["entity"],
    registry=REGISTRY,
)
LAG = Gauge(
    "stripe2sf_capture_lag_seconds",
    "From the newest captured change's commit in Salesforce to its storing in the inbox.",
    ["source"],
    registry=REGISTRY,
)
CUSTOMER_PREFIX = "cus_"


def _now() -> datetime:
    return datetime.now(UTC)


class ChangeWriter:
    """Links changes to their Stripe customers and stores them with their position."""

    def __init__(
        self,
        store: CaptureStore,
        handles: Callable[[str], bool],
        api_version: str | None,
        own_user_ids: Sequence[str] = (),
    ) -> None:
        self.store = store
        self.handles = handles
        self.api_version = api_version
        # stripe2sf's own Salesforce user: its changes are echoes, counted and dropped
        self.own_user_ids = tuple(own_user_ids)

    def link(self, changes: Sequence[SalesforceChange]) -> list[SalesforceChange]:
        """Each change with its record's Stripe customer: the record's own link (Account or
        Contact), else its Account's (``AccountId`` in the change), else the Stripe customer id
        the record holds. A local lookup: no Salesforce call."""
        wanted: set[str] = set()
        for c in changes:
            wanted.add(c.record_id)
            account = c.fields.get("AccountId")
            if isinstance(account, str):
                wanted.add(account)
        found = self.store.customers_of(wanted)
        out = []
        for c in changes:
            account = c.fields.get("AccountId")
            held = c.fields.get("Stripe_Customer_Id__c")
            customer = (
                found.get(c.record_id)
                or (found.get(account) if isinstance(account, str) else None)
                or (held if isinstance(held, str) and held.startswith(CUSTOMER_PREFIX) else None)
            )
            out.append(replace(c, customer_id=customer) if customer else c)
        return out

    def write(
        self,
        changes: Sequence[SalesforceChange],
        refused: Sequence[NewEvent] = (),
        **position: Any,
    ) -> int:
        """Store `changes` (and `refused` events: kept, never applied) and the position in one
        transaction; the number of new changes. stripe2sf's own changes are not stored: they
        are counted (metric and ``own`` counter) and the position moves past them."""
        kept, own = split_own(changes, self.own_user_ids)
        counters = dict(position.pop("counters", None) or {})
        if own:
            key = position.get("channel") or f"poll:{position.get('poll_entity')}"
            counters[(key, OWN_DROPPED)] = counters.get((key, OWN_DROPPED), 0) + len(own)
            for c in own:
                OWN.labels(entity=c.entity).inc()
        linked = self.link(kept)
        events = [to_new_event(c, self.handles(c.type), self.api_version) for c in linked]
        now = _now()
        added = self.store.store([*events, *refused], now, counters=counters, **position)[
            : len(events)
        ]
        for change, new in zip(linked, added, strict=True):
            if new:
                CAPTURED.labels(source=change.source, entity=change.entity).inc()
        if linked:
            newest = max(c.commit_ts_ms for c in linked)
            LAG.labels(source=linked[0].source).set(max(0.0, now.timestamp() - newest / 1000))
        return sum(added)


# -- Change Data Capture ------------------------------------------------------------------------


def unreadable_event(topic: str, replay: str, event: Any, error: Exception) -> NewEvent:
    """The inbox row of a change event that could not be decoded (state refused)."""
    payload = {
        "object": "salesforce_change_unreadable",
        "topic": topic,
        "replay_id": replay,
        "event_id": event.id,
        "schema_id": event.schema_id,
        "payload_hex": bytes(event.payload).hex(),
        "error": str(error),
    }
    return NewEvent(
        event_id=f"sf:cdc:{topic}:unreadable:{replay}",
        type="salesforce.unreadable",
        lane=f"sf:{topic}",
        created=int(time.time()),
        livemode=False,
        api_version=None,
        payload_text=json.dumps(payload, sort_keys=True),
        handled=False,
        source="cdc",
        refused=f"change event unreadable: {error}",
        refused_kind="capture.unreadable",
    )


class CdcCapture:
    """One Pub/Sub stream per object, each in its own thread (`run`)."""

    def __init__(
        self,
        writer: ChangeWriter,
        pubsub: PubSub,
        objects: Sequence[str],
        *,
        batch: int = 100,
        retry_seconds: float = 5.0,
        reader: CatchUpReader | None = None,
        overlap_seconds: float = 10.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.writer = writer
        self.pubsub = pubsub
        self.objects = list(objects)
        self.batch = batch
        self.retry_seconds = retry_seconds
        self.reader = reader
        self.overlap_seconds = overlap_seconds
        self.clock = clock
        self.errors: dict[str, str] = {}
        self.entities = {topic_of(e): e for e in self.objects}
        # topic -> where its catch-up starts (ms), run at the stream's first answer
        self.pending: dict[str, int] = {}

    def resume(self, topic: str) -> bytes | None:
        """The replay id to subscribe from (None: LATEST), asked at every (re)connection;
        plans a catch-up when a known channel has no usable replay id, and stores a first
        start's position before it subscribes (`domain.capture.recovery.plan_start`)."""
        state = self.writer.store.channel(topic)
        now_ms = int(self.clock() * 1000)
        plan = plan_start(
            exists=state is not None,
            replay_id_hex=state.replay_id if state else None,
            complete_to_ms=state.last_commit_ms if state else None,
            saved_ms=int(state.updated_at.timestamp() * 1000) if state else now_ms,
            now_ms=now_ms,
            overlap_seconds=self.overlap_seconds,
        )
        if plan.store_start_ms is not None:
            self.writer.store.start(topic, plan.store_start_ms)
        if plan.catch_up_from_ms is not None and topic not in self.pending:
            self.pending[topic] = plan.catch_up_from_ms
            log.warning(
                "capture_catch_up_planned",
                topic=topic,
                since_ms=plan.catch_up_from_ms,
                reason=plan.reason,
            )
        return plan.replay_id

    def forget(self, topic: str, detail: str) -> None:
        """Salesforce refused the stored replay id: forget it; the next subscription starts
        at LATEST and catches up from the newest change stored."""
        log.warning("capture_replay_id_refused", topic=topic, detail=detail)
        self.writer.store.forget_replay(topic)

    def catch_up(self, topic: str, entity: str, since_ms: int, reason: str) -> int:
        """One polling round for `entity` from `since_ms`, stored as ``poll`` changes (the
        channel's replay id untouched); the new changes."""
        if self.reader is None:
            log.error("capture_catch_up_impossible", topic=topic, reason="no Salesforce client")
            return 0
        started = int(self.clock() * 1000)
        changes = self.reader.since(entity, since_ms)
        added = self.writer.write(
            changes,
            channel=topic,
            last_commit_ms=max([started, *(c.commit_ts_ms for c in changes)]),
            counters={(topic, RECOVERED): 1},
        )
        RECOVERIES.labels(entity=entity, reason=reason).inc()
        log.warning(
            "capture_caught_up",
            topic=topic,
            reason=reason,
            since_ms=since_ms,
            found=len(changes),
            added=added,
        )
        return added

    def handle(self, topic: str, response: Any) -> int:
        """Store one FetchResponse's changes and its replay id together; the new events. The
        first answer of a stream that needs a catch-up runs it first (the stream is live)."""
        since = self.pending.get(topic)
        if since is not None:
            self.catch_up(topic, self.entities.get(topic) or _entity(topic), since, "restart")
            del self.pending[topic]
        if not response.events:
            # A keepalive: every event of the topic up to its latest replay id has come (this
            # loop stored each response before reading the next), so it is where to resume. A
            # first start subscribes at LATEST; from its first keepalive on, nothing is missed.
            latest = bytes(response.latest_replay_id)
            if latest:
                self.writer.write([], channel=topic, replay_id=latest.hex())
            return 0
        changes: list[SalesforceChange] = []
        refused: list[NewEvent] = []
        overflows = []
        for consumer in response.events:
            replay = bytes(consumer.replay_id).hex()
            try:
                schema, record = self.pubsub.decode(consumer.event)
                decoded = changes_of(schema, record, replay_id=replay)
            except (ValueError, PubSubError, EOFError) as exc:
                # A change event this code cannot read (a schema it does not understand):
                # kept in the inbox as refused, with why, instead of blocking the channel.
                log.error("capture_event_unreadable", topic=topic, replay_id=replay, error=str(exc))
                refused.append(unreadable_event(topic, replay, consumer.event, exc))
                continue
            changes.extend(decoded.changes)
            overflows.extend(decoded.overflows)
        for overflow in overflows:
            # too many changes in one transaction for Salesforce to send each: read them
            log.warning("capture_gap_overflow", entity=overflow.entity, topic=topic)
            since = overflow.commit_ts_ms - int(self.overlap_seconds * 1000)
            self.catch_up(topic, overflow.entity, since, "overflow")
        gaps = sum(1 for c in changes if c.extra.get("gap"))
        if gaps and self.reader is not None:
            changes = self.reader.fill_gaps(changes)
        elif gaps:
            log.error("capture_gap_unfilled", topic=topic, gaps=gaps, reason="no Salesforce client")
        last = bytes(response.events[-1].replay_id).hex()
        newest = max((c.commit_ts_ms for c in changes), default=None)
        return self.writer.write(
            changes,
            refused,
            channel=topic,
            replay_id=last,
            last_commit_ms=newest,
            counters={(topic, RECOVERED): gaps} if gaps and self.reader else None,
        )

    def run_topic(self, entity: str, stop: threading.Event) -> None:
        topic = topic_of(entity)
        while not stop.is_set():
            try:
                self.pubsub.topic(topic)
                for response in self.pubsub.stream(
                    topic,
                    lambda: self.resume(topic),
                    stop,
                    batch=self.batch,
                    on_replay_refused=lambda detail: self.forget(topic, detail),
                ):
                    self.handle(topic, response)
                self.errors.pop(topic, None)
                return
            except Exception as exc:  # keep capturing: the next attempt resumes where it was
                self.errors[topic] = str(exc)
                permanent = isinstance(exc, PermanentError)
                log.warning("capture_cdc_failed", topic=topic, error=str(exc), permanent=permanent)
                stop.wait(self.retry_seconds * (12 if permanent else 1))

    def run(self, stop: threading.Event) -> list[threading.Thread]:
        threads = [
            threading.Thread(
                target=self.run_topic, args=(entity, stop), name=f"cdc-{entity}", daemon=True
            )
            for entity in self.objects
        ]
        for t in threads:
            t.start()
        return threads


def _entity(topic: str) -> str:
    """``/data/ContactChangeEvent`` -> Contact, ``/data/Foo__ChangeEvent`` -> Foo__c."""
    name = topic.rsplit("/", 1)[-1].removesuffix("ChangeEvent")
    return name + "c" if name.endswith("__") else name


# -- polling ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class PollReport:
    added: int
    calls: int
    skipped: str | None = None


class Poller:
    """Polling rounds; `round()` is one, `run()` repeats them at the planned interval."""

    def __init__(
        self,
        writer: ChangeWriter,
        client: SalesforceClient,
        objects: Sequence[str],
        *,
        configured_fields: Sequence[str] = (),
        overlap_seconds: float = 10.0,
        minimum_seconds: float = 60.0,
        api_share: float = 0.05,
        gate: BudgetGate | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.writer = writer
        self.client = client
        self.objects = list(objects)
        self.configured_fields = list(configured_fields)
        self.overlap_seconds = overlap_seconds
        self.minimum_seconds = minimum_seconds
        self.api_share = api_share
        self.gate = gate
        self.clock = clock
        self._fields: dict[str, tuple[str, ...]] = {}
        self.calls = 0

    @classmethod
    def configured(
        cls, settings: Settings, writer: ChangeWriter, client: SalesforceClient
    ) -> Poller:
        """The poller the settings describe (`serve`, `stripe2sf capture` and its `--once`)."""
        return cls(
            writer,
            client,
            capture_objects(settings),
            configured_fields=settings.capture_poll_fields,
            overlap_seconds=settings.capture_poll_overlap_seconds,
            minimum_seconds=settings.capture_poll_seconds,
            api_share=settings.poll_api_share,
            gate=budget_gate(settings, client),
        )

    def plan(self) -> PollPlan:
        usage = self.client.usage()
        return plan_polling(
            self.objects,
            minimum_seconds=self.minimum_seconds,
            api_share=self.api_share,
            daily_limit=usage.limit,
        )

    def _capture_calls(self) -> int:
        return sum(n for (kind, _), n in dict(self.client.usage().calls).items() if kind == KIND)

    def fields(self, entity: str) -> tuple[str, ...]:
        """The watched fields the org has (one describe per object and process)."""
        if entity not in self._fields:
            have = field_names(self.client, entity)
            self._fields[entity] = watched_fields(entity, self.configured_fields, have)
        return self._fields[entity]

    def round(self) -> PollReport:
        if self.gate is not None and not self.gate.allows(budget.Priority.BACKFILL):
            return PollReport(0, 0, "the Salesforce API budget is tight: polling waits")
        now_ms = int(self.clock() * 1000)
        marks = {e: self.writer.store.watermark(e, now_ms) for e in self.objects}
        fields = {e: self.fields(e) for e in self.objects}
        soqls = [
            window_soql(
                e,
                fields[e],
                window_start(marks[e].watermark_ms or marks[e].started_ms, self.overlap_seconds),
            )
            for e in self.objects
        ]
        before = self._capture_calls()
        try:
            answers = query_windows(self.client, soqls)
        except RateLimitedError as exc:
            if self.gate is not None and is_limit_exceeded(exc):
                self.gate.limit_exceeded()
            raise
        finally:
            spent = self._capture_calls() - before
            self.calls += spent
        added = 0
        for entity, rows in zip(self.objects, answers, strict=True):
            snapshots = self.writer.store.snapshots(entity, (str(r.get("Id")) for r in rows))
            result = diff_round(entity, rows, fields[entity], snapshots, marks[entity].started_ms)
            added += self.writer.write(
                result.changes,
                poll_entity=entity,
                watermark_ms=result.watermark_ms,
                snapshots=result.snapshots,
            )
        return PollReport(added, spent)

    def run(self, stop: threading.Event) -> None:
        while not stop.is_set():
            plan = self.plan()
            try:
                report = self.round()
                if report.added or report.skipped:
                    log.info(
                        "capture_poll_round",
                        added=report.added,
                        calls=report.calls,
                        skipped=report.skipped,
                    )
            except Exception as exc:  # keep polling: the window resumes at the watermark
                log.warning("capture_poll_failed", error=str(exc), kind=getattr(exc, "kind", None))
            if stop.wait(plan.interval_seconds if plan.interval_seconds < 1e9 else 3600):
                return


# -- wiring -----------------------------------------------------------------------------------


def _connect(settings: Settings, stop: threading.Event) -> SalesforceClient | None:
    """A logged-in client, trying again every 30 s until `stop` (Salesforce unreachable)."""
    while not stop.is_set():
        try:
            return connect(settings)
        except SyncError as exc:
            log.warning("capture_login_failed", error=str(exc), kind=exc.kind)
            stop.wait(30.0)
    return None


class OwnUserUnknown(Exception):
    """Salesforce's userinfo kept failing: capture cannot tell which changes are its own."""


def own_user_ids(
    settings: Settings,
    client: SalesforceClient,
    stop: threading.Event,
    *,
    tries: int | None = None,
    retry_seconds: float = 10.0,
) -> tuple[str, ...]:
    """stripe2sf's own Salesforce user id, whose changes capture drops (none with
    STRIPE2SF_CAPTURE_OWN_CHANGES=keep). Asked until userinfo answers (every `retry_seconds`):
    dropping nothing meanwhile would store every echo. With `tries` (a one-shot run), raises
    `OwnUserUnknown` after that many failures instead of waiting for ever."""
    if settings.capture_own_changes == "keep":
        return ()
    failures = 0
    while not stop.is_set():
        try:
            user = client.userinfo().get("user_id")
        except SyncError as exc:
            log.warning("capture_whoami_failed", error=str(exc), kind=exc.kind)
            failures += 1
            if tries is not None and failures >= tries:
                raise OwnUserUnknown(
                    f"Salesforce's userinfo failed {failures} times (last: {exc}): capture "
                    "cannot tell stripe2sf's own changes, which it drops. Check that the "
                    "SALESFORCE_* login can read /services/oauth2/userinfo and try again, or "
                    "set STRIPE2SF_CAPTURE_OWN_CHANGES=keep to capture them too"
                ) from exc
            stop.wait(retry_seconds)
            continue
        if user:
            return (str(user),)
        log.warning("capture_whoami_failed", error="userinfo gave no user_id: own changes kept")
        return ()
    return ()


def budget_gate(settings: Settings, client: SalesforceClient) -> BudgetGate:
    policy = BudgetPolicy(
        reserve_share=settings.budget_reserve_share,
        slow_from=settings.budget_slow_from,
        defer_seconds=settings.budget_defer_seconds,
        pause_seconds=settings.budget_pause_seconds,
    )
    return BudgetGate(policy, client.usage, refresh=client.limits)


def run_capture(
    settings: Settings,
    inbox: Inbox,
    handles: Callable[[str], bool],
    stop: threading.Event,
    *,
    on_ready: Callable[[str], object] | None = None,
) -> None:
    """Capture until `stop` (blocking): `settings.capture` says how."""
    mode = settings.capture
    if mode == "off":
        return
    client = _connect(settings, stop)
    if client is None:
        return
    store = CaptureStore(inbox.engine, inbox)
    own = own_user_ids(settings, client, stop)
    writer = ChangeWriter(store, handles, settings.salesforce_api_version, own)
    try:
        if mode == "cdc":
            pubsub = PubSub.from_client(settings, client)
            try:
                cdc = CdcCapture(
                    writer,
                    pubsub,
                    capture_objects(settings),
                    batch=settings.capture_batch,
                    reader=CatchUpReader(client, settings.capture_poll_fields),
                    overlap_seconds=settings.capture_poll_overlap_seconds,
                )
                threads = cdc.run(stop)
                if on_ready:
                    on_ready(mode)
                _join(threads, stop)
            finally:
                pubsub.close()
        else:
            poller = Poller.configured(settings, writer, client)
            if on_ready:
                on_ready(mode)
            poller.run(stop)
    finally:
        client.close()


def _join(threads: Iterable[threading.Thread], stop: threading.Event) -> None:
    stop.wait()
    for t in threads:
        t.join(timeout=5)


def start_capture(
    settings: Settings, inbox: Inbox, handles: Callable[[str], bool], stop: threading.Event
) -> threading.Thread | None:
    """Capture in a daemon thread of `serve` (None when STRIPE2SF_CAPTURE is off)."""
    if settings.capture == "off":
        return None
    thread = threading.Thread(
        target=run_capture, args=(settings, inbox, handles, stop), name="capture", daemon=True
    )
    thread.start()
    return thread
