"""The Salesforce Pub/Sub API (gRPC, ``eventbus.v1.PubSub``): change events without REST calls.

    pubsub = PubSub.from_client(settings, salesforce_client)
    for response in pubsub.stream("/data/ContactChangeEvent", resume, stop):
        for event in response.events:
            schema, record = pubsub.decode(event.event)   # Avro, schema cached by its id
        ...                                               # store, then the next response

Authentication is the Salesforce login stripe2sf already has: every call carries the metadata
``accesstoken`` (the session id), ``instanceurl`` and ``tenantid`` (the org id, read once from
``/services/oauth2/userinfo``). A call refused UNAUTHENTICATED logs in again and is retried.

`stream` subscribes with flow control: it asks for `batch` events, and asks for more as the
caller consumes them (only after the caller returns to the loop, so at most `batch` events are
ever in flight). The server's keepalives (responses without events, every few minutes) come
through too: their ``latest_replay_id`` is a position to resume from. When the connection
drops (UNAVAILABLE, a server restart, an idle timeout) it reconnects with backoff from
`resume()` (the caller's last stored replay id: nothing in between is lost or doubled); an
expired session logs in again first; a replay id the server no longer knows (older than its
retention) is handed to the caller's `on_replay_refused` (capture catches up by polling, then
goes on from the newest event), else restarts from the earliest event it keeps.
"""

from __future__ import annotations

import io
import json
import queue
import random
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import grpc
import structlog
from fastavro import parse_schema, schemaless_reader

from pubsub_api import pubsub_api_pb2 as pb2
from pubsub_api import pubsub_api_pb2_grpc as pb2_grpc
from stripe2sf.domain.errors import PermanentError, RetryableError
from stripe2sf.salesforce.client import SalesforceClient
from stripe2sf.settings import Settings

log = structlog.get_logger(__name__)

_CHANNEL_OPTIONS = [
    ("grpc.max_receive_message_length", 16 * 1024 * 1024),
    ("grpc.keepalive_time_ms", 60_000),
    ("grpc.keepalive_timeout_ms", 20_000),
    ("grpc.keepalive_permit_without_calls", 1),
]
RETRYABLE_CODES = (
    grpc.StatusCode.UNAVAILABLE,
    grpc.StatusCode.DEADLINE_EXCEEDED,
    grpc.StatusCode.INTERNAL,
    grpc.StatusCode.RESOURCE_EXHAUSTED,
    grpc.StatusCode.UNKNOWN,
    grpc.StatusCode.ABORTED,
)


class PubSubError(PermanentError):
    """The Pub/Sub API refused for a reason a retry will not fix (a topic this user may not
    read, a bad endpoint); the message says what to change."""

    def __init__(self, message: str, kind: str = "pubsub.refused") -> None:
        super().__init__(message, kind=kind)


@dataclass(frozen=True)
class PubSubAuth:
    access_token: str
    instance_url: str
    tenant_id: str

    @property
    def metadata(self) -> tuple[tuple[str, str], ...]:
        return (
            ("accesstoken", self.access_token),
            ("instanceurl", self.instance_url),
            ("tenantid", self.tenant_id),
        )


class ClientAuth:
    """Pub/Sub credentials from a logged-in `SalesforceClient`; `fresh=True` logs in again."""

    def __init__(self, client: SalesforceClient) -> None:
        self.client = client
        self._tenant: str | None = None

    def __call__(self, fresh: bool = False) -> PubSubAuth:
        if fresh and self.client.spec.can_relogin:
            self.client._relogin(self.client.sf.session_id)
        if self._tenant is None:
            self._tenant = self._org_id()
        return PubSubAuth(self.client.sf.session_id, self.client.instance_url, self._tenant)

    def _org_id(self) -> str:
        org = self.client.userinfo().get("organization_id")
        if not org:
            raise RetryableError(
                "cannot read the org id for the Pub/Sub API (userinfo gave none)",
                kind="pubsub.auth",
            )
        return str(org)


def topic_of(entity: str) -> str:
    """The change event channel of an object: ``/data/ContactChangeEvent``,
    ``/data/Stripe_Request__ChangeEvent`` for a custom object."""
    if entity.endswith("__c"):
        return f"/data/{entity[:-1]}ChangeEvent"
    return f"/data/{entity}ChangeEvent"


def _root_certificates(ca_bundle: Path | None) -> bytes | None:
    if ca_bundle is None:
        return None  # gRPC's own roots
    try:
        return Path(ca_bundle).read_bytes()
    except OSError as exc:
        raise PubSubError(
            f"SALESFORCE_CA_BUNDLE: cannot read {ca_bundle} ({exc})", kind="pubsub.config"
        ) from exc


