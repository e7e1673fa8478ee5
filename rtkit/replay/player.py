"""What both replay shells share: choosing episodes, driving an engine over a link, pacing,
timeouts, bad input, how a replayed connection ends, what is logged, and the end-of-run
report. The shells only provide the `Link`.

How the driver closes a connection (docs/replay.md has the table):

- as recorded, when the recording ends with the server closing;
- 1000 `cassette fully played`: all played, then the client stayed idle for `timeout` s;
- 4000 `invalid_request_error.replay_mismatch`: a client event did not match (right after
  the `error` event that carries the report);
- 4001 `invalid_request_error.replay_timeout`: an expected client event did not come within
  `timeout` s (after an `error` event);
- 1011 `rtkit: cannot read the cassette`: a cassette line could not be read;
- 1011: the replay itself failed (a bug): the shell closes (`rtkit serve`: `rtkit: internal
  error: <exception type>`, logged, an error of the run, exit 1);
- no close frame (TCP reset): the client stopped reading for `timeout` s while events were due.

After a mismatch or a timeout the driver keeps reading (and discarding) what the client sends
until the close handshake has ended, so the client's close is seen at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import time
import warnings
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol
from urllib.parse import parse_qsl

from rtkit.cassette import Cassette, Episode
from rtkit.cassette.redact import secret_name
from rtkit.errors import CassetteError, ReplayError, ReplayTimeout, RtkitUnplayedWarning
from rtkit.protocol.events import BETA_CLIENT_EVENTS, GA_CLIENT_EVENTS
from rtkit.replay.causal import CausalEngine
from rtkit.replay.engine import (
    Output,
    ReplayEngine,
    SendClose,
    SendError,
    SendFrame,
    SendRun,
    api_error,
)
from rtkit.replay.matching import Matcher, MatchPolicy
from rtkit.replay.pacing import Pace
from rtkit.transport.base import Close

__all__ = [
    "CLOSE_CASSETTE_ERROR",
    "CLOSE_MISMATCH",
    "CLOSE_PLAYED",
    "CLOSE_TIMEOUT",
    "DEFAULT_MAX_MESSAGE",
    "CassettePlayer",
    "Engine",
    "Link",
    "LinkStalled",
    "Order",
    "UnplayedPolicy",
    "drive",
]

UnplayedPolicy = Literal["ignore", "warn", "fail"]
Order = Literal["causal", "strict"]
Engine = CausalEngine | ReplayEngine
DEFAULT_MAX_MESSAGE = 15 * 1024 * 1024  # the live API's limit on one client message
KNOWN_CLIENT_EVENTS = GA_CLIENT_EVENTS | BETA_CLIENT_EVENTS
_MISSING = object()

CLOSE_PLAYED = (1000, "cassette fully played")
CLOSE_MISMATCH = (4000, "invalid_request_error.replay_mismatch")
CLOSE_TIMEOUT = (4001, "invalid_request_error.replay_timeout")
CLOSE_CASSETTE_ERROR = (1011, "rtkit: cannot read the cassette")


class LinkStalled(Exception):
    """Raised by a link's send when the client has not read anything for too long."""


class Link(Protocol):
    """The shell's side of one connection, as the driver sees it. `send`, `send_run` and
    `close` raise `LinkStalled` when the client stopped reading."""

    async def recv(self, timeout: float | None) -> str | bytes | Close | None:
        """The next client frame, a `Close` when the client left, None on timeout."""

    async def send(self, data: str | bytes | memoryview, text: bool | None = None) -> None:
        """Send a frame to the client (`text=True`: `data` is a text frame's UTF-8 bytes)."""

    async def send_run(self, payloads: Sequence[bytes | memoryview]) -> None:
        """Send text frames given as their UTF-8 bytes, in order (optional: the driver falls
        back to `send` per frame)."""

    async def close(self, code: int | None, reason: str) -> None:
        """Close (code None: drop the connection without a close frame)."""


