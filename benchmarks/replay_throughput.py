"""Benchmark: replaying through `ReplayServer` vs a bare `websockets` server.

Both send the same realtime-shaped GA events (100 ms PCM16 audio deltas, about 6.4 KB of
base64 each, with a transcript delta every 4th) to a client that asked with `response.create`,
alternately, in the same process and run. ReplayServer reads them from a cassette on disk and
checks the client's event against the recording; the bare server sends prepared strings.
Target: ReplayServer >= 0.8 x the bare server's throughput.

Then a cassette larger than 1 GB is replayed in a subprocess (so its memory is measured alone):
target peak RSS < 100 MB (the child's VmHWM, or `resource.getrusage` where there is no
/proc), i.e. replay streams from disk.

Run: ``python benchmarks/replay_throughput.py`` (``--quick``: small, no big cassette; ``--big-gb
0`` skips the big one). Exit status 1 when a target is missed (full runs only).
"""

from __future__ import annotations

import argparse
import asyncio
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from websockets.asyncio.client import connect
from websockets.asyncio.server import ServerConnection, serve

from rtkit.audio import int16_to_base64
from rtkit.cassette import CassetteWriter
from rtkit.server.replay_server import ReplayServer

__all__ = ["main", "make_events", "write_cassette"]

MIN_RATIO = 0.8
MAX_RSS_MB = 100.0
CLIENT_EVENT = '{"type":"response.create"}'


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
        for conn in range(episodes):
            w.connect(conn, query="model=gpt-realtime")
            w.event(conn, "server", 0.1, '{"type":"session.created","event_id":"e0","session":{}}')
            w.event(conn, "client", 0.2, CLIENT_EVENT)
            for k, text in enumerate(events):
                w.event(conn, "server", 0.3 + k * 0.001, text)
            w.close(conn, 1.0 + len(events) * 0.001, 1000, "", "client")


