"""The soak matrix: N two-turn sessions per client through `rtkit record --listen` (to the fake
API), then the same sessions replayed by `rtkit serve` from what was recorded, each checked
frame by frame.

Through the recorder, a session held when:
- every frame the client sent is in its episode and reached the upstream, byte for byte, in
  order;
- every frame the upstream sent is in its episode and reached the client, byte for byte;
- the episode has its close line, and `rtkit record` exited 0.

Through `rtkit serve`, a replayed session held when every recorded server frame reached the
client unchanged (or with the ids the client invented rebound, as docs/replay.md documents),
every client event matched its recording but for those ids, and `rtkit serve --unplayed fail`
exited 0 (every episode played to its end, no mismatch).

`pressure=True` runs it all beside a busy-loop process pinned to each core.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import sys
from collections.abc import AsyncIterator, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rtkit.cassette import Cassette, Event
from rtkit.replay.matching import rewrite_ids
from tests.rtkit_process import RTKIT
from tests.soak.clients import CLIENTS, Session, session_name
from tests.soak.upstream import TappedFake

__all__ = ["Row", "busy_cores", "check_recorded", "check_replayed", "run_matrix"]

KEY = "sk-test-" + "soak-matrix-" + "k" * 20  # built at runtime: no key-shaped literal


@dataclass
class Row:
    """One line of the table: a client through one phase, under one pressure."""

    client: str
    phase: str  # "record" or "serve"
    pressure: str  # "idle" or "busy"
    runs: int = 0
    held: int = 0
    failures: list[str] = field(default_factory=list)

    @property
    def probe(self) -> str:
        return f"{self.client} via rtkit {self.phase} ({self.pressure})"

    @property
    def ok(self) -> bool:
        return self.held == self.runs and not self.failures


# -- the processes ------------------------------------------------------------------------------


@contextlib.asynccontextmanager
async def busy_cores(on: bool = True) -> AsyncIterator[int]:
    """A busy-loop process pinned to each core this process may run on; yields how many."""
    procs = []
    if on:
        for cpu in sorted(os.sched_getaffinity(0)):
            procs.append(await asyncio.create_subprocess_exec(
                sys.executable, "-c", f"import os\nos.sched_setaffinity(0, {{{cpu}}})\n"
                "while True:\n    pass"))
    try:
        yield len(procs)
    finally:
        for proc in procs:
            proc.kill()
            await proc.wait()


@contextlib.asynccontextmanager
async def _command(args: list[str], log: Path, problems: list[str]) -> AsyncIterator[str]:
    """Run an rtkit command that prints its URL first; yield the URL; SIGTERM it at the end
    and add to `problems` when it does not exit 0 (its stderr, in `log`, is named)."""
    with log.open("wb") as err:
        proc = await asyncio.create_subprocess_exec(
            *RTKIT, *args, stdout=asyncio.subprocess.PIPE, stderr=err,
            env={**os.environ, "OPENAI_API_KEY": KEY})
    assert proc.stdout is not None
    try:
        url = (await asyncio.wait_for(proc.stdout.readline(), 60)).decode().strip()
        if not url:
            raise RuntimeError(f"rtkit {args[0]} printed no URL: {log.read_text()[-2000:]}")
        yield url
    finally:
        if proc.returncode is None:
            proc.terminate()
        await asyncio.wait_for(proc.wait(), 120)
        if proc.returncode != 0:
            tail = log.read_text(errors="replace")[-1500:]
            problems.append(f"rtkit {args[0]} exited {proc.returncode} ({log}): {tail}")


# -- the checks ---------------------------------------------------------------------------------


def _episodes(cassette: Cassette) -> dict[str, tuple[int, list[Event], bool]]:
    """Each session's episode: conn, its events in order, whether it has a close line."""
    out: dict[str, tuple[int, list[Event], bool]] = {}
    for episode in cassette.episodes:
        name = session_name("?" + episode.query)
        if name is None or name in out:
            raise AssertionError(f"episode {episode.conn}: no session or a second one for "
                                 f"{name!r} ({episode.query})")
        lines = list(cassette.iter_episode(episode.conn))
        events = [x for x in lines if isinstance(x, Event)]
        if len(events) != len([x for x in lines if getattr(x, "dir", None)]):
            raise AssertionError(f"episode {episode.conn}: a frame that is not an event")
        out[name] = (episode.conn, events, episode.close is not None)
    return out


def _first_difference(what: str, expected: list[str], got: list[str]) -> str | None:
    for k, (a, b) in enumerate(zip(expected, got, strict=False)):
        if a != b:
            return f"{what}: frame {k} differs: {a[:120]!r} != {b[:120]!r}"
    if len(expected) != len(got):
        k = min(len(expected), len(got))
        extra = (expected if len(expected) > k else got)[k]
        return (f"{what}: {len(expected)} frame(s) expected, {len(got)} there; first missing "
                f"or extra: {extra[:160]!r}")
    return None


def check_recorded(session: Session, episode: tuple[int, list[Event], bool] | None,
                   upstream_received: list[str] | None, upstream_sent: list[str] | None
                   ) -> str | None:
    """Why session (through the recorder) did not hold, or None."""
    if session.error:
        return f"{session.name}: the client failed: {session.error}"
    if episode is None or upstream_received is None or upstream_sent is None:
        return f"{session.name}: no episode or no upstream connection for it"
    conn, events, closed = episode
    problems = [
        _first_difference("client frames in the cassette", session.sent,
                          [e.raw for e in events if e.dir == "client"]),
        _first_difference("server frames in the cassette", session.received,
                          [e.raw for e in events if e.dir == "server"]),
        _first_difference("client frames at the upstream", session.sent, upstream_received),
        _first_difference("upstream frames at the client", upstream_sent, session.received),
        None if closed else "the episode has no close line",
    ]
    found = [p for p in problems if p]
    return f"{session.name} (conn {conn}): " + "; ".join(found) if found else None