class PubSub:
    """One gRPC channel to the Pub/Sub API; thread-safe (one stream per thread)."""

    def __init__(
        self,
        endpoint: str,
        auth: Callable[[bool], PubSubAuth],
        *,
        root_certificates: bytes | None = None,
        backoff_base: float = 0.5,
        backoff_max: float = 30.0,
    ) -> None:
        self.endpoint = endpoint
        self.auth = auth
        self.backoff_base = backoff_base
        self.backoff_max = backoff_max
        credentials = grpc.ssl_channel_credentials(root_certificates=root_certificates)
        self.channel = grpc.secure_channel(endpoint, credentials, options=_CHANNEL_OPTIONS)
        self.stub = pb2_grpc.PubSubStub(self.channel)
        self._auth: PubSubAuth | None = None
        self._lock = threading.Lock()
        self._schemas: dict[str, tuple[dict[str, Any], Any]] = {}
        self.rpc_counts: dict[str, int] = {}
        self.reconnects = 0

    @classmethod
    def from_client(cls, settings: Settings, client: SalesforceClient) -> PubSub:
        return cls(
            settings.salesforce_pubsub_endpoint,
            ClientAuth(client),
            root_certificates=_root_certificates(settings.salesforce_ca_bundle),
        )

    def close(self) -> None:
        self.channel.close()

    # -- auth and unary calls ----------------------------------------------------------------
    def metadata(self, fresh: bool = False) -> tuple[tuple[str, str], ...]:
        with self._lock:
            if self._auth is None or fresh:
                self._auth = self.auth(fresh)
            return self._auth.metadata

    def _count(self, rpc: str) -> None:
        with self._lock:
            self.rpc_counts[rpc] = self.rpc_counts.get(rpc, 0) + 1

    def _unary(self, rpc: str, call: Callable[..., Any], request: Any) -> Any:
        for attempt in range(2):
            self._count(rpc)
            try:
                return call(request, metadata=self.metadata(fresh=attempt > 0), timeout=30)
            except grpc.RpcError as exc:
                code = exc.code()
                if code == grpc.StatusCode.UNAUTHENTICATED and attempt == 0:
                    continue
                raise _error(rpc, exc) from exc
        raise AssertionError("unreachable")

    def topic(self, name: str) -> Any:
        """GetTopic: the topic's schema id and whether this user may subscribe."""
        info = self._unary("GetTopic", self.stub.GetTopic, pb2.TopicRequest(topic_name=name))
        if not info.can_subscribe:
            raise PubSubError(
                f"the Salesforce user may not subscribe to {name}: select the object for "
                "Change Data Capture (Setup > Change Data Capture) and give the user "
                "'View All' on it (or the 'View All Data' permission)"
            )
        return info

    def probe(self, name: str, wait: float = 2.0) -> None:
        """Prove this user may subscribe to `name` without reading from it (doctor): GetTopic,
        then a Subscribe at LATEST asking for one event, cancelled once it answers or after
        `wait` seconds unrefused. Raises PubSubError (kind ``pubsub.not_found``,
        ``pubsub.permission``) or RetryableError (the API cannot be reached)."""
        info = self._unary("GetTopic", self.stub.GetTopic, pb2.TopicRequest(topic_name=name))
        if not info.can_subscribe:
            raise PubSubError(
                f"GetTopic answers can_subscribe false for {name}", kind="pubsub.permission"
            )
        done = threading.Event()

        def requests() -> Iterator[Any]:
            yield pb2.FetchRequest(
                topic_name=name, replay_preset=pb2.ReplayPreset.LATEST, num_requested=1
            )
            done.wait(wait + 1)

        self._count("Subscribe")
        call = self.stub.Subscribe(requests(), metadata=self.metadata(), timeout=wait)
        try:
            for _ in call:  # an event or a keepalive: subscribed
                return
        except grpc.RpcError as exc:
            if exc.code() in (grpc.StatusCode.DEADLINE_EXCEEDED, grpc.StatusCode.CANCELLED):
                return  # nothing refused it while it waited
            raise _error("Subscribe", exc) from exc
        finally:
            done.set()
            call.cancel()

    def schema(self, schema_id: str) -> dict[str, Any]:
        """GetSchema, once per schema id (the parsed Avro JSON)."""
        return self._schema(schema_id)[0]

    def _schema(self, schema_id: str) -> tuple[dict[str, Any], Any]:
        cached = self._schemas.get(schema_id)
        if cached is None:
            info = self._unary(
                "GetSchema", self.stub.GetSchema, pb2.SchemaRequest(schema_id=schema_id)
            )
            doc = json.loads(info.schema_json)
            cached = (doc, parse_schema(doc))
            self._schemas[schema_id] = cached
        return cached

    def decode(self, event: Any) -> tuple[dict[str, Any], dict[str, Any]]:
        """A ProducerEvent's schema (JSON) and its Avro payload decoded."""
        doc, parsed = self._schema(event.schema_id)
        record = schemaless_reader(io.BytesIO(event.payload), parsed, None)
        if not isinstance(record, dict):
            raise PubSubError(f"event {event.id} is not an Avro record", kind="pubsub.decode")
        return doc, record

    # -- the stream --------------------------------------------------------------------------
    def stream(
        self,
        topic: str,
        resume: Callable[[], bytes | None],
        stop: threading.Event,
        *,
        batch: int = 100,
        earliest: bool = False,
        on_replay_refused: Callable[[str], None] | None = None,
    ) -> Iterator[Any]:
        """FetchResponses of `topic` until `stop` is set, reconnecting as needed (see the
        module docstring). `resume()` is asked at every (re)connection; without a replay id
        the stream starts at the newest event (or the earliest kept, with `earliest`). When
        the server refuses the replay id (older than its retention, corrupt),
        `on_replay_refused(detail)` is called (the caller forgets it and catches up; `resume`
        is asked again) or, without it, the stream restarts from the earliest event kept."""
        failures = 0
        fresh = False
        start_earliest = earliest
        while not stop.is_set():
            replay = resume()
            requests: queue.Queue[Any] = queue.Queue()
            if replay:
                first = pb2.FetchRequest(
                    topic_name=topic,
                    replay_preset=pb2.ReplayPreset.CUSTOM,
                    replay_id=replay,
                    num_requested=batch,
                )
            else:
                preset = pb2.ReplayPreset.EARLIEST if start_earliest else pb2.ReplayPreset.LATEST
                first = pb2.FetchRequest(
                    topic_name=topic, replay_preset=preset, num_requested=batch
                )
            requests.put(first)
            self._count("Subscribe")
            try:
                call = self.stub.Subscribe(
                    _requests(requests, stop), metadata=self.metadata(fresh=fresh)
                )
            except grpc.RpcError as exc:  # pragma: no cover - Subscribe returns lazily
                raise _error("Subscribe", exc) from exc
            fresh = False
            watcher = threading.Thread(
                target=_cancel_on_stop, args=(stop, call), name="pubsub-stop", daemon=True
            )
            watcher.start()
            try:
                pending = batch
                for response in call:
                    failures = 0
                    pending = response.pending_num_requested
                    yield response
                    if pending <= batch // 2:  # the caller consumed them: ask for more
                        requests.put(
                            pb2.FetchRequest(topic_name=topic, num_requested=batch - pending)
                        )
                        pending = batch
            except grpc.RpcError as exc:
                code = exc.code()
                if stop.is_set():
                    return
                if code == grpc.StatusCode.UNAUTHENTICATED:
                    log.info("pubsub_relogin", topic=topic)
                    fresh = True
                elif code == grpc.StatusCode.INVALID_ARGUMENT and "replay" in _details(exc):
                    log.warning(
                        "pubsub_replay_id_unknown",
                        topic=topic,
                        detail=_details(exc),
                        resumed_from="latest, after a catch-up"
                        if on_replay_refused
                        else "earliest",
                    )
                    if on_replay_refused is not None:
                        on_replay_refused(_details(exc))
                    else:
                        start_earliest = True
                        resume = _none
                elif code not in RETRYABLE_CODES and code != grpc.StatusCode.CANCELLED:
                    raise _error("Subscribe", exc) from exc
                failures += 1
                self.reconnects += 1
                wait = min(self.backoff_max, self.backoff_base * 2 ** min(failures - 1, 10))
                wait *= 0.5 + random.random() / 2
                log.info("pubsub_reconnect", topic=topic, code=code.name, wait=round(wait, 2))
                if stop.wait(wait):
                    return
            else:  # the server ended the stream: reconnect at once
                if stop.is_set():
                    return
                self.reconnects += 1
            finally:
                requests.put(None)
                call.cancel()