def write_big_cassette(path: Path, target_bytes: int) -> int:
    """A >= `target_bytes` cassette, written directly in the file format line by line
    (episodes of 10 000 events); returns the number of episodes."""
    events = make_events(10_000)
    with tempfile.TemporaryDirectory() as tmp:
        one = Path(tmp) / "one.jsonl"
        write_cassette(one, events)
        header, *body = one.read_text().splitlines(keepends=True)
    per_episode = sum(len(line.encode()) for line in body)
    n = -(-target_bytes // per_episode)
    with path.open("w", encoding="utf-8") as f:
        f.write(header)
        for conn in range(n):
            f.writelines(line.replace('"conn":0,', f'"conn":{conn},', 1) for line in body)
    return n


async def _client(url: str) -> tuple[float, int, int]:
    """Ask for the response; return (seconds, events, bytes) until response.done."""
    async with connect(url, max_size=None, compression=None) as ws:
        await ws.recv()  # session.created
        t0 = time.perf_counter()
        await ws.send(CLIENT_EVENT)
        n = size = 0
        while True:
            text = await ws.recv()
            n += 1
            size += len(text)
            if '"response.done"' in text:
                return time.perf_counter() - t0, n, size


class BareServer:
    """Sends the prepared events after the client's event, like a minimal fake server."""

    def __init__(self, events: list[str]) -> None:
        self.events = events

    async def handler(self, ws: ServerConnection) -> None:
        await ws.send('{"type":"session.created","event_id":"e0","session":{}}')
        await ws.recv()
        for text in self.events:
            await ws.send(text)
        await ws.wait_closed()


async def throughput(n_events: int, repeat: int) -> float:
    """Print the figures; return the ratio ReplayServer / bare."""
    events = make_events(n_events)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "bench.jsonl"
        write_cassette(path, events, episodes=repeat + 1)
        bare = BareServer(events)
        bare_s: list[float] = []
        replay_s: list[float] = []
        async with (
            serve(bare.handler, "127.0.0.1", 0, max_size=None, compression=None) as srv,
            ReplayServer(path, unplayed="ignore") as replay,
        ):
            bare_url = f"ws://127.0.0.1:{srv.sockets[0].getsockname()[1]}/v1/realtime"
            url = replay.url + "?model=gpt-realtime"
            await _client(bare_url)  # warm up both
            await _client(url)
            for _ in range(repeat):
                seconds, n, size = await _client(bare_url)
                bare_s.append(seconds)
                seconds, n_replayed, _ = await _client(url)
                assert n_replayed == n
                replay_s.append(seconds)
        replay.check()
    t_bare, t_replay = statistics.median(bare_s), statistics.median(replay_s)
    print(f"{n} events, {size / 1e6:.1f} MB per run, median of {repeat} alternating runs")
    print(f"{'':<14}{'events/s':>10}{'MB/s':>8}")
    print(f"{'bare server':<14}{n / t_bare:>10.0f}{size / 1e6 / t_bare:>8.1f}")
    print(f"{'ReplayServer':<14}{n / t_replay:>10.0f}{size / 1e6 / t_replay:>8.1f}")
    ratio = t_bare / t_replay
    print(f"throughput ratio ReplayServer/bare: {ratio:.2f} (target >= {MIN_RATIO})")
    return ratio


_BIG_CHILD = """
import asyncio, resource, sys, time
sys.path.insert(0, {here!r})
from replay_throughput import _client
from rtkit.server.replay_server import ReplayServer

async def main():
    t0 = time.perf_counter()
    async with ReplayServer({path!r}, unplayed="ignore") as server:
        loaded = time.perf_counter() - t0
        events = 0
        for _ in range({episodes}):
            _, n, _ = await _client(server.url + "?model=gpt-realtime")
            events += n
    server.check()
    seconds = time.perf_counter() - t0
    print(f"{{events}} {{seconds:.2f}} {{loaded:.2f}} {{peak_rss_mb():.1f}}")

def peak_rss_mb():
    # VmHWM is this process's own peak; ru_maxrss on Linux keeps the parent's peak across
    # fork and exec, so it would count the memory used to write the cassette
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024

asyncio.run(main())
"""


def big(gb: float) -> float:
    """Replay a >`gb` GB cassette in a subprocess; print and return its peak RSS in MB."""
    with tempfile.TemporaryDirectory() as tmp:
        free = shutil.disk_usage(tmp).free
        if free < gb * 1.2e9:
            print(f"big cassette: skipped, {free / 1e9:.1f} GB free in {tmp}")
            return 0.0
        path = Path(tmp) / "big.jsonl"
        t0 = time.perf_counter()
        episodes = write_big_cassette(path, int(gb * 1e9))
        size = path.stat().st_size
        print(f"big cassette: {size / 1e9:.2f} GB, {episodes} episodes, written in "
              f"{time.perf_counter() - t0:.1f} s")
        code = _BIG_CHILD.format(here=str(Path(__file__).parent), path=str(path),
                                 episodes=episodes)
        out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                             check=True).stdout.split()
    events, seconds, loaded, rss = int(out[0]), float(out[1]), float(out[2]), float(out[3])
    print(f"  replayed {events} events in {seconds:.1f} s ({size / 1e6 / seconds:.0f} MB/s; "
          f"indexing the file took {loaded:.1f} s); peak RSS {rss:.1f} MB "
          f"(target < {MAX_RSS_MB:.0f} MB)")
    return rss


def main() -> int:
    """Run the benchmark; exit status 1 when a target is missed (full runs only)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=3000)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--big-gb", type=float, default=None,
                        help="size of the big cassette (default 1.05, 0 with --quick); 0 skips it")
    parser.add_argument("--quick", action="store_true", help="a small smoke run")
    args = parser.parse_args()
    if args.quick:
        args.events, args.repeat = 200, 1
    if args.big_gb is None:
        args.big_gb = 0.0 if args.quick else 1.05
    ratio = asyncio.run(throughput(args.events, args.repeat))
    rss = big(args.big_gb) if args.big_gb > 0 else 0.0
    met = ratio >= MIN_RATIO and rss < MAX_RSS_MB
    print("targets: " + ("met" if met else "MISSED"))
    return 0 if met or args.quick else 1


if __name__ == "__main__":
    sys.exit(main())
