"""Benchmark: recording through `RecordingProxy` vs talking to the upstream directly.

An upstream `websockets` server on 127.0.0.1 streams realtime-shaped GA events (100 ms PCM16
audio deltas, about 6.4 KB of base64 each, interleaved with transcript deltas) to a client,
directly and through the recording proxy, alternately, in the same run.

The recorder runs as users run it, `rtkit record --listen` in its own process (`--in-process`
puts it in the benchmark's event loop instead, sharing one core with upstream and client).

- Throughput: events/s and MB/s of the client receiving everything, median of the runs; the
  proxy writes each event to the cassette as it passes. Target: proxy >= 0.9 x direct.
- Latency: the upstream sends one event every 2 ms stamped with `time.perf_counter()` (same
  process, same clock); the client computes receive - send per event. Target: the proxy adds
  < 1 ms at p99 (proxy p99 - direct p99).

Run: ``python benchmarks/record_proxy.py`` (``--quick`` for a smoke run). Exit status 1 when
a target is missed (not with --quick: small runs are noise).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

import numpy as np
from websockets.asyncio.client import connect
from websockets.asyncio.server import ServerConnection, serve

from rtkit.audio import int16_to_base64
from rtkit.server.proxy import RecordingProxy

__all__ = ["main", "make_events"]

KEY = "sk-bench-" + "0123456789abcdef" * 3  # a key-shaped placeholder, built at runtime
MIN_RATIO = 0.9
MAX_ADDED_P99_MS = 1.0


def make_events(n: int) -> list[str]:
    """`n` GA server events: audio deltas (100 ms) with a transcript delta every 4th."""
    rng = np.random.default_rng(0)
    chunks = [int16_to_base64(rng.integers(-3000, 3000, 2400, dtype=np.int16)) for _ in range(4)]
    out = []
    for k in range(n):
        common = {"event_id": f"event_{k:08d}", "response_id": "resp_bench",
                  "item_id": "item_bench", "output_index": 0, "content_index": 0}
        if k % 4 == 3:
            out.append(json.dumps({"type": "response.output_audio_transcript.delta", **common,
                                   "delta": "word ", "obfuscation": "a1b2"}))
        else:
            out.append(json.dumps({"type": "response.output_audio.delta", **common,
                                   "delta": chunks[k % 4], "obfuscation": "a1b2"}))
    out.append(json.dumps({"type": "response.done", "event_id": "event_done",
                           "response": {"id": "resp_bench", "status": "completed"}}))
    return out


class Upstream:
    """Streams the events to each connection; `paced` stamps and spaces them for latency."""

    def __init__(self, events: list[str]) -> None:
        self.events = events
        self.paced = False
        self.url = ""

    async def handler(self, ws: ServerConnection) -> None:
        await ws.send('{"type":"session.created","event_id":"e0","session":{}}')
        await ws.recv()  # the client's response.create
        if not self.paced:
            for text in self.events:
                await ws.send(text)
        else:
            for k in range(len(self.events) - 1):
                stamp = f'{{"type":"response.output_audio_transcript.delta","event_id":"e{k}",' \
                        f'"response_id":"r","item_id":"i","output_index":0,"content_index":0,' \
                        f'"delta":"{time.perf_counter()!r}"}}'
                await ws.send(stamp)
                await asyncio.sleep(0.002)
            await ws.send(self.events[-1])
        await ws.wait_closed()


async def _client(url: str, paced: bool) -> tuple[float, int, list[float]]:
    """Receive until response.done; return (seconds, bytes, latencies in ms)."""
    latencies: list[float] = []
    received = 0
    async with connect(url, max_size=None, compression=None) as ws:
        await ws.recv()
        t0 = time.perf_counter()
        await ws.send('{"type":"response.create"}')
        while True:
            text = await ws.recv()
            received += len(text)
            if paced and '"delta":"' in text:
                sent = float(text.rsplit('"delta":"', 1)[1].split('"', 1)[0])
                latencies.append((time.perf_counter() - sent) * 1000)
            if '"response.done"' in text:
                break
        return time.perf_counter() - t0, received, latencies


async def _start_proxy(upstream_url: str, out: Path, in_process: bool
                       ) -> tuple[str, Callable[[], Awaitable[None]]]:
    """Start the recorder; return its URL and a function that stops it (writing the file)."""
    if in_process:
        proxy = RecordingProxy(out, upstream_url=upstream_url, api_key=KEY)
        await proxy.__aenter__()
        return proxy.url, lambda: proxy.__aexit__(None, None, None)
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-c", "from rtkit.cli import main; main()", "record", "--listen",
        "127.0.0.1:0", "-o", str(out), "--upstream", upstream_url,
        env={**os.environ, "OPENAI_API_KEY": KEY},
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    assert proc.stdout is not None
    url = (await asyncio.wait_for(proc.stdout.readline(), 30)).decode().strip()

    async def stop() -> None:
        proc.send_signal(signal.SIGTERM)
        await asyncio.wait_for(proc.communicate(), 60)

    return url, stop


def _p(values: list[float], q: float) -> float:
    return float(np.percentile(values, q)) if values else float("nan")


async def run(n_events: int, repeat: int, n_paced: int, in_process: bool = False,
              show_runs: bool = False) -> tuple[float, float]:
    """Print the figures; return (throughput ratio, added p99 ms)."""
    events = make_events(n_events)
    upstream = Upstream(events)
    async with serve(upstream.handler, "127.0.0.1", 0, max_size=None, compression=None) as srv:
        port = srv.sockets[0].getsockname()[1]
        upstream.url = f"ws://127.0.0.1:{port}/v1/realtime"
        with tempfile.TemporaryDirectory() as tmp:
            out = Path(tmp) / "bench.jsonl"
            proxy_url, stop_proxy = await _start_proxy(upstream.url, out, in_process)
            await _client(upstream.url, False)  # warm up both paths
            await _client(proxy_url, False)
            direct, proxied = [], []
            size = 0
            for _ in range(repeat):
                seconds, size, _ = await _client(upstream.url, False)
                direct.append(seconds)
                seconds, _, _ = await _client(proxy_url, False)
                proxied.append(seconds)
            upstream.paced = True
            upstream.events = [*events[:n_paced], events[-1]]  # ends with response.done
            _, _, lat_direct = await _client(upstream.url, True)
            _, _, lat_proxy = await _client(proxy_url, True)
            t0 = time.perf_counter()
            await stop_proxy()
            t_commit = time.perf_counter() - t0
            cassette_mb = out.stat().st_size / 1e6
    t_direct, t_proxy = statistics.median(direct), statistics.median(proxied)
    if show_runs:
        print("runs, ms: direct " + " ".join(f"{s * 1000:.0f}" for s in direct)
              + "; proxy " + " ".join(f"{s * 1000:.0f}" for s in proxied))
    n = len(events)
    where = "in this process" if in_process else "as `rtkit record --listen` in its own process"
    print(f"{n} events, {size / 1e6:.1f} MB per run, median of {repeat} alternating runs; "
          f"the recorder runs {where}")
    print(f"{'':<8}{'events/s':>10}{'MB/s':>8}")
    print(f"{'direct':<8}{n / t_direct:>10.0f}{size / 1e6 / t_direct:>8.1f}")
    print(f"{'proxy':<8}{n / t_proxy:>10.0f}{size / 1e6 / t_proxy:>8.1f}"
          f"   (cassette: {cassette_mb:.1f} MB, {repeat + 2} episodes; stopping and "
          f"committing it took {t_commit:.2f} s)")
    ratio = t_direct / t_proxy
    print(f"throughput ratio proxy/direct: {ratio:.2f} (target >= {MIN_RATIO})")
    added = _p(lat_proxy, 99) - _p(lat_direct, 99)
    print(f"latency over {len(lat_direct)} paced events, ms: direct p50 {_p(lat_direct, 50):.3f} "
          f"p99 {_p(lat_direct, 99):.3f}; proxy p50 {_p(lat_proxy, 50):.3f} "
          f"p99 {_p(lat_proxy, 99):.3f}")
    print(f"added p99 latency: {added:.3f} ms (target < {MAX_ADDED_P99_MS} ms)")
    return ratio, added


def main() -> int:
    """Run the benchmark; exit status 1 when a target is missed (full runs only)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=3000)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--paced", type=int, default=1000, help="events in the latency run")
    parser.add_argument("--quick", action="store_true", help="a small smoke run")
    parser.add_argument("--in-process", action="store_true",
                        help="run the proxy in the benchmark's own process and event loop "
                             "(it then shares one core with the upstream and the client)")
    parser.add_argument("--runs", action="store_true", help="print every run's time")
    args = parser.parse_args()
    if args.quick:
        args.events, args.repeat, args.paced = 200, 1, 50
    ratio, added = asyncio.run(run(args.events, args.repeat, args.paced, args.in_process,
                                   args.runs))
    met = ratio >= MIN_RATIO and added < MAX_ADDED_P99_MS
    print("targets: " + ("met" if met else "MISSED"))
    return 0 if met or args.quick else 1


if __name__ == "__main__":
    sys.exit(main())