def _none() -> bytes | None:
    return None


def _requests(requests: queue.Queue[Any], stop: threading.Event) -> Iterator[Any]:
    while True:
        item = requests.get()
        if item is None or stop.is_set():
            return
        yield item


def _cancel_on_stop(stop: threading.Event, call: Any) -> None:
    while not stop.wait(0.5):
        if call.done():
            return
    call.cancel()


def _details(exc: grpc.RpcError) -> str:
    details = exc.details() if hasattr(exc, "details") else None
    return str(details or "")


def _error(rpc: str, exc: grpc.RpcError) -> Exception:
    code = exc.code()
    text = f"Pub/Sub {rpc} failed: {code.name} {_details(exc)}".strip()
    if code in RETRYABLE_CODES:
        return RetryableError(text, kind="pubsub.unavailable")
    if code == grpc.StatusCode.UNAUTHENTICATED:
        return RetryableError(text + " (logging in again did not help)", kind="pubsub.auth")
    if code == grpc.StatusCode.NOT_FOUND:
        return PubSubError(
            text + ": select the object for Change Data Capture (Setup > Integrations > Change "
            "Data Capture)",
            kind="pubsub.not_found",
        )
    if code == grpc.StatusCode.PERMISSION_DENIED:
        return PubSubError(
            text + ": give the Salesforce user access to the change events (select the object "
            "for Change Data Capture; the user needs 'View All' on it)",
            kind="pubsub.permission",
        )
    return PubSubError(text)
