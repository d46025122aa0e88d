"""`stripe2sf backfill`: Stripe history into Salesforce through the same planner as live events.

    read     Stripe list endpoints, page by page within a request rate (429 + Retry-After
             honoured; the next page is fetched while this one is stored), into the run's
             scratch file; the read cursor is checkpointed about once a second
    index    what already exists in Salesforce (linked Accounts/Contacts, Contacts by email,
             open collection Tasks/Cases, review Tasks): a few paginated queries
    estimate planned records and API calls against what remains of today's limit; refuse
             beyond the allowed share (a dry run stops here)
    write    per phase, parents first (customers, subscriptions, charges, invoices): each object
             becomes the event its state implies (`domain.backfill.plan.synthetic_event`), is
             planned by `planner.plan` with lookups answered from the scratch file, and the
             operations of up to `job_size` records are batched (Bulk API 2.0 at or above the
             threshold, Composite/sObject Collections below) and executed; then ledger, audit,
             digests and the cursor are committed together: the checkpoint. One batch executes
             on a writer thread (a Bulk job is mostly waiting for Salesforce) while the next
             is planned; batches commit in order, and a phase ends with nothing in flight.

Killed at any moment, the next run resumes after the last checkpoint; everything is an upsert by
external id, so a batch applied twice creates nothing twice. A Salesforce rate limit pauses the
run (up to `max_wait` seconds in all) and then stops it honestly: never reported as a success.
"""

from __future__ import annotations

import csv
import os
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

import structlog
from sqlalchemy import Engine

from stripe2sf.domain import soql
from stripe2sf.domain.audit import AuditRecord, OpOutcome
from stripe2sf.domain.backfill.plan import (
    DEFAULT_JOB_SIZE,
    FAILURES_HEADER,
    PHASES,
    RESOURCE_OF_PHASE,
    BudgetDecision,
    Estimate,
    Pacer,
    Tally,
    check_budget,
    estimate,
    list_params,
    object_digest,
    stripe_retry_delay,
    synthetic_event,
    verdict,
    write_strategy,
)
from stripe2sf.domain.batch.calls import batch, namespaced
from stripe2sf.domain.batch.results import (
    RATE_LIMIT_RETRY_AFTER,
    ExecutionResult,
    classify_code,
)
from stripe2sf.domain.config import SyncConfig
from stripe2sf.domain.context import Lookup, LookupKind, PlanContext, parse_claim_key
from stripe2sf.domain.errors import RateLimitedError, RetryableError
from stripe2sf.domain.events import EventView, parse_event
from stripe2sf.domain.flows.lookups import context_for, lookups_needed
from stripe2sf.domain.flows.planner import plan
from stripe2sf.domain.matching import duplicates
from stripe2sf.domain.operations import Operation, Plan
from stripe2sf.domain.stripe_views import intents_paid
from stripe2sf.engine.org_profile import org_config
from stripe2sf.store.email_claims import EmailClaims
from stripe2sf.store.history import BackfillStore, Checkpoint, RunRow
from stripe2sf.store.ledger import Ledger
from stripe2sf.store.staging import Staging, customer_of

log = structlog.get_logger(__name__)

MAX_LOOKUP_ROUNDS = 8
STAGE_CHECKPOINT_EVERY = 1.0  # seconds between read cursors saved while reading Stripe
# Lookups answered from the scratch file's index of Salesforce rows, by index kind.
_LOCAL_ROWS: Mapping[LookupKind, str] = {
    LookupKind.SF_ACCOUNT_BY_CUSTOMER: "account",
    LookupKind.SF_CONTACT_BY_CUSTOMER: "contact",
    LookupKind.SF_CONTACTS_BY_EMAIL: "email",
    LookupKind.SF_OPEN_DUNNING: "dunning",
    LookupKind.SF_REVIEW_TASK: "review",
}
_STRIPE_RETRIEVE: Mapping[LookupKind, str] = {
    LookupKind.STRIPE_CHARGE: "charge",
    LookupKind.STRIPE_PRODUCT: "product",
    LookupKind.STRIPE_PAYMENT_METHOD: "payment_method",
}
RETRYABLE_CLASSES = frozenset({"retryable", "rate_limited", "halted"})


class StripeSource(Protocol):
    api_version: str

    def list_page(
        self, resource: str, params: Mapping[str, Any]
    ) -> tuple[list[dict[str, Any]], bool]: ...

    def retrieve(self, object_type: str, object_id: str) -> dict[str, Any] | None: ...

    def customer_subscriptions(self, customer_id: str) -> list[dict[str, Any]]: ...

    def customer_open_invoices(self, customer_id: str) -> list[dict[str, Any]]: ...

    def payment_invoice(self, payment_intent_id: str) -> str | None: ...


class SalesforceTarget(Protocol):
    api_version: str

    def query_all(self, soql: str, *, batch_size: int | None = None) -> list[dict[str, Any]]: ...

    def execute(self, calls: Sequence[Any]) -> ExecutionResult: ...

    def limits(self) -> dict[str, Any]: ...

    def describe(self, sobject: str) -> dict[str, Any]: ...


