"""Benchmark: memory and time of the cassette tools on a large cassette.

Generates a cassette of voice sessions (GA: 5 s of input audio and 15 s of output audio with
its transcript per turn, 20 turns per episode, in 100 ms chunks, as `CassetteWriter` writes
them) of about `--gb` GB in a temporary directory, then runs each tool in its own process
and reads that process's peak RSS (VmHWM from /proc, or `ru_maxrss` where there is none):

- `rtkit inspect`, `rtkit validate`, `rtkit diff` (the file against itself), `rtkit audio`
  (into a temporary directory) and `ReplayTransport` (a client sending every recorded client
  event and receiving every server event): target peak RSS < 100 MB on a 1 GB cassette;
- `rtkit inspect` also for time, against a streaming `json.loads` of every line of the same
  file in its own process: target <= 2x, as the median of per-pair ratios (runs alternate).

Run: ``python benchmarks/tools_memory.py`` (1 GB, 9 pairs) or ``--quick`` (a 5 MB cassette,
1 pair; targets printed, not enforced). ``--gb`` and ``--pairs`` change the size and the
number of pairs. Exit status 1 when a target is missed (full runs only). The figures depend
on the machine's load: run it on an idle one.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from rtkit.audio import int16_to_base64
from rtkit.cassette.model import CloseLine, Connect, Header, event_line_head

__all__ = ["main", "make_cassette"]

MAX_RSS_MB = 100.0
MAX_INSPECT_RATIO = 2.0
TURNS = 20  # per episode
IN_CHUNKS, OUT_CHUNKS = 50, 150  # 100 ms chunks per turn: 5 s in, 15 s out


def _episode_lines(conn: int, chunks: list[str], turns: int) -> list[str]:
    """One voice session, as cassette lines (GA, server VAD)."""
    out: list[str] = [Connect(conn=conn, query="model=gpt-realtime").model_dump_json()]
    t = 0.0
    n = 0

    def ev(direction: str, event: str) -> None:
        nonlocal t, n
        t += 1.0
        n += 1
        out.append(event_line_head(conn, direction, t) + event + "}")

    def server(kind: str, body: str) -> None:
        ev("server", f'{{"type":"{kind}","event_id":"event_{conn}_{n}",{body}}}')

    server("session.created", '"session":{"type":"realtime","model":"gpt-realtime"}')
    ev("client", '{"type":"session.update","session":{"type":"realtime","audio":{"input":'
                 '{"turn_detection":{"type":"server_vad"}}}}}')
    server("session.updated", '"session":{"type":"realtime","model":"gpt-realtime"}')
    start_ms = 0
    for k in range(turns):
        user, item, resp = f"item_u{conn}_{k}", f"item_a{conn}_{k}", f"resp_{conn}_{k}"
        for c in range(IN_CHUNKS):
            ev("client", '{"type":"input_audio_buffer.append","audio":"'
               + chunks[(k + c) % len(chunks)] + '"}')
            if c == 2:
                server("input_audio_buffer.speech_started",
                       f'"audio_start_ms":{start_ms},"item_id":"{user}"')
        end_ms = start_ms + IN_CHUNKS * 100
        server("input_audio_buffer.speech_stopped", f'"audio_end_ms":{end_ms},"item_id":"{user}"')
        start_ms = end_ms
        server("input_audio_buffer.committed", f'"previous_item_id":null,"item_id":"{user}"')
        user_item = (f'{{"id":"{user}","type":"message","status":"completed","role":"user",'
                     '"content":[{"type":"input_audio","transcript":null}]}')
        server("conversation.item.added", f'"previous_item_id":null,"item":{user_item}')
        server("conversation.item.done", f'"previous_item_id":null,"item":{user_item}')
        server("response.created", f'"response":{{"id":"{resp}","object":"realtime.response",'
                                   '"status":"in_progress","output":[]}')
        msg = (f'{{"id":"{item}","type":"message","status":"in_progress","role":"assistant",'
               '"content":[]}')
        common = f'"response_id":"{resp}","item_id":"{item}","output_index":0,"content_index":0'
        server("response.output_item.added", f'"response_id":"{resp}","output_index":0,'
                                             f'"item":{msg}')
        server("conversation.item.added", f'"previous_item_id":"{user}","item":{msg}')
        server("response.content_part.added", f'{common},"part":{{"type":"audio",'
                                              '"transcript":""}')
        for c in range(OUT_CHUNKS):
            server("response.output_audio.delta",
                   f'{common},"delta":"{chunks[(k + c) % len(chunks)]}"')
            if c % 4 == 0:
                server("response.output_audio_transcript.delta", f'{common},"delta":"word "')
        server("response.output_audio.done", common)
        words = "word " * ((OUT_CHUNKS + 3) // 4)
        server("response.output_audio_transcript.done", f'{common},"transcript":"{words}"')
        done = (f'{{"id":"{item}","type":"message","status":"completed","role":"assistant",'
                f'"content":[{{"type":"output_audio","transcript":"{words}"}}]}}')
        server("response.content_part.done", f'{common},"part":{{"type":"audio",'
                                             f'"transcript":"{words}"}}')
        server("response.output_item.done", f'"response_id":"{resp}","output_index":0,'
                                            f'"item":{done}')
        server("conversation.item.done", f'"previous_item_id":"{user}","item":{done}')
        server("response.done", f'"response":{{"id":"{resp}","object":"realtime.response",'
                                f'"status":"completed","output":[{done}],'
                                '"usage":{"total_tokens":100}}')
    out.append(CloseLine(conn=conn, t=t, code=1000, by="client").model_dump_json())
    return out


def make_cassette(path: Path, size_bytes: int, turns: int = TURNS) -> int:
    """Write a cassette of at least `size_bytes` at `path` (episodes of `turns` turns);
    returns its size."""
    rng = np.random.default_rng(0)
    chunks = [int16_to_base64(rng.integers(-3000, 3000, 2400, dtype=np.int16))
              for _ in range(8)]
    header = Header(created="2026-01-01T00:00:00Z", rtkit="bench", dialect="ga",
                    model="gpt-realtime").model_dump_json()
    with open(path, "w", encoding="utf-8") as f:
        f.write(header + "\n")
        conn = 0
        while f.tell() < size_bytes:
            f.write("\n".join(_episode_lines(conn, chunks, turns)) + "\n")
            conn += 1
    return path.stat().st_size


# --------------------------------------------------------------------------- child processes

_PEAK = """
def _peak_mb():
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    import resource, sys
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return rss / (1024 * 1024 if sys.platform == "darwin" else 1024)
"""

# each child prints "<seconds> <peak MB>" as its last line
CHILDREN = {
    "json.loads": _PEAK + """
