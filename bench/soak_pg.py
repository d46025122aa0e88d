"""A private PostgreSQL cluster for the soak: created with initdb in a folder of its own, run
with pg_ctl as the `postgres` OS user on a free loopback port, so that the soak can restart it
mid-run without touching the machine's own server (5432)."""

from __future__ import annotations

import contextlib
import os
import random
import shutil
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import psycopg


def pg_bin_dir() -> Path:
    """The newest /usr/lib/postgresql/*/bin holding initdb and pg_ctl."""
    found = sorted(
        Path("/usr/lib/postgresql").glob("*/bin/initdb"),
        key=lambda p: int(p.parent.parent.name) if p.parent.parent.name.isdigit() else 0,
    )
    if not found:
        raise RuntimeError(
            "no PostgreSQL server binaries under /usr/lib/postgresql/*/bin "
            "(install the postgresql package)"
        )
    return found[-1].parent


def stable_port() -> int:
    """A free loopback port below the kernel's ephemeral range. A port from that range (what
    binding port 0 hands out) can be taken, while the server is down for its restart, as the
    local end of any outgoing connection of this machine; the server then cannot listen on it
    again ("could not bind", "PostgreSQL did not come back")."""
    low = 32768
    with contextlib.suppress(OSError, ValueError, IndexError):
        low = int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    rng = random.Random()
    for _ in range(200):
        port = rng.randrange(max(1025, low - 12000), low)
        with socket.socket() as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise RuntimeError(f"no free port below the ephemeral range ({low})")


def _as_postgres(argv: list[str]) -> list[str]:
    """Run as the `postgres` OS user: PostgreSQL refuses to run as root."""
    if os.geteuid() != 0:
        return argv
    if shutil.which("runuser"):
        return ["runuser", "-u", "postgres", "--", *argv]
    return ["su", "postgres", "-c", " ".join(argv)]


@dataclass
class PgCluster:
    root: Path
    port: int

    @property
    def data(self) -> Path:
        return self.root / "data"

    @property
    def log(self) -> Path:
        return self.root / "postgres.log"

    def url(self, database: str = "stripe2sf") -> str:
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/{database}"

    def dsn(self, database: str = "stripe2sf") -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{database}"

    def _run(self, *argv: str, timeout: float = 120) -> None:
        done = subprocess.run(
            _as_postgres([str(pg_bin_dir() / argv[0]), *argv[1:]]),
            capture_output=True,
            text=True,
            timeout=timeout,
            cwd=self.root,
        )
        if done.returncode != 0:
            output = done.stderr[-1500:] or done.stdout[-1500:]
            raise RuntimeError(f"{argv[0]} failed ({done.returncode}): {output}")

    def init(self) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        # The postgres user must reach the folder (our temporary parents are root-only).
        for parent in [self.root, *self.root.parents]:
            if parent == Path("/"):
                break
            mode = parent.stat().st_mode
            if not mode & 0o001:
                parent.chmod(mode | 0o711)
        if os.geteuid() == 0:
            shutil.chown(self.root, "postgres", "postgres")
        self._run("initdb", "-D", str(self.data), "-A", "trust", "-U", "postgres", "--no-sync")

    def start(self) -> None:
        options = (
            f"-p {self.port} -c listen_addresses=127.0.0.1 -k {self.root} "
            "-c fsync=off -c max_connections=200 -c shared_buffers=64MB"
        )
        self._run("pg_ctl", "-D", str(self.data), "-l", str(self.log), "-o", options, "-w", "start")
        self.wait_ready()

    def stop(self, mode: str = "fast") -> None:
        if (self.data / "postmaster.pid").exists():
            self._run("pg_ctl", "-D", str(self.data), "-m", mode, "-w", "stop")

    def restart(self, mode: str = "immediate", down_seconds: float = 2.0) -> float:
        """Stop (`immediate` is a crash: no checkpoint, recovery on start), stay down a while,
        start again. Returns the seconds it was unreachable."""
        t0 = time.monotonic()
        self.stop(mode)
        time.sleep(down_seconds)
        self.ensure_up()
        return time.monotonic() - t0

    def ensure_up(self, tries: int = 5) -> None:
        """Start the server unless it answers; retried (a start right after an immediate stop
        can fail while the old postmaster is still going away)."""
        for attempt in range(tries):
            try:
                self.wait_ready(timeout=1)
                return
            except psycopg.Error:
                pass
            try:
                self.start()
                return
            except RuntimeError as exc:
                print(f"  PostgreSQL start failed (try {attempt + 1}): {exc}", flush=True)
                time.sleep(1)
        raise RuntimeError(f"PostgreSQL did not come back; see {self.log}")

    def wait_ready(self, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while True:
            try:
                with psycopg.connect(self.dsn("postgres"), connect_timeout=2):
                    return
            except psycopg.Error:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)

    def create_database(self, name: str = "stripe2sf") -> None:
        with psycopg.connect(self.dsn("postgres"), autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