def _query_key(query: str) -> tuple[tuple[str, str], ...]:
    pairs = parse_qsl(query, keep_blank_values=True)
    return tuple(sorted((k, v) for k, v in pairs if not secret_name(k)))


def bad_input(data: str | bytes, max_size: int) -> dict[str, Any] | None:
    """The live API's answer to a frame it cannot take, or None if the frame is acceptable."""
    return check_input(data, max_size)[0]


def check_input(data: str | bytes, max_size: int
                ) -> tuple[dict[str, Any] | None, dict[str, Any] | None]:
    """(the live API's answer to a frame it cannot take, or None; the frame's JSON object
    when it is one): the frame is parsed once, here."""
    if isinstance(data, bytes):
        return api_error("invalid_event", "Expected a text WebSocket message; binary frames "
                         "are not supported."), None
    if len(data) > max_size // 4 and len(data.encode("utf-8")) > max_size:
        return api_error("message_too_large", f"The message is larger than the maximum of "
                         f"{max_size} bytes."), None
    try:
        event = json.loads(data)
    except json.JSONDecodeError as exc:
        return api_error("invalid_json", f"The server failed to parse the JSON: {exc.msg}."), \
            None
    except RecursionError:
        return api_error("invalid_json", "The server failed to parse the JSON: it is nested "
                         "too deeply."), None
    if not isinstance(event, dict):
        return api_error("invalid_event", "The event must be a JSON object."), None
    event_id = event.get("event_id")
    client_event_id = event_id if isinstance(event_id, str) else None
    if "type" not in event:
        return api_error("missing_required_parameter", "Missing required parameter: 'type'.",
                         param="type", client_event_id=client_event_id), event
    etype = event["type"]
    if not isinstance(etype, str) or etype not in KNOWN_CLIENT_EVENTS:
        return api_error("invalid_value", f"Invalid value: {_short(etype)}. Supported values "
                         "are the Realtime client event types.", param="type",
                         client_event_id=client_event_id), event
    return None, event


def _short(value: Any, limit: int = 80) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[:limit] + "…"


