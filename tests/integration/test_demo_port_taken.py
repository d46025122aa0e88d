"""The demo starts each sandbox on a port it found free; another program can take that port
before the sandbox binds it (two demos starting together did, in CI). The demo must then stop
with a plain message rather than go on with the other program's sandbox."""

from __future__ import annotations

import sys
from pathlib import Path

import httpx
import pytest

from stripe2sf.demo.processes import ProcessGroup
from stripe_sandbox.testing import run_sandbox


def test_a_port_answered_by_another_process_stops_the_demo(tmp_path: Path) -> None:
    procs = ProcessGroup(tmp_path / "logs")
    with run_sandbox() as other:  # the program that took the port (this test's own process)
        health = f"{other.api_base}/_sandbox/health"
        assert httpx.get(health).json()["pid"] > 0
        # what the demo started there: alive, but not the one answering
        procs.start("stripe-sandbox", [sys.executable, "-c", "import time; time.sleep(60)"])
        try:
            with pytest.raises(RuntimeError, match="answered by another process") as caught:
                procs.wait_ready("stripe-sandbox", health, timeout=20)
        finally:
            procs.stop_all()
    assert "stop it (another demo?) or run the demo again" in str(caught.value)
