"""Benchmark: `rtkit view`'s memory on a large cassette, and that it does not grow with it.

Generates a cassette of voice sessions of about `--gb` GB (tools_memory.py's generator, GA:
per turn 5 s of input audio and 15 s of output audio with its transcript in 100 ms chunks,
20 turns per episode, as `CassetteWriter` writes them), and one an eighth of its size. Then
runs `rtkit view` on each in its own process, with the default inline limit (8 MB of WAV
inlined, the rest listed) and with `--audio-files` (every clip written as a WAV file beside
the page), and reads each one's peak RSS with `resource.getrusage` of the child (from a small
launcher process: Linux counts in a child's peak the memory of the process that started it).

Targets: peak RSS < 100 MB on the 1 GB cassette; and less than 10 MB more than on the
cassette an eighth of its size (the pass is streaming: the audio is spooled on disk).

Run: ``python benchmarks/view_memory.py`` (1 GB) or ``--quick`` (24 MB and an eighth of
it, in whole episodes; targets printed, not enforced). Exit status 1 when a target is missed
(full runs only). Needs about 3 times the cassette's size of free disk (the cassette, the
spool, the WAV files).
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from tools_memory import TURNS, make_cassette

__all__ = ["main", "peak_rss"]

MAX_RSS_MB = 100.0
MAX_GROWTH_MB = 10.0


# runs the command given to it and prints its child's peak RSS (ru_maxrss) and exit code: a
# small process between this one and the measured one, because Linux counts in a child's
# peak the memory of the process it was started from (exec records the old address space's)
_LAUNCHER = """
import resource, subprocess, sys
done = subprocess.run(sys.argv[1:], stdout=subprocess.DEVNULL)
print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss, done.returncode)
"""


def peak_rss(args: list[str], cwd: Path) -> tuple[float, float]:
    """Run `rtkit ARGS` in a child; (its peak RSS in MB, by resource.getrusage of the child
    from a small launcher process; seconds)."""
    import rtkit  # the child runs the same rtkit as this process, from whatever directory

    path = str(Path(rtkit.__file__).resolve().parent.parent)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(
        p for p in (path, os.environ.get("PYTHONPATH")) if p)}
    command = [sys.executable, "-c", "from rtkit.cli import main; main()", *args]
    t0 = time.perf_counter()
    done = subprocess.run([sys.executable, "-c", _LAUNCHER, *command], cwd=cwd, env=env,
                          capture_output=True, text=True)
    seconds = time.perf_counter() - t0
    try:
        maxrss, code = map(int, done.stdout.split())
    except ValueError:
        code, maxrss = -1, 0
    if code != 0:
        raise SystemExit(f"rtkit {' '.join(args)} failed:\n{done.stderr[-2000:]}")
    scale = 1024 * 1024 if sys.platform == "darwin" else 1024  # bytes on macOS, KiB elsewhere
    return maxrss / scale, seconds


def main() -> int:
    """Run the benchmark, print figures and targets, return 0 if they are met."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--gb", type=float, default=1.0, help="cassette size in GB")
    parser.add_argument("--quick", action="store_true", help="24 MB, targets not enforced")
    args = parser.parse_args()
    size = 0.024 if args.quick else args.gb
    turns = 2 if args.quick else TURNS
    work = Path(tempfile.mkdtemp(prefix="rtkit-view-bench-"))
    try:
        big, small = work / "big.jsonl", work / "small.jsonl"
        t0 = time.perf_counter()
        big_size = make_cassette(big, int(size * 1e9), turns=turns)
        small_size = make_cassette(small, int(size * 1e9 / 8), turns=turns)
        print(f"cassettes: {big_size / 1e6:.0f} MB and {small_size / 1e6:.0f} MB, written in "
              f"{time.perf_counter() - t0:.1f} s")
        print(f"{'run':<22} {'cassette':>9} {'peak RSS MB':>12} {'seconds':>8} "
              f"{'page MB':>8}  target")
        ok = True
        peaks: dict[str, float] = {}
        for name, path, extra in (("view", small, []), ("view", big, []),
                                  ("view --audio-files", big, ["--audio-files"])):
            page = work / f"{path.stem}.html"
            peak, seconds = peak_rss(["view", str(path), "-o", str(page), *extra], work)
            peaks[f"{name} {path.stem}"] = peak
            met = peak < MAX_RSS_MB
            ok = ok and met
            print(f"{name:<22} {path.stat().st_size / 1e6:>6.0f} MB {peak:>12.1f} "
                  f"{seconds:>8.1f} {page.stat().st_size / 1e6:>8.1f}  < {MAX_RSS_MB:.0f} MB "
                  f"{'PASS' if met else 'FAIL'}")
            shutil.rmtree(work / f"{path.stem}_audio", ignore_errors=True)
        growth = peaks["view big"] - peaks["view small"]
        met = growth < MAX_GROWTH_MB
        ok = ok and met
        print(f"growth from {small_size / 1e6:.0f} MB to {big_size / 1e6:.0f} MB: "
              f"{growth:+.1f} MB; target < {MAX_GROWTH_MB:.0f} MB {'PASS' if met else 'FAIL'}")
        if args.quick:
            print("(quick run: figures are not meaningful and targets are not enforced)")
            return 0
        print("all targets met" if ok else "some targets missed")
        return 0 if ok else 1
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
