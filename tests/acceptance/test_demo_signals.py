"""`stripe2sf demo` as a process, stopped the way systemd, a CI timeout or a closed terminal
stop it: SIGTERM or SIGHUP. Both sandboxes and `serve` must go with it, ports freed."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.support.procs import clean_env

DEMO = [sys.executable, "-m", "stripe2sf", "demo"]
UP = "Press Ctrl-C to stop."


def children(pid: int) -> list[int]:
    """The processes whose parent is `pid` (from /proc)."""
    kids = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
            kids.append(int(entry.name))
    return kids


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def port_free(port: int) -> bool:
    """Nothing listens there: a server could start on it now (as servers do, with
    SO_REUSEADDR, so the closed connections still in TIME_WAIT do not count)."""
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGHUP], ids=["SIGTERM", "SIGHUP"])
def test_a_stop_signal_stops_the_demo_and_every_child(sig: signal.Signals, tmp_path: Path) -> None:
    env = clean_env()
    log = tmp_path / "demo.out"
    args = ["--customers", "4", "--months", "1", "--workdir", str(tmp_path / "demo")]
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [*DEMO, *args],
            env=env,
            cwd=tmp_path,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    kids: list[int] = []
    try:
        deadline = time.monotonic() + 480
        while UP not in (text := log.read_text(errors="replace")):
            assert proc.poll() is None, text[-4000:]
            assert time.monotonic() < deadline, text[-4000:]
            time.sleep(0.5)
        running = text[text.index("\nRunning") :]
        ports = {int(p) for p in re.findall(r"127\.0\.0\.1:(\d+)", running)}
        kids = children(proc.pid)
        assert len(ports) == 3 and len(kids) == 3, (ports, kids, running)
        assert not any(port_free(p) for p in ports)

        proc.send_signal(sig)
        assert proc.wait(timeout=60) == 128 + sig, log.read_text()[-2000:]
        assert [k for k in kids if alive(k)] == []
        assert [p for p in ports if not port_free(p)] == []
        assert f"stopped by {sig.name}" in log.read_text()
    finally:  # a failure before `kids` was read must not leave the demo's children running
        for pid in [proc.pid, *(kids or children(proc.pid))]:
            if alive(pid):
                os.killpg(pid, signal.SIGKILL)
        proc.wait(timeout=30)
