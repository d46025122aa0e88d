"""The ``eventbus.v1.PubSub`` service (grpc.aio, on the sandbox's event loop).

Every call carries the metadata headers ``accesstoken`` (a session of the org), ``instanceurl``
and ``tenantid`` (the org id); without them, or with a token the org does not know, the call
fails UNAUTHENTICATED with the trailer
``error-code: sfdc.platform.eventbus.grpc.service.auth.error``.

Topics: ``/data/ChangeEvents`` (every selected entity) and ``/data/<Entity>ChangeEvent`` (one
selected entity; an unselected or unknown one is NOT_FOUND). Who receives what is the access
token's user's permissions (``pubsub.access``): a per-entity topic without View All Records
(or View All Data) is refused PERMISSION_DENIED (GetTopic answers ``can_subscribe`` false);
``/data/ChangeEvents`` delivers only the entities the user may receive; fields the user may not
read are null and left out of the bitmaps. ``Subscribe`` is a pull stream:
the first FetchRequest names the topic and the replay preset (LATEST, EARLIEST, or CUSTOM with
a ``replay_id``), every FetchRequest asks for ``num_requested`` more events; the server never
sends more than asked for, and sends an empty FetchResponse (``latest_replay_id``, the pending
count) as a keepalive when it has nothing to send for ``keepalive_seconds``. Publish is
refused: change events are published by Salesforce only.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator
from typing import Any

import grpc

from pubsub_api import pubsub_api_pb2 as pb
from pubsub_api import pubsub_api_pb2_grpc
from salesforce_sandbox import ids
from salesforce_sandbox.errors import SalesforceError
from salesforce_sandbox.models.auth import Session
from salesforce_sandbox.models.org import Org
from salesforce_sandbox.pubsub.access import Delivery
from salesforce_sandbox.pubsub.bus import (
    ALL_CHANNEL,
    EventBus,
    replay_bytes,
    replay_number,
)
from salesforce_sandbox.pubsub.schemas import can_capture, entity_of

AUTH_ERROR = "sfdc.platform.eventbus.grpc.service.auth.error"
TOPIC_ERROR = "sfdc.platform.eventbus.grpc.topic.not.found"
REPLAY_CORRUPTED = "sfdc.platform.eventbus.grpc.subscription.fetch.replayid.corrupted"
REPLAY_INVALID = "sfdc.platform.eventbus.grpc.subscription.fetch.replayid.validation.failed"
FETCH_ERROR = "sfdc.platform.eventbus.grpc.subscription.fetch.request.invalid"
PUBLISH_ERROR = "sfdc.platform.eventbus.grpc.publish.not.allowed"
SCHEMA_ERROR = "sfdc.platform.eventbus.grpc.schema.not.found"
# A subscription the user's permissions do not allow. The status is PERMISSION_DENIED as
# Salesforce documents for missing permissions; the exact error-code string was not found in
# the public documentation: this one follows the naming of the documented fetch errors.
AUTHORIZATION_ERROR = "sfdc.platform.eventbus.grpc.subscription.fetch.authorization.failed"
# A stream ended by the control plane's fault (`POST /_sandbox/pubsub/abort`), as a Pub/Sub
# node going away ends it: UNAVAILABLE, which clients retry. The error-code is this sandbox's.
STREAM_ABORTED_CODE = "sfdc.platform.eventbus.grpc.service.unavailable"
MAX_BATCH = 100  # events per FetchResponse at most
MAX_REQUESTED = 100  # Salesforce caps num_requested at 100


class PubSubAbort(Exception):
    def __init__(self, code: grpc.StatusCode, error_code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.error_code = error_code
        self.message = message


STREAM_ABORTED = PubSubAbort(
    grpc.StatusCode.UNAVAILABLE,
    STREAM_ABORTED_CODE,
    "The service is temporarily unavailable: the stream was closed, subscribe again from the "
    "last replay id received.",
)


class PubSubService(pubsub_api_pb2_grpc.PubSubServicer):
    def __init__(self, org: Org, bus: EventBus, keepalive_seconds: float) -> None:
        self.org = org
        self.bus = bus
        self.keepalive_seconds = keepalive_seconds

    # unary ----------------------------------------------------------------------------------
    async def GetTopic(
        self, request: pb.TopicRequest, context: grpc.aio.ServicerContext[Any, Any]
    ) -> pb.TopicInfo:
        rpc_id = str(uuid.uuid4())
        try:
            session = self._authenticate(context)
            entities = self._entities(request.topic_name)
        except PubSubAbort as error:
            await _abort(context, error, rpc_id)
            raise AssertionError("unreachable") from None
        delivery = Delivery(self.org, session.user_id)
        can_subscribe = _is_all(request.topic_name) or not any(
            delivery.denied(entity) for entity in entities
        )
        schema_id = ""
        for entity in sorted(entities):
            obj = self.org.full_schema.get(entity)
            if obj is not None:
                schema_id = self.org.pubsub_capture.schema_of(obj).schema_id
                break
        return pb.TopicInfo(
            topic_name=request.topic_name,
            tenant_guid=ids.ORG_ID,
            can_publish=False,
            can_subscribe=can_subscribe,
            schema_id=schema_id,
            rpc_id=rpc_id,
        )

    async def GetSchema(
        self, request: pb.SchemaRequest, context: grpc.aio.ServicerContext[Any, Any]
    ) -> pb.SchemaInfo:
        rpc_id = str(uuid.uuid4())
        try:
            self._authenticate(context)
            text = self.bus.schema_json(request.schema_id)
            if text is None:
                text = self._current_schema(request.schema_id)
            if text is None:
                raise PubSubAbort(
                    grpc.StatusCode.NOT_FOUND,
                    SCHEMA_ERROR,
                    f"No schema with id {request.schema_id!r}: use the schema_id of a "
                    "ConsumerEvent or of GetTopic",
                )
        except PubSubAbort as error:
            await _abort(context, error, rpc_id)
            raise AssertionError("unreachable") from None
        return pb.SchemaInfo(schema_json=text, schema_id=request.schema_id, rpc_id=rpc_id)

    async def Publish(
        self, request: pb.PublishRequest, context: grpc.aio.ServicerContext[Any, Any]
    ) -> pb.PublishResponse:
        await self._refuse_publish(context)
        raise AssertionError("unreachable")

    async def PublishStream(
        self,
        request_iterator: AsyncIterator[pb.PublishRequest],
        context: grpc.aio.ServicerContext[Any, Any],
    ) -> AsyncIterator[pb.PublishResponse]:
        await self._refuse_publish(context)
        yield pb.PublishResponse()  # pragma: no cover (abort raises)

    # Subscribe ------------------------------------------------------------------------------
    async def Subscribe(
        self,
        request_iterator: AsyncIterator[pb.FetchRequest],
        context: grpc.aio.ServicerContext[Any, Any],
    ) -> AsyncIterator[pb.FetchResponse]:
        rpc_id = str(uuid.uuid4())
        try:
            session = self._authenticate(context)
            first = await anext(aiter(request_iterator), None)
            if first is None:
                return
            topic = first.topic_name
            delivery = Delivery(self.org, session.user_id)
            self._receivable(topic, delivery)  # NOT_FOUND or PERMISSION_DENIED before events
            cursor = self._start(first)
        except PubSubAbort as error:
            await _abort(context, error, rpc_id)
            return
        pending = _requested(first.num_requested)
        wake = asyncio.Event()
        state = {"pending": pending, "closed": False}

        async def read_requests() -> None:
            try:
                async for request in request_iterator:
                    state["pending"] = int(state["pending"]) + _requested(request.num_requested)
                    wake.set()
            finally:
                state["closed"] = True
                wake.set()

        reader = asyncio.create_task(read_requests())
        generation = self.bus.abort_generation
        self.bus.open_streams += 1
        try:
            while not state["closed"] or int(state["pending"]) > 0:
                changed = self.bus.changed
                if self.bus.abort_generation != generation:  # POST /_sandbox/pubsub/abort
                    await _abort(context, STREAM_ABORTED, rpc_id)
                    return
                wanted = min(int(state["pending"]), MAX_BATCH)
                try:
                    entities = self._receivable(topic, delivery)
                except PubSubAbort as error:  # unselected, or the permission revoked, meanwhile
                    await _abort(context, error, rpc_id)
                    return
                events = self.bus.read(cursor, entities, wanted) if wanted else []
                if events:
                    cursor = events[-1].replay
                    state["pending"] = int(state["pending"]) - len(events)
                    yield pb.FetchResponse(
                        events=[
                            pb.ConsumerEvent(
                                event=pb.ProducerEvent(
                                    id=e.event_id,
                                    schema_id=e.schema_id,
                                    payload=delivery.payload(e),
                                ),
                                replay_id=replay_bytes(e.replay),
                            )
                            for e in events
                        ],
                        latest_replay_id=replay_bytes(cursor),
                        rpc_id=rpc_id,
                        pending_num_requested=int(state["pending"]),
                    )
                    continue
                if wanted and not self.bus.store.conn.in_transaction:
                    # nothing of this topic after the cursor: it may move up to the latest
                    cursor = max(cursor, self.bus.latest())
                if state["closed"]:
                    return
                wake.clear()
                if not await _either(changed, wake, self.keepalive_seconds):
                    yield pb.FetchResponse(
                        latest_replay_id=replay_bytes(cursor),
                        rpc_id=rpc_id,
                        pending_num_requested=int(state["pending"]),
                    )
        finally:
            self.bus.open_streams -= 1
            reader.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await reader

    # helpers --------------------------------------------------------------------------------
    def _authenticate(self, context: grpc.aio.ServicerContext[Any, Any]) -> Session:
        metadata = {k.lower(): v for k, v in (context.invocation_metadata() or ())}
        token = str(metadata.get("accesstoken") or "")
        tenant = str(metadata.get("tenantid") or "")
        instance = str(metadata.get("instanceurl") or "")
        if not token or not tenant or not instance:
            given = (("accesstoken", token), ("instanceurl", instance), ("tenantid", tenant))
            missing = [name for name, value in given if not value]
            raise PubSubAbort(
                grpc.StatusCode.UNAUTHENTICATED,
                AUTH_ERROR,
                f"An authentication exception occurred: missing metadata header(s) "
                f"{', '.join(missing)}. Provide valid authentication via metadata headers.",
            )
        if tenant not in (ids.ORG_ID, ids.ORG_ID_15):
            raise PubSubAbort(
                grpc.StatusCode.UNAUTHENTICATED,
                AUTH_ERROR,
                f"An authentication exception occurred: tenantid {tenant!r} is not this org's "
                f"id ({ids.ORG_ID}).",
            )
        try:
            return self.org.sessions.check(token)
        except SalesforceError:
            raise PubSubAbort(
                grpc.StatusCode.UNAUTHENTICATED,
                AUTH_ERROR,
                "An authentication exception occurred: the access token is invalid or expired. "
                "Log in again and provide valid authentication via metadata headers.",
            ) from None

    def _entities(self, topic: str) -> set[str]:
        """The entities a topic carries; NOT_FOUND for a topic this org does not serve."""
        channel = topic.removeprefix("/data/") if topic.startswith("/data/") else None
        selected = set(self.bus.selected())
        if channel == ALL_CHANNEL:
            return selected
        entity = entity_of(channel) if channel else None
        obj = self.org.full_schema.get(entity) if entity else None
        if obj is not None and can_capture(obj) and obj.name in selected:
            return {obj.name}
        hint = (
            f"select {obj.name} for Change Data Capture (Setup > Change Data Capture: a "
            f"PlatformEventChannelMember of ChangeEvents, or PUT /_sandbox/cdc)"
            if obj is not None and can_capture(obj)
            else "change event topics are /data/ChangeEvents and /data/<Entity>ChangeEvent"
        )
        raise PubSubAbort(
            grpc.StatusCode.NOT_FOUND,
            TOPIC_ERROR,
            f"The topic {topic!r} doesn't exist or you don't have access to it: {hint}.",
        )

    def _receivable(self, topic: str, delivery: Delivery) -> set[str]:
        """The entities of ``topic`` the subscribed user receives: ``/data/ChangeEvents``
        leaves out those it may not; a per-entity topic it may not receive is refused."""
        entities = self._entities(topic)
        if _is_all(topic):
            return delivery.receivable(entities)
        for entity in sorted(entities):
            missing = delivery.denied(entity)
            if missing is not None:
                raise PubSubAbort(
                    grpc.StatusCode.PERMISSION_DENIED,
                    AUTHORIZATION_ERROR,
                    f"The user doesn't have the permissions required to subscribe to {topic!r}: "
                    f"receiving {entity} change events takes {missing} (Change Data Capture "
                    "ignores sharing).",
                )
        return entities

    def _start(self, first: pb.FetchRequest) -> int:
        """The replay number the stream starts after."""
        if first.replay_preset == pb.ReplayPreset.LATEST:
            return self.bus.latest()
        if first.replay_preset == pb.ReplayPreset.EARLIEST:
            return self.bus.earliest() - 1
        if first.replay_preset == pb.ReplayPreset.CUSTOM:
            number = replay_number(first.replay_id)
            if number is None:
                raise PubSubAbort(
                    grpc.StatusCode.INVALID_ARGUMENT,
                    REPLAY_CORRUPTED,
                    "The Replay ID validation failed: the replay_id is not one this org gave "
                    "(use the replay_id of a received event, or LATEST/EARLIEST).",
                )
            if number > self.bus.latest() or number < self.bus.earliest() - 1:
                raise PubSubAbort(
                    grpc.StatusCode.INVALID_ARGUMENT,
                    REPLAY_INVALID,
                    f"The Replay ID validation failed: replay id {number} is outside the "
                    f"retention window ({self.bus.earliest()}..{self.bus.latest()}); "
                    "subscribe with EARLIEST and reconcile what was missed.",
                )
            return number
        raise PubSubAbort(
            grpc.StatusCode.INVALID_ARGUMENT,
            FETCH_ERROR,
            f"Unknown replay_preset {first.replay_preset}: use LATEST, EARLIEST or CUSTOM.",
        )

    def _current_schema(self, schema_id: str) -> str | None:
        for entity in self.bus.selected():
            obj = self.org.full_schema.get(entity)
            if obj is not None:
                built = self.org.pubsub_capture.schema_of(obj)
                if built.schema_id == schema_id:
                    return built.json
        return None

    async def _refuse_publish(self, context: grpc.aio.ServicerContext[Any, Any]) -> None:
        rpc_id = str(uuid.uuid4())
        try:
            self._authenticate(context)
        except PubSubAbort as error:
            await _abort(context, error, rpc_id)
        await _abort(
            context,
            PubSubAbort(
                grpc.StatusCode.PERMISSION_DENIED,
                PUBLISH_ERROR,
                "Change events are published by Salesforce only: can_publish is false for "
                "change event topics.",
            ),
            rpc_id,
        )


def _is_all(topic: str) -> bool:
    return topic == f"/data/{ALL_CHANNEL}"


def _requested(value: int) -> int:
    return max(0, min(int(value), MAX_REQUESTED))


async def _either(first: asyncio.Event, second: asyncio.Event, timeout: float) -> bool:
    """Wait for either event; False when ``timeout`` passed first."""
    waits = [asyncio.ensure_future(first.wait()), asyncio.ensure_future(second.wait())]
    try:
        done, _ = await asyncio.wait(waits, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
        return bool(done)
    finally:
        for wait in waits:
            wait.cancel()


async def _abort(
    context: grpc.aio.ServicerContext[Any, Any], error: PubSubAbort, rpc_id: str
) -> None:
    await context.abort(
        error.code,
        f"{error.message} rpcId: {rpc_id}",
        trailing_metadata=(("error-code", error.error_code), ("rpc-id", rpc_id)),
    )
