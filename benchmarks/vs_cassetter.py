"""Benchmark: rtkit against cassetter 0.16.1, the strongest WebSocket record/replay pytest
plugin (Rust core, YAML cassettes; it patches `websockets.connect`), on the same events.

The stream is the one benchmarks/replay_throughput.py uses: `session.created`, the client's
`response.create`, then realtime-shaped GA events (100 ms PCM16 audio deltas, about 6.4 KB of
base64 each, a transcript delta every 4th) ending with `response.done`; 2,000 and 8,000 events.

- Recording: an upstream `websockets` server in its own process sends the stream; the app
  (this process) reads it directly with `websockets.connect`, recorded by rtkit
  (`RecordingTransport(WebSocketTransport(), path)`, the in-process recorder) and recorded by
  cassetter (`use_cassette(path, record_mode="all", intercept=["websockets"])` around the same
  `websockets.connect` code, as its README shows). Timed from connecting (entering
  `use_cassette`) to the cassette being on disk. Overhead = direct time / recorded time, per
  run of the three in rotating order; median over the rounds.
- Replay, in-process, load included: each replays the cassette it recorded, in its own format:
  rtkit with `ReplayTransport(path)` (its default load validates every line; the load, the
  episode, matching the client's event; `ReplayTransport(path, lazy=True)`, which indexes the
  file as `rtkit serve` does, is measured too, for the record),
  cassetter with `use_cassette(path, record_mode="none", intercept=["websockets"])` around the
  `websockets.connect` code (the YAML load, then frames). Timed from opening the cassette to
  `response.done`. Both must hand over the recorded frames unchanged (checked). Alternating
  pairs; ratio = cassetter time / rtkit time per pair; the figure is the median of the
  per-pair ratios. Target: >= 2.0 at both sizes.

cassetter is not a dependency: `pip install -e '.[bench]'`. Without it the rtkit half runs
alone and says so (`--quick` is the smoke run tests/test_benchmarks_smoke.py uses).

Run: ``python benchmarks/vs_cassetter.py`` (``--pairs N``, ``--quick``). Exit status 1 when
the target is missed (full runs with cassetter only).
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

HERE = Path(__file__).resolve()
sys.path.insert(0, str(HERE.parent))

from replay_throughput import CLIENT_EVENT, make_events  # noqa: E402

__all__ = ["main"]

MIN_RATIO = 2.0
SIZES = (2000, 8000)


def have_cassetter() -> bool:
    """Whether cassetter is installed (the `bench` extra)."""
    try:
        import cassetter  # noqa: F401
    except ImportError:
        return False
    return True


# -- the app's session, three ways ----------------------------------------------------------


async def _websockets_session(url: str) -> list[str]:
    """The app on plain `websockets` (looked up at call time: cassetter patches it)."""
    import websockets

    frames = []
    async with websockets.connect(url, max_size=None, compression=None) as ws:
        frames.append(await ws.recv())
        await ws.send(CLIENT_EVENT)
        while True:
            frames.append(await ws.recv())
            if '"response.done"' in frames[-1][:60]:
                return frames


async def _transport_session(transport: object, url: str) -> list[str]:
    """The app on an rtkit `Transport` (recording or replaying)."""
    from rtkit.transport.base import ConnectRequest, Transport

    assert isinstance(transport, Transport)
    await transport.connect(ConnectRequest(url))
    frames = [str(await transport.recv())]
    await transport.send(CLIENT_EVENT)
    while True:
        frames.append(str(await transport.recv()))
        if '"response.done"' in frames[-1][:60]:
            break
    await transport.close()
    return frames


async def direct(url: str, path: Path) -> list[str]:
    return await _websockets_session(url)


async def rtkit_record(url: str, path: Path) -> list[str]:
    from rtkit import RecordingTransport, WebSocketTransport

    return await _transport_session(RecordingTransport(WebSocketTransport(), path), url)


async def cassetter_record(url: str, path: Path) -> list[str]:
    from cassetter import use_cassette

    with use_cassette(path, record_mode="all", intercept=["websockets"]):
        return await _websockets_session(url)


async def rtkit_replay(url: str, path: Path) -> list[str]:
    from rtkit import ReplayTransport

    return await _transport_session(ReplayTransport(path, unplayed="fail"), url)


async def rtkit_replay_lazy(url: str, path: Path) -> list[str]:
    from rtkit import ReplayTransport

    return await _transport_session(ReplayTransport(path, lazy=True, unplayed="fail"), url)


async def cassetter_replay(url: str, path: Path) -> list[str]:
    from cassetter import use_cassette

    with use_cassette(path, record_mode="none", intercept=["websockets"]):
        return await _websockets_session(url)


Run = Callable[[str, Path], Awaitable[list[str]]]


async def timed(run: Run, url: str, path: Path, expected: list[str]) -> float:
    """Seconds for one run; its frames must be the stream's."""
    gc.collect()
    t0 = time.perf_counter()
    frames = await run(url, path)
    seconds = time.perf_counter() - t0
    if frames[1:] != expected:
        raise SystemExit(f"{run.__name__}: the frames differ from the stream's")
    return seconds


# -- the measurements -------------------------------------------------------------------------


