"""Record a client's session several times from `rtkit fake` through `rtkit record --listen`
(each its own process, as a user runs them: the timing between the two is a real socket's),
then replay it many times from one `rtkit serve --repeat` process, the connections
concurrent: what issue 20 measured with real clients.

Every replay must see what its recording saw (the same things said, the same server events)
and `rtkit serve` must exit 0 with every episode played (`--unplayed fail`).
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rtkit.cassette import Cassette
from tests import rtkit_process

Converse = Callable[[str, list[str]], Awaitable[dict[str, Any]]]
ReplayAll = Callable[[str, int], Awaitable[list[Any]]]


@dataclass
class Many:
    """What the recordings and the replays gave, and how long the replays took."""

    cassette: Path
    recorded: list[dict[str, Any]]
    replayed: list[Any]  # a result, or the exception a replay raised
    code: int  # rtkit serve's exit status
    log: str  # rtkit serve's stderr
    seconds: float  # wall time of all the replays

    @property
    def passed(self) -> int:
        """Replays that saw what a recording saw."""
        return sum(1 for r in self.replayed if isinstance(r, dict) and _same(r, self.recorded))

    def report(self) -> str:
        """The count and what went wrong, for an assertion message."""
        failed = [r for r in self.replayed if not (isinstance(r, dict)
                                                   and _same(r, self.recorded))]
        first = f"; the first failure: {failed[0]!r}"[:3000] if failed else ""
        return (f"{self.passed} of {len(self.replayed)} replays saw the recorded session in "
                f"{self.seconds:.1f} s; rtkit serve exited {self.code}{first}\n{self.log}")


def _same(replayed: dict[str, Any], recorded: list[dict[str, Any]]) -> bool:
    """The same things said, and the server events of one recording (clients interleave the
    server's events with their own differently from run to run, so as a multiset)."""
    return any(replayed["said"] == r["said"]
               and sorted(replayed["seen"]) == sorted(r["seen"]) for r in recorded)


async def record(converse: Converse, cassette: Path, script: Any, questions: list[str],
                 times: int) -> list[dict[str, Any]]:
    """`times` fresh recordings of `converse(url, questions)` into one cassette (one episode
    each), from `rtkit fake` (playing `script`, a path or a mapping) through `rtkit record
    --listen`."""
    if isinstance(script, Path):
        script_file = script
    else:  # a mapping: the fake reads YAML, and JSON is YAML
        script_file = cassette.with_suffix(".script.json")
        script_file.write_text(json.dumps(script))
    fake, fake_url = await rtkit_process.start("fake", "--quiet", "--script", str(script_file),
                                               "--listen", "127.0.0.1:0")
    try:
        recorder, url = await rtkit_process.start(
            "record", "--listen", "127.0.0.1:0", "--upstream", fake_url, "-o", str(cassette),
            "--max-connections", str(times))
        results = []
        try:
            for _ in range(times):
                results.append(await asyncio.wait_for(converse(url, questions), 30))
        finally:
            code, log = await rtkit_process.finish(recorder, grace=10.0)
        assert code == 0, log
    finally:
        await rtkit_process.finish(fake)
    assert len(Cassette.load(cassette).episodes) == times
    return results


def concurrently(converse: Converse, questions: list[str], limit: int) -> ReplayAll:
    """Replay `n` sessions of `converse` at once (at most `limit` at a time), in this process."""

    async def replay_all(url: str, n: int) -> list[Any]:
        gate = asyncio.Semaphore(limit)

        async def one() -> dict[str, Any]:
            async with gate:
                return await asyncio.wait_for(converse(url, questions), 60)

        return list(await asyncio.gather(*(one() for _ in range(n)), return_exceptions=True))

    return replay_all


async def record_and_replay_many(converse: Converse, tmp_path: Path, script: Any,
                                 questions: list[str], *, recordings: int = 4,
                                 replays: int = 20, replay_all: ReplayAll | None = None,
                                 serve_args: tuple[str, ...] = ()) -> Many:
    """`recordings` fresh recordings, then `replays` replays of them from one `rtkit serve
    --repeat --unplayed fail`, concurrently (`replay_all(url, n)`, default: 5 at a time in
    this process)."""
    cassette = tmp_path / "sessions.jsonl"
    recorded = await record(converse, cassette, script, questions, recordings)
    proc, url = await rtkit_process.start(
        "serve", str(cassette), "--listen", "127.0.0.1:0", "--repeat", "--unplayed", "fail",
        "--max-connections", str(replays), *serve_args)
    try:
        started = time.perf_counter()
        replayed = await (replay_all or concurrently(converse, questions, 5))(url, replays)
        seconds = time.perf_counter() - started
    finally:
        code, log = await rtkit_process.finish(proc, grace=20.0, timeout=20.0)
    return Many(cassette, recorded, replayed, code, log, seconds)
