"""The strict replay engine (`order="strict"`): one recorded episode, driven by the
client's frames, in the recorded order. Also the outputs every engine gives its shells.

Feed it what the client sends; it returns what the server should send next. No sockets, no
clock: the shells (`ReplayServer`, `ReplayTransport`) move bytes and keep time. The default
engine is the causal one (`rtkit.replay.causal`); this one is what `order="strict"` selects.

Causal gating: a recorded server event is released once every client event recorded before it
has arrived and matched. Server events recorded before the first client event are released by
`start()`. A recorded server close is released as a `SendClose`.

A `session.update` may arrive earlier or later than recorded among the client events recorded
back to back with it (no server line between them): clients send it from tasks of their own
(openai-agents sends its tracing `session.update` when `session.created` arrives, racing the
app's first message), so its place in such a run changes from run to run. It is still compared
in full, `session.update`s keep their order among themselves, and nothing overtakes a recorded
server event; every other client event must come in the recorded order, so a missing or extra
event is still a mismatch at once.
"""

from __future__ import annotations

import json
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from rtkit.cassette import CloseLine, Event, Frame
from rtkit.cassette.reader import ServerEventText, ServerRun
from rtkit.errors import CannotOverwriteExistingCassetteException, CassetteError
from rtkit.replay.matching import Difference, MatchPolicy, collect_ids, compare_events
from rtkit.replay.rebinding import Rebinder
from rtkit.replay.report import mismatch_error, preview

__all__ = ["Line", "Output", "ReplayEngine", "SendClose", "SendError", "SendFrame", "SendRun",
           "api_error"]

Line = Event | Frame | CloseLine | ServerEventText | ServerRun
MAX_REORDER = 32  # how far ahead in a run of client events an early one is looked for
MOVABLE = "session.update"  # the client event that may move within its run


Anchor = tuple[float, float]
"""(recorded ms, real time in s) of the event a frame answers: a paced shell sends the frame
recorded at `t` ms at real time `anchor[1] + (t - anchor[0]) / 1000 / speed`."""


@dataclass(slots=True)
class SendFrame:
    """Send this text (or bytes: a binary frame) to the client; `t` is its recorded offset in
    ms. `text=True`: `data` is the UTF-8 bytes of a text frame (sent without decoding).
    `anchor` (the causal engine's): what its pacing is relative to."""

    data: str | bytes | memoryview
    t: float
    text: bool | None = None
    anchor: Anchor | None = None


@dataclass(slots=True)
class SendRun:
    """Send these recorded server events in order, each a text frame given as its UTF-8 bytes
    (instant pace only: a run has no per-event times)."""

    payloads: Sequence[bytes | memoryview]


@dataclass(frozen=True)
class SendClose:
    """Close the connection as recorded."""

    code: int | None
    reason: str
    t: float
    anchor: Anchor | None = None


@dataclass(frozen=True)
class SendError:
    """Send an API-shaped `error` event (a mismatch or bad input); `t` is unused."""

    event: dict[str, Any]
    t: float = 0.0

    @property
    def data(self) -> str:
        return json.dumps(self.event, separators=(",", ":"))


Output = SendFrame | SendRun | SendClose | SendError


def api_error(code: str, message: str, *, param: str | None = None,
              client_event_id: str | None = None,
              error_type: str = "invalid_request_error") -> dict[str, Any]:
    """An `error` server event shaped like the live API's."""
    import secrets

    return {
        "type": "error",
        "event_id": "event_" + secrets.token_hex(10),
        "error": {"type": error_type, "code": code, "message": message, "param": param,
                  "event_id": client_event_id},
    }


