"""Benchmark: `rtkit serve` vs a bare `websockets` server, each party in its own process.

The way a user runs it: `rtkit serve CASSETTE` in one process, the app in another. Here the
app is a small websockets client in a third process; it asks with `response.create` and
times the answer (realtime-shaped GA events: 100 ms PCM16 audio deltas of about 6.4 KB of
base64, a transcript delta every 4th) until `response.done`.

- The baseline is a bare `websockets` server (its own process) that sends the *same
  pre-encoded frames* (the UTF-8 bytes, `send(data, text=True)`), so the ratio compares
  servers, not encodings. `rtkit serve` reads them from a cassette on disk and checks the
  client's event against the recording.
- Runs alternate (bare, rtkit / rtkit, bare, ...) in pairs; the ratio is the median of the
  per-pair throughput ratios (rtkit / bare), over at least 9 pairs. Server CPU time per event
  (from /proc) is printed for both.
- First byte on a big cassette (> 1 GB): from loading it the way `rtkit serve` does to the
  client's first received frame, in a fresh process; and, for the record, from starting
  `rtkit serve` on it and on a one-episode cassette (interpreter start and imports included).
- Then every episode of the big cassette is replayed and the server's peak RSS is read
  (VmHWM): replay streams from disk.

Targets: ratio >= 0.95; first byte on the big cassette < 0.5 s; peak RSS < 100 MB.

Run: ``python benchmarks/replay_throughput.py`` (``--quick``: a small smoke run, targets not
enforced; ``--big-gb 0`` skips the big cassette). Exit status 1 when a target is missed (full
runs only). On a shared machine the figures are noisy: the per-pair medians damp that, the
min-max range shows it.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from rtkit.audio import int16_to_base64
from rtkit.cassette import CassetteWriter

__all__ = ["main", "make_events", "write_cassette"]

MIN_RATIO = 0.95
MAX_FIRST_BYTE_S = 0.5
MAX_RSS_MB = 100.0
CLIENT_EVENT = '{"type":"response.create"}'
SESSION_CREATED = '{"type":"session.created","event_id":"e0","session":{}}'
HERE = Path(__file__).resolve()
RTKIT = [sys.executable, "-c", "from rtkit.cli import main; main()"]


def make_events(n: int, seed: int = 0) -> list[str]:
    """`n` GA server events ending with response.done."""
    rng = np.random.default_rng(seed)
    chunks = [int16_to_base64(rng.integers(-3000, 3000, 2400, dtype=np.int16)) for _ in range(4)]
    out = []
    for k in range(n):
        common = (f'"event_id":"event_{k:08d}","response_id":"resp_bench","item_id":"item_bench",'
                  '"output_index":0,"content_index":0')
        if k % 4 == 3:
            out.append('{"type":"response.output_audio_transcript.delta",' + common
                       + ',"delta":"word "}')
        else:
            out.append('{"type":"response.output_audio.delta",' + common
                       + f',"delta":"{chunks[k % 4]}"}}')
    out.append('{"type":"response.done","event_id":"event_done",'
               '"response":{"id":"resp_bench","status":"completed"}}')
    return out


def write_cassette(path: Path, events: list[str], episodes: int = 1) -> None:
    """A cassette with `episodes` copies of: session.created, the client's response.create,
    the events, and the client's close."""
    with CassetteWriter(path, dialect="ga", model="gpt-realtime") as w:
        w.connect(0, query="model=gpt-realtime")
        w.event(0, "server", 0.1, SESSION_CREATED)
        w.event(0, "client", 0.2, CLIENT_EVENT)
        for k, text in enumerate(events):
            w.event(0, "server", 0.3 + k * 0.001, text)
        w.close(0, 1.0 + len(events) * 0.001, 1000, "", "client")
    if episodes > 1:
        _repeat_episode(path, episodes)


def _repeat_episode(path: Path, episodes: int) -> None:
    """Copy episode 0 of a one-episode cassette `episodes` times (renumbered), in place."""
    header, *body = path.read_text(encoding="utf-8").splitlines(keepends=True)
    tmp = path.with_suffix(".tmp")
    with tmp.open("w", encoding="utf-8") as f:
        f.write(header)
        for conn in range(episodes):
            f.writelines(line.replace('"conn":0,', f'"conn":{conn},', 1) for line in body)
    tmp.replace(path)


