"""Run the soak matrix and the fault probes; print `probe | runs | held`.

    python -m tests.soak                       # full: N=200 per client, idle and busy,
                                               # every fault/bad-input probe 50 times
    python -m tests.soak --n 20 --probe-runs 2 --pressure idle     # a quick look

Exit status 0 when every run of every row held, 1 otherwise (what failed is listed under the
table), 2 for bad options. Work files (cassettes, logs) go to a temporary directory that is
kept when something failed. See docs/reliability.md.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

from tests.soak.clients import CLIENTS
from tests.soak.matrix import Row, busy_cores, run_matrix
from tests.soak.probes import ProbeResult, run_probes

__all__ = ["format_table", "main"]


def format_table(rows: list[tuple[str, int, int]]) -> str:
    """`probe | runs | held` lines, aligned."""
    width = max([len("probe"), *(len(name) for name, _, _ in rows)])
    lines = [f"{'probe':<{width}} | {'runs':>5} | {'held':>5}", f"{'-' * width}-|-------|------"]
    lines += [f"{name:<{width}} | {runs:>5} | {held:>5}" for name, runs, held in rows]
    return "\n".join(lines)


def _probe_rows(results: list[ProbeResult], pressure: str) -> list[tuple[str, int, int]]:
    return [(f"{r.probe.name}: rtkit {r.probe.side} ({pressure})"
             + (f" [skipped {r.skipped}]" if r.skipped else ""), r.runs, r.held)
            for r in results]


async def _run(args: argparse.Namespace, workdir: Path) -> tuple[list[tuple[str, int, int]],
                                                                  list[str]]:
    table: list[tuple[str, int, int]] = []
    failures: list[str] = []
    for pressure in args.pressure:
        t0 = time.monotonic()
        rows: list[Row] = await run_matrix(args.clients, args.n, workdir,
                                           pressure=pressure == "busy")
        print(f"# matrix ({pressure}): {time.monotonic() - t0:.0f} s", file=sys.stderr,
              flush=True)
        table += [(row.probe, row.runs, row.held) for row in rows]
        failures += [f"{row.probe}: {f}" for row in rows for f in row.failures[:20]]
        if args.probe_runs:
            t0 = time.monotonic()
            async with busy_cores(pressure == "busy"):
                results = await asyncio.to_thread(run_probes, args.probe_runs)
            print(f"# probes ({pressure}): {time.monotonic() - t0:.0f} s", file=sys.stderr,
                  flush=True)
            table += _probe_rows(results, pressure)
            failures += [f"{r.probe.name} (rtkit {r.probe.side}, {pressure}): {f}"
                         for r in results for f in r.failures[:5]]
    return table, failures


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.soak", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=int(os.environ.get("RTKIT_SOAK_N", "200")),
                        help="sessions per client and phase (default 200, or RTKIT_SOAK_N)")
    parser.add_argument("--clients", default=",".join(CLIENTS),
                        help=f"comma-separated, from {', '.join(CLIENTS)} (default: all)")
    parser.add_argument("--pressure", default="idle,busy",
                        help="idle, busy (a busy loop pinned to each core) or both")
    parser.add_argument("--probe-runs", type=int, default=50,
                        help="rounds of the fault and bad-input probes per pressure "
                             "(default 50; 0: none)")
    args = parser.parse_args(argv)
    args.clients = [c for c in args.clients.split(",") if c]
    args.pressure = [p for p in args.pressure.split(",") if p]
    unknown = [c for c in args.clients if c not in CLIENTS]
    if unknown or not set(args.pressure) <= {"idle", "busy"} or args.n < 1:
        parser.error(f"unknown client(s) {unknown}" if unknown
                     else "--pressure takes idle, busy or both; --n at least 1")
    workdir = Path(tempfile.mkdtemp(prefix="rtkit-soak-"))
    started = time.monotonic()
    load = os.getloadavg()
    print(f"# load average at the start {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}",
          file=sys.stderr, flush=True)
    table, failures = asyncio.run(_run(args, workdir))
    print(format_table(table))
    load = os.getloadavg()
    print(f"\n{os.cpu_count()} cores; load average at the end {load[0]:.2f} {load[1]:.2f} "
          f"{load[2]:.2f}; {time.monotonic() - started:.0f} s")
    held = all(runs == held for _, runs, held in table) and not failures
    if held:
        shutil.rmtree(workdir, ignore_errors=True)
        print("every run held")
        return 0
    print(f"\nNOT HELD (work files kept in {workdir}):")
    for line in failures:
        print("  " + line)
    return 1


if __name__ == "__main__":
    sys.exit(main())
