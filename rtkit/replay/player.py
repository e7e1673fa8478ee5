"""What both replay shells share: choosing episodes, driving an engine over a link, pacing,
timeouts, bad input, and the end-of-run report. The shells only provide the `Link`."""

from __future__ import annotations

import asyncio
import json
import os
import time
import warnings
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol
from urllib.parse import parse_qsl

from rtkit.cassette import Cassette, Episode
from rtkit.errors import ReplayError, ReplayTimeout, RtkitUnplayedWarning
from rtkit.protocol.events import BETA_CLIENT_EVENTS, GA_CLIENT_EVENTS
from rtkit.replay.engine import (
    Output,
    ReplayEngine,
    SendClose,
    SendError,
    SendFrame,
    api_error,
)
from rtkit.replay.matching import Matcher, MatchPolicy
from rtkit.replay.pacing import Pace
from rtkit.transport.base import Close

__all__ = ["DEFAULT_MAX_MESSAGE", "CassettePlayer", "Link", "UnplayedPolicy", "drive"]

UnplayedPolicy = Literal["ignore", "warn", "fail"]
DEFAULT_MAX_MESSAGE = 15 * 1024 * 1024  # the live API's limit on one client message
KNOWN_CLIENT_EVENTS = GA_CLIENT_EVENTS | BETA_CLIENT_EVENTS
_SECRET_PARAMS = frozenset({"api_key", "api-key", "key", "token", "access_token"})


class Link(Protocol):
    """The shell's side of one connection, as the driver sees it."""

    async def recv(self, timeout: float | None) -> str | bytes | Close | None:
        """The next client frame, a `Close` when the client left, None on timeout."""

    async def send(self, data: str | bytes | memoryview, text: bool | None = None) -> None:
        """Send a frame to the client (`text=True`: `data` is a text frame's UTF-8 bytes)."""

    async def close(self, code: int | None, reason: str) -> None:
        """Close (code None: drop the connection without a close frame)."""


def _query_key(query: str) -> tuple[tuple[str, str], ...]:
    pairs = parse_qsl(query, keep_blank_values=True)
    return tuple(sorted((k, v) for k, v in pairs if k.lower() not in _SECRET_PARAMS))


def bad_input(data: str | bytes, max_size: int) -> dict[str, Any] | None:
    """The live API's answer to a frame it cannot take, or None if the frame is acceptable."""
    if isinstance(data, bytes):
        return api_error("invalid_event", "Expected a text WebSocket message; binary frames are "
                         "not supported.")
    if len(data.encode("utf-8")) > max_size:
        return api_error("message_too_large", f"The message is larger than the maximum of "
                         f"{max_size} bytes.")
    try:
        event = json.loads(data)
    except (json.JSONDecodeError, RecursionError) as exc:
        return api_error("invalid_json", f"The server failed to parse the JSON: {exc.msg}.")
    if not isinstance(event, dict):
        return api_error("invalid_event", "The event must be a JSON object.")
    etype = event.get("type")
    if etype not in KNOWN_CLIENT_EVENTS:
        return api_error("invalid_value", f"Invalid value: {etype!r}. Supported values are "
                         "the Realtime client event types.", param="type",
                         client_event_id=event.get("event_id"))
    return None


