"""stripe_sandbox: a local, stateful Stripe in test mode over HTTP, backed by SQLite.

The official ``stripe`` SDK works against it unmodified::

    client = stripe.StripeClient("sk_test_...", base_addresses={"api": "http://127.0.0.1:8702"})

Run it with ``stripe-sandbox [--host 127.0.0.1] [--port 8702] [--data DIR]`` (see ``--help``),
or in-process with :func:`stripe_sandbox.testing.run_sandbox`.

Layout: ``routes`` (the v1 route table) -> ``api`` (keys, form params, idempotency, expand,
lists, errors) -> ``models/*`` (behaviour, one module per resource family) on ``state``
(unit of work, events) and ``store`` (SQLite). ``scheduler`` runs what falls due (renewals,
trials, dunning retries, test-clock advances); ``delivery`` sends signed webhooks in the
background; ``control`` is the ``/_sandbox/`` control plane; ``seed`` bulk-loads data.

Control plane (JSON in, JSON out; no API key):

=======  ===========================================  ==========================================
POST     /_sandbox/reset                              forget everything -> ``{"reset": true}``
POST     /_sandbox/seed                               ``{"customers": 100, "charges_per_customer":
                                                      3, "subscriptions_per_customer": 1,
                                                      "failed_charge_rate": 0.05, "currency":
                                                      "usd", "unit_amount": 1500,
                                                      "history_days": 365, "random_seed": null}``
                                                      -> counts per type and ``seconds``
GET/POST /_sandbox/settings                           dunning_retry_days, dunning_final_status,
                                                      invoice_finalize_delay_seconds,
                                                      trial_will_end_days,
                                                      webhook_retry_base_seconds,
                                                      webhook_max_attempts,
                                                      webhook_timeout_seconds,
                                                      event_retention_days
GET/POST /_sandbox/faults                             duplicate_rate, duplicate_delay_seconds,
                                                      drop_rate, shuffle, delay_seconds,
                                                      late_rate, late_seconds, webhook_outage,
                                                      seed (webhooks); api_latency_ms,
                                                      api_latency_jitter_ms, api_fail_next,
                                                      api_fail_status, api_error_rate,
                                                      api_outage (API); see ``--help``
DELETE   /_sandbox/faults                             every fault off, data kept
GET      /_sandbox/deliveries?event_id=&endpoint_id=  ``{"data": [{"id", "event_id",
         &status=&event_type=&limit=                  "event_type", "endpoint_id", "url",
                                                      "status", "attempt_count", "duplicate",
                                                      "next_attempt_at", "created",
                                                      "attempts": [{"at", "status_code",
                                                      "body", "error", "duration_ms",
                                                      "dropped"}]}]}``
POST     /_sandbox/deliveries/retry                   due every pending retry now
POST     /_sandbox/time                               ``{"advance_seconds": N}`` or
                                                      ``{"offset_seconds": N}``: wall clock of
                                                      objects outside test clocks
POST     /_sandbox/wait_idle                          ``{"timeout": 10}`` -> ``{"idle": bool}``
GET      /_sandbox/stats                              object counts, events, deliveries by
                                                      status, request counts per route
GET      /_sandbox/webhook_endpoints/{id}/secret      ``{"id", "secret"}``
GET      /_sandbox/health                             ``{"ok": true, "api_version", "pid"}``
=======  ===========================================  ==========================================
"""
