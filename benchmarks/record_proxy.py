"""Benchmark: recording through `rtkit record --listen` vs talking to the upstream directly.

Every party runs in its own process, as users run them: an upstream `websockets` server
streaming realtime-shaped GA events (100 ms PCM16 audio deltas, about 6.4 KB of base64 each,
with a transcript delta every 4th event), a `websockets` client, and, for the proxied runs,
`rtkit record --listen` between them.

- Throughput, in alternating pairs (direct then proxied, proxied then direct, ...): the
  client's time from `response.create` to `response.done`. One recorder records every proxied
  session (and a warm-up one), as a user runs it; it is then stopped with SIGTERM, and the
  time from the signal to the cassette being written (`rtkit: wrote ...` on stderr) is shared
  out over those sessions and added to each: the stop-time commit is part of what recording
  costs. The ratio is direct / proxied per pair; the figure is the median of the per-pair
  ratios (with their range). Target: >= 0.9.
- Latency: the upstream sends one stamped event every 2 ms; the client computes receive -
  send on the system's monotonic clock (shared by the processes). Added p99 = proxied p99 -
  direct p99, per pair, median over the pairs. Target: < 1 ms.
- The recorder's CPU time per event (user + system, from /proc) is printed too.

Run: ``python benchmarks/record_proxy.py`` (``--quick`` for a smoke run; exit status 1 when a
target is missed, not with --quick: small runs are noise).
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
from pathlib import Path

import numpy as np

__all__ = ["main", "make_events"]

KEY = "sk-bench-" + "0123456789abcdef" * 3  # a key-shaped placeholder, built at runtime
MIN_RATIO = 0.9
MAX_ADDED_P99_MS = 1.0
PAUSE_MS = 2.0  # between two events of a latency run


def _now() -> float:
    """Seconds on the monotonic clock every process on this machine shares."""
    return time.clock_gettime(time.CLOCK_MONOTONIC)


def make_events(n: int) -> list[str]:
    """`n` GA server events: audio deltas (100 ms) with a transcript delta every 4th."""
    from rtkit.audio import int16_to_base64

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


# -- the three parties -------------------------------------------------------------------


async def _upstream(n_events: int) -> None:
    """Serve forever; print the URL. `response.create` gets the stream; one with
    `"paced": N` gets N stamped events, one every 2 ms."""
    from websockets.asyncio.server import ServerConnection, serve

    events = make_events(n_events)

    async def handler(ws: ServerConnection) -> None:
        await ws.send('{"type":"session.created","event_id":"e0","session":{}}')
        request = json.loads(await ws.recv())
        paced = request.get("paced")
        if not paced:
            for text in events:
                await ws.send(text)
        else:
            for k in range(paced):
                await ws.send(
                    f'{{"type":"response.output_audio_transcript.delta","event_id":"e{k}",'
                    f'"response_id":"r","item_id":"i","output_index":0,"content_index":0,'
                    f'"delta":"{_now()!r}"}}')
                await asyncio.sleep(PAUSE_MS / 1000)
            await ws.send(events[-1])
        await ws.wait_closed()

    async with serve(handler, "127.0.0.1", 0, max_size=None, compression=None) as server:
        print(f"ws://127.0.0.1:{server.sockets[0].getsockname()[1]}/v1/realtime", flush=True)
        await asyncio.Future()


async def _client() -> None:
    """For each line `URL PACED` on stdin, run one session; print seconds, bytes, latencies."""
    from websockets.asyncio.client import connect

    loop = asyncio.get_running_loop()
    while line := await loop.run_in_executor(None, sys.stdin.readline):
        url, paced = line.split()
        latencies: list[float] = []
        received = 0
        async with connect(url, max_size=None, compression=None) as ws:
            await ws.recv()
            t0 = _now()
            await ws.send(json.dumps({"type": "response.create", "paced": int(paced)}))
            while True:
                text = await ws.recv()
                now = _now()
                received += len(text)
                if '"response.done"' in text:
                    break
                if int(paced):
                    sent = float(text.rsplit('"delta":"', 1)[1].split('"', 1)[0])
                    latencies.append((now - sent) * 1000)
            seconds = _now() - t0
        print(json.dumps({"seconds": seconds, "bytes": received, "latencies": latencies}),
              flush=True)


# -- the benchmark -----------------------------------------------------------------------


async def _spawn(*args: str, env: dict[str, str] | None = None
                 ) -> tuple[asyncio.subprocess.Process, str]:
    proc = await asyncio.create_subprocess_exec(
        *args, stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE, env={**os.environ, **(env or {})})
    assert proc.stdout is not None
    line = (await asyncio.wait_for(proc.stdout.readline(), 60)).decode().strip()
    return proc, line


class Recorder:
    """One `rtkit record --listen` process, for one proxied run."""

    def __init__(self, proc: asyncio.subprocess.Process, url: str, out: Path) -> None:
        self.proc, self.url, self.out = proc, url, out

    @classmethod
    async def start(cls, upstream: str, out: Path) -> Recorder:
        proc, url = await _spawn(sys.executable, "-c", "from rtkit.cli import main; main()",
                                 "record", "--listen", "127.0.0.1:0", "-o", str(out),
                                 "--upstream", upstream, env={"OPENAI_API_KEY": KEY})
        return cls(proc, url, out)

    def cpu_seconds(self) -> float:
        """User + system CPU time of the process so far."""
        fields = Path(f"/proc/{self.proc.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    async def stop(self) -> float:
        """SIGTERM; the seconds until the cassette was written."""
        assert self.proc.stderr is not None
        t0 = _now()
        self.proc.send_signal(signal.SIGTERM)
        while True:
            line = await asyncio.wait_for(self.proc.stderr.readline(), 120)
            if not line:
                raise RuntimeError("rtkit record ended without writing the cassette")
            if line.startswith(b"rtkit: wrote"):
                elapsed = _now() - t0
                break
        await asyncio.wait_for(self.proc.wait(), 60)
        return elapsed


class Client:
    """The client process; `run(url)` is one session."""

    def __init__(self, proc: asyncio.subprocess.Process) -> None:
        self.proc = proc

    async def run(self, url: str, paced: int = 0) -> dict:
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self.proc.stdin.write(f"{url} {paced}\n".encode())
        await self.proc.stdin.drain()
        return json.loads(await asyncio.wait_for(self.proc.stdout.readline(), 300))


def _p(values: list[float], q: float) -> float:
    return float(np.percentile(values, q))


async def run(n_events: int, pairs: int, n_paced: int) -> tuple[float, float]:
    """Print the figures; return (median throughput ratio, median added p99 ms)."""
    me = str(Path(__file__).resolve())
    upstream, url = await _spawn(sys.executable, me, "--upstream", "--events", str(n_events))
    client_proc = await asyncio.create_subprocess_exec(
        sys.executable, me, "--client", stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE)
    client = Client(client_proc)
    direct_s, session_s, added = [], [], []
    size = 0
    try:
        with tempfile.TemporaryDirectory() as tmp:
            out = Path(tmp) / "bench.jsonl"
            recorder = await Recorder.start(url, out)  # one recorder, as a user runs it
            await client.run(url)  # warm up both paths
            await client.run(recorder.url)
            cpu0 = recorder.cpu_seconds()
            for i in range(pairs):
                for arm in (("direct", "proxy") if i % 2 == 0 else ("proxy", "direct")):
                    result = await client.run(url if arm == "direct" else recorder.url)
                    (direct_s if arm == "direct" else session_s).append(result["seconds"])
                    size = result["bytes"]
            cpu = recorder.cpu_seconds() - cpu0
            commit = await recorder.stop()  # every session's share of the stop-time commit
            cassette_mb = out.stat().st_size / 1e6
            recorder = await Recorder.start(url, out)
            await client.run(recorder.url, 5)
            for i in range(pairs):
                p99 = {}
                for arm in (("direct", "proxy") if i % 2 == 0 else ("proxy", "direct")):
                    result = await client.run(url if arm == "direct" else recorder.url, n_paced)
                    p99[arm] = _p(result["latencies"], 99)
                added.append(p99["proxy"] - p99["direct"])
            await recorder.stop()
    finally:
        client_proc.kill()
        upstream.kill()
        await client_proc.wait()
        await upstream.wait()
    share = commit / (pairs + 1)
    proxy_s = [t + share for t in session_s]
    ratios = [d / p for d, p in zip(direct_s, proxy_s, strict=True)]
    cpu_us = cpu / (pairs * (n_events + 2)) * 1e6
    n = n_events + 1
    ratio, extra = statistics.median(ratios), statistics.median(added)
    print(f"{n} events, {size / 1e6:.1f} MB per run; upstream, client and `rtkit record "
          f"--listen` each in its own process; {pairs} alternating pairs")
    print(f"{'':<8}{'events/s':>10}{'MB/s':>8}   (medians)")
    for name, times in (("direct", direct_s), ("proxy", proxy_s)):
        t = statistics.median(times)
        print(f"{name:<8}{n / t:>10.0f}{size / 1e6 / t:>8.1f}")
    print(f"proxied runs include their share of stopping the recorder and committing its "
          f"cassette ({cassette_mb:.1f} MB, {pairs + 1} sessions: {commit * 1000:.0f} ms, "
          f"{share * 1000:.0f} ms each)")
    print(f"recorder CPU per event: {cpu_us:.1f} us (user + system)")
    print(f"throughput ratio proxy/direct: {ratio:.2f} (median of per-pair ratios; range "
          f"{min(ratios):.2f}-{max(ratios):.2f}; target >= {MIN_RATIO})")
    print(f"added p99 latency: {extra:.3f} ms (median over {pairs} pairs of {n_paced} events "
          f"sent every {PAUSE_MS:.0f} ms; range {min(added):.3f}-{max(added):.3f}; "
          f"target < {MAX_ADDED_P99_MS} ms)")
    return ratio, extra


def main() -> int:
    """Run the benchmark; exit status 1 when a target is missed (full runs only)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=3000)
    parser.add_argument("--pairs", type=int, default=9)
    parser.add_argument("--paced", type=int, default=500, help="events per latency run")
    parser.add_argument("--quick", action="store_true", help="a small smoke run")
    parser.add_argument("--upstream", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--client", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.upstream:
        asyncio.run(_upstream(args.events))
        return 0
    if args.client:
        asyncio.run(_client())
        return 0
    if args.quick:
        args.events, args.pairs, args.paced = 200, 1, 50
    ratio, added = asyncio.run(run(args.events, args.pairs, args.paced))
    met = ratio >= MIN_RATIO and added < MAX_ADDED_P99_MS
    print("targets: " + ("met" if met else "MISSED"))
    return 0 if met or args.quick else 1


if __name__ == "__main__":
    sys.exit(main())