@dataclass
class CassettePlayer:
    """A cassette being replayed: hands out episodes and collects errors and leftovers.

    Options: `pace` ("instant", "recorded", "4x", a number), `audio_match` ("any", "length",
    "exact"), `ignore_paths`, `matchers`, `match_on`, `timeout` (s to wait for an expected
    client event, or for the client to close after the episode is played), `unplayed`
    ("ignore", "warn", "fail"), `record_mode` (only quoted in errors), `max_message` (bytes).
    """

    cassette: Cassette
    pace: Pace = field(default_factory=Pace)
    policy: MatchPolicy = field(default_factory=MatchPolicy)
    timeout: float = 10.0
    unplayed: UnplayedPolicy = "warn"
    record_mode: str = "none"
    max_message: int = DEFAULT_MAX_MESSAGE
    clock: Callable[[], float] = time.monotonic
    sleep: Callable[[float], Any] = asyncio.sleep

    def __post_init__(self) -> None:
        if self.unplayed not in ("ignore", "warn", "fail"):
            raise ValueError(f"unplayed must be 'ignore', 'warn' or 'fail', not {self.unplayed!r}")
        self.errors: list[ReplayError] = []
        self._raised: set[int] = set()  # errors check() already raised; end() skips them
        self.played: list[int] = []
        self.unplayed_events: dict[int, int] = {}  # conn -> frames never played
        self.unplayed_samples: dict[int, list[str]] = {}  # conn -> the first few, "dir type"
        self.bad_inputs: list[dict[str, Any]] = []
        self.connections = 0
        self.completed = 0  # connections whose replay has ended

    @classmethod
    def open(
        cls,
        cassette: Cassette | str | os.PathLike[str],
        *,
        pace: str | float | Pace | None = "instant",
        audio_match: str = "any",
        ignore_paths: Sequence[str] = (),
        matchers: Iterable[Matcher] = (),
        match_on: Sequence[str] = ("type", "content"),
        **options: Any,
    ) -> CassettePlayer:
        """Load (or take) a cassette and build a player from keyword options."""
        if not isinstance(cassette, Cassette):
            cassette = Cassette.load(cassette)
        policy = MatchPolicy(audio=audio_match, ignore_paths=tuple(ignore_paths),  # type: ignore[arg-type]
                             matchers=tuple(matchers), match_on=tuple(match_on))
        return cls(cassette, pace=Pace.parse(pace), policy=policy, **options)

    @property
    def path(self) -> str:
        """The cassette's path."""
        return str(self.cassette.path)

    def pick(self, path: str, query: str) -> Episode:
        """The next unplayed episode recorded for this path and query."""
        self.connections += 1
        want = (path.rstrip("/"), _query_key(query))
        for ep in self.cassette.episodes:
            if ep.conn in self.played:
                continue
            if (ep.path.rstrip("/"), _query_key(ep.query)) == want:
                self.played.append(ep.conn)
                return ep
        recorded = ", ".join(f"{e.path}?{e.query} (conn {e.conn}"
                             f"{', played' if e.conn in self.played else ''})"
                             for e in self.cassette.episodes) or "none"
        error = ReplayError(
            f"Replay: no unplayed episode in {self.path} for {path}?{query} (connection "
            f"#{self.connections}). Recorded episodes: {recorded}. Record mode: "
            f"{self.record_mode}. To fix: re-record the cassette (pytest --rt-record-mode="
            "new_episodes or rewrite) or connect with the recorded path and query."
        )
        self.errors.append(error)
        raise error

    def engine(self, episode: Episode) -> ReplayEngine:
        """A fresh engine for one episode, streaming its lines from disk."""
        lines = self.cassette.iter_episode(episode.conn, lazy_server=True)
        return ReplayEngine(lines, policy=self.policy, cassette_path=self.path, conn=episode.conn,
                            record_mode=self.record_mode)

    def finished(self, engine: ReplayEngine) -> None:
        """Account for an engine whose connection has ended."""
        self.completed += 1
        if engine.failure is not None and engine.failure not in self.errors:
            self.errors.append(engine.failure)
        sample: list[str] = []
        left = engine.count_unplayed(sample)
        if left:
            self.unplayed_events[engine.conn] = left
            self.unplayed_samples[engine.conn] = sample

    @property
    def unplayed_episodes(self) -> list[int]:
        """Episodes no connection asked for."""
        return [e.conn for e in self.cassette.episodes if e.conn not in self.played]

    def report(self) -> str:
        """What was left unplayed, in words ("" when everything was played)."""
        parts = []
        for conn, n in sorted(self.unplayed_events.items()):
            sample = self.unplayed_samples.get(conn, [])
            more = f" and {n - len(sample)} more" if n > len(sample) else ""
            parts.append(f"episode {conn}: {n} recorded event(s) were not played: "
                         f"{', '.join(sample)}{more}")
        if self.unplayed_episodes:
            parts.append(f"episodes never connected: {self.unplayed_episodes}")
        if not parts:
            return ""
        return f"{self.path}: {'; '.join(parts)}"

    def check(self) -> None:
        """Raise the first replay error (mismatch, timeout, no episode), if any."""
        if self.errors:
            self._raised.add(id(self.errors[0]))
            raise self.errors[0]

    def reported(self, error: BaseException) -> None:
        """`error` reached the user another way: `end()` must not raise it again."""
        self._raised.add(id(error))

    def end(self) -> None:
        """Apply the unplayed policy and raise the first error `check()` has not raised yet."""
        fresh = [e for e in self.errors if id(e) not in self._raised]
        if fresh:
            self._raised.add(id(fresh[0]))
            raise fresh[0]
        if self.errors:
            return  # what was left unplayed follows from the error already reported
        report = self.report()
        if report and self.unplayed == "fail":
            raise ReplayError(report + " (unplayed='fail')")
        if report and self.unplayed == "warn":
            warnings.warn(RtkitUnplayedWarning(report), stacklevel=2)


