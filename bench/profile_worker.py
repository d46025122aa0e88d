"""Where the worker's CPU goes: a burst drained in-process under cProfile.

    .venv/bin/python bench/profile_worker.py [--events 500] [--customers N] [--runs 2]
        [--top 40] [--out var/profile_worker.prof] [--no-profile]

Starts the sandboxes (as bench/throughput.py does), creates `--events` payments over
`--customers` new customers (default: as many as events) with the official stripe SDK, reads
their `charge.succeeded` events back and, for each run, posts them to a fresh
`stripe2sf serve --no-worker` (fresh PostgreSQL database, empty org), then drains the inbox
with `Worker.run_once` in THIS process, one thread (a worker at concurrency 1), logging at
INFO to /dev/null as a worker process would to its stderr. Prints the CPU of the drain
(`time.process_time`, every thread of the process) per event, the cProfile top functions of
the last run, and, last, one JSON line with the figures.

The first run warms imports, connections and caches; the figure to compare is the last run's.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import json
import os
import pstats
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from throughput import CHARGE_ONLY, Traffic
from throughput_system import EventFeed, Sandboxes, Stripe2sf

DEVNULL = open(os.devnull, "w")  # noqa: SIM115 - for the life of the process


def drain(env: dict[str, str], profile: bool) -> tuple[int, float, float, cProfile.Profile | None]:
    """Events applied, CPU seconds and wall seconds of one in-process drain."""
    os.environ.update(env)
    from stripe2sf import logs
    from stripe2sf.cli_common import settings_or_exit
    from stripe2sf.runtime import Runtime

    sys.stderr = DEVNULL  # the worker's log lines, rendered and dropped
    try:
        logs.configure()
        settings = settings_or_exit()
        settings.worker_concurrency = 1
        runtime = Runtime.build(settings)
        worker = runtime.worker(1)
        before = runtime.inbox.counts()
        prof = cProfile.Profile() if profile else None
        cpu0, t0 = time.process_time(), time.monotonic()
        if prof is not None:
            prof.enable()
        while worker.run_once():
            pass
        if prof is not None:
            prof.disable()
        cpu, wall = time.process_time() - cpu0, time.monotonic() - t0
        after = runtime.inbox.counts()
        runtime.close()
    finally:
        sys.stderr = sys.__stderr__
    applied = after.get("done", 0) - before.get("done", 0)
    print(f"inbox after the drain: {after}", flush=True)
    return applied, cpu, wall, prof


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=500)
    parser.add_argument("--customers", type=int, default=0, help="default: as many as events")
    parser.add_argument("--runs", type=int, default=2)
    parser.add_argument("--top", type=int, default=40)
    parser.add_argument("--out", type=Path, default=None, help="write the last run's pstats")
    parser.add_argument("--no-profile", action="store_true", help="CPU figure without cProfile")
    parser.add_argument("--workdir", type=Path, default=None)
    opts = parser.parse_args()
    workdir = opts.workdir or Path(tempfile.mkdtemp(prefix="stripe2sf-profile-"))
    workdir.mkdir(parents=True, exist_ok=True)
    sb = Sandboxes.start(workdir)
    runs: list[dict[str, Any]] = []
    try:
        traffic = Traffic(sb.stripe_api)
        feed = EventFeed(sb.stripe_api)
        feed.new(())
        traffic.burst(opts.events, opts.customers or opts.events)
        events = feed.new(CHARGE_ONLY)
        feed.close()
        print(f"{len(events)} charge.succeeded events", flush=True)
        prof = None
        for k in range(opts.runs):
            sb.ours.fresh()
            with Stripe2sf(sb, workdir, f"profile-{k}") as s:
                s.post(events)
                applied, cpu, wall, prof = drain(s.env(), profile=not opts.no_profile)
            ms = 1000 * cpu / max(1, applied)
            runs.append(
                {
                    "applied": applied,
                    "cpu_s": round(cpu, 3),
                    "wall_s": round(wall, 3),
                    "cpu_ms_per_event": round(ms, 3),
                }
            )
            print(f"run {k}: {applied} applied, {ms:.2f} ms CPU/event, {wall:.1f} s", flush=True)
    finally:
        sb.procs.stop_all()
    if prof is not None:
        out = io.StringIO()
        stats = pstats.Stats(prof, stream=out)
        stats.sort_stats("cumulative").print_stats(opts.top)
        stats.sort_stats("tottime").print_stats(opts.top)
        print(out.getvalue())
        if opts.out:
            opts.out.parent.mkdir(parents=True, exist_ok=True)
            stats.dump_stats(str(opts.out))
    print(json.dumps({"events": opts.events, "profiled": not opts.no_profile, "runs": runs}))


if __name__ == "__main__":
    main()