def write_big_cassette(path: Path, target_bytes: int) -> int:
    """A >= `target_bytes` cassette of episodes of 10 000 events; returns how many episodes."""
    write_cassette(path, make_events(10_000))
    n = -(-target_bytes // path.stat().st_size)
    _repeat_episode(path, n)
    return n


# -- the parties: each runs in its own process ----------------------------------------------

def _loopback() -> dict[str, object]:
    from rtkit.transport.websocket import loopback_kwargs

    return loopback_kwargs("ws://127.0.0.1/")


async def _bare_server(events_file: str) -> None:
    """A minimal fake server sending pre-encoded frames; prints its URL, serves until killed."""
    import inspect

    from websockets.asyncio.server import ServerConnection, serve

    # pre-encoded UTF-8 sent as text: `send(data, text=True)`, from websockets 14; before that
    # a str is the only way to send text (encoded by websockets on each send)
    encoded = "text" in inspect.signature(ServerConnection.send).parameters
    lines = Path(events_file).read_text().splitlines()
    frames: list[Any] = [line.encode() for line in lines] if encoded else lines
    created: Any = SESSION_CREATED.encode() if encoded else SESSION_CREATED
    kwargs = {"text": True} if encoded else {}

    async def handler(ws: ServerConnection) -> None:
        await ws.send(created, **kwargs)
        await ws.recv()
        for data in frames:
            await ws.send(data, **kwargs)
        await ws.wait_closed()

    async with serve(handler, "127.0.0.1", 0, max_size=None, compression=None) as srv:
        print(f"ws://127.0.0.1:{srv.sockets[0].getsockname()[1]}/v1/realtime", flush=True)
        await asyncio.Future()


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far (Linux /proc; 0.0 elsewhere)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def _timed_response(url: str) -> tuple[float, int, int]:
    """Ask for the response; return (seconds, events, bytes) until response.done."""
    from websockets.asyncio.client import connect

    async with connect(url, max_size=None, compression=None, **_loopback()) as ws:  # type: ignore[arg-type]
        await ws.recv()  # session.created
        t0 = time.perf_counter()
        await ws.send(CLIENT_EVENT)
        n = size = 0
        while True:
            data = await ws.recv(decode=False)
            n += 1
            size += len(data)
            if len(data) < 200 and b'"response.done"' in data:
                return time.perf_counter() - t0, n, size


async def _client(spec: str) -> None:
    """Run the alternating pairs described by `spec` (JSON); print one JSON line per run."""
    cfg = json.loads(spec)
    servers = cfg["servers"]  # name -> [url, pid]
    names = list(servers)
    for name in names:  # warm up both
        await _timed_response(servers[name][0])
    for pair in range(cfg["pairs"]):
        order = names if pair % 2 == 0 else names[::-1]
        for name in order:
            url, pid = servers[name]
            cpu0 = cpu_seconds(pid)
            seconds, n, size = await _timed_response(url)
            cpu = cpu_seconds(pid) - cpu0
            print(json.dumps({"pair": pair, "server": name, "seconds": seconds, "events": n,
                              "bytes": size, "cpu": cpu}), flush=True)


async def _first_byte(url: str) -> float:
    """Seconds until the first frame arrives, from connect (the caller adds the startup)."""
    from websockets.asyncio.client import connect

    t0 = time.perf_counter()
    async with connect(url + "?model=gpt-realtime", max_size=None, compression=None,
                       **_loopback()) as ws:  # type: ignore[arg-type]
        await ws.recv()
    return time.perf_counter() - t0


# -- the orchestrator ------------------------------------------------------------------------

def _start(args: list[str]) -> tuple[subprocess.Popen[str], str, float]:
    """Start a server process; return it, the URL it prints first, and when it started."""
    t0 = time.perf_counter()
    proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    url = proc.stdout.readline().strip()
    if not url.startswith("ws://"):
        proc.kill()
        raise SystemExit(f"server did not start: {url!r} {proc.communicate()[1][-2000:]}")
    return proc, url, t0


def _stop(proc: subprocess.Popen[str]) -> None:
    proc.terminate()
    try:
        proc.wait(20)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def serve_cmd(cassette: Path) -> list[str]:
    """`rtkit serve` as a user runs it, quiet and not caring about unplayed episodes."""
    return [*RTKIT, "serve", str(cassette), "--listen", "127.0.0.1:0", "--quiet",
            "--unplayed", "ignore", "--timeout", "60"]


def throughput(n_events: int, pairs: int) -> float:
    """Alternating pairs, each party in its own process; print and return the median ratio."""
    events = make_events(n_events)
    with tempfile.TemporaryDirectory() as tmp:
        cassette = Path(tmp) / "bench.jsonl"
        write_cassette(cassette, events, episodes=pairs + 1)
        frames = Path(tmp) / "frames.txt"
        frames.write_text("\n".join(events) + "\n")
        bare, bare_url, _ = _start([sys.executable, str(HERE), "--bare-server", str(frames)])
        rtkit, rtkit_url, _ = _start(serve_cmd(cassette))
        try:
            spec = json.dumps({"pairs": pairs, "servers": {
                "bare": [bare_url, bare.pid],
                "rtkit": [rtkit_url + "?model=gpt-realtime", rtkit.pid]}})
            done = subprocess.run([sys.executable, str(HERE), "--client", spec],
                                  capture_output=True, text=True, timeout=600)
            if done.returncode != 0:
                raise SystemExit(f"client failed: {done.stderr[-3000:]}")
        finally:
            _stop(bare)
            _stop(rtkit)
    runs = [json.loads(line) for line in done.stdout.splitlines()]
    by = {(r["pair"], r["server"]): r for r in runs}
    n, size = runs[0]["events"], runs[0]["bytes"]
    assert all(r["events"] == n and r["bytes"] == size for r in runs), "servers sent different data"
    ratios = [by[p, "bare"]["seconds"] / by[p, "rtkit"]["seconds"] for p in range(pairs)]
    print(f"{n} events, {size / 1e6:.1f} MB per run; {pairs} alternating pairs, each party in "
          "its own process")
    print(f"{'':<14}{'events/s':>10}{'MB/s':>8}{'server CPU µs/event':>22}")
    for name, label in (("bare", "bare server"), ("rtkit", "rtkit serve")):
        secs = statistics.median(by[p, name]["seconds"] for p in range(pairs))
        cpu = statistics.median(by[p, name]["cpu"] for p in range(pairs))
        print(f"{label:<14}{n / secs:>10.0f}{size / 1e6 / secs:>8.1f}{cpu / n * 1e6:>22.1f}")
    cpu_ratios = [by[p, "rtkit"]["cpu"] / by[p, "bare"]["cpu"] for p in range(pairs)
                  if by[p, "bare"]["cpu"] > 0]
    ratio = statistics.median(ratios)
    print(f"throughput ratio rtkit serve/bare: {ratio:.2f} (median of per-pair ratios, range "
          f"{min(ratios):.2f}-{max(ratios):.2f}; target >= {MIN_RATIO})")
    if cpu_ratios:
        print(f"server CPU ratio rtkit serve/bare: {statistics.median(cpu_ratios):.2f} (median "
              "of per-pair ratios; /proc ticks, 10 ms resolution)")
    return ratio


_FIRST_BYTE = """
import asyncio, sys, time
sys.path.insert(0, {here!r})
from replay_throughput import _first_byte
from rtkit.server.replay_server import ReplayServer

async def main():
    t0 = time.perf_counter()
    server = ReplayServer({path!r}, lazy=True, unplayed="ignore")  # as rtkit serve loads it
    await server.start()
    await _first_byte(server.url)
    print(time.perf_counter() - t0)
    await server.stop()

asyncio.run(main())
"""


def first_byte(path: Path, small: Path, runs: int = 5) -> float:
    """Seconds from loading the cassette to the client's first received frame (in a fresh
    process, imports done), best of `runs`; and, for the record, the same from starting
    `rtkit serve` (interpreter and imports included) on it and on a one-episode cassette."""
    code = _FIRST_BYTE.format(here=str(HERE.parent), path=str(path))
    loaded = min(float(subprocess.run([sys.executable, "-c", code], capture_output=True,
                                      text=True, check=True).stdout) for _ in range(runs))
    spawned: dict[str, list[float]] = {"small": [], "big": []}
    for _ in range(max(runs // 2, 1)):
        for name, cassette in (("small", small), ("big", path)):
            proc, url, t0 = _start(serve_cmd(cassette))
            try:
                asyncio.run(_first_byte(url))
                spawned[name].append(time.perf_counter() - t0)
            finally:
                _stop(proc)
    print(f"  first byte: {loaded:.3f} s from loading it to the client's first frame (best of "
          f"{runs}; target < {MAX_FIRST_BYTE_S} s)")
    print(f"  from starting rtkit serve (interpreter and imports included): "
          f"{min(spawned['big']):.2f} s on it, {min(spawned['small']):.2f} s on a one-episode "
          f"cassette (best of {max(runs // 2, 1)})")
    return loaded


def peak_rss_mb(pid: int) -> float:
    """A live process's peak RSS (VmHWM) in MB; 0.0 where there is no /proc."""
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


async def _replay_all(url: str, episodes: int) -> int:
    events = 0
    for _ in range(episodes):
        _, n, _ = await _timed_response(url + "?model=gpt-realtime")
        events += n
    return events


def big(gb: float, runs: int = 5) -> tuple[float, float]:
    """The big cassette: first-byte cost and peak RSS (MB) of replaying all of it."""
    with tempfile.TemporaryDirectory() as tmp:
        free = shutil.disk_usage(tmp).free
        if free < gb * 1.2e9:
            print(f"big cassette: skipped, {free / 1e9:.1f} GB free in {tmp}")
            return 0.0, 0.0
        path = Path(tmp) / "big.jsonl"
        small = Path(tmp) / "small.jsonl"
        t0 = time.perf_counter()
        episodes = write_big_cassette(path, int(gb * 1e9))
        write_cassette(small, make_events(10))
        size = path.stat().st_size
        print(f"big cassette: {size / 1e9:.2f} GB, {episodes} episodes, written in "
              f"{time.perf_counter() - t0:.1f} s")
        cost = first_byte(path, small, runs)
        proc, url, _ = _start(serve_cmd(path))
        try:
            t0 = time.perf_counter()
            events = asyncio.run(_replay_all(url, episodes))
            seconds = time.perf_counter() - t0
            rss = peak_rss_mb(proc.pid)
        finally:
            _stop(proc)
    print(f"  replayed {events} events in {seconds:.1f} s ({size / 1e6 / seconds:.0f} MB/s); "
          f"server peak RSS {rss:.1f} MB (target < {MAX_RSS_MB:.0f} MB)")
    return cost, rss


def main() -> int:
    """Run the benchmark; exit status 1 when a target is missed (full runs only)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=5000, help="events per response")
    parser.add_argument("--pairs", type=int, default=11, help="alternating pairs (>= 9)")
    parser.add_argument("--big-gb", type=float, default=None,
                        help="size of the big cassette (default 1.05, 0 with --quick); 0 skips it")
    parser.add_argument("--quick", action="store_true", help="a small smoke run")
    parser.add_argument("--bare-server", help=argparse.SUPPRESS)
    parser.add_argument("--client", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.bare_server:
        asyncio.run(_bare_server(args.bare_server))
        return 0
    if args.client:
        asyncio.run(_client(args.client))
        return 0
    if args.quick:
        args.events, args.pairs = 300, 3
    if args.big_gb is None:
        args.big_gb = 0.0 if args.quick else 1.05
    ratio = throughput(args.events, args.pairs)
    cost, rss = big(args.big_gb, 1 if args.quick else 5) if args.big_gb > 0 else (0.0, 0.0)
    met = ratio >= MIN_RATIO and cost < MAX_FIRST_BYTE_S and rss < MAX_RSS_MB
    if not args.quick and args.pairs < 9:
        print("fewer than 9 pairs: targets not judged")
        met = False
    print("targets: " + ("met" if met else "MISSED"))
    return 0 if met or args.quick else 1


if __name__ == "__main__":
    sys.exit(main())
