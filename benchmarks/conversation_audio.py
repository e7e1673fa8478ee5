"""Benchmark: a long audio response through RealtimeConversation.

Feeds an N-minute assistant audio response (100 ms PCM16 deltas, as JSON text off the wire)
through ``json.loads`` + ``RealtimeConversation.process_event`` for N = 5, 10, 20 and compares
with merely ``json.loads``-ing the same lines in the same run.

Targets (exit status 1 if missed):
- processing is linear: t(20) / t(10) <= 2.2 (the seed re-copied the whole buffer per delta,
  which is quadratic);
- processing (parse + process_event) takes <= 2x the bare JSON parse.

Run: ``python benchmarks/conversation_audio.py``
"""

from __future__ import annotations

import gc
import json
import sys
import time
from collections.abc import Callable

import numpy as np

from rtkit.audio import int16_to_base64
from rtkit.client.conversation import RealtimeConversation

__all__ = ["main", "make_lines"]

CHUNK = 2400  # 100 ms at 24 kHz
MINUTES = (5, 10, 20)
REPEATS = 5
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


def _best(fn: Callable[[], None]) -> float:
    best = float("inf")
    for _ in range(REPEATS):
        gc.collect()
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best


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
    times: dict[int, float] = {}
    ok = True
    from rtkit.audio import FAST_BASE64

    print(f"base64 decoder: {'pybase64' if FAST_BASE64 else 'stdlib binascii (slow)'}")
    warmup = make_lines(MINUTES[0])  # untimed: warms imports, caches and the allocator
    _parse_only(warmup)
    _process(warmup)
    del warmup
    print(f"{'minutes':>7} {'events':>7} {'process s':>10} {'json s':>8} {'ratio':>6}")
    for minutes in MINUTES:
        lines = make_lines(minutes)
        t_parse = _best(lambda lines=lines: _parse_only(lines))
        t_proc = _best(lambda lines=lines: _process(lines))
        times[minutes] = t_proc
        ratio = t_proc / t_parse
        print(f"{minutes:>7} {len(lines):>7} {t_proc:>10.3f} {t_parse:>8.3f} {ratio:>6.2f}")
        if ratio > MAX_OVER_PARSE:
            ok = False
            print(f"  MISSED: processing is {ratio:.2f}x the bare parse (target <= "
                  f"{MAX_OVER_PARSE})")
    growth = times[20] / times[10]
    print(f"t(20)/t(10) = {growth:.2f} (target <= {MAX_GROWTH})")
    if growth > MAX_GROWTH:
        ok = False
        print("  MISSED: processing time grows faster than linearly")
    print("OK" if ok else "FAILED")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
