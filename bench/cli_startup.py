"""Benchmark the CPU a `stripe2sf` command spends starting up: `stripe2sf --help` and
`stripe2sf status` on a fresh database (created once by `stripe2sf db upgrade`, not measured),
each run as its own process, N times; the figure is the median of user + system CPU of the
process (its children included), read from the kernel (`os.wait4`), so a busy machine slows
the wall clock but hardly the figure. A bare `python -c pass` is measured too, for scale.

Goal (issue #16): under 0.5 s of CPU for each. The last line printed is JSON.

    .venv/bin/python bench/cli_startup.py [--runs 7]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
GOAL_SECONDS = 0.5


def cpu_seconds(args: list[str], env: dict[str, str]) -> float:
    """User + system CPU of one process run to its end (exit 0 required)."""
    proc = subprocess.Popen(
        args, env=env, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    stderr = proc.stderr.read().decode() if proc.stderr else ""
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(args)} exited {proc.returncode}: {stderr}")
    return usage.ru_utime + usage.ru_stime


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=7, help="Runs of each command (median).")
    opts = parser.parse_args()
    cli = str(Path(sys.executable).parent / "stripe2sf")
    with tempfile.TemporaryDirectory() as tmp:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("STRIPE", "SALESFORCE"))}
        env["STRIPE2SF_DATABASE_URL"] = f"sqlite:///{tmp}/stripe2sf.db"
        subprocess.run([cli, "db", "upgrade"], env=env, check=True, capture_output=True)
        commands = {
            "python -c pass": [sys.executable, "-c", "pass"],
            "stripe2sf --help": [cli, "--help"],
            "stripe2sf status": [cli, "status"],
        }
        figures: dict[str, dict[str, float]] = {}
        for name, args in commands.items():
            cpu_seconds(args, env)  # warm: bytecode compiled, files in the page cache
            runs = [cpu_seconds(args, env) for _ in range(opts.runs)]
            figures[name] = {
                "median_cpu_s": round(statistics.median(runs), 3),
                "min_cpu_s": round(min(runs), 3),
                "max_cpu_s": round(max(runs), 3),
            }
            print(
                f"{name:<20} median {figures[name]['median_cpu_s']:.3f} s CPU "
                f"(min {min(runs):.3f}, max {max(runs):.3f}, {opts.runs} runs)"
            )
    ok = all(figures[n]["median_cpu_s"] < GOAL_SECONDS for n in commands if n != "python -c pass")
    print(
        json.dumps(
            {
                "bench": "cli_startup",
                "runs": opts.runs,
                "goal_cpu_s": GOAL_SECONDS,
                "within_goal": ok,
                "figures": figures,
                "machine": f"{platform.machine()}, {os.cpu_count()} cores, "
                f"Python {platform.python_version()}",
                "load_average": [round(x, 2) for x in os.getloadavg()],
            }
        )
    )


if __name__ == "__main__":
    main()