class Progress(Protocol):
    def phase(self, name: str, total: int | None, done: int = 0) -> None: ...

    def advance(self, n: int) -> None: ...

    def note(self, text: str) -> None: ...


class NullProgress:
    def phase(self, name: str, total: int | None, done: int = 0) -> None:
        return None

    def advance(self, n: int) -> None:
        return None

    def note(self, text: str) -> None:
        return None


class Stopped(Exception):
    """The run cannot go on now (rate limit window, Stripe unreachable): resumable."""


@dataclass
class BackfillOptions:
    objects: tuple[str, ...] = PHASES
    since: int | None = None
    dry_run: bool = False
    rate: float = 10.0  # Stripe requests per second
    max_share: float = 0.5  # of the API calls left today
    job_size: int = DEFAULT_JOB_SIZE  # records per commit (one Bulk job per object type and layer)
    chunk: int = 500  # Stripe objects planned at a time (a chunk of charges is ~4 MB in memory)
    workdir: Path = Path("var/backfill")
    max_wait: float = 1800.0  # seconds of Salesforce rate-limit waiting before stopping
    rate_limit_pause: float = RATE_LIMIT_RETRY_AFTER
    restart: bool = False
    force: bool = False  # write objects even when unchanged since the last backfill
    failures_csv: Path | None = None

    @property
    def objects_key(self) -> str:
        return ",".join(self.objects)


@dataclass
class BackfillResult:
    run_id: int | None
    status: str
    exit_code: int
    message: str
    counts: dict[str, int] = field(default_factory=dict)
    tallies: dict[str, Tally] = field(default_factory=dict)
    estimate: Estimate | None = None
    budget: BudgetDecision | None = None
    failures_csv: Path | None = None
    failures: int = 0
    resumed: bool = False

    def total(self) -> Tally:
        out = Tally()
        for t in self.tallies.values():
            out.add(t)
        return out


_SlimOp = tuple[str, str, str, str, tuple[str, ...]]  # op id, action, sobject, key, fields


@dataclass
class _Pending:
    """Objects planned since the last checkpoint, waiting for one execution. Kept small: a
    batch of `job_size` records is in memory while the previous one executes."""

    ops: list[Operation] = field(default_factory=list)
    # (object id, digest, ledger updates, slim op records for audit/tally, customer id)
    objects: list[tuple[str, str, tuple[tuple[str, int], ...], tuple[_SlimOp, ...], str | None]] = (
        field(default_factory=list)
    )
    # Stripe objects read and skipped (unchanged or nothing to write) for this batch
    tally: Tally = field(default_factory=Tally)
    # one copy of each distinct field-name tuple (most records of a batch share theirs)
    _names: dict[tuple[str, ...], tuple[str, ...]] = field(default_factory=dict)

    @property
    def records(self) -> int:
        return len(self.ops)

    def add(self, object_id: str, digest: str, the_plan: Plan) -> None:
        # the reasons are for `plan` output, not for Salesforce: dropped to keep memory low
        ops = [replace(op, reason="") for op in namespaced(the_plan, object_id)]
        self.ops.extend(ops)
        names = self._names
        slim = tuple(
            (
                op.op_id,
                str(op.action),
                op.sobject,
                op.key_value,
                names.setdefault(op.field_names, op.field_names),
            )
            for op in ops
        )
        ledger = tuple(the_plan.ledger_updates.items())
        self.objects.append((object_id, digest, ledger, slim, the_plan.customer_id))


