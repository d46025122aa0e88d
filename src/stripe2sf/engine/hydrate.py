"""Hydrate: answer every event's lookups of a wave, round by round, each round for all events
at once: Salesforce one query per lookup kind (`domain.batch.lookups`), the ledger and the
email claims one transaction each, remembered links from the database, Stripe concurrently
(a bounded pool)."""

from __future__ import annotations

from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from stripe2sf.domain.batch.lookups import queries, split, this_round
from stripe2sf.domain.batch.pools import STRIPE_THREADS  # concurrent Stripe reads of one wave
from stripe2sf.domain.config import SyncConfig
from stripe2sf.domain.context import Lookup, LookupKind, PlanContext, parse_claim_key
from stripe2sf.domain.events import EventView
from stripe2sf.domain.flows.lookups import context_for, lookups_needed
from stripe2sf.domain.matching.links import Link, may_use_link, rows_for
from stripe2sf.engine.ports import SalesforcePort, StripePort
from stripe2sf.store.email_claims import EmailClaims
from stripe2sf.store.ledger import Ledger
from stripe2sf.store.links import Links

MAX_LOOKUP_ROUNDS = 8
MAX_COMPOSITE_QUERIES = 5  # queries per Composite call (`SalesforceClient.query_many`)


@dataclass
class Hydrated:
    """A wave's contexts, the events that failed while reading, and what it cost."""

    contexts: list[PlanContext]
    failed: dict[int, BaseException] = field(default_factory=dict)
    linked: set[str] = field(default_factory=set)  # customers answered from remembered links
    calls: int = 0  # Salesforce calls
    links: dict[str, Link | None] = field(default_factory=dict)  # read once per wave


