"""Start and stop test processes that run our code."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
# set by tests/conftest.py for every process the tests start: demos run side by side (make
# test's two pytest processes) and must not both want the default ports
KEPT = ("STRIPE2SF_DEMO_ANY_PORT",)


def clean_env() -> dict[str, str]:
    """os.environ without the Stripe and Salesforce settings (STRIPE*, SALESFORCE*) that a
    developer's shell or the test session may hold, except `KEPT`."""
    return {
        k: v
        for k, v in os.environ.items()
        if k in KEPT or not k.startswith(("STRIPE", "SALESFORCE"))
    }


def start_worker(url: str, *args: str) -> subprocess.Popen[bytes]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.Popen(
        [sys.executable, "-m", "tests.support.worker_proc", url, *args],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