def _is_id_key(key: str) -> bool:
    return key in ("id", "event_id") or key.endswith("_id")


def _bind(recorded: Any, actual: Any, ids: dict[str, str], event_ids: dict[str, str]) -> None:
    """The ids the client invented: recorded value -> this run's, under id keys."""
    if isinstance(recorded, dict) and isinstance(actual, dict):
        for key, value in recorded.items():
            new = actual.get(key)
            if (_is_id_key(key) and isinstance(value, str) and isinstance(new, str)
                    and new != value):
                (event_ids if key == "event_id" else ids)[value] = new
            else:
                _bind(value, new, ids, event_ids)
    elif isinstance(recorded, list) and isinstance(actual, list):
        for r, a in zip(recorded, actual, strict=False):
            _bind(r, a, ids, event_ids)


def check_replayed(replay: Session, events: list[Event]) -> tuple[str | None, int]:
    """Why replayed session did not hold (or None), and how many server frames had ids
    rebound (the others must be the recorded bytes)."""
    if replay.error:
        return f"{replay.name} (replayed): the client failed: {replay.error}", 0
    recorded_client = [e.event for e in events if e.dir == "client"]
    recorded_server = [e.raw for e in events if e.dir == "server"]
    if len(replay.sent) != len(recorded_client):
        return (f"{replay.name} (replayed): {len(replay.sent)} client events, "
                f"{len(recorded_client)} recorded"), 0
    ids: dict[str, str] = {}
    event_ids: dict[str, str] = {}
    sent = [json.loads(text) for text in replay.sent]
    for recorded, actual in zip(recorded_client, sent, strict=True):
        _bind(recorded, actual, ids, event_ids)
    for k, (recorded, actual) in enumerate(zip(recorded_client, sent, strict=True)):
        if rewrite_ids(recorded, {**ids, **event_ids}) != actual:
            return f"{replay.name} (replayed): client event {k} differs beyond its ids", 0
    if len(replay.received) != len(recorded_server):
        return _first_difference(f"{replay.name} (replayed): server frames", recorded_server,
                                 replay.received), 0
    rebound = 0
    for k, (recorded, got) in enumerate(zip(recorded_server, replay.received, strict=True)):
        if recorded == got:
            continue
        expected = rewrite_ids(json.loads(recorded), ids)
        if expected.get("type") == "error" and isinstance(expected.get("error"), dict):
            eid = expected["error"].get("event_id")
            expected["error"]["event_id"] = event_ids.get(eid, eid)
        if expected != json.loads(got):
            return (f"{replay.name} (replayed): server frame {k} differs: {recorded[:120]!r} "
                    f"!= {got[:120]!r}"), rebound
        rebound += 1
    return None, rebound


# -- the matrix ---------------------------------------------------------------------------------


def names(client: str, n: int) -> list[str]:
    return [f"{client}-{i}" for i in range(n)]


async def run_matrix(clients: Iterable[str], n: int, workdir: Path, *, pressure: bool = False
                     ) -> list[Row]:
    """Rows for each client through `rtkit record`, then `rtkit serve`; under `pressure`
    with a busy-loop process pinned to each core."""
    clients = list(clients)
    tag = "busy" if pressure else "idle"
    cassette = workdir / f"soak-{tag}.jsonl"
    rows = {(c, p): Row(c, p, tag) for p in ("record", "serve") for c in clients}
    recorded: dict[str, list[Session]] = {}
    async with busy_cores(pressure):
        problems: list[str] = []
        async with TappedFake() as up, _command(
                ["record", "--listen", "127.0.0.1:0", "-o", str(cassette), "--upstream", up.url],
                workdir / f"record-{tag}.log", problems) as url:
            for client in clients:
                recorded[client] = await CLIENTS[client](url, names(client, n))
        for client in clients:
            rows[client, "record"].failures += problems
        episodes = _episodes(Cassette.load(cassette))
        wires = {session_name(target): wire for target, wire in up.wires.items()}
        for client in clients:
            row = rows[client, "record"]
            for session in recorded[client]:
                wire = wires.get(session.name)
                problem = check_recorded(
                    session, episodes.get(session.name),
                    None if wire is None else [m if isinstance(m, str) else m.decode()
                                               for m in wire.received],
                    None if wire is None else wire.sent)
                row.runs += 1
                row.held += problem is None
                if problem:
                    row.failures.append(problem)

        problems = []
        replayed: dict[str, list[Session]] = {}
        async with _command(["serve", str(cassette), "--listen", "127.0.0.1:0", "--unplayed",
                             "fail"], workdir / f"serve-{tag}.log", problems) as url:
            for client in clients:
                replayed[client] = await CLIENTS[client](url, names(client, n))
        for client in clients:
            row = rows[client, "serve"]
            row.failures += problems
            for replay in replayed[client]:
                episode = episodes.get(replay.name)
                problem, _ = (check_replayed(replay, episode[1]) if episode is not None
                              else (f"{replay.name}: nothing recorded to replay", 0))
                row.runs += 1
                row.held += problem is None
                if problem:
                    row.failures.append(problem)
    return list(rows.values())
