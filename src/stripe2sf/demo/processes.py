"""Child processes of the demo: started with logs to files, waited for, always stopped.

The children run in sessions of their own (a Ctrl-C in the terminal reaches only the demo,
which then stops them in order). The demo stops them on SIGTERM (`systemctl stop`, a CI
timeout, `kill`) and SIGHUP (the terminal closed) as on Ctrl-C: `stop_on_signals` turns those
signals into `Terminated`, an exception that unwinds to the `finally` that stops them.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType

import httpx


@dataclass
class Endpoints:
    """Where the demo's processes listen, and the environment that points stripe2sf at them."""

    stripe_api: str
    salesforce: str
    service: str
    ca_path: Path
    database_url: str
    env: dict[str, str] = field(default_factory=dict)


def free_port(preferred: int) -> int:
    """`preferred` if it is free on loopback, else any free port. With
    STRIPE2SF_DEMO_ANY_PORT=1 (the tests, which run demos side by side) any free port: two
    demos starting together could both find the preferred one free."""
    first = 0 if os.environ.get("STRIPE2SF_DEMO_ANY_PORT") == "1" else preferred
    for candidate in (first, 0):
        with socket.socket() as sock:
            try:
                sock.bind(("127.0.0.1", candidate))
            except OSError:
                continue
            port: int = sock.getsockname()[1]
            return port
    raise RuntimeError("no free port on 127.0.0.1")


def _check_owner(name: str, url: str, answer: httpx.Response, pid: int) -> None:
    """The server answering at `url` is the process started as `name` (the sandboxes say their
    pid): when another program took the port between `free_port` and the bind, say so rather
    than go on with someone else's sandbox."""
    try:
        said = answer.json().get("pid")
    except (ValueError, AttributeError):
        said = None
    if said is not None and said != pid:
        raise RuntimeError(
            f"{name}: {url} is answered by another process (pid {said}), which took the port "
            "as the demo started; stop it (another demo?) or run the demo again"
        )


STOP_SIGNALS = (signal.SIGTERM, signal.SIGHUP)


class Terminated(BaseException):
    """The demo was asked to stop by a signal. A BaseException, like KeyboardInterrupt, so
    that no `except Exception` on the way swallows it."""

    def __init__(self, signum: int) -> None:
        super().__init__(f"stopped by {signal.Signals(signum).name}")
        self.signum = signum


def _raise_terminated(signum: int, _frame: FrameType | None) -> None:
    raise Terminated(signum)


@contextmanager
def stop_on_signals() -> Iterator[None]:
    """Within the block, SIGTERM and SIGHUP raise `Terminated` in the main thread."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {sig: signal.signal(sig, _raise_terminated) for sig in STOP_SIGNALS}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


@contextmanager
def _signals_held() -> Iterator[None]:
    """While children are being stopped, a second Ctrl-C or SIGTERM must not cut that short
    (it would leave them running): those signals are ignored until every child is gone."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    held = (signal.SIGINT, *STOP_SIGNALS)
    previous = {sig: signal.signal(sig, signal.SIG_IGN) for sig in held}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def script(name: str) -> str:
    """A console script installed beside the running Python (the venv's bin)."""
    candidate = Path(sys.executable).parent / name
    return str(candidate) if candidate.exists() else name


@dataclass
class ProcessGroup:
    log_dir: Path
    procs: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)

    def start(self, name: str, argv: list[str], env: dict[str, str] | None = None) -> None:
        self.log_dir.mkdir(parents=True, exist_ok=True)
        log = (self.log_dir / f"{name}.log").open("wb")
        self.procs[name] = subprocess.Popen(
            argv,
            env={**os.environ, **(env or {})},
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def wait_ready(
        self, name: str, url: str, verify: str | bool = True, timeout: float = 60
    ) -> None:
        deadline = time.monotonic() + timeout
        proc = self.procs[name]
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                raise RuntimeError(
                    f"{name} exited with {proc.returncode}; see {self.log_dir / (name + '.log')}"
                )
            try:
                answer = httpx.get(url, verify=verify, timeout=2)
            except httpx.HTTPError:
                time.sleep(0.2)
                continue
            if answer.status_code < 500:
                _check_owner(name, url, answer, proc.pid)
                return
            time.sleep(0.2)
        raise RuntimeError(f"{name} was not ready at {url} after {timeout:.0f} s")

    def stop_all(self) -> None:
        with _signals_held():
            for proc in reversed(list(self.procs.values())):
                if proc.poll() is None:
                    os.killpg(proc.pid, signal.SIGTERM)
            deadline = time.monotonic() + 15
            for proc in self.procs.values():
                try:
                    proc.wait(timeout=max(0.1, deadline - time.monotonic()))
                except subprocess.TimeoutExpired:
                    os.killpg(proc.pid, signal.SIGKILL)
                    proc.wait()
            self.procs.clear()