@dataclass
class CassettePlayer:
    """A cassette being replayed: hands out episodes and collects errors and leftovers.

    Options: `order` ("causal": what each server event answers decides when it is sent, and
    independent client events may come in any order; "strict": the recorded order),
    `pace` ("instant", "recorded", "4x", a number), `audio_match` ("any", "length",
    "exact"; `audio_tolerance_ms` for "length"), `ignore_paths`, `matchers`, `match_on`,
    `timeout` (s to wait for an expected client event, for the client to close after the
    episode is played, or for a client that stopped reading), `unplayed` ("ignore", "warn",
    "fail"), `repeat` (once every episode of a path was played, serve them again),
    `record_mode` (only quoted in errors), `max_message` (bytes), `lazy` (index the cassette
    as episodes are asked for, for big cassettes), `log` (called with each line of the
    console log: connections, their end, mismatch reports).
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
    log: Callable[[str], None] | None = None
    order: Order = "causal"
    repeat: bool = False

    def __post_init__(self) -> None:
        if self.unplayed not in ("ignore", "warn", "fail"):
            raise ValueError(f"unplayed must be 'ignore', 'warn' or 'fail', not {self.unplayed!r}")
        if self.order not in ("causal", "strict"):
            raise ValueError(f"order must be 'causal' or 'strict', not {self.order!r}")
        self._served: set[int] = set()  # episodes played in this round (see `repeat`)
        self.rounds = 1
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
        audio_tolerance_ms: float = 0.0,
        lazy: bool = False,
        **options: Any,
    ) -> CassettePlayer:
        """Load (or take) a cassette and build a player from keyword options."""
        policy = MatchPolicy(audio=audio_match, ignore_paths=tuple(ignore_paths),  # type: ignore[arg-type]
                             matchers=tuple(matchers), match_on=tuple(match_on),
                             audio_tolerance_ms=float(audio_tolerance_ms))
        if not isinstance(cassette, Cassette):
            cassette = Cassette.load(cassette, lazy=lazy)
        return cls(cassette, pace=Pace.parse(pace), policy=policy, **options)

    @property
    def path(self) -> str:
        """The cassette's path."""
        return str(self.cassette.path)

    def emit(self, line: str) -> None:
        """Write a line of the console log (when a `log` was given)."""
        if self.log is not None:
            self.log(line)

    def _find(self, path: str, query: str, unplayed: bool) -> Episode | None:
        want = (path.rstrip("/"), _query_key(query))
        served = self._served
        return self.cassette.find_episode(
            lambda ep: (not unplayed or ep.conn not in served)
            and (ep.path.rstrip("/"), _query_key(ep.query)) == want)

    def peek(self, path: str, query: str) -> Episode | None:
        """The episode `pick` would give, without taking it (None if there is none)."""
        ep = self._find(path, query, unplayed=True)
        if ep is None and self.repeat:
            ep = self._find(path, query, unplayed=False)  # the next round's first
        return ep

    def pick(self, path: str, query: str) -> Episode:
        """The next unplayed episode recorded for this path and query; with `repeat`, once
        all of them were played, the first again (a new round, logged)."""
        self.connections += 1
        ep = self._find(path, query, unplayed=True)
        if ep is None and self.repeat:
            ep = self._find(path, query, unplayed=False)
            if ep is not None:
                want = (path.rstrip("/"), _query_key(query))
                self._served -= {e.conn for e in self.cassette.episodes
                                 if (e.path.rstrip("/"), _query_key(e.query)) == want}
                self.rounds += 1
                self.emit(f"every episode recorded for {path}?{query} has been played: "
                          f"starting over with episode {ep.conn} (repeat, round "
                          f"{self.rounds})")
        if ep is not None:
            self.played.append(ep.conn)
            self._served.add(ep.conn)
            return ep
        recorded = ", ".join(f"{e.path}?{e.query} (conn {e.conn}"
                             f"{', played' if e.conn in self.played else ''})"
                             for e in self.cassette.episodes) or "none"
        again = (" or serve the episodes again once all are played (rtkit serve --repeat, "
                 "repeat=True)" if recorded != "none" else "")
        error = ReplayError(
            f"Replay: no unplayed episode in {self.path} for {path}?{query} (connection "
            f"#{self.connections}). Recorded episodes: {recorded}. Record mode: "
            f"{self.record_mode}. To fix: re-record the cassette (pytest --rt-record-mode="
            f"new_episodes or rewrite), connect with the recorded path and query{again}."
        )
        self.errors.append(error)
        raise error

    def engine(self, episode: Episode) -> Engine:
        """A fresh engine for one episode, streaming its lines from disk (at instant pace,
        runs of server events come as one `ServerRun`)."""
        conn, cassette = episode.conn, self.cassette
        lines = cassette.iter_episode(conn, lazy_server=True, runs=self.pace.speed is None)

        def locate(index: int) -> str | None:
            try:
                number = cassette.line_number(conn, index)
            except (CassetteError, OSError, UnicodeDecodeError):
                return None
            return f"{self.path}:{number}" if number is not None else None

        if self.order == "strict":
            return ReplayEngine(lines, policy=self.policy, cassette_path=self.path, conn=conn,
                                record_mode=self.record_mode, locate=locate,
                                history=lambda: cassette.iter_episode(conn, lazy_server=True))
        return CausalEngine(lines, policy=self.policy, cassette_path=self.path, conn=conn,
                            record_mode=self.record_mode, locate=locate)

    def finished(self, engine: Engine) -> None:
        """Account for an engine whose connection has ended."""
        self.completed += 1
        if engine.failure is not None and engine.failure not in self.errors:
            self.errors.append(engine.failure)
        if self.unplayed == "ignore":
            return  # counting would read the rest of the episode from disk for nothing
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
        if self.errors or self.unplayed == "ignore":
            return  # what was left unplayed follows from the error already reported
        report = self.report()
        if report and self.unplayed == "fail":
            raise ReplayError(report + " (unplayed='fail')")
        if report and self.unplayed == "warn":
            warnings.warn(RtkitUnplayedWarning(report), stacklevel=2)