async def drive(player: CassettePlayer, engine: ReplayEngine, link: Link) -> None:
    """Replay one episode over `link` until it ends; errors are recorded on the player."""
    clock = player.clock
    anchor_real = clock()

    async def emit(outputs: Iterable[Output]) -> bool:
        paced = player.pace.speed is not None
        send = link.send
        for out in outputs:
            if type(out) is SendFrame and not paced:  # the hot path: one per replayed event
                await send(out.data, out.text)
                continue
            if isinstance(out, SendError):
                await send(out.data)
                continue
            if paced:
                delay = player.pace.due(out.t, engine.anchor_t, anchor_real) - clock()
                if delay > 0:
                    await player.sleep(delay)
            if isinstance(out, SendClose):
                await link.close(out.code, out.reason)
                return False
            await send(out.data, out.text)
        return True

    try:
        if not await emit(engine.start_iter()):
            return
        while True:
            expected = engine.expected
            frame = await link.recv(player.timeout)
            if frame is None:  # timed out
                if engine.failure is None and expected is not None:
                    error = ReplayTimeout(
                        f"Replay timeout in {player.path}, episode (conn) {engine.conn}: waited "
                        f"{player.timeout:g} s for {engine.describe_expected()}, which never "
                        f"came (client event #{engine.position + 1}). The app stopped before "
                        "doing what it did when the cassette was recorded; re-record if that "
                        "is intended.")
                    player.errors.append(error)
                    await link.send(SendError(api_error("replay_timeout",
                                                        str(error).splitlines()[0])).data)
                    await link.close(1011, "replay timeout")
                else:
                    await link.close(1000, "cassette fully played")
                return
            if isinstance(frame, Close):
                return
            exp = engine.expected
            problem = bad_input(frame, player.max_message)
            if problem is not None and not _is_expected_bad_frame(exp, frame):
                player.bad_inputs.append(problem)
                await link.send(json.dumps(problem, separators=(",", ":")))
                continue
            anchor_real = clock()
            outputs = engine.receive_iter(frame)
            if engine.failure is not None and engine.failure not in player.errors:
                player.errors.append(engine.failure)  # visible to the test at once
            if not await emit(outputs):
                return
    finally:
        player.finished(engine)


def _is_expected_bad_frame(expected: Any, frame: str | bytes) -> bool:
    from rtkit.cassette import Event, Frame

    if isinstance(expected, Frame):
        return True  # the recording had a non-JSON frame here: let the engine match it
    if isinstance(expected, Event) and isinstance(frame, str):
        try:
            return json.loads(frame).get("type") == expected.type
        except (json.JSONDecodeError, AttributeError, RecursionError):
            return False
    return False
