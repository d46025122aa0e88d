"""The soak's faults: a schedule as data, applied through the sandboxes' control planes while
traffic runs, plus process chaos (a worker SIGKILLed, PostgreSQL crash-restarted).

Each row of SCHEDULE is one knob: on at `start`, off at `stop` (fractions of the target number
of Stripe events) or after `seconds`. A new sandbox knob is one more row. Stripe knobs are
`POST /_sandbox/faults` bodies (switched off by posting the values they had before); Salesforce
knobs are fault rules (`POST /_sandbox/faults`) or added latency (`POST /_sandbox/latency`).
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
    setting: dict[str, Any]  # stripe: faults body; salesforce: {"rule": {...}} or {"latency_ms": n}
    start: float = 0.05
    stop: float = 0.9
    seconds: float | None = None  # off after this long instead of at `stop`


@dataclass(frozen=True)
class Action:
    name: str
    at: float
    do: str  # a key of the actions given to Chaos


FAULTS_ON, FAULTS_OFF = 0.05, 0.9

SCHEDULE: tuple[Knob, ...] = (
    Knob(
        "webhooks duplicated 10 % and shuffled", "stripe", {"duplicate_rate": 0.10, "shuffle": True}
    ),
    Knob("webhooks dropped 2 %", "stripe", {"drop_rate": 0.02}),
    Knob("Stripe API 500s 2 %", "stripe", {"api_error_rate": 0.02, "api_fail_status": 500}),
    Knob("Stripe API latency 20 ms", "stripe", {"api_latency_ms": 20}),
    Knob(
        "Salesforce 503s 5 %", "salesforce", {"rule": {"route": "*", "mode": "503", "rate": 0.05}}
    ),
    Knob(
        "Salesforce UNABLE_TO_LOCK_ROW 3 %",
        "salesforce",
        {"rule": {"route": "*", "mode": "UNABLE_TO_LOCK_ROW", "rate": 0.03}},
    ),
    Knob("Salesforce latency 30 ms", "salesforce", {"latency_ms": 30}),
    Knob(
        "Salesforce REQUEST_LIMIT_EXCEEDED for 15 s",
        "salesforce",
        {"rule": {"route": "*", "mode": "REQUEST_LIMIT_EXCEEDED", "rate": 1.0}},
        start=0.45,
        seconds=15,
    ),
)

ACTIONS: tuple[Action, ...] = (
    Action("SIGKILL a worker (restarted 3 s later)", 0.3, "kill_worker"),
    Action("PostgreSQL crash-restart (immediate stop, 2 s down)", 0.6, "restart_postgres"),
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

    def clear_rules(self) -> None:
        self.call("DELETE", "faults")

    def set_latency(self, ms: float, route: str = "*") -> None:
        self.call("POST", "latency", {"route": route, "ms": ms})

    def requests(self) -> dict[str, Any]:
        result: dict[str, Any] = self.call("GET", "requests")
        return result


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
            self._stop.wait(0.5)

    def tick(self, final: bool = False) -> None:
        now = time.monotonic()
        at = 2.0 if final else self.progress()
        changed = False
        for knob in self.schedule:
            if knob.name in self._done:
                continue
            if knob.name not in self._on and at >= knob.start and not final:
                self._on[knob.name] = now
                self._note(f"on   {knob.name}")
                changed = True
            elif knob.name in self._on:
                expired = knob.seconds is not None and now - self._on[knob.name] >= knob.seconds
                if final or expired or (knob.seconds is None and at >= knob.stop):
                    del self._on[knob.name]
                    self._done.add(knob.name)
                    self._note(f"off  {knob.name}")
                    changed = True
        if changed:
            self._apply()
        for step in self.steps:
            if step.name not in self._done and (at >= step.at):
                self._done.add(step.name)
                self._note(f"do   {step.name}")
                self._note(f"     {self.actions[step.do]()}")

    def _apply(self) -> None:
        """Bring both sandboxes to exactly the knobs that are on now."""
        active = [k for k in self.schedule if k.name in self._on]
        stripe: dict[str, Any] = {
            key: self._stripe_baseline[key]
            for knob in self.schedule
            if knob.target == "stripe"
            for key in knob.setting
        }
        for knob in active:
            if knob.target == "stripe":
                stripe.update(knob.setting)
        self.stripe.faults(**stripe)
        # Rules are replaced as a whole: clear, then add the active ones again.
        self.salesforce.clear_rules()
        latency = 0.0
        for knob in active:
            if knob.target != "salesforce":
                continue
            if "rule" in knob.setting:
                self.salesforce.add_rule(knob.setting["rule"])
            latency += float(knob.setting.get("latency_ms", 0))
        self.salesforce.set_latency(latency)

    def finish(self) -> None:
        """Stop the loop, run any action not done yet, switch every fault off."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=120)
        self.tick(final=True)
        self._on.clear()
        self._apply()
        self.salesforce.clear_rules()
        self.salesforce.set_latency(0)
        self._note("all faults off")