async def drive(player: CassettePlayer, engine: Engine, link: Link,
                label: str = "") -> None:
    """Replay one episode over `link` until it ends; errors are recorded on the player, and
    the connection's end (and any mismatch report) is logged (`player.log`).

    Paced replay of the causal engine listens while it waits: a client frame that arrives
    before the next server frame is due is matched at once (with its arrival time), so what
    it releases keeps its recorded delay from it, as each server frame keeps its delay from
    the client event it answers."""
    clock = player.clock
    pace = player.pace
    paced = pace.speed is not None
    listen = paced and isinstance(engine, CausalEngine)
    anchor_real = last_due = clock()  # the strict engine paces from the last client frame
    who = f"{label} episode {engine.conn}".strip()
    ending = "closed by the client"
    send_run = getattr(link, "send_run", None)

    def due(out: SendFrame | SendClose) -> float:
        nonlocal last_due
        anchor = out.anchor
        if anchor is None:
            return pace.due(out.t, engine.anchor_t, anchor_real)  # type: ignore[union-attr]
        last_due = max(last_due, pace.due(out.t, anchor[0], anchor[1]))
        return last_due

    async def send(out: Output) -> bool:
        """Send one output; False once the connection is closed (as recorded)."""
        nonlocal ending
        kind = type(out)
        if kind is SendRun:  # the hot path: runs of recorded events, instant pace
            if send_run is not None:
                await send_run(out.payloads)  # type: ignore[union-attr]
            else:
                for data in out.payloads:  # type: ignore[union-attr]
                    await link.send(data, True)
        elif kind is SendClose:
            ending = f"closed as recorded, by the server ({_code(out.code, out.reason)})"  # type: ignore[union-attr]
            await link.close(out.code, out.reason)  # type: ignore[union-attr]
            return False
        elif kind is SendError:
            await link.send(out.data)  # type: ignore[union-attr]
        else:
            await link.send(out.data, out.text)  # type: ignore[union-attr]
        return True

    async def refuse(code: int, reason: str) -> None:
        """Close with `code`, reading (and discarding) what the client still sends until the
        close handshake ends, so its close frame is seen at once."""
        nonlocal ending
        ending = f"closed by rtkit ({_code(code, reason)})"
        await _close_draining(link, code, reason, player.timeout)

    outputs: Iterator[Output] = engine.start_iter(clock())
    pending: Output | None = None
    try:
        while True:
            if pending is None:
                pending = next(outputs, None)
            if pending is not None:
                wait = due(pending) - clock() if paced and isinstance(
                    pending, SendFrame | SendClose) else 0.0
                if wait > 0 and not listen:
                    await player.sleep(wait)
                    wait = 0.0
                if wait <= 0:
                    out, pending = pending, None
                    if not await send(out):
                        return
                    continue
                frame = await link.recv(wait)  # listen until the next frame is due
                if frame is None:
                    continue
            else:
                frame = await link.recv(player.timeout)
                if frame is None:  # timed out
                    if engine.failure is None and engine.expected is not None:
                        error = ReplayTimeout(
                            f"Replay timeout in {player.path}, episode (conn) {engine.conn}: "
                            f"waited {player.timeout:g} s for {engine.describe_expected()}, "
                            f"which never came (client event #{engine.received + 1}). The "
                            "app stopped before doing what it did when the cassette was "
                            "recorded; re-record if that is intended.")
                        player.errors.append(error)
                        player.emit(f"{who}: {error}")
                        await link.send(SendError(api_error("replay_timeout", str(error))).data)
                        await refuse(*CLOSE_TIMEOUT)
                    else:
                        await refuse(*CLOSE_PLAYED)
                    return
            if isinstance(frame, Close):
                ending = (f"closed by the client ({_code(frame.code, frame.reason)})"
                          if frame.code is not None else "dropped by the client (no close frame)")
                return
            problem, event = check_input(frame, player.max_message)
            if problem is not None and not _is_expected_bad_frame(
                    engine.expected, frame, problem, player.max_message):
                player.bad_inputs.append(problem)
                player.emit(f"{who}: bad input from the client, answered with an error event "
                            f"({problem['error']['code']}): {problem['error']['message']}")
                await link.send(json.dumps(problem, separators=(",", ":")))
                continue
            anchor_real = clock()
            released = engine.receive_iter(frame, anchor_real, event)
            if engine.failure is not None:
                if engine.failure not in player.errors:
                    player.errors.append(engine.failure)  # visible to the test at once
                player.emit(f"{who}: mismatch at client event #{engine.received}:\n"
                            f"{engine.failure}")
                for out in released:  # the error event
                    await send(out)
                await refuse(*CLOSE_MISMATCH)
                return
            outputs = released  # it goes on where the last one stopped (pending first)
    except LinkStalled:
        error = ReplayTimeout(
            f"Replay in {player.path}, episode (conn) {engine.conn}: the client stopped "
            f"reading; events were due and nothing was read for {player.timeout:g} s, so the "
            "connection was dropped.")
        player.errors.append(error)
        ending = "dropped by rtkit (no close frame): the client stopped reading"
        player.emit(f"{who}: {error}")
        with contextlib.suppress(Exception):
            await link.close(None, "")
    except CassetteError as exc:
        error = ReplayError(f"Replay in {player.path}, episode (conn) {engine.conn}: {exc}")
        player.errors.append(error)
        player.emit(f"{who}: {error}")
        with contextlib.suppress(LinkStalled):
            await link.send(SendError(api_error("replay_cassette_error", str(error),
                                                error_type="server_error")).data)
            await refuse(*CLOSE_CASSETTE_ERROR)
    except Exception as exc:  # a bug: the shell closes with 1011 and records the failure
        ending = f"failed ({type(exc).__name__})"
        raise
    finally:
        player.finished(engine)
        player.emit(f"{who}: {ending}; {engine.position} client / {engine.played_server} "
                    "server event(s) played")