class EngineSurface:
    """What both engines (`ReplayEngine`, `rtkit.replay.causal.CausalEngine`) offer alike:
    the ids bound so far, and `start()` / `receive()` as lists of their lazy iterators."""

    rebinder: Rebinder

    def start_iter(self, now: float = 0.0) -> Iterator[Output]:
        raise NotImplementedError

    def receive_iter(self, data: str | bytes, now: float = 0.0,
                     event: dict[str, Any] | None = None) -> Iterator[Output]:
        raise NotImplementedError

    @property
    def bindings(self) -> dict[str, str]:
        """Recorded ids bound to the client's."""
        return self.rebinder.bindings

    @property
    def event_ids(self) -> dict[str, str]:
        """Recorded client event_ids bound to the client's."""
        return self.rebinder.event_ids

    def start(self, now: float = 0.0) -> list[Output]:
        """Outputs the recording sends on connect (e.g. `session.created`): `start_iter`."""
        return list(self.start_iter(now))

    def receive(self, data: str | bytes, now: float = 0.0,
                event: dict[str, Any] | None = None) -> list[Output]:
        """A client frame arrived: match it, and release what it gates (`receive_iter`).

        A mismatch sets `failure` and returns an `error` event for the client; once failed,
        every later frame gets an error too and nothing more is released."""
        return list(self.receive_iter(data, now, event))


