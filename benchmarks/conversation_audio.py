"""Benchmark: a long audio response through RealtimeConversation.

Feeds an N-minute assistant audio response (100 ms PCM16 deltas, as JSON text off the wire)
through ``json.loads`` + ``RealtimeConversation.process_event`` for N = 5, 10, 20 and compares
with merely ``json.loads``-ing the same lines in the same run. For each N the two are timed in
alternating pairs (9 by default) of CPU times; a pair gives a ratio, and the figure is the
median of the per-pair ratios (a ratio of medians would pair a fast run of one with a slow run
of the other on a loaded machine).

Targets (exit status 1 if missed):
- processing is linear: t(20) / t(10) <= 2.2, from the median times (the seed re-copied the
  whole buffer per delta, which is quadratic);
- processing (parse + process_event) takes <= 2x the bare JSON parse (median per-pair ratio).

Run: ``python benchmarks/conversation_audio.py`` (``--pairs N``; ``--quick``: 1, 2 and 4 minutes,
3 pairs, targets printed but not enforced).
"""

from __future__ import annotations

import argparse
import gc
import json
import statistics
import sys
import time
from collections.abc import Callable

import numpy as np

from rtkit.audio import int16_to_base64
from rtkit.client.conversation import RealtimeConversation

__all__ = ["main", "make_lines"]

CHUNK = 2400  # 100 ms at 24 kHz
MINUTES = (5, 10, 20)
QUICK_MINUTES = (1, 2, 4)
PAIRS = 9
MAX_GROWTH = 2.2
MAX_OVER_PARSE = 2.0


def make_lines(minutes: int) -> list[str]:
    """GA server events (JSON text) of one audio response lasting ``minutes``."""
    rng = np.random.default_rng(0)
    chunks = [int16_to_base64(rng.integers(-3000, 3000, CHUNK, dtype=np.int16)) for _ in range(8)]
    rid, iid = "resp_bench", "item_bench"
    item = {"id": iid, "object": "realtime.item", "type": "message", "status": "in_progress",
            "role": "assistant", "content": []}
    head = [
        {"type": "response.created", "event_id": "e_1",
         "response": {"id": rid, "object": "realtime.response", "status": "in_progress",
                      "output": [], "usage": None}},
        {"type": "response.output_item.added", "event_id": "e_2", "response_id": rid,
         "output_index": 0, "item": item},
        {"type": "conversation.item.added", "event_id": "e_3", "previous_item_id": None,
         "item": item},
        {"type": "response.content_part.added", "event_id": "e_4", "response_id": rid,
         "item_id": iid, "output_index": 0, "content_index": 0,
         "part": {"type": "audio", "transcript": ""}},
    ]
    lines = [json.dumps(e) for e in head]
    for k in range(minutes * 600):
        lines.append(json.dumps({
            "type": "response.output_audio.delta", "event_id": f"event_{k:07d}",
            "response_id": rid, "item_id": iid, "output_index": 0, "content_index": 0,
            "delta": chunks[k % len(chunks)], "obfuscation": "a1b2c3",
        }))
    done_item = dict(item, status="completed")
    lines.append(json.dumps({"type": "response.output_item.done", "event_id": "e_x",
                             "response_id": rid, "output_index": 0, "item": done_item}))
    lines.append(json.dumps({"type": "response.done", "event_id": "e_y",
                             "response": {"id": rid, "status": "completed",
                                          "output": [done_item], "usage": {"total_tokens": 1}}}))
    return lines


def _time(fn: Callable[[], None]) -> float:
    """CPU seconds of `fn` (single-threaded: on an idle machine, its wall time; on a shared
    one, without the time spent waiting for a core)."""
    gc.collect()
    t0 = time.process_time()
    fn()
    return time.process_time() - t0


def _parse_only(lines: list[str]) -> None:
    loads = json.loads
    for line in lines:
        loads(line)


def _process(lines: list[str]) -> None:
    loads = json.loads
    conv = RealtimeConversation()
    process = conv.process_event
    for line in lines:
        process(loads(line))
    item = conv.get_item("item_bench")
    assert item is not None and item["status"] == "completed"
    assert len(item["formatted"]["audio"]) == (len(lines) - 6) * CHUNK


def main() -> int:
    """Run the benchmark, print the figures, return 0 if the targets are met."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pairs", type=int, default=PAIRS, help="timed pairs per size")
    parser.add_argument("--quick", action="store_true", help="small sizes, 3 pairs")
    args = parser.parse_args()
    minutes_list = QUICK_MINUTES if args.quick else MINUTES
    pairs = 3 if args.quick else args.pairs
    times: dict[int, float] = {}
    ok = True
    from rtkit.audio import FAST_BASE64

    print(f"base64 decoder: {'pybase64' if FAST_BASE64 else 'stdlib binascii (slow)'}")
    warmup = make_lines(minutes_list[0])  # untimed: warms imports, caches and the allocator
    _parse_only(warmup)
    _process(warmup)
    del warmup
    print(f"{'minutes':>7} {'events':>7} {'process s':>10} {'json s':>8} {'ratio':>6} "
          f"{'range':>11}  ({pairs} pairs; medians; CPU seconds)")
    for minutes in minutes_list:
        lines = make_lines(minutes)
        t_parse, t_proc, ratios = [], [], []
        for _ in range(pairs):
            a = _time(lambda lines=lines: _parse_only(lines))
            b = _time(lambda lines=lines: _process(lines))
            t_parse.append(a)
            t_proc.append(b)
            ratios.append(b / a)
        times[minutes] = statistics.median(t_proc)
        ratio = statistics.median(ratios)
        print(f"{minutes:>7} {len(lines):>7} {times[minutes]:>10.3f} "
              f"{statistics.median(t_parse):>8.3f} {ratio:>6.2f} "
              f"{min(ratios):>5.2f}-{max(ratios):<5.2f}")
        if ratio > MAX_OVER_PARSE:
            ok = False
            print(f"  MISSED: processing is {ratio:.2f}x the bare parse (target <= "
                  f"{MAX_OVER_PARSE})")
    small, big = minutes_list[1], minutes_list[2]
    growth = times[big] / times[small]
    print(f"t({big})/t({small}) = {growth:.2f} (target <= {MAX_GROWTH})")
    if growth > MAX_GROWTH:
        ok = False
        print("  MISSED: processing time grows faster than linearly")
    if args.quick:
        print("(quick run: figures are not meaningful and targets are not enforced)")
        return 0
    print("OK" if ok else "FAILED")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