class Backfill:
    def __init__(
        self,
        engine: Engine,
        stripe: StripeSource,
        salesforce: SalesforceTarget,
        config: SyncConfig,
        options: BackfillOptions,
        progress: Progress | None = None,
        sleep: Callable[[float], None] = time.sleep,
        announce: Callable[[BackfillResult], None] | None = None,
    ) -> None:
        self.announce = announce
        self.engine = engine
        self.stripe = stripe
        self.salesforce = salesforce
        self.config = config = org_config(config, salesforce)
        self.options = options
        self.progress = progress or NullProgress()
        self.sleep = sleep
        self.store = BackfillStore(engine)
        self.ledger = Ledger(engine)
        self.claims = EmailClaims(engine)
        self._claims_cache: dict[tuple[str, str], str] = {}
        self.pacer = Pacer(options.rate)
        self._cache: dict[tuple[str, str], Any] = {}
        self._ledger_cache: dict[str, int | None] = {}
        self._staged = frozenset(options.objects)
        self._empty_context = context_for(config)
        # Salesforce index rows of the chunk being planned, read in one query per chunk
        # (kind, key) -> rows; kept in step with `_learn`
        self._rows_cache: dict[tuple[str, str], list[dict[str, Any]]] = {}
        self._subs_cache: dict[str, list[Any]] = {}
        # payment intent -> the staged invoice it paid (API basil and later; `_index`)
        self._invoice_of_intent: dict[str, str] = {}

    # ---- Stripe reads ---------------------------------------------------------------------
    def _paced(self, fn: Callable[[], Any]) -> Any:
        attempt = 0
        while True:
            self.sleep(self.pacer.wait(time.monotonic()))
            self.pacer.taken(time.monotonic())
            try:
                return fn()
            except RateLimitedError as exc:
                attempt += 1
                delay = stripe_retry_delay(attempt, exc.retry_after)
                if delay is None:
                    raise Stopped(f"Stripe kept answering 429: {exc}") from exc
                self.pacer.hold(time.monotonic(), delay)
                self.progress.note(f"Stripe rate limit: waiting {delay:.0f} s")
            except RetryableError as exc:
                attempt += 1
                delay = stripe_retry_delay(attempt, None)
                if delay is None:
                    raise Stopped(f"Stripe unreachable: {exc}") from exc
                self.sleep(delay)

    def _stage(self, run: RunRow, staging: Staging, record: bool = True) -> None:
        """Read each phase's Stripe list into the scratch file. The next page is fetched (on
        a reader thread, within the request rate) while this one is stored."""
        reader = ThreadPoolExecutor(max_workers=1, thread_name_prefix="backfill-reader")
        try:
            for phase in self.options.objects:
                self._stage_phase(run, staging, phase, record, reader)
        finally:
            reader.shutdown(wait=True)

    def _stage_phase(
        self,
        run: RunRow,
        staging: Staging,
        phase: str,
        record: bool,
        reader: ThreadPoolExecutor,
    ) -> None:
        name = f"stage:{phase}"
        ck = self.store.checkpoint(run.id, name) if record else Checkpoint(None, False, {})
        if ck.done:
            return
        resource = RESOURCE_OF_PHASE[phase]
        params: dict[str, Any] = {"limit": 100, **list_params(resource, self.stripe.api_version)}
        created: dict[str, int] = {"lte": run.as_of}
        if run.since is not None:
            created["gte"] = run.since
        params["created"] = created

        def fetch(after: str | None) -> tuple[list[dict[str, Any]], bool]:
            query = {**params, **({"starting_after": after} if after else {})}
            found: tuple[list[dict[str, Any]], bool] = self._paced(
                lambda: self.stripe.list_page(resource, query)
            )
            return found

        cursor = ck.cursor
        read = int(ck.counts.get("read", 0))
        self.progress.phase(f"read Stripe {phase}", None, read)
        saved_at = time.monotonic()
        next_page = reader.submit(fetch, cursor)
        while True:
            page, has_more = next_page.result()
            done = not has_more or not page
            if not done:
                next_page = reader.submit(fetch, str(page[-1]["id"]))
            if page:
                staging.put_objects(phase, page)
                cursor = str(page[-1]["id"])
                read += len(page)
                self.progress.advance(len(page))
            # the cursor is saved about once a second, not after every page: pages read
            # again after a kill are stored again in place (same id, same position)
            if record and (done or time.monotonic() - saved_at >= STAGE_CHECKPOINT_EVERY):
                self.store.save_checkpoint(run.id, name, cursor, done, {"read": read})
                saved_at = time.monotonic()
            if done:
                return

    # ---- Salesforce index -----------------------------------------------------------------
    def _index(self, staging: Staging) -> None:
        if "invoices" in self._staged:
            self._invoice_of_intent = {
                pi: str(invoice["id"])
                for invoice in staging.iter_objects("invoices")
                for pi in intents_paid(invoice)
            }
        o = self.config.objects
        cust, dedupe = o.customer_id_field, o.dedupe_key_field
        staging.clear_index()
        self.progress.note("indexing what already exists in Salesforce")
        fields = soql.account_fields(cust, o.billing_status_field, self.config.person_accounts)
        accounts = self.salesforce.query_all(
            f"SELECT {fields} FROM Account WHERE {cust} != null",
            batch_size=2000,
        )
        staging.put_rows("account", ((str(r[cust]), str(r["Id"]), r) for r in accounts))
        contacts = self.salesforce.query_all(
            f"SELECT {soql.contact_fields(cust)} "
            f"FROM Contact WHERE Email != null OR {cust} != null",
            batch_size=2000,
        )
        staging.put_rows(
            "contact", ((str(r[cust]), str(r["Id"]), r) for r in contacts if r.get(cust))
        )
        staging.put_rows(
            "email",
            (
                (str(r["Email"]).strip().lower(), str(r["Id"]), r)
                for r in contacts
                if r.get("Email")
            ),
        )
        del accounts, contacts
        dunning = self.salesforce.query_all(
            f"SELECT Id, {dedupe}, CreatedDate FROM {self.config.dunning_object()} "
            f"WHERE {dedupe} LIKE 'in\\_%' AND IsClosed = false",
            batch_size=2000,
        )
        staging.put_rows(
            "dunning",
            ((str(r[dedupe]).split(":", 1)[0], str(r["Id"]), r) for r in dunning if r.get(dedupe)),
        )
        reviews = self.salesforce.query_all(
            f"SELECT Id, {dedupe}, CreatedDate FROM Task WHERE {dedupe} LIKE 'review:%'"
        )
        staging.put_rows(
            "review",
            ((str(r[dedupe]).removeprefix("review:"), str(r["Id"]), r) for r in reviews),
        )

    def _learn(
        self, staging: Staging, ops: Sequence[Operation], outcomes: Mapping[str, OpOutcome]
    ) -> None:
        """Remember the Accounts and Contacts this batch linked or created, with their Ids, so
        that later phases (Tasks need Ids for What/Who) find them without a query."""
        cust = self.config.objects.customer_id_field
        found: list[tuple[str, str, str, Operation]] = []  # kind, customer id, record id, op
        for op in ops:
            outcome = outcomes.get(op.op_id)
            if outcome is None or not outcome.ok or op.sobject not in ("Account", "Contact"):
                continue
            if op.key_field == cust:
                cid, rid = op.key_value, outcome.record_id or ""
            elif op.key_field == "Id" and op.fields.get(cust):
                cid, rid = str(op.fields[cust]), op.key_value
            else:
                continue
            if rid:
                found.append(("account" if op.sobject == "Account" else "contact", cid, rid, op))
        self._rows_cache.clear()
        if not found:
            return
        known = {
            kind: staging.rows_many(kind, (cid for k, cid, _, _ in found if k == kind))
            for kind in ("account", "contact")
        }
        new: dict[str, dict[str, tuple[str, dict[str, Any]]]] = {"account": {}, "contact": {}}
        linked_ids: list[str] = []
        for kind, cid, rid, op in found:
            if known[kind][cid] or cid in new[kind]:
                continue
            row: dict[str, Any] = {"Id": rid, cust: cid}
            if kind == "contact":
                account = new["account"].get(cid)
                if account is not None:
                    row["AccountId"] = account[0]
                else:
                    accounts = known["account"].get(cid)
                    if accounts is None:
                        accounts = staging.rows("account", cid)
                    row["AccountId"] = accounts[0]["Id"] if accounts else None
            elif op.key_field == "Id":
                linked_ids.append(rid)
            new[kind][cid] = (rid, row)
        for kind, learned in new.items():
            staging.put_rows(kind, ((cid, rid, row) for cid, (rid, row) in learned.items()))
        if self.config.person_accounts:
            self._learn_person_contacts(staging, new, known)
        # Accounts linked by matching already existed: read their owner and billing status.
        o, person = self.config.objects, self.config.person_accounts
        for i in range(0, len(linked_ids), 200):
            ids = ", ".join(soql.quote(x) for x in linked_ids[i : i + 200])
            rows = self.salesforce.query_all(
                f"SELECT {soql.account_fields(cust, o.billing_status_field, person)} "
                f"FROM Account WHERE Id IN ({ids})"
            )
            staging.put_rows(
                "account", ((str(r[cust]), str(r["Id"]), r) for r in rows if r.get(cust))
            )

    def _learn_person_contacts(
        self,
        staging: Staging,
        new: Mapping[str, Mapping[str, tuple[str, dict[str, Any]]]],
        known: Mapping[str, Mapping[str, Any]],
    ) -> None:
        """A person account written now has its person contact as the customer's Contact;
        the write answers the account's Id only, so one query per 200 reads the contacts'."""
        cust = self.config.objects.customer_id_field
        accounts = {
            rid: cid
            for cid, (rid, _) in new["account"].items()
            if cid not in new["contact"] and not known["contact"].get(cid)
        }
        ids = sorted(accounts)
        for i in range(0, len(ids), 200):
            listed = ", ".join(soql.quote(x) for x in ids[i : i + 200])
            rows = self.salesforce.query_all(
                f"SELECT Id, PersonContactId FROM Account WHERE Id IN ({listed}) "
                "AND IsPersonAccount = true"
            )
            staging.put_rows(
                "contact",
                (
                    (
                        accounts[str(r["Id"])],
                        str(r["PersonContactId"]),
                        {
                            "Id": r["PersonContactId"],
                            cust: accounts[str(r["Id"])],
                            "AccountId": r["Id"],
                        },
                    )
                    for r in rows
                    if r.get("PersonContactId")
                ),
            )

    def _rows(self, staging: Staging, kind: str, key: str) -> list[dict[str, Any]]:
        found = self._rows_cache.get((kind, key))
        if found is None:
            found = staging.rows(kind, key)
        return found

    def _prefetch(self, phase: str, objects: Sequence[Mapping[str, Any]], staging: Staging) -> None:
        """Read the index rows (and staged subscriptions) the chunk's lookups will ask for, a
        few queries for the whole chunk instead of one per lookup."""
        self._rows_cache.clear()
        self._subs_cache.clear()
        self._claims_cache.clear()
        customers = [c for c in (customer_of(o) for o in objects) if c]
        for kind in ("account", "contact"):
            for key, rows in staging.rows_many(kind, customers).items():
                self._rows_cache[(kind, key)] = rows
        if phase == "customers":
            emails = [
                str(o["email"]).strip().lower() for o in objects if isinstance(o.get("email"), str)
            ]
            for key, rows in staging.rows_many("email", emails).items():
                self._rows_cache[("email", key)] = rows
            # who has each email first: one transaction for the chunk
            self._claims_cache.update(
                self.claims.claim_many(
                    (str(o["id"]), str(o["email"]))
                    for o in objects
                    if isinstance(o.get("email"), str) and o.get("id")
                )
            )
        if phase == "subscriptions" and "subscriptions" in self._staged:
            self._subs_cache.update(staging.of_customers("subscriptions", customers))

    # ---- planning with local answers --------------------------------------------------------
    def _cached(self, kind: str, key: str, fetch: Callable[[], Any]) -> Any:
        if (kind, key) not in self._cache:
            if len(self._cache) > 10_000:
                self._cache.clear()
            self._cache[(kind, key)] = self._paced(fetch)
        return self._cache[(kind, key)]

    def _answer(self, lookup: Lookup, view: EventView, staging: Staging) -> Any:
        kind, key = lookup.kind, lookup.key
        staged = self._staged
        if kind in _LOCAL_ROWS:
            return self._rows(staging, _LOCAL_ROWS[kind], key)
        if kind == LookupKind.EMAIL_CLAIM:
            ask = parse_claim_key(key)
            if ask not in self._claims_cache:
                self._claims_cache[ask] = self.claims.claim(*ask)
            return self._claims_cache[ask]
        if kind == LookupKind.LINKED:
            return None  # the backfill reads its staged copy of the org, not remembered links
        if kind == LookupKind.LEDGER:
            if key not in self._ledger_cache:
                self._ledger_cache[key] = self.ledger.timestamps([key]).get(key)
            return self._ledger_cache[key]
        if kind == LookupKind.STRIPE_REFETCH:
            object_type, _, object_id = key.partition(":")
            if object_id == view.object_id:
                return dict(view.object)  # the snapshot is as fresh as a refetch
            return self._cached(
                "refetch", key, lambda: self.stripe.retrieve(object_type, object_id)
            )
        if kind == LookupKind.STRIPE_CUSTOMER:
            if "customers" in staged and (found := staging.get("customers", key)) is not None:
                return found
            return self._cached("customer", key, lambda: self.stripe.retrieve("customer", key))
        if kind == LookupKind.STRIPE_SUBSCRIPTIONS:
            if "subscriptions" in staged:
                subs = self._subs_cache.get(key)
                return subs if subs is not None else staging.of_customer("subscriptions", key)
            return self._cached("subs", key, lambda: self.stripe.customer_subscriptions(key))
        if kind == LookupKind.STRIPE_OPEN_INVOICES:
            if "invoices" in staged:
                invoices = staging.of_customer("invoices", key)
                return [i for i in invoices if i.get("status") == "open"]
            return self._cached("open", key, lambda: self.stripe.customer_open_invoices(key))
        if kind == LookupKind.STRIPE_PAYMENT_INVOICE:
            if "invoices" in staged:  # an intent no staged invoice names paid none here
                return self._invoice_of_intent.get(key)
            return self._cached("paid", key, lambda: self.stripe.payment_invoice(key))
        if lookup.is_stripe:
            otype = _STRIPE_RETRIEVE[kind]
            return self._cached(otype, key, lambda: self.stripe.retrieve(otype, key))
        # rare reads (queue id, accounts by web domain): asked once each
        query = lookup.soql or ""
        if ("soql", query) not in self._cache:
            self._cache[("soql", query)] = self.salesforce.query_all(query)
        return self._cache[("soql", query)]

    def _hydrate(
        self, view: EventView, staging: Staging, seed: PlanContext | None = None
    ) -> PlanContext:
        ctx = seed or self._empty_context
        for _ in range(MAX_LOOKUP_ROUNDS):
            needed = [
                x for x in lookups_needed(view, self.config, ctx) if not ctx.has(x.kind, x.key)
            ]
            if not needed:
                return ctx
            ctx = ctx.with_results({x: self._answer(x, view, staging) for x in needed})
        raise RuntimeError(f"lookups for {view.id} did not settle")

    def plan_object(
        self, phase: str, obj: Mapping[str, Any], as_of: int, staging: Staging
    ) -> Plan | None:
        doc = synthetic_event(phase, obj, as_of)
        if doc is None:
            return None
        view = parse_event(doc)
        return plan(view, self._hydrate(view, staging), self.config)

    # ---- writing ----------------------------------------------------------------------------
    def _execute(self, ops: Sequence[Operation]) -> dict[str, OpOutcome]:
        """Execute, retrying whole-call failures (rate limits, 5xx, lost connections) for up to
        `max_wait` seconds in all; then stop the run (resumable)."""
        version = f"v{self.salesforce.api_version.lstrip('v')}"
        threshold = self.config.sync.bulk_threshold
        outcomes: dict[str, OpOutcome] = {}
        todo = list(ops)
        waited = 0.0
        attempt = 0
        while todo:
            strategy = write_strategy(len(todo), threshold)
            calls = batch(todo, api_version=version, bulk_threshold=threshold)
            log.info("backfill_execute", records=len(todo), calls=len(calls), strategy=strategy)
            result = self.salesforce.execute(calls)
            outcomes.update(result.outcomes)
            again = [
                op
                for op in todo
                if not result.outcomes.get(op.op_id, OpOutcome(False, code="NO_RESULT")).ok
                and classify_code(
                    result.outcomes.get(op.op_id, OpOutcome(False, code="NO_RESULT")).code
                )
                in RETRYABLE_CLASSES
            ]
            if not again:
                return outcomes
            attempt += 1
            error = result.error()
            if isinstance(error, RateLimitedError):
                wait = self.options.rate_limit_pause
                if result.retry_after is not None:
                    wait = result.retry_after
            else:
                wait = float(min(60, 2 ** (attempt - 1)))
            if waited + wait > self.options.max_wait:
                raise Stopped(
                    f"Salesforce keeps refusing ({error}); waited {waited:.0f} s of the "
                    f"{self.options.max_wait:.0f} s allowed"
                )
            self.progress.note(f"Salesforce: {error}; retrying in {wait:.0f} s")
            self.sleep(wait)
            waited += wait
            todo = again
        return outcomes

    def _flush(
        self,
        run: RunRow,
        phase: str,
        pending: _Pending,
        staging: Staging,
        cursor: int,
        done: bool,
        tally: Tally,
        failures: Any,
    ) -> None:
        """Execute a batch and commit it (the checkpoint)."""
        outcomes = self._execute(pending.ops) if pending.ops else {}
        self._commit(run, phase, pending, outcomes, staging, cursor, done, tally, failures)

    def _commit(
        self,
        run: RunRow,
        phase: str,
        pending: _Pending,
        outcomes: Mapping[str, OpOutcome],
        staging: Staging,
        cursor: int,
        done: bool,
        tally: Tally,
        failures: Any,
    ) -> None:
        """Learn the batch's new Ids, then commit its ledger, audit, digests and cursor
        together, with `tally` (the phase's counts so far) plus the batch's."""
        outcomes = dict(outcomes)
        refused = self._after_duplicate_rules(run, phase, pending, outcomes, staging)
        self._learn(staging, pending.ops, outcomes)
        tally.add(pending.tally)
        at = datetime.now(UTC).isoformat()
        ledger: dict[str, int] = {}
        digests: list[tuple[str, str]] = []
        for object_id, digest, ledger_updates, slim, _ in pending.objects:
            ok = True
            for op_id, _, sobject, key_value, _ in slim:
                outcome = outcomes.get(op_id)
                if outcome is not None and outcome.ok:
                    if outcome.created:
                        tally.created += 1
                    else:
                        tally.updated += 1
                else:
                    ok = False
                    tally.failed += 1
                    code = (outcome.code if outcome else None) or "NOT_EXECUTED"
                    error = (outcome.error if outcome else None) or "not executed"
                    if failures is not None:
                        failures.writerow([object_id, phase, sobject, key_value, code, error])
            if ok:
                for oid, ts in ledger_updates:
                    ledger[oid] = max(ts, ledger.get(oid, 0))
                digests.append((object_id, digest))

        def audit() -> Iterator[AuditRecord]:
            # made while they are stored, a page at a time, not all at once
            yield from refused
            for object_id, _, _, slim, customer_id in pending.objects:
                for op_id, action, sobject, key_value, field_names in slim:
                    outcome = outcomes.get(op_id)
                    good = outcome is not None and outcome.ok
                    yield AuditRecord(
                        at=at,
                        event_id=f"backfill:{object_id}",
                        action=action,
                        outcome="ok" if good else "error",
                        sobject=sobject,
                        external_id=key_value,
                        record_id=outcome.record_id if outcome else None,
                        fields=field_names,
                        error=None if good else (outcome.error if outcome else "not executed"),
                        customer_id=customer_id,
                    )

        self.store.commit_batch(
            run.id,
            phase,
            cursor=str(cursor),
            done=done,
            counts=tally.to_dict(),
            ledger=ledger,
            audit=audit(),
            digests=digests,
        )
        for oid, ts in ledger.items():
            if oid in self._ledger_cache:
                self._ledger_cache[oid] = max(ts, self._ledger_cache[oid] or 0)

    def _after_duplicate_rules(
        self,
        run: RunRow,
        phase: str,
        pending: _Pending,
        outcomes: dict[str, OpOutcome],
        staging: Staging,
    ) -> list[AuditRecord]:
        """Objects whose customer's Account or Contact a duplicate rule refused to create are
        planned again knowing what it matched, as the sync does (`domain.matching.duplicates`:
        the matched record linked, or the review queue); their new writes are sent and their
        entries in the batch become the new plan's. Returns the audit records of the refused
        attempts, kept with the rule's name."""
        if not any(o.duplicates is not None for o in outcomes.values()):
            return []
        field_name = self.config.objects.customer_id_field
        at = datetime.now(UTC).isoformat()
        kept: list[AuditRecord] = []
        by_object: dict[str, list[Operation]] = {}
        for op in pending.ops:
            by_object.setdefault(op.op_id.split("/", 1)[0], []).append(op)
        for index, (object_id, digest, _, _, customer_id) in enumerate(pending.objects):
            attempt = Plan(object_id, phase, tuple(by_object.get(object_id, ())), customer_id)
            reports: dict[str, duplicates.DuplicateReport] = {}
            for _ in range(duplicates.MAX_PASSES):
                refused = duplicates.refused_creates(attempt, outcomes, field_name)
                obj = staging.get(phase, object_id)
                if (
                    not refused
                    or customer_id is None
                    or obj is None
                    or any(r.report.sobject in reports for r in refused)
                ):
                    break
                for found in refused:
                    report = found.report
                    if not report.detailed:  # Collections and Bulk name no match: ask alone
                        alone = self._execute([found.op]).get(found.op.op_id)
                        if alone is not None and alone.duplicates is not None:
                            report = replace(alone.duplicates, sobject=found.op.sobject)
                    reports[found.op.sobject] = report
                kept.extend(
                    AuditRecord(
                        at=at,
                        event_id=f"backfill:{object_id}",
                        action=op.action,
                        outcome="error",
                        sobject=op.sobject,
                        external_id=op.key_value,
                        fields=op.field_names,
                        error=outcomes[op.op_id].error,
                        customer_id=customer_id,
                    )
                    for op in attempt.operations
                    if op.op_id in outcomes and not outcomes[op.op_id].ok
                )
                doc = synthetic_event(phase, obj, run.as_of)
                if doc is None:
                    break
                view = parse_event(doc)
                seed = duplicates.seeded(self._empty_context, reports.values(), customer_id)
                again = plan(view, self._hydrate(view, staging, seed), self.config)
                entry = _Pending()
                entry.add(object_id, digest, again)
                outcomes.update(self._execute(entry.ops))
                pending.ops.extend(entry.ops)
                pending.objects[index] = entry.objects[0]
                attempt = Plan(object_id, phase, tuple(entry.ops), customer_id)
        return kept

    def _write_phase(self, run: RunRow, phase: str, staging: Staging, failures: Any) -> Tally:
        """Plan the phase's objects chunk by chunk; each `job_size` records become a batch.

        Pipelined: while one batch executes in Salesforce (on the writer thread: a Bulk job
        is mostly waiting), the next is planned here. Batches are committed in order, each
        after its execution, so the checkpoint semantics are those of running them one after
        the other; at most one batch is in flight, and a phase ends with none (the next phase
        plans with every Id the previous one learned)."""
        ck = self.store.checkpoint(run.id, phase)
        tally = Tally.from_dict(ck.counts)
        if ck.done:
            return tally
        after = int(ck.cursor or 0)
        self.progress.phase(f"write {phase}", staging.count(phase), tally.objects)
        pending = _Pending()
        writer = ThreadPoolExecutor(max_workers=1, thread_name_prefix="backfill-writer")
        inflight: tuple[_Pending, Future[dict[str, OpOutcome]], int] | None = None
        try:
            while True:
                rows = staging.page(phase, after, self.options.chunk)
                if not rows:
                    break
                ids = [str(obj["id"]) for _, obj in rows]
                known = {} if self.options.force else self.store.digests(ids)
                stamps = self.ledger.timestamps(ids)
                self._ledger_cache = {i: stamps.get(i) for i in ids}
                self._prefetch(phase, [obj for _, obj in rows], staging)
                for _, obj in rows:
                    pending.tally.objects += 1
                    oid = str(obj["id"])
                    digest = object_digest(obj)
                    if known.get(oid) == digest:
                        pending.tally.skipped += 1
                        continue
                    the_plan = self.plan_object(phase, obj, run.as_of, staging)
                    if the_plan is None or the_plan.is_empty:
                        pending.tally.skipped += 1
                        continue
                    pending.add(oid, digest, the_plan)
                after = rows[-1][0]
                self.progress.advance(len(rows))
                if inflight is not None and inflight[1].done():
                    # landed as soon as it is done: its memory is freed, its checkpoint saved
                    self._land(run, phase, inflight, staging, tally, failures)
                    inflight = None
                if pending.records >= self.options.job_size:
                    if inflight is not None:
                        self._land(run, phase, inflight, staging, tally, failures)
                    inflight = (pending, writer.submit(self._execute, pending.ops), after)
                    pending = _Pending()
            if inflight is not None:
                self._land(run, phase, inflight, staging, tally, failures)
                inflight = None
        finally:
            writer.shutdown(wait=True)
        self._flush(run, phase, pending, staging, after, True, tally, failures)
        return tally

    def _land(
        self,
        run: RunRow,
        phase: str,
        inflight: tuple[_Pending, Future[dict[str, OpOutcome]], int],
        staging: Staging,
        tally: Tally,
        failures: Any,
    ) -> None:
        """Wait for the batch in flight (its errors, e.g. Stopped, are raised here), then
        commit it."""
        pending, future, cursor = inflight
        outcomes = future.result()
        self._commit(run, phase, pending, outcomes, staging, cursor, False, tally, failures)

    # ---- the run ----------------------------------------------------------------------------
    def _remaining_today(self) -> int | None:
        try:
            limits = self.salesforce.limits()
        except RetryableError:
            return None
        daily = limits.get("DailyApiRequests") or {}
        remaining = daily.get("Remaining")
        return int(remaining) if isinstance(remaining, int | float) else None

    def _open_run(self) -> tuple[RunRow, bool]:
        o = self.options
        if o.restart:
            self.store.abandon_open(o.objects_key, o.since, "replaced by --restart")
        elif not o.dry_run and (found := self.store.resumable(o.objects_key, o.since)):
            if Path(found.staging_path).exists():
                return found, True
            # its cursors point into a scratch file that is gone: start afresh (objects
            # already written and unchanged are skipped by their digests)
            self.store.set_status(found.id, "abandoned", "scratch file missing", finished=True)
            self.progress.note(f"run {found.id} cannot resume (scratch file gone); new run")
        as_of = int(time.time())
        path = o.workdir / f"backfill-{as_of}-{os.getpid()}{'-dry' if o.dry_run else ''}.sqlite"
        options = {"rate": o.rate, "max_share": o.max_share, "job_size": o.job_size}
        if o.dry_run:
            # a dry run is not recorded; it keeps its scratch file in memory of this process
            return RunRow(
                0, "dry-run", o.since, as_of, o.objects_key, options, str(path), None, None
            ), False
        return (
            self.store.create(
                since=o.since,
                as_of=as_of,
                objects=o.objects_key,
                options=options,
                staging=str(path),
            ),
            False,
        )

    def run(self) -> BackfillResult:
        run, resumed = self._open_run()
        staging = Staging(Path(run.staging_path))
        result = BackfillResult(run.id or None, "running", 0, "", resumed=resumed)
        try:
            if resumed:
                self.progress.note(f"resuming backfill run {run.id} (snapshot of {run.as_of})")
            self._stage(run, staging, record=not self.options.dry_run)
            counts = {p: staging.count(p) for p in self.options.objects}
            result.counts = counts
            before = self._calls_so_far()
            self._index(staging)
            read_calls = self._calls_so_far() - before
            remaining_objects = {
                p: self._objects_left(run, p, staging) for p in self.options.objects
            }
            est = estimate(
                remaining_objects,
                bulk_threshold=self.config.sync.bulk_threshold,
                job_size=self.options.job_size,
                read_calls=read_calls,
            )
            result.estimate = est
            decision = check_budget(
                est.write_calls, self._remaining_today(), self.options.max_share
            )
            result.budget = decision
            if self.announce is not None:
                self.announce(result)
            if self.options.dry_run:
                result.status, result.message = "dry-run", decision.message
                result.exit_code = 0 if decision.ok else 4
                return result
            if not decision.ok:
                self.store.set_status(run.id, "refused", decision.message, finished=True)
                result.status, result.exit_code, result.message = "refused", 4, decision.message
                return result
            return self._write_all(run, staging, result)
        except Stopped as exc:
            return self._stop(run, result, str(exc))
        finally:
            finished = ("succeeded", "completed_with_failures", "refused")
            if self.options.dry_run or result.status in finished:
                staging.delete()
            else:
                staging.close()

    def _objects_left(self, run: RunRow, phase: str, staging: Staging) -> int:
        if not run.id:
            return staging.count(phase)
        ck = self.store.checkpoint(run.id, phase)
        if ck.done:
            return 0
        return max(0, staging.count(phase) - int(ck.counts.get("objects", 0)))

    def _calls_so_far(self) -> int:
        usage = getattr(self.salesforce, "usage", None)
        if usage is None:
            return 0
        return int(usage().total_calls)

    def _write_all(self, run: RunRow, staging: Staging, result: BackfillResult) -> BackfillResult:
        path = self.options.failures_csv or (
            self.options.workdir / f"backfill-{run.id}-failures.csv"
        )
        path.parent.mkdir(parents=True, exist_ok=True)
        fresh = not path.exists() or not result.resumed
        with path.open("w" if fresh else "a", newline="", encoding="utf-8") as handle:
            writer = csv.writer(handle)
            if fresh:
                writer.writerow(FAILURES_HEADER)
            done: list[str] = []
            for phase in self.options.objects:
                result.tallies[phase] = self._write_phase(run, phase, staging, writer)
                done.append(phase)
        result.failures_csv = path
        v = verdict(None, result.tallies, done, self.options.objects)
        result.failures = sum(t.failed for t in result.tallies.values())
        result.status, result.exit_code, result.message = v.status, v.exit_code, v.message
        summary = {p: t.to_dict() for p, t in result.tallies.items()}
        self.store.set_status(run.id, v.status, v.message, summary=summary, finished=True)
        if not result.failures:
            path.unlink(missing_ok=True)
            result.failures_csv = None
        return result

    def _stop(self, run: RunRow, result: BackfillResult, why: str) -> BackfillResult:
        if run.id:
            for phase in self.options.objects:
                result.tallies[phase] = Tally.from_dict(self.store.checkpoint(run.id, phase).counts)
        v = verdict(why, result.tallies, [], self.options.objects)
        result.status, result.exit_code, result.message = v.status, v.exit_code, v.message
        if run.id:
            summary = {p: t.to_dict() for p, t in result.tallies.items()}
            self.store.set_status(run.id, "stopped", v.message, summary=summary)
        return result


__all__ = ["Backfill", "BackfillOptions", "BackfillResult", "NullProgress", "Progress", "Stopped"]