@dataclass
class ReplayEngine(EngineSurface):
    """Replays one episode. `lines` is the episode's lines after its connect line, in order
    (an iterator is consumed lazily, so long episodes are streamed).

    `history` gives the same lines again from the start (a list's lines are reused): when a
    client event brings an id that differs from the recording, a second cursor reads the
    server events recorded before it, to tell an id the client invented (rebound) from one the
    server had announced (a mismatch). It is read only then, at most once over the episode.

    `position` counts client events matched so far; `failure` holds the first mismatch.
    """

    lines: Iterable[Line]
    policy: MatchPolicy = field(default_factory=MatchPolicy)
    cassette_path: str = "<cassette>"
    conn: int = 0
    record_mode: str = "none"
    history: Callable[[], Iterable[Line]] | None = None
    locate: Callable[[int], str | None] | None = None

    def __post_init__(self) -> None:
        self._it: Iterator[Line] = iter(self.lines)
        if self.history is None and isinstance(self.lines, list | tuple):
            recorded = self.lines
            self.history = lambda: recorded
        self._ahead: deque[Line] = deque()  # lines read from the episode, not yet taken
        self._early: list[Line] = []  # client events matched ahead of the one still owed
        self._exhausted = False
        self.rebinder = Rebinder(self.conn)
        self._consumed = 0  # recorded frames taken so far (where the history cursor must get to)
        self._history: Iterator[Line] | None = None
        self._history_at = 0
        self._announced: set[str] = set()  # ids the server sent before the current position
        self.position = 0
        self.received = 0  # client frames matched or refused
        self.anchor_t = 0.0  # recorded time of the last matched client event
        self.failure: CannotOverwriteExistingCassetteException | None = None
        self.closed = False
        self.played_server = 0

    # -- cursor ----------------------------------------------------------------------------

    def _peek(self, i: int = 0) -> Line | None:
        """The line `i` places ahead of the cursor (read from the episode as needed)."""
        ahead = self._ahead
        while len(ahead) <= i and not self._exhausted:
            try:
                ahead.append(next(self._it))
            except StopIteration:
                self._exhausted = True
        return ahead[i] if len(ahead) > i else None

    def _take(self) -> Line | None:
        line = self._peek()
        if line is not None:
            self._ahead.popleft()
            self._consumed += len(line) if type(line) is ServerRun else 1
        return line

    def _is_early(self, line: Line) -> bool:
        return any(line is early for early in self._early)

    @property
    def expected(self) -> Event | Frame | None:
        """The next client frame the cassette expects (None when no more are recorded)."""
        line = self._peek()
        return line if isinstance(line, Event | Frame) and line.dir == "client" else None

    @property
    def finished(self) -> bool:
        """True when every recorded line has been played."""
        return self._peek() is None

    def describe_expected(self) -> str:
        """A short description of what the engine waits for."""
        line = self._peek()
        if line is None:
            return "nothing (the episode is fully played)"
        if isinstance(line, Event):
            return f"client event {line.type!r} (recorded at {line.t:.0f} ms)"
        if isinstance(line, Frame):
            return f"a client {'binary' if line.binary is not None else 'text'} frame"
        return "the end of the episode"

    # -- driving ---------------------------------------------------------------------------

    def start_iter(self, now: float = 0.0) -> Iterator[Output]:
        """`start()` as a lazy iterator: a long response is streamed, never held whole
        (`now` is unused: this engine's shell paces from the last client event)."""
        return self._release()

    def _release(self) -> Iterator[Output]:
        while True:
            line = self._peek()
            if line is None:
                return
            kind = type(line)
            if kind is ServerRun:  # the hot path: most of a long episode, instant pace
                self._take()
                self.played_server += len(line)
                yield SendRun(self.rebinder.run(line))  # byte for byte unless rebound
                continue
            if kind is ServerEventText:  # the same, paced
                self._take()
                self.played_server += 1
                yield SendFrame(self.rebinder.payload(line.data), line.t, True)
                continue
            if isinstance(line, CloseLine):
                self._take()
                if line.by == "server" and not self.closed:
                    self.closed = True
                    yield SendClose(line.code, line.reason, line.t)
                continue
            if line.dir == "client":
                return
            self._take()
            self.played_server += 1
            if isinstance(line, Frame):
                yield SendFrame(line.binary if line.binary is not None else line.text or "",
                                line.t)
            else:
                yield SendFrame(self.rebinder.event(line), line.t)

    # -- client frames ---------------------------------------------------------------------

    def receive_iter(self, data: str | bytes, now: float = 0.0,
                     event: dict[str, Any] | None = None) -> Iterator[Output]:
        """`receive()` with the released events as a lazy iterator (`event`: the frame
        already parsed, if the caller did; `now` is unused here).

        The frame is matched at once (`failure`, `position` and `bindings` are up to date when
        this returns); the server events it releases are read from the cassette as the
        iterator is consumed. Consume it fully before the next call.
        """
        if self.failure is not None:
            return iter([SendError(api_error("replay_mismatch", str(self.failure)))])
        self.received += 1
        expected = self._peek()
        actual: dict[str, Any] | None = event
        if actual is None and isinstance(data, str):
            try:
                parsed = json.loads(data)
                actual = parsed if isinstance(parsed, dict) else None
            except (json.JSONDecodeError, RecursionError):
                actual = None
        if isinstance(expected, Frame) and expected.dir == "client":
            same = (expected.binary == data) if isinstance(data, bytes) else (expected.text == data)
            if same:
                return self._matched(expected, {}, None)
            return self._mismatch(expected, actual, data, [Difference("<frame>", expected.text
                                  if expected.binary is None else "<binary>", preview(data))])
        if not isinstance(expected, Event) or expected.dir != "client":
            return self._mismatch(None, actual, data, [])
        if actual is None:
            return self._mismatch(expected, None, data, [Difference("<frame>", "a JSON event",
                                                                    preview(data))])
        try:
            diffs, new = compare_events(expected.event, actual, self.policy, self.bindings,
                                        announced=self._announced_before)
        except RecursionError:
            diffs, new = [Difference("<event>", "an event", "JSON nested too deeply")], {}
        if diffs:
            if (early := self._match_ahead(expected, actual)) is not None:
                return early
            try:
                return self._mismatch(expected, actual, data, diffs)
            except RecursionError:  # a report of a value too deep for json.dumps
                return self._mismatch(expected, None, "<an event nested too deeply to show>",
                                      [Difference("<event>", "an event",
                                                  "JSON nested too deeply")])
        return self._matched(expected, new, actual)

    def _match_ahead(self, owed: Event, actual: dict[str, Any]) -> Iterator[Output] | None:
        """Match `actual` with a later client event of the run that starts with `owed` (the
        client events recorded back to back after it) when a `session.update` moves: the
        later event is one (it came early), or every event still owed before it is one (they
        come late). The matched event counts as played; nothing is released until the owed
        ones come. None when no such event matches."""
        owed_types = {owed.type}
        for i in range(1, MAX_REORDER):
            line = self._peek(i)
            if not isinstance(line, Event) or line.dir != "client":
                return None  # the run ends: nothing overtakes a server event or a frame
            if self._is_early(line):
                continue
            movable = line.type == MOVABLE or owed_types == {MOVABLE}
            if movable and line.type not in owed_types:
                try:
                    diffs, new = compare_events(line.event, actual, self.policy, self.bindings,
                                                announced=self._announced_before)
                except RecursionError:
                    return None
                if not diffs:
                    self._early.append(line)
                    self._bind(line, new, actual)
                    return iter(())
            owed_types.add(line.type)
        return None

    def _announced_before(self, value: str) -> bool:
        """Whether a server event recorded before the current position has `value` as an id
        (`*.delta` events are skipped: they repeat ids announced before them)."""
        if self.history is None:
            return False
        if self._history is None:
            self._history = iter(self.history())
        while self._history_at < self._consumed:
            line = next(self._history, None)
            if line is None:
                break
            if type(line) is ServerRun:
                self._history_at += len(line)
                for text in line.texts():
                    self._announce(text)
                continue
            self._history_at += 1
            if isinstance(line, Event | ServerEventText) and line.dir == "server":
                self._announce(line)
        return value in self._announced

    def _announce(self, line: Event | ServerEventText) -> None:
        if isinstance(line, ServerEventText):
            if b'.delta"' in bytes(line.data[:100]):
                return
        elif line.type.endswith(".delta"):
            return
        try:
            collect_ids(line.event, self._announced)
        except (RecursionError, CassetteError):
            return  # not an announcement anyone could have read

    def _matched(self, line: Event | Frame, new_bindings: dict[str, str],
                 actual: dict[str, Any] | None) -> Iterator[Output]:
        self._take()
        self._bind(line, new_bindings, actual)
        while self._early and (ahead := self._peek()) is not None and self._is_early(ahead):
            self._take()  # matched before `line` came
            self._early = [early for early in self._early if early is not ahead]
        return self._release()

    def _bind(self, line: Event | Frame, new_bindings: dict[str, str],
              actual: dict[str, Any] | None) -> None:
        """Record a matched client event: its id bindings, its event_id, the position."""
        self.rebinder.bind(line.event if isinstance(line, Event) else None, new_bindings,
                           actual)
        self.position += 1
        self.anchor_t = max(self.anchor_t, line.t)

    def _mismatch(self, expected: Event | Frame | None, actual: dict[str, Any] | None,
                  data: str | bytes, diffs: list[Difference]) -> Iterator[Output]:
        # in the recorded order the expected event is the next client event: the episode's
        # client event #position+1, its line #_consumed (as the causal engine's reports say)
        located = self.locate(self._consumed) if expected is not None and self.locate else None
        where = f"the episode's client event #{self.position + 1}, {located}" if located else ""
        self.failure = mismatch_error(
            cassette_path=self.cassette_path, conn=self.conn, position=self.position,
            expected=expected, actual=actual, data=data, diffs=diffs,
            record_mode=self.record_mode, where=where,
        )
        client_id = actual.get("event_id") if actual else None
        return iter([SendError(api_error("replay_mismatch", str(self.failure),
                                         client_event_id=client_id
                                         if isinstance(client_id, str) else None))])

    def unplayed(self) -> list[Line]:
        """Drain and return what was never played (call at the end of the connection)."""
        rest: list[Line] = []
        while (line := self._take()) is not None:
            if isinstance(line, CloseLine) or self._is_early(line):
                continue
            if isinstance(line, ServerRun):
                rest.extend(line.texts())
                continue
            rest.append(line)
        return rest

    def count_unplayed(self, sample: list[str] | None = None, limit: int = 5) -> int:
        """How many recorded frames were never played (drains the episode, O(1) memory).

        The first `limit` of them are appended to `sample` as "dir type" (e.g. "server
        response.done") so a report can say what was left.
        """
        n = 0
        while (line := self._take()) is not None:
            if isinstance(line, CloseLine) or self._is_early(line):
                continue
            items: Iterable[Any] = line.texts() if isinstance(line, ServerRun) else (line,)
            if isinstance(line, ServerRun) and (sample is None or n >= limit):
                n += len(line)
                continue
            for item in items:
                if sample is not None and n < limit:
                    sample.append(f"{item.dir} {_kind(item)}")
                n += 1
        return n


def _kind(line: Any) -> str:
    if isinstance(line, Event | ServerEventText):
        try:
            return line.type
        except CassetteError:  # an unreadable recorded event is still counted
            return "event"
    return "frame"