def _upstream(events: list[str], tmp: Path) -> tuple[subprocess.Popen[str], str]:
    """The stream's server in its own process (benchmarks/replay_throughput.py's bare server:
    it sends pre-encoded frames)."""
    frames = tmp / "frames.txt"
    frames.write_text("\n".join(events) + "\n")
    proc = subprocess.Popen([sys.executable, str(HERE.parent / "replay_throughput.py"),
                             "--bare-server", str(frames)], stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    url = proc.stdout.readline().strip()
    if not url.startswith("ws://"):
        proc.kill()
        raise SystemExit(f"the upstream did not start: {url!r}")
    return proc, url + "?model=gpt-realtime"


async def measure(n: int, pairs: int, peer: bool, tmp: Path) -> dict[str, list[float]]:
    """Seconds per run of each kind, `pairs` rounds each."""
    events = make_events(n)
    proc, url = _upstream(events, tmp)
    paths = {"rtkit": tmp / f"rtkit-{n}.jsonl", "cassetter": tmp / f"cassetter-{n}.yaml"}
    record: dict[str, Run] = {"direct": direct, "rtkit": rtkit_record}
    replay: dict[str, Run] = {"rtkit": rtkit_replay, "rtkit lazy": rtkit_replay_lazy}
    if peer:
        record["cassetter"] = cassetter_record
        replay["cassetter"] = cassetter_replay
    times: dict[str, list[float]] = {f"record {k}": [] for k in record}
    times.update({f"replay {k}": [] for k in replay})
    try:
        for name, run in record.items():  # warm up; leaves each tool its cassette
            await timed(run, url, paths.get(name, tmp / "unused"), events)
        for i in range(pairs):
            names = list(record)
            for name in names[i % len(names):] + names[:i % len(names)]:  # rotating order
                times[f"record {name}"].append(
                    await timed(record[name], url, paths.get(name, tmp / "unused"), events))
        # the replays read what was recorded last
        for name, run in replay.items():  # warm up
            await timed(run, url, paths[name.split()[0]], events)
        for i in range(pairs):
            names = list(replay) if i % 2 == 0 else list(replay)[::-1]  # alternating order
            for name in names:
                times[f"replay {name}"].append(await timed(replay[name], url,
                                                           paths[name.split()[0]], events))
    finally:
        proc.terminate()
        proc.wait(20)
    sizes = {k: p.stat().st_size for k, p in paths.items() if p.exists()}
    print(f"{n} events: cassette sizes " + ", ".join(
        f"{k} {v / 1e6:.1f} MB" for k, v in sizes.items()))
    return times


def _ratios(top: list[float], bottom: list[float]) -> list[float]:
    return [a / b for a, b in zip(top, bottom, strict=True)]


def report(n: int, times: dict[str, list[float]]) -> float | None:
    """Print one size's figures; return the replay ratio (None without the peer)."""
    pairs = len(times["replay rtkit"])
    for kind in times:
        secs = statistics.median(times[kind])
        print(f"  {kind:<18} {n / secs:>10,.0f} events/s  (median {secs * 1000:.1f} ms)")
    for tool in ("rtkit", "cassetter"):
        if f"record {tool}" in times:
            r = _ratios(times["record direct"], times[f"record {tool}"])
            print(f"  recording overhead {tool}/direct: {statistics.median(r):.2f} (median of "
                  f"{pairs} per-run ratios, {min(r):.2f}-{max(r):.2f}; 1.00 = no overhead)")
    if "replay cassetter" not in times:
        return None
    r = _ratios(times["replay cassetter"], times["replay rtkit lazy"])
    print(f"  replay ratio rtkit (lazy=True) vs cassetter: {statistics.median(r):.2f}x (median "
          f"of {pairs} per-pair ratios, {min(r):.2f}-{max(r):.2f}; for the record)")
    r = _ratios(times["replay cassetter"], times["replay rtkit"])
    ratio = statistics.median(r)
    print(f"  replay ratio rtkit vs cassetter: {ratio:.2f}x (median of {pairs} per-pair "
          f"ratios, {min(r):.2f}-{max(r):.2f}; target >= {MIN_RATIO}) "
          + ("PASS" if ratio >= MIN_RATIO else "FAIL"))
    return ratio


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pairs", type=int, default=7, help="alternating pairs (>= 5)")
    parser.add_argument("--quick", action="store_true",
                        help="a smoke run: 100 and 200 events, 2 pairs, target not judged")
    args = parser.parse_args(argv)
    sizes = (100, 200) if args.quick else SIZES
    pairs = 2 if args.quick else args.pairs
    peer = have_cassetter()
    if peer:
        from importlib.metadata import version

        print(f"rtkit vs cassetter {version('cassetter')}, in-process, load included")
    else:
        print("cassetter is not installed (pip install -e '.[bench]'): rtkit alone")
    ratios = []
    tmp = Path(tempfile.mkdtemp(prefix="rtkit-vs-cassetter-"))
    try:
        for n in sizes:
            times = asyncio.run(measure(n, pairs, peer, tmp))
            ratios.append(report(n, times))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    if not peer:
        return 0
    met = all(r is not None and r >= MIN_RATIO for r in ratios)
    if args.quick or pairs < 5:
        print("smoke run (or fewer than 5 pairs): target not judged")
        return 0
    print("target: " + ("met" if met else "MISSED"))
    return 0 if met else 1


if __name__ == "__main__":
    sys.exit(main())