async def _close_draining(link: Link, code: int, reason: str, timeout: float) -> None:
    """`link.close(code, reason)` while reading and discarding client frames, until the
    client's close arrives or `timeout` s pass: a peer whose frames are not read cannot
    get its close frame through (websockets stops reading when its queue is full)."""
    closing = asyncio.ensure_future(link.close(code, reason))
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    try:
        while not closing.done():
            left = deadline - loop.time()
            if left <= 0:
                break
            reading = asyncio.ensure_future(link.recv(left))
            await asyncio.wait({closing, reading}, return_when=asyncio.FIRST_COMPLETED)
            if not reading.done():
                reading.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await reading
                continue
            frame = reading.result()
            if frame is None or isinstance(frame, Close):
                break
        await closing
    finally:
        if not closing.done():
            closing.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await closing


def _code(code: int | None, reason: str) -> str:
    if code is None:
        return "no close frame"
    return f"{code} {reason}" if reason else str(code)


def _is_expected_bad_frame(expected: Any, frame: str | bytes, problem: dict[str, Any],
                           max_message: int) -> bool:
    """Whether the recording has, at this point, a client frame as bad as this one (the
    engine then matches it as recorded): a recorded frame that is not a JSON event, an event
    with the same missing or unknown `type`, or an event as oversized and of the same type."""
    from rtkit.cassette import Event, Frame

    if isinstance(expected, Frame):
        return True  # the recording had a non-JSON frame here: let the engine match it
    code = problem["error"]["code"]
    if not isinstance(expected, Event) or not isinstance(frame, str) or code not in (
            "invalid_value", "missing_required_parameter", "message_too_large"):
        return False
    try:
        event = json.loads(frame)
    except (json.JSONDecodeError, RecursionError):
        return False
    if not isinstance(event, dict) or \
            event.get("type", _MISSING) != expected.event.get("type", _MISSING):
        return False
    return code != "message_too_large" or len(expected.raw.encode("utf-8")) > max_message
