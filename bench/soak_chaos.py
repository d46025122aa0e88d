"""The soak's faults: a schedule as data, applied through the sandboxes' control planes while
traffic runs, plus process chaos (a worker SIGKILLed, PostgreSQL crash-restarted).

Each row of SCHEDULE is one knob: on at `start`, off at `stop` (fractions of the target number
of Stripe events) or after `seconds`. A new sandbox knob is one more row. Stripe knobs are
`POST /_sandbox/faults` bodies (switched off by posting the values they had before: knobs must
not share a key, except list values such as `api_outage`, joined while both are on);
Salesforce knobs are one fault rule each (`POST /_sandbox/faults`, removed by
`DELETE /_sandbox/faults/{id}`) or the added latency (`POST /_sandbox/latency`).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx


@dataclass(frozen=True)
class Knob:
    name: str
    target: str  # "stripe" or "salesforce"
    setting: dict[
        str, Any
    ]  # stripe: faults body; salesforce: {"rule": {...}} or {"latency": {...}}
    start: float = 0.05
    stop: float = 0.9
    seconds: float | None = None  # off after this long instead of at `stop`


@dataclass(frozen=True)
class Action:
    name: str
    at: float
    do: str  # a key of the actions given to Chaos


def _rule(mode: str, rate: float, **more: Any) -> dict[str, Any]:
    return {"rule": {"route": "*", "mode": mode, "rate": rate, **more}}


SCHEDULE: tuple[Knob, ...] = (
    # Stripe: webhook deliveries
    Knob(
        "webhooks duplicated 10 % (some 3 s late) and shuffled",
        "stripe",
        {"duplicate_rate": 0.10, "duplicate_delay_seconds": 3, "shuffle": True},
    ),
    Knob("webhooks dropped 2 %", "stripe", {"drop_rate": 0.02}),
    Knob("webhooks very late 2 % (20 s)", "stripe", {"late_rate": 0.02, "late_seconds": 20}),
    Knob("webhook endpoint unreachable 10 s", "stripe", {"webhook_outage": True}, 0.7, seconds=10),
    # Stripe: API
    Knob("Stripe API 500s 2 %", "stripe", {"api_error_rate": 0.02, "api_fail_status": 500}),
    Knob(
        "Stripe API latency 20-40 ms", "stripe", {"api_latency_ms": 20, "api_latency_jitter_ms": 20}
    ),
    Knob(
        "Stripe outage 20 s: charge reads 503, half the event listings 500",
        "stripe",
        {
            "api_outage": [
                {"path": "/v1/charges/*", "method": "GET", "status": 503},
                {"path": "/v1/events*", "method": "GET", "status": 500, "rate": 0.5},
            ]
        },
        0.5,
        seconds=20,
    ),
    Knob(
        "Stripe 500s on half the customer updates and invoice sends/finalizes for 20 s",
        "stripe",
        {
            "api_outage": [
                {"path": "/v1/customers/cus_*", "method": "POST", "status": 500, "rate": 0.5},
                {"path": "/v1/invoices/*/send", "method": "POST", "status": 500, "rate": 0.5},
                {"path": "/v1/invoices/*/finalize", "method": "POST", "status": 500, "rate": 0.5},
            ]
        },
        0.3,
        seconds=20,
    ),
    # Salesforce
    Knob("Salesforce 503s 5 %", "salesforce", _rule("503", 0.05)),
    Knob("Salesforce UNABLE_TO_LOCK_ROW 3 %", "salesforce", _rule("UNABLE_TO_LOCK_ROW", 0.03)),
    Knob(
        "Salesforce partial failures 2 % (500 on 30 % of the records)",
        "salesforce",
        _rule("500", 0.02, record_rate=0.3),
    ),
    Knob("Salesforce INVALID_SESSION_ID 1 %", "salesforce", _rule("INVALID_SESSION_ID", 0.01)),
    Knob("Salesforce connection resets 1 %", "salesforce", _rule("reset", 0.01)),
    Knob(
        "Salesforce connection resets after commit 0.5 %",
        "salesforce",
        _rule("reset", 0.005, after="process"),
    ),
    Knob("Salesforce latency 20-40 ms", "salesforce", {"latency": {"min_ms": 20, "max_ms": 40}}),
    Knob(
        "Salesforce REQUEST_LIMIT_EXCEEDED for 15 s",
        "salesforce",
        _rule("REQUEST_LIMIT_EXCEEDED", 1.0),
        0.45,
        seconds=15,
    ),
)

ACTIONS: tuple[Action, ...] = (
    Action("Pub/Sub streams aborted (UNAVAILABLE)", 0.25, "pubsub_abort"),
    Action("SIGKILL a worker (restarted 3 s later)", 0.3, "kill_worker"),
    Action("SIGKILL the capture process (restarted 3 s later)", 0.42, "kill_capture"),
    Action(
        "CDC gaps: the next 3 Contact and 2 Account changes are GAP events (header only)",
        0.5,
        "cdc_gaps",
    ),
    Action("PostgreSQL crash-restart (immediate stop, 2 s down)", 0.6, "restart_postgres"),
    Action("Pub/Sub streams aborted again (UNAVAILABLE)", 0.7, "pubsub_abort"),
)


class StripeControl:
    def __init__(self, api_base: str) -> None:
        self.base = api_base + "/_sandbox"

    def call(self, method: str, path: str, body: Any = None, timeout: float = 150) -> Any:
        response = httpx.request(method, f"{self.base}/{path}", json=body, timeout=timeout)
        response.raise_for_status()
        return response.json()

    def faults(self, **values: Any) -> dict[str, Any]:
        result: dict[str, Any] = self.call("POST", "faults", values)
        return result

    def stats(self) -> dict[str, Any]:
        result: dict[str, Any] = self.call("GET", "stats")
        return result

    def wait_idle(self, timeout: float = 60) -> bool:
        return bool(self.call("POST", "wait_idle", {"timeout": timeout}, timeout + 30)["idle"])

    def retry_deliveries(self) -> int:
        return int(self.call("POST", "deliveries/retry")["rescheduled"])


class SalesforceControl:
    def __init__(self, instance_url: str, ca_path: Path) -> None:
        self.base = instance_url + "/_sandbox"
        self.verify = str(ca_path)

    def call(self, method: str, path: str, body: Any = None) -> Any:
        response = httpx.request(
            method, f"{self.base}/{path}", json=body, verify=self.verify, timeout=60
        )
        response.raise_for_status()
        return response.json()

    def add_rule(self, rule: dict[str, Any]) -> int:
        return int(self.call("POST", "faults", rule)["id"])

    def remove_rule(self, rule_id: int) -> None:
        self.call("DELETE", f"faults/{rule_id}")

    def clear_rules(self) -> None:
        self.call("DELETE", "faults")

    def set_latency(self, latency: dict[str, Any] | None) -> None:
        """`{"min_ms", "max_ms"}` (or `{"ms", "jitter_ms"}`) on every call; None: none."""
        if latency is None:
            self.call("DELETE", "latency")
        else:
            self.call("POST", "latency", {"route": "*", **latency})

    def requests(self) -> dict[str, Any]:
        result: dict[str, Any] = self.call("GET", "requests")
        return result

    def cdc_gaps(self) -> str:
        """The next changes of Contact and Account published as GAP events (no field values:
        the subscriber reads the records)."""
        answer = self.call("POST", "cdc", {"gap": {"Contact": 3, "Account": 2}})
        return f"pending GAP events {answer.get('gap')}"

    def abort_pubsub(self) -> str:
        """End every open Pub/Sub Subscribe stream with UNAVAILABLE (the capture reconnects)."""
        return f"{self.call('POST', 'pubsub/abort')['aborted']} Subscribe streams ended"


@dataclass
class Chaos:
    """Applies SCHEDULE and ACTIONS as `progress()` (0..1) moves; `finish()` clears all."""

    stripe: StripeControl
    salesforce: SalesforceControl
    progress: Callable[[], float]
    actions: dict[str, Callable[[], str]]
    schedule: tuple[Knob, ...] = SCHEDULE
    steps: tuple[Action, ...] = ACTIONS
    log: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    _on: dict[str, float] = field(default_factory=dict)  # knob name -> when it went on
    _done: set[str] = field(default_factory=set)
    _stripe_baseline: dict[str, Any] = field(default_factory=dict)
    _rules: dict[str, int] = field(default_factory=dict)  # knob name -> Salesforce rule id
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None
    _t0: float = field(default_factory=time.monotonic)

    def start(self) -> None:
        self._stripe_baseline = self.stripe.call("GET", "faults")
        self._thread = threading.Thread(target=self._loop, name="chaos", daemon=True)
        self._thread.start()

    def _note(self, text: str) -> None:
        line = f"{time.monotonic() - self._t0:7.1f}s  {text}"
        self.log.append(line)
        print(f"  chaos {line}", flush=True)

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                self.tick()
            except Exception as exc:  # keep the soak going; the report shows it
                self.errors.append(f"{type(exc).__name__}: {exc}")
                self._note(f"chaos step failed: {type(exc).__name__}: {exc}")
            self._stop.wait(0.5)

    def tick(self, final: bool = False) -> None:
        now = time.monotonic()
        at = 2.0 if final else self.progress()
        for knob in self.schedule:
            if knob.name in self._done:
                continue
            if knob.name not in self._on and at >= knob.start and not final:
                self._on[knob.name] = now
                self._switch(knob, True)
            elif knob.name in self._on:
                expired = knob.seconds is not None and now - self._on[knob.name] >= knob.seconds
                if final or expired or (knob.seconds is None and at >= knob.stop):
                    del self._on[knob.name]
                    self._done.add(knob.name)
                    self._switch(knob, False)
        for step in self.steps:
            if step.name not in self._done and (at >= step.at):
                self._done.add(step.name)
                self._note(f"do   {step.name}")
                self._note(f"     {self.actions[step.do]()}")

    def _switch(self, knob: Knob, on: bool) -> None:
        self._note(f"{'on ' if on else 'off'}  {knob.name}")
        if knob.target == "stripe":
            # The whole Stripe fault state: each knob's keys at their value before the soak,
            # except those of the knobs that are on.
            body = {
                key: self._stripe_baseline[key]
                for k in self.schedule
                if k.target == "stripe"
                for key in k.setting
            }
            for k in self.schedule:
                if k.target == "stripe" and k.name in self._on:
                    for key, value in k.setting.items():
                        if isinstance(value, list) and key in body and body[key] is not None:
                            # outages of two knobs on at once: both apply
                            body[key] = [*(body[key] or []), *value]
                        else:
                            body[key] = value
            self.stripe.faults(**body)
        elif "rule" in knob.setting:
            if on:
                self._rules[knob.name] = self.salesforce.add_rule(knob.setting["rule"])
            elif knob.name in self._rules:
                self.salesforce.remove_rule(self._rules.pop(knob.name))
        elif "latency" in knob.setting:
            self.salesforce.set_latency(knob.setting["latency"] if on else None)

    def finish(self) -> None:
        """Stop the loop, run any action not done yet, switch every fault off."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=120)
        self.tick(final=True)
        self.salesforce.clear_rules()
        self.salesforce.set_latency(None)
        self._note("all faults off")
