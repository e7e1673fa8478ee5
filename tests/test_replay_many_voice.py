"""A voice app (the `openai` SDK; push-to-talk, then server VAD) recorded 4 times with its
audio in 100 ms chunks, then replayed 20 times from `rtkit serve --repeat --audio-match
exact`, 10 of them sending the same audio in 200 ms chunks: input audio is matched by
position, so every replay sees its recording (issue 20: a strict replay fails at the first
append that is cut differently)."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from tests.many.harness import record_and_replay_many
from tests.many.voice_app import SAID, SCRIPT, converse


async def replay_all(url: str, n: int) -> list[Any]:
    """`n` sessions, 5 at a time, half of them in 200 ms chunks."""
    gate = asyncio.Semaphore(5)

    async def one(chunk_ms: int) -> dict[str, Any]:
        async with gate:
            return await asyncio.wait_for(converse(url, [], chunk_ms), 60)

    return list(await asyncio.gather(*(one(200 if k % 2 else 100) for k in range(n)),
                                     return_exceptions=True))


async def test_the_same_audio_in_100_and_200_ms_chunks_replays_20_of_20(tmp_path: Path) -> None:
    run = await record_and_replay_many(converse, tmp_path, SCRIPT, [], replay_all=replay_all,
                                       serve_args=("--audio-match", "exact"))
    assert all(r["said"] == SAID for r in run.recorded), run.recorded
    assert run.passed == 20 and run.code == 0, run.report()
    assert run.log.count("closed by the client") == 20, run.log
    print(f"\nvoice app, 100 and 200 ms chunks: {run.passed}/20 replays in {run.seconds:.1f} s")
