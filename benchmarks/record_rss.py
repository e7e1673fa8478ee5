"""Benchmark: `rtkit record --listen`'s memory over many sequential connections.

An upstream (a `websockets` server in this process) answers each session with a short
realtime-shaped response (text deltas and 100 ms audio deltas); a client opens one connection
at a time through the recorder, runs one turn and closes. The recorder's resident set size
(VmRSS, from /proc) is printed every `--every` connections; the target is that it stays flat:
within 10 MB between the first report (after a warm-up) and the last.

Run: ``python benchmarks/record_rss.py`` (4,000 connections; ``--connections N``); exit status
1 when the growth is over the target. Linux only (it reads /proc).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import sys
import tempfile
import time
from pathlib import Path

__all__ = ["main", "measure"]

TARGET_MB = 10.0
KEY = "sk-bench-" + "rss0123456789abcdef" * 2  # a key-shaped placeholder, built at runtime
AUDIO = "AAAA" * 1600  # 100 ms of silence, base64


def rss_mb(pid: int) -> float:
    """The process's resident set size in MB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"no VmRSS for pid {pid}")


async def _upstream() -> tuple[object, str]:
    from websockets.asyncio.server import ServerConnection, serve

    burst = [json.dumps({"type": "response.created", "response": {"id": "resp_1"}})]
    burst += [json.dumps({"type": "response.output_audio.delta", "response_id": "resp_1",
                          "item_id": "item_1", "delta": AUDIO}) for _ in range(8)]
    burst += [json.dumps({"type": "response.output_text.delta", "response_id": "resp_1",
                          "delta": f"word{i} "}) for i in range(8)]
    burst.append(json.dumps({"type": "response.done", "response": {"id": "resp_1"}}))

    async def handler(ws: ServerConnection) -> None:
        await ws.send('{"type":"session.created","event_id":"e0","session":{}}')
        async for _ in ws:
            for text in burst:
                await ws.send(text)

    server = await serve(handler, "127.0.0.1", 0, max_size=None, compression=None)
    return server, f"ws://127.0.0.1:{server.sockets[0].getsockname()[1]}/v1/realtime"


async def _session(url: str) -> None:
    from websockets.asyncio.client import connect

    async with connect(url, max_size=None, compression=None) as ws:
        await ws.recv()
        await ws.send('{"type":"response.create"}')
        while '"response.done"' not in await ws.recv():
            pass


async def measure(connections: int, every: int, warmup: int = 100,
                  out: Path | None = None) -> list[tuple[int, float]]:
    """Run the sessions; return (connections so far, recorder RSS in MB) at each report."""
    server, upstream = await _upstream()
    with tempfile.TemporaryDirectory() as tmp:
        cassette = out or Path(tmp) / "rss.jsonl"
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-c", "from rtkit.cli import main; main()", "record", "--listen",
            "127.0.0.1:0", "-o", str(cassette), "--upstream", upstream,
            env={**os.environ, "OPENAI_API_KEY": KEY}, stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE)
        assert proc.stdout is not None
        url = (await asyncio.wait_for(proc.stdout.readline(), 60)).decode().strip()
        points: list[tuple[int, float]] = []
        try:
            for _ in range(warmup):
                await _session(url)
            points.append((0, rss_mb(proc.pid)))
            for n in range(1, connections + 1):
                await _session(url)
                if n % every == 0 or n == connections:
                    points.append((n, rss_mb(proc.pid)))
        finally:
            proc.send_signal(signal.SIGTERM)
            await asyncio.wait_for(proc.communicate(), 120)
            server.close()  # type: ignore[attr-defined]
    return points


def main() -> int:
    """Print the recorder's RSS as connections go; exit status 1 over the target."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--connections", type=int, default=4000)
    parser.add_argument("--every", type=int, default=500)
    args = parser.parse_args()
    t0 = time.monotonic()
    points = asyncio.run(measure(args.connections, args.every))
    print(f"{'connections':>12}{'RSS MB':>10}")
    for n, mb in points:
        print(f"{n:>12}{mb:>10.1f}")
    growth = points[-1][1] - points[0][1]
    print(f"growth {growth:+.1f} MB over {args.connections} sequential connections "
          f"(after 100 to warm up; target within {TARGET_MB:.0f} MB); "
          f"{time.monotonic() - t0:.0f} s")
    return 0 if growth <= TARGET_MB else 1


if __name__ == "__main__":
    sys.exit(main())
