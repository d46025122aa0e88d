"""The composition root: builds the store, registry, alerter and worker from settings."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta

from stripe2sf.domain.actions.config import ActionsConfig
from stripe2sf.domain.batch.budget import BudgetPolicy
from stripe2sf.domain.batch.pools import pool_sizes
from stripe2sf.domain.batch.retry import RetryPolicy
from stripe2sf.domain.flows.handled import HANDLED_TYPES
from stripe2sf.engine.actions import ActionHandler, action_types
from stripe2sf.engine.alerts import Alerter
from stripe2sf.engine.budget import BudgetGate
from stripe2sf.engine.handlers import Registry, default_registry
from stripe2sf.engine.salesforce_port import LazySalesforce
from stripe2sf.engine.sync import SyncHandler
from stripe2sf.engine.worker import Worker
from stripe2sf.salesforce.usage import ApiUsageSnapshot
from stripe2sf.settings import Settings, load_sync_config
from stripe2sf.store import db
from stripe2sf.store.actions import ActionLog
from stripe2sf.store.alert_log import AlertLog
from stripe2sf.store.audit_trail import AuditTrail
from stripe2sf.store.inbox import Inbox
from stripe2sf.store.ledger import Ledger
from stripe2sf.store.links import Links
from stripe2sf.stripe.actions import StripeActions
from stripe2sf.stripe.reader import StripeReader


@dataclass
class Runtime:
    settings: Settings
    engine: db.Engine
    inbox: Inbox
    alerter: Alerter
    registry: Registry = field(default_factory=default_registry)
    # The worker's own engine: its commits skip the flush to disk (see store.db.make_engine).
    worker_engine: db.Engine | None = None
    _salesforce: LazySalesforce | None = None
    _budget: BudgetGate | None = None

    @classmethod
    def build(
        cls, settings: Settings, registry: Registry | None = None, migrate: bool = True
    ) -> Runtime:
        if migrate:
            db.upgrade(settings.database_url)
        pools = pool_sizes(settings.worker_concurrency)
        engine = db.make_engine(
            settings.database_url, pool_size=pools.db, max_overflow=pools.db_overflow
        )
        worker_engine = db.make_engine(
            settings.database_url,
            synchronous="NORMAL",
            pool_size=pools.worker_db,
            max_overflow=pools.worker_db_overflow,
        )
        runtime = cls(
            settings=settings,
            engine=engine,
            inbox=Inbox(engine, linger=timedelta(milliseconds=settings.batch_linger_ms)),
            alerter=Alerter(settings, AlertLog(engine)),
            registry=registry or default_registry(),
            worker_engine=worker_engine,
        )
        if registry is None and runtime.can_sync():
            runtime.registry = runtime.sync_registry()
        return runtime

    @property
    def worker_db(self) -> db.Engine:
        return self.worker_engine or self.engine

    def can_sync(self) -> bool:
        """Stripe and Salesforce are configured: events are synced, not only kept."""
        s = self.settings
        return bool(s.stripe_key and (s.salesforce_username or s.salesforce_client_id))

    def sync_handler(self) -> SyncHandler:
        reader = self.stripe_reader()
        if reader is None:
            raise RuntimeError("STRIPE_API_KEY is needed to sync")
        if self._salesforce is None:
            self._salesforce = LazySalesforce(self.settings)
        config = load_sync_config(self.settings)
        return SyncHandler(
            config,
            reader,
            self._salesforce,
            Ledger(self.worker_db),
            AuditTrail(self.worker_db),
            bulk_threshold=config.sync.bulk_threshold,
        )

    def sync_registry(self) -> Registry:
        registry = Registry()
        handler = self.sync_handler()
        registry.register_many(HANDLED_TYPES, handler)
        if handler.config.salesforce_to_stripe.enabled:
            self._register_reverse(registry, handler)
        if handler.config.actions.enabled:
            actions = handler.config.actions
            registry.register_many(action_types(actions), self.action_handler(actions))
        return registry

    def action_handler(self, config: ActionsConfig | None = None) -> ActionHandler:
        """Salesforce actions (`[actions]`, read from stripe2sf.toml unless given):
        Opportunity / Stripe_Request__c -> Stripe."""
        reader = self.stripe_reader()
        if reader is None:
            raise RuntimeError("STRIPE_API_KEY is needed for Salesforce actions")
        if self._salesforce is None:
            self._salesforce = LazySalesforce(self.settings)
        return ActionHandler(
            config or load_sync_config(self.settings).actions,
            StripeActions(reader.client, reader.api_base),
            self._salesforce,
            ActionLog(self.worker_db),
            Links(self.worker_db),
        )

    def _register_reverse(self, registry: Registry, handler: SyncHandler) -> None:
        """[salesforce_to_stripe]: captured Salesforce changes -> Stripe, and customer.updated
        checked for edits of fields Salesforce owns (`engine.reverse`)."""
        from stripe2sf.engine.doctor import whoami
        from stripe2sf.engine.reverse import ConflictGuard, OwnUsers, ReverseHandler, change_types
        from stripe2sf.stripe.writer import StripeWriter

        s, sf = self.settings, handler.salesforce
        assert isinstance(sf, LazySalesforce) and s.stripe_key
        writer = StripeWriter(
            s.stripe_key,
            s.stripe_api_base,
            http_pool=pool_sizes(s.worker_concurrency).stripe_http,
            api_version=s.stripe_api_version,
        )
        reverse = ReverseHandler(
            handler.org_config,
            writer,
            sf,
            Links(self.worker_db),
            handler.audit,
            OwnUsers(lambda: whoami(sf.client)[1]),
        )
        registry.register_many(change_types(), reverse)
        if handler.config.salesforce_to_stripe.reassert_on_conflict:
            # every Stripe type, not only customer.updated (the only one it checks): a wave
            # goes to the worker's handlers by identity, and one handler keeps it one batch
            registry.register_many(HANDLED_TYPES, ConflictGuard(handler, reverse))

    def retry_policy(self) -> RetryPolicy:
        s = self.settings
        return RetryPolicy(
            base_seconds=s.retry_base_seconds,
            max_attempts=s.max_attempts,
            max_age=timedelta(hours=s.max_age_hours),
        )

    def worker(self, concurrency: int | None = None) -> Worker:
        s = self.settings
        return Worker(
            Inbox(self.worker_db),
            self.registry,
            alerter=self.alerter,
            policy=self.retry_policy(),
            lease=timedelta(seconds=s.lease_seconds),
            concurrency=concurrency or s.worker_concurrency,
            poll_interval=s.poll_interval_seconds,
            batch_lanes=s.batch_lanes,
            budget=self.budget(),
        )

    @property
    def salesforce(self) -> LazySalesforce | None:
        """The Salesforce connection of the sync handler (None when sync is not configured)."""
        return self._salesforce

    def salesforce_usage(self) -> ApiUsageSnapshot | None:
        """The Salesforce API usage this process has seen (None before its first call)."""
        client = self._salesforce.connected if self._salesforce is not None else None
        return client.usage() if client is not None else None

    def budget(self) -> BudgetGate:
        """The process's Salesforce API budget (shared by the worker and bulk work)."""
        if self._budget is None:
            s = self.settings
            policy = BudgetPolicy(
                reserve_share=s.budget_reserve_share,
                slow_from=s.budget_slow_from,
                defer_seconds=s.budget_defer_seconds,
                pause_seconds=s.budget_pause_seconds,
            )
            self._budget = BudgetGate(policy, self.salesforce_usage, refresh=self._read_limits)
        return self._budget

    def _read_limits(self) -> None:
        client = self._salesforce.connected if self._salesforce is not None else None
        if client is not None:
            client.limits()

    def stripe_calls(self) -> int:
        """Stripe API requests made by this process's sync handlers."""
        readers = {id(h.stripe): h.stripe for h in self._handlers() if hasattr(h, "stripe")}
        return sum(int(getattr(r, "calls", 0)) for r in readers.values())

    def _handlers(self) -> list[object]:
        return [h for t in self.registry.types() if (h := self.registry.get(t)) is not None]

    def stripe_reader(self) -> StripeReader | None:
        key = self.settings.stripe_key
        if not key:
            return None
        pool = pool_sizes(self.settings.worker_concurrency).stripe_http
        return StripeReader(
            key,
            self.settings.stripe_api_base,
            http_pool=pool,
            api_version=self.settings.stripe_api_version,
        )

    def close(self) -> None:
        if self._salesforce is not None:
            self._salesforce.close()
        if self.worker_engine is not None and self.worker_engine is not self.engine:
            self.worker_engine.dispose()
        self.engine.dispose()