def _calls_for_queries(n: int) -> int:
    return n if n <= 1 else -(-n // MAX_COMPOSITE_QUERIES)


class Hydrator:
    """Reads for a wave of events, from every source the planner's lookups name."""

    def __init__(
        self,
        config: SyncConfig,
        stripe: StripePort,
        salesforce: SalesforcePort,
        ledger: Ledger,
        claims: EmailClaims,
        links: Links,
    ) -> None:
        self.config = config
        self.stripe = stripe
        self.salesforce = salesforce
        self.ledger = ledger
        self.claims = claims
        self.links = links
        self._names = context_for(config).names

    def hydrate_many(
        self, views: Sequence[EventView], seeds: Sequence[PlanContext] | None = None
    ) -> Hydrated:
        """Answer every event's lookups, round by round, each round for all events at once;
        ``seeds``: each event's context to start from (what the engine already knows, such as
        a duplicate rule's answer), else an empty one."""
        out = Hydrated(
            list(seeds) if seeds is not None else [context_for(self.config) for _ in views]
        )
        pending = set(range(len(views)))
        for _ in range(MAX_LOOKUP_ROUNDS):
            needed: dict[int, list[Lookup]] = {}
            for i in sorted(pending):
                ctx = out.contexts[i]
                asked = [
                    x
                    for x in lookups_needed(views[i], self.config, ctx)
                    if not ctx.has(x.kind, x.key)
                ]
                if asked:
                    needed[i] = asked
            pending = set(needed)
            if not pending:
                return out
            now = set(this_round([x for i in sorted(needed) for x in needed[i]]))
            needed = {i: [x for x in asked if x in now] for i, asked in needed.items()}
            fresh = {x for i in needed if not may_use_link(views[i].type) for x in needed[i]}
            answers, errors = self._answer_round(
                [x for i in sorted(needed) for x in needed[i]], out, fresh
            )
            for i, asked in needed.items():
                error = next((errors[x] for x in asked if x in errors), None)
                if error is not None:
                    out.failed[i] = error
                    pending.discard(i)
                    continue
                out.contexts[i] = out.contexts[i].with_results({x: answers[x] for x in asked})
        for i in pending:
            out.failed[i] = RuntimeError(
                f"lookups for {views[i].id} did not settle in {MAX_LOOKUP_ROUNDS} rounds"
            )
        return out

    def _answer_round(
        self, asked: Sequence[Lookup], out: Hydrated, fresh: set[Lookup]
    ) -> tuple[dict[Lookup, Any], dict[Lookup, BaseException]]:
        answers: dict[Lookup, Any] = {}
        errors: dict[Lookup, BaseException] = {}
        unique = list(dict.fromkeys(asked))
        ledger_keys = [x.key for x in unique if x.kind == LookupKind.LEDGER]
        if ledger_keys:
            stamps = self.ledger.timestamps(ledger_keys)
            answers.update({x: stamps.get(x.key) for x in unique if x.kind == LookupKind.LEDGER})
        remembered = [x for x in unique if x.kind == LookupKind.LINKED]
        if remembered:
            links = self._links(out, {x.key for x in remembered})
            answers.update({x: bool((link := links[x.key]) and link.complete) for x in remembered})
        claims = [x for x in unique if x.kind == LookupKind.EMAIL_CLAIM]
        if claims:  # in wave order: the first customer asking for a free email holds it
            holders = self.claims.claim_many(parse_claim_key(x.key) for x in claims)
            answers.update({x: holders[parse_claim_key(x.key)] for x in claims})
        salesforce = [x for x in unique if x.is_salesforce]
        salesforce = self._from_links(salesforce, answers, out, fresh)
        stripe = [x for x in unique if x.is_stripe]
        with ThreadPoolExecutor(max(1, min(STRIPE_THREADS, len(stripe)))) as pool:
            futures = {x: pool.submit(self.stripe.answer, x) for x in stripe}
            self._answer_salesforce(salesforce, answers, errors, out)
            for x, future in futures.items():
                try:
                    answers[x] = future.result()
                except Exception as exc:  # this event waits; the others go on
                    errors[x] = exc
        return answers, errors

    def _links(self, out: Hydrated, customer_ids: set[str]) -> dict[str, Link | None]:
        """The remembered links of these customers, each read once per wave (the `LINKED`
        lookup and the Account/Contact lookups of a later round ask for the same rows)."""
        missing = customer_ids - out.links.keys()
        if missing:
            found = self.links.known(missing)
            out.links.update({c: found.get(c) for c in missing})
        return {c: out.links[c] for c in customer_ids}

    def _from_links(
        self, asked: list[Lookup], answers: dict[Lookup, Any], out: Hydrated, fresh: set[Lookup]
    ) -> list[Lookup]:
        """Answer the Account and Contact lookups of linked customers from the links table;
        the Salesforce lookups still to run."""
        kinds = (LookupKind.SF_ACCOUNT_BY_CUSTOMER, LookupKind.SF_CONTACT_BY_CUSTOMER)
        wanted = {x.key for x in asked if x.kind in kinds and x not in fresh}
        known = {c: link for c, link in self._links(out, wanted).items() if link and link.complete}
        rest = []
        for x in asked:
            link = known.get(x.key) if x.kind in kinds and x not in fresh else None
            if link is None:
                rest.append(x)
                continue
            account, contact = rows_for(x.key, link, self._names)
            answers[x] = [account if x.kind == LookupKind.SF_ACCOUNT_BY_CUSTOMER else contact]
            out.linked.add(x.key)
        return rest

    def _answer_salesforce(
        self,
        asked: Sequence[Lookup],
        answers: dict[Lookup, Any],
        errors: dict[Lookup, BaseException],
        out: Hydrated,
    ) -> None:
        if not asked:
            return
        planned = queries(asked, self._names)
        out.calls += _calls_for_queries(len(planned))
        try:
            results = self.salesforce.query_many([q.soql for q in planned])
        except Exception as exc:  # the whole round failed: every event that asked waits
            errors.update(dict.fromkeys(asked, exc))
            return
        for query, rows in zip(planned, results, strict=True):
            answers.update(split(query, rows, self._names))
