"""Orchestration: the worker and what it calls (hydrate, execute), alerts, backfill, reconcile."""