import json, sys, time
t0 = time.perf_counter()
loads = json.loads
with open(sys.argv[1], "rb", buffering=256 * 1024) as f:
    for line in f:
        loads(line)
print(time.perf_counter() - t0, _peak_mb())
""",
    "cli": _PEAK + """
import sys, time
from rtkit.cli import main
t0 = time.perf_counter()
try:
    main(sys.argv[1:], standalone_mode=False)
except SystemExit:
    pass
sys.stdout.flush()
print(time.perf_counter() - t0, _peak_mb(), file=sys.stderr)
""",
    "ReplayTransport": _PEAK + """
import asyncio, sys, time
from rtkit.cassette import Cassette, Event
from rtkit.transport.replay import ReplayTransport
from rtkit.transport.base import ConnectRequest

async def main(path):
    cassette = Cassette.load(path)
    transport = ReplayTransport(path)
    received = 0
    for ep in cassette.episodes:
        await transport.connect(ConnectRequest(url="ws://replay/v1/realtime?" + ep.query))

        async def receive(n):
            for _ in range(n):
                await transport.recv()

        reader = asyncio.ensure_future(receive(ep.n_server))
        for line in cassette.iter_episode(ep.conn):
            if isinstance(line, Event) and line.dir == "client":
                await transport.send(line.raw)
                await asyncio.sleep(0)
        await reader
        received += ep.n_server
        await transport.close()
    transport.check()
    return received

t0 = time.perf_counter()
n = asyncio.run(main(sys.argv[1]))
print(time.perf_counter() - t0, _peak_mb(), file=sys.stderr)
""",
}


def child(kind: str, *args: str) -> tuple[float, float]:
    """Run a child; (seconds, peak RSS MB)."""
    done = subprocess.run([sys.executable, "-c", CHILDREN[kind], *args], capture_output=True,
                          text=True)
    last = (done.stderr.strip().splitlines() or [""])[-1] if kind != "json.loads" else \
        (done.stdout.strip().splitlines() or [""])[-1]
    try:
        seconds, peak = map(float, last.split())
    except ValueError:
        raise SystemExit(f"{kind} {' '.join(args)} failed:\n{done.stdout[-2000:]}"
                         f"{done.stderr[-2000:]}") from None
    return seconds, peak


def main() -> int:
    """Run the benchmark, print figures and targets, return 0 if they are met."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--gb", type=float, default=1.0, help="cassette size in GB")
    parser.add_argument("--pairs", type=int, default=9, help="inspect / json.loads pairs")
    parser.add_argument("--quick", action="store_true", help="5 MB, 1 pair, not enforced")
    args = parser.parse_args()
    if args.quick:
        args.gb, args.pairs = 0.005, 1
    work = Path(tempfile.mkdtemp(prefix="rtkit-tools-bench-"))
    try:
        path = work / "big.jsonl"
        t0 = time.perf_counter()
        size = make_cassette(path, int(args.gb * 1e9), turns=2 if args.quick else TURNS)
        print(f"cassette: {size / 1e6:.0f} MB, written in {time.perf_counter() - t0:.1f} s")
        ok = True
        print(f"{'tool':<16} {'peak RSS MB':>12} {'seconds':>8}  target")
        runs = {
            "inspect": ("cli", "inspect", str(path)),
            "validate": ("cli", "validate", str(path)),
            "diff": ("cli", "diff", str(path), str(path)),
            "audio": ("cli", "audio", str(path), "-o", str(work / "wav")),
            "ReplayTransport": ("ReplayTransport", str(path)),
        }
        for name, (kind, *rest) in runs.items():
            seconds, peak = child(kind, *rest)
            met = peak < MAX_RSS_MB
            ok = ok and met
            print(f"{name:<16} {peak:>12.1f} {seconds:>8.2f}  < {MAX_RSS_MB:.0f} MB "
                  f"{'PASS' if met else 'FAIL'}")
            shutil.rmtree(work / "wav", ignore_errors=True)
        ratios = []
        for _ in range(args.pairs):
            t_json, _ = child("json.loads", str(path))
            t_inspect, _ = child("cli", "inspect", str(path))
            ratios.append(t_inspect / t_json)
        ratio = statistics.median(ratios)
        met = ratio <= MAX_INSPECT_RATIO
        ok = ok and met
        print(f"inspect / streaming json.loads: {ratio:.2f} (median of {len(ratios)} pairs, "
              f"{min(ratios):.2f}-{max(ratios):.2f}); target <= {MAX_INSPECT_RATIO} "
              f"{'PASS' if met else 'FAIL'}")
        if args.quick:
            print("(quick run: figures are not meaningful and targets are not enforced)")
            return 0
        print("all targets met" if ok else "some targets missed")
        return 0 if ok else 1
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
