"""The causal replay engine (`order="causal"`, the default): one recorded episode, driven by
the client's frames, in the order the Realtime protocol requires rather than the order the
recording happened to have.

- A recorded **server** event waits only for what it answers (`rtkit.replay.causes`): its
  `session.update`, the `conversation.item.create` of its item, the `response.create` of its
  response, the client's input audio reaching a VAD event's recorded position, ... Server
  events keep their recorded order among themselves, so one never overtakes another, and the
  server's answer never outruns its question.
- A client event matches **any** recorded client event of the episode that is still unmatched
  and whose own causes have been played (the ids it uses were announced, the conversation a
  `response.create` answers was made), compared in full as in strict order (ids bound as
  there). The earliest such event that matches is taken. So independent client events may
  come in any order; anything else that differs is a mismatch at once.
- Input audio is matched by position (`rtkit.replay.audio_stream`), however it is chunked.

No sockets and no clock: `now` (the shell's clock, in seconds) is passed in, and each
released frame carries its *anchor* (the recorded time and the real time of the event it
answers), from which the shell paces it.
"""

from __future__ import annotations

import json
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from rtkit.cassette import CloseLine, Event, Frame
from rtkit.cassette.reader import ServerEventText, ServerRun
from rtkit.errors import CannotOverwriteExistingCassetteException, CassetteError
from rtkit.replay.audio_stream import AudioGate, AudioStream, b64_size
from rtkit.replay.causes import STRICT, CausalTable, ClientNeeds, ServerGate
from rtkit.replay.engine import (
    EngineSurface,
    Line,
    Output,
    SendClose,
    SendError,
    SendFrame,
    SendRun,
    api_error,
)
from rtkit.replay.matching import Difference, MatchPolicy, compare_events
from rtkit.replay.rebinding import Rebinder
from rtkit.replay.report import mismatch_error, preview

__all__ = ["CausalEngine"]

MAX_SEARCH = 4096  # recorded lines read ahead, at most, to find the event a client sent
MAX_WINDOW = 1 << 16  # recorded lines held ahead of the replay, at most
APPEND = "input_audio_buffer.append"
BOUNDARIES = frozenset({"input_audio_buffer.commit", "input_audio_buffer.clear"})
_SESSION_EVENTS = frozenset({"session.created", "session.updated"})
_MISSING = object()
_INF = float("inf")


@dataclass(eq=False, slots=True)
class _Client:
    """A recorded client event in the window."""

    seq: int  # recorded frames of the episode before it
    number: int  # its number among the episode's client events, from 1
    servers_before: int  # recorded server events before it
    t: float
    kind: str
    line: Event | Frame | None  # None: an append whose audio is not needed
    append: bool = False  # matched by position (input audio)
    boundary: bool = False  # a commit or clear: ends an audio segment
    needs: ClientNeeds = field(default_factory=ClientNeeds)
    matched: bool = False
    at: float = 0.0  # real time it matched
    seg: int = -1  # appends and boundaries: the audio segment
    start: int = 0
    end: int = 0
    audio: Any = None  # "exact": the recorded base64, then its decoded bytes


@dataclass(eq=False, slots=True)
class _Server:
    """Recorded server events (one, or a run) waiting in the window to be released."""

    seq: int
    line: Any  # ServerRun, ServerEventText, Event, Frame or CloseLine
    count: int  # server events it holds
    gate: ServerGate
    audio: AudioGate | None
    last_client: _Client | None  # the client event recorded just before it


def _sniff(buf: bytes, lo: int, hi: int) -> str | None:
    """The top-level `type` of the JSON object in buf[lo:hi] when it is among its first
    bytes in the compact form, else None (then the caller parses)."""
    end = min(hi, lo + 256)
    i = buf.find(b'"type":"', lo, end)
    if i < 0 or buf.find(b"{", lo + 1, i) >= 0:
        return None
    j = buf.find(b'"', i + 8, min(hi, i + 8 + 128))
    if j < 0 or buf.find(b"\\", i + 8, j) >= 0:
        return None
    return buf[i + 8:j].decode("utf-8", "replace")


def _parse(data: bytes | memoryview) -> dict[str, Any] | None:
    try:
        event = json.loads(bytes(data))
    except (ValueError, RecursionError):
        return None
    return event if isinstance(event, dict) else None


@dataclass
class CausalEngine(EngineSurface):
    """Replays one episode in causal order (see the module docstring). `lines` is the
    episode's lines after its connect line, in order (an iterator is read lazily, as far as
    the replay needs, so long episodes are streamed).

    `locate(index)`, when given, names where the episode's `index`-th line (from 0) is in
    the cassette (`path:line`), for the mismatch report. `position` counts the recorded
    client events played, `received` the client's events; `failure` holds the first
    mismatch."""

    lines: Iterable[Line]
    policy: MatchPolicy = field(default_factory=MatchPolicy)
    cassette_path: str = "<cassette>"
    conn: int = 0
    record_mode: str = "none"
    locate: Callable[[int], str | None] | None = None

    def __post_init__(self) -> None:
        self._it: Iterator[Line] = iter(self.lines)
        self._exhausted = False
        self._clients: list[_Client] = []  # the window's client events, from `_lo` on
        self._lo = 0
        self._servers: deque[_Server] = deque()
        self._seq = 0  # recorded frames read
        self._servers_read = 0
        self._numbered = 0  # client events read
        self._last_client: _Client | None = None
        self.table = CausalTable()
        policy = self.policy
        mode = policy.audio if "content" in policy.match_on and \
            "audio" not in policy.ignore_paths else "any"
        self.stream = AudioStream(mode)
        self.rebinder = Rebinder(self.conn)
        self._matched_events = 0
        self.received = 0
        self.released = 0
        self.failure: CannotOverwriteExistingCassetteException | None = None
        self.closed = False
        self._start_at = 0.0
        self._last_anchor: tuple[float, float] = (0.0, 0.0)
        self._threads: dict[str, tuple[float, float]] = {}  # "response" -> its start's anchor

    # -- what the driver reads -------------------------------------------------------------

    @property
    def position(self) -> int:
        """Recorded client events played so far (appends count once the audio passed them)."""
        return self._matched_events + self.stream.passed

    @property
    def played_server(self) -> int:
        """Recorded server events released so far."""
        return self.released

    @property
    def expected(self) -> Event | Frame | None:
        """The earliest recorded client event not played yet (None when all are)."""
        entry = self._first_unmatched()
        if entry is None:
            return None
        if entry.line is None:  # an append whose audio was not kept
            return Event.model_construct(conn=self.conn, dir="client", t=entry.t, raw="",
                                         event={"type": APPEND})
        return entry.line

    @property
    def finished(self) -> bool:
        """True when every recorded line has been played."""
        while not self._exhausted and not self._servers and self._oldest() is None:
            self._read_one()
        return self._exhausted and not self._servers and self._oldest() is None

    def describe_expected(self) -> str:
        """A short description of what the replay waits for."""
        head = self._servers[0] if self._servers else None
        if head is not None and not self._ready(head):
            gate = head.gate
            if gate.answers is not None and not gate.answers.matched:
                return self._describe(gate.answers)
            if head.audio is not None and head.audio.at is None:
                return self.stream.describe(head.audio, self.table.bytes_per_ms)
        entry = self._first_unmatched()
        if entry is None:
            return "nothing (the episode is fully played)"
        return self._describe(entry)

    def _describe(self, entry: _Client) -> str:
        if isinstance(entry.line, Frame):
            return f"a client {'binary' if entry.line.binary is not None else 'text'} frame"
        return (f"client event {entry.kind!r} (recorded at {entry.t:.0f} ms, the episode's "
                f"client event #{entry.number})")

    # -- reading the recording -------------------------------------------------------------

    def _window(self) -> int:
        return len(self._clients) - self._lo + len(self._servers)

    def _oldest(self) -> _Client | None:
        """The oldest unmatched client event in the window."""
        clients, lo = self._clients, self._lo
        while lo < len(clients) and clients[lo].matched:
            lo += 1
        self._lo = lo
        return clients[lo] if lo < len(clients) else None

    def _compact(self) -> None:
        """Forget the matched client events before the window's start (never while the
        window is being walked: `_candidates` walks it by index)."""
        self._oldest()
        if self._lo > 1024 and self._lo * 2 > len(self._clients):
            del self._clients[:self._lo]
            self._lo = 0

    def _first_unmatched(self) -> _Client | None:
        entry = self._oldest()
        searched = 0
        while entry is None and searched < MAX_SEARCH and self._read_one():
            searched += 1
            entry = self._oldest()
        return entry

    def _read_one(self) -> bool:
        """Read the next recorded line into the window; False at the end of the episode."""
        if self._exhausted:
            return False
        line = next(self._it, None)
        if line is None:
            self._exhausted = True
            self.stream.recorded_end()
            return False
        kind = type(line)
        if kind is ServerRun:
            self._read_run(line)
        elif kind is ServerEventText:
            head = bytes(line.data[:256])
            etype = _sniff(head, 0, len(head))
            event = None if etype is not None and etype.endswith(".delta") else _parse(line.data)
            if event is not None:
                etype = event.get("type") if isinstance(event.get("type"), str) else ""
            self._add_server(line, 1, self._server_gate(etype or "", event))
        elif kind is CloseLine:
            if line.by == "server":
                self._servers.append(_Server(self._seq, line, 0, STRICT, None,
                                             self._last_client))
        elif line.dir == "server":
            if isinstance(line, Event):
                gate = self._server_gate(line.type, line.event)
            else:
                gate = self._server_gate("", None)
            self._add_server(line, 1, gate)
        else:
            self._add_client(line)
        return True

    def _server_gate(self, etype: str, event: dict[str, Any] | None) -> ServerGate:
        gate = self.table.server(etype, event)
        if etype in _SESSION_EVENTS:
            self.stream.tolerance = int(self.policy.audio_tolerance_ms
                                        * self.table.bytes_per_ms)
        return gate

    def _add_server(self, line: Any, count: int, gate: ServerGate) -> None:
        audio = None
        if gate.audio_ms is not None:
            audio = self.stream.gate(gate.audio_ms, self.table.bytes_per_ms)
        self._servers.append(_Server(self._seq, line, count, gate, audio, self._last_client))
        self._seq += count
        self._servers_read += count

    def _read_run(self, run: ServerRun) -> None:
        """Split a run of recorded server events where one waits for something of its own
        (most of a response waits for nothing but its start, and stays one run)."""
        block, starts, payloads = run.block, run.starts, run.payloads
        first, gate = 0, None
        for i, lo in enumerate(starts):
            data = payloads[i]
            etype = _sniff(block, lo, lo + len(data))
            event = None if etype is not None and etype.endswith(".delta") else _parse(data)
            if event is not None:
                etype = event.get("type") if isinstance(event.get("type"), str) else ""
            g = self._server_gate(etype or "", event)
            if gate is None:
                gate = g
            elif g.own and not (g.strict and gate.strict):
                self._add_run(run, first, i, gate)
                first, gate = i, g
        if gate is not None:
            self._add_run(run, first, len(starts), gate)

    def _add_run(self, run: ServerRun, lo: int, hi: int, gate: ServerGate) -> None:
        part = run if lo == 0 and hi == len(run) else \
            ServerRun(run.conn, run.block, run.payloads[lo:hi], run.starts[lo:hi])
        self._add_server(part, hi - lo, gate)

    def _add_client(self, line: Event | Frame) -> None:
        self._numbered += 1
        event = line.event if isinstance(line, Event) else None
        kind = str(event.get("type", "")) if event is not None else ""
        entry = _Client(self._seq, self._numbered, self._servers_read, line.t, kind, line)
        self._seq += 1
        audio = event.get("audio") if kind == APPEND and event is not None else None
        if isinstance(audio, str):
            entry.append = True
            if self.stream.mode == "exact":
                entry.audio = audio
            else:
                entry.line = None  # only its length matters: do not hold its audio
            self.stream.recorded_append(entry, audio, line.t)
        else:
            entry.needs = self.table.client(entry, event)
            if kind in BOUNDARIES and event is not None:
                entry.boundary = True
                self.stream.recorded_boundary(entry)
        self._clients.append(entry)
        self._last_client = entry

    # -- driving ---------------------------------------------------------------------------

    def start_iter(self, now: float = 0.0) -> Iterator[Output]:
        """`start()` as a lazy iterator: a long response is streamed, never held whole."""
        self._start_at = now
        self._last_anchor = (0.0, now)
        return self._release()

    def _ready(self, head: _Server) -> bool:
        gate = head.gate
        if gate.answers is not None and not gate.answers.matched:
            return False
        if head.audio is not None and head.audio.at is None:
            return False
        if gate.strict:
            oldest = self._oldest()
            if oldest is not None and oldest.seq < head.seq:
                return False
        return True

    def _release(self) -> Iterator[Output]:
        """Release the recorded server events whose causes have been played, in order. A
        new call continues where an unfinished one stopped."""
        servers = self._servers
        while not self.closed:
            if not servers:
                if self._window() >= MAX_WINDOW or not self._read_one():
                    return
                continue
            head = servers[0]
            if not self._ready(head):
                return
            servers.popleft()
            yield self._output(head)

    def _anchor(self, head: _Server) -> tuple[float, float]:
        """(recorded ms, real s) the frame is paced from: what it answers, else the start of
        what it belongs to (its response, its input audio), else the frame before it."""
        gate = head.gate
        if gate.answers is not None:
            anchor = (gate.answers.t, gate.answers.at)
        elif head.audio is not None and head.audio.at is not None:
            anchor = (head.audio.t, head.audio.at)
        elif gate.strict:
            last = head.last_client
            anchor = (last.t, last.at) if last is not None and last.matched else \
                (0.0, self._start_at)
        elif gate.thread and not gate.starts:
            return self._threads.get(gate.thread, self._last_anchor)
        else:
            anchor = self._last_anchor
        if gate.thread:
            self._threads[gate.thread] = anchor
        return anchor

    def _output(self, head: _Server) -> Output:
        anchor = self._last_anchor = self._anchor(head)
        line = head.line
        self.released += head.count
        kind = type(line)
        if kind is ServerRun:
            return SendRun(self.rebinder.run(line))
        if kind is ServerEventText:
            return SendFrame(self.rebinder.payload(line.data), line.t, True, anchor)
        if kind is CloseLine:
            self.closed = True
            return SendClose(line.code, line.reason, line.t, anchor)
        if isinstance(line, Frame):
            return SendFrame(line.binary if line.binary is not None else line.text or "",
                             line.t, None, anchor)
        return SendFrame(self.rebinder.event(line), line.t, None, anchor)

    def receive_iter(self, data: str | bytes, now: float = 0.0,
                     event: dict[str, Any] | None = None) -> Iterator[Output]:
        """A client frame arrived (`event`: the frame already parsed, if the caller did):
        match it at once (`failure`, `position` and the bindings are up to date when this
        returns), and return the server events it releases as a lazy iterator. A mismatch
        sets `failure` and returns an `error` event for the client; once failed, every later
        frame gets an error too and nothing more is released. An unfinished iterator of a
        previous call may be dropped: this one continues it."""
        if self.failure is not None:
            return iter([SendError(api_error("replay_mismatch", str(self.failure)))])
        self.received += 1
        actual = event
        if actual is None and isinstance(data, str):
            actual = _parse_str(data)
        if actual is not None and actual.get("type") == APPEND and \
                isinstance(actual.get("audio"), str):
            return self._append(actual, data, now)
        self._compact()
        try:
            entry, diffs, new, note = self._find(data, actual)
        except RecursionError:
            return self._mismatch(None, None, "<an event nested too deeply to show>",
                                  [Difference("<event>", "an event", "JSON nested too deeply")])
        if diffs or note or entry is None:
            try:
                return self._mismatch(entry, actual, data, diffs, reason=note or None)
            except RecursionError:
                return self._mismatch(entry, None, "<an event nested too deeply to show>",
                                      [Difference("<event>", "an event",
                                                  "JSON nested too deeply")])
        if entry.boundary:
            problem = self.stream.boundary(now)
            if problem is not None:
                what, _ = problem
                return self._mismatch(entry, actual, data, [Difference(
                    "<input audio>", "the recorded input audio", what)])
        self._matched(entry, new, actual, now)
        return self._release()

    def _append(self, actual: dict[str, Any], data: str | bytes,
                now: float) -> Iterator[Output]:
        """An `input_audio_buffer.append`: matched by position in the audio stream."""
        stream = self.stream
        audio: str = actual["audio"]
        size = b64_size(audio)
        searched = 0
        while stream.needs_recorded(size) and searched < MAX_WINDOW and self._read_one():
            searched += 1
        if not stream.recorded_has_audio:
            return self._mismatch(self._first_eligible(), actual, data, [Difference(
                "type", "the recorded client event", "input audio where the recording has "
                "none")], reason=f"client event #{self.received} is input audio where the "
                "recording has none")
        problem = stream.append(audio, now)
        if problem is not None:
            what, at = problem
            ms = at / self.table.bytes_per_ms
            return self._mismatch(None, actual, data, [Difference(
                "audio", "the recorded input audio", what)],
                reason=(f"client event #{self.received} ({APPEND}) does not match the recorded "
                        f"input audio: {what}, at byte {at} ({ms:.0f} ms) of the audio since "
                        "the last commit"))
        return self._release()

    # -- matching --------------------------------------------------------------------------

    def _eligible(self, entry: _Client) -> bool:
        """Whether the causes of a recorded client event have been played."""
        if entry.boundary:
            return entry.seg == self.stream.segment
        needs = entry.needs
        if needs.strict:
            return self.released >= entry.servers_before and self._oldest() is entry
        if self.released < needs.servers:
            return False
        return all(c.matched for c in needs.clients)

    def _candidates(self) -> Iterator[_Client]:
        """The window's unmatched client events in recorded order, then more read ahead."""
        i = self._lo
        searched = 0
        while True:
            clients = self._clients
            while i < len(clients):
                entry = clients[i]
                i += 1
                if not entry.matched and not entry.append:
                    yield entry
            if searched >= MAX_SEARCH or not self._read_one():
                return
            searched += 1

    def _find(self, data: str | bytes, actual: dict[str, Any] | None
              ) -> tuple[_Client | None, list[Difference], dict[str, str], str]:
        """The earliest eligible recorded client event that matches the frame (no diffs, no
        note), else the nearest one, how it differs and why it cannot come now (None: there
        is none to compare with)."""
        near: tuple[_Client, list[Difference]] | None = None
        first: _Client | None = None
        for entry in self._candidates():
            same, diffs, new = self._compare(entry, data, actual)
            if not same:
                continue
            if not self._eligible(entry):
                if first is None:
                    first = entry
                continue
            if not diffs:
                return entry, [], new, ""
            if near is None or len(diffs) < len(near[1]):
                near = (entry, diffs)  # the closest: the fewest differences
        if near is not None:
            return near[0], near[1], {}, ""
        if first is not None:  # it may only come later
            _, diffs, _ = self._compare(first, data, actual)
            if diffs:
                return first, diffs, {}, ""
            return first, [], {}, (f"client event #{self.received} came too early: the "
                                   f"recorded {first.kind!r} it matches comes only "
                                   f"{self._needs_text(first)}")
        other = self._first_eligible()
        if other is None:
            return None, [], {}, ""
        _, diffs, _ = self._compare(other, data, actual, force=True)
        return other, diffs, {}, ""

    def _first_eligible(self) -> _Client | None:
        for entry in self._candidates_in_window():
            if self._eligible(entry):
                return entry
        return None

    def _candidates_in_window(self) -> Iterator[_Client]:
        clients = self._clients
        for i in range(self._lo, len(clients)):
            if not clients[i].matched and not clients[i].append:
                yield clients[i]

    def _compare(self, entry: _Client, data: str | bytes, actual: dict[str, Any] | None,
                 force: bool = False) -> tuple[bool, list[Difference], dict[str, str]]:
        """(same kind of frame, differences, new id bindings) of a recorded client event
        and the client's frame."""
        line = entry.line
        if isinstance(line, Frame):
            if actual is not None and not force:
                return False, [], {}
            same = (line.binary == data) if isinstance(data, bytes) else (line.text == data)
            shown = line.text if line.binary is None else "<binary>"
            return True, [] if same else [Difference("<frame>", shown, preview(data))], {}
        assert line is not None
        if actual is None:
            return force, [Difference("<frame>", "a JSON event", preview(data))], {}
        recorded = line.event
        if recorded.get("type", _MISSING) != actual.get("type", _MISSING) and not force:
            return False, [], {}
        servers_before = entry.servers_before
        announced = self.table.announced

        def before(value: str) -> bool:
            return announced.get(value, servers_before) < servers_before

        diffs, new = compare_events(recorded, actual, self.policy, self.bindings,
                                    announced=before)
        return True, diffs, new

    def _needs_text(self, entry: _Client) -> str:
        """What a recorded client event waits for, in words (for a report)."""
        needs = entry.needs
        waiting = [c for c in needs.clients if not c.matched]
        if waiting:
            names = ", ".join(f"{c.kind!r} (client event #{c.number})" for c in waiting[:3])
            return f"after the recorded {names}"
        if self.released < needs.servers or needs.strict:
            return (f"after the server events recorded before it (server event "
                    f"#{max(needs.servers, entry.servers_before)}, "
                    f"{self.released} sent so far)")
        return "later"

    def _matched(self, entry: _Client, new_bindings: dict[str, str],
                 actual: dict[str, Any] | None, now: float) -> None:
        entry.matched, entry.at = True, now
        line = entry.line
        self.rebinder.bind(line.event if isinstance(line, Event) else None, new_bindings,
                           actual)
        self._matched_events += 1

    def _mismatch(self, entry: _Client | None, actual: dict[str, Any] | None,
                  data: str | bytes, diffs: list[Difference], reason: str | None = None
                  ) -> Iterator[Output]:
        where = ""
        expected = entry.line if entry is not None else None
        if entry is not None:
            where = f"the episode's client event #{entry.number}"
            located = self.locate(entry.seq) if self.locate is not None else None
            if located:
                where += f", {located}"
        elif reason is None and not self._exhausted:
            reason = (f"client event #{self.received} matches no recorded client event that "
                      "can come now")
        self.failure = mismatch_error(
            cassette_path=self.cassette_path, conn=self.conn, position=self.received - 1,
            expected=expected, actual=actual, data=data, diffs=diffs,
            record_mode=self.record_mode, reason=reason, where=where,
        )
        client_id = actual.get("event_id") if actual else None
        return iter([SendError(api_error("replay_mismatch", str(self.failure),
                                         client_event_id=client_id
                                         if isinstance(client_id, str) else None))])

    # -- the end ---------------------------------------------------------------------------

    def count_unplayed(self, sample: list[str] | None = None, limit: int = 5) -> int:
        """How many recorded frames were never played (drains the episode, O(1) memory).

        The first `limit` of them are appended to `sample` as "dir type". Input audio the
        client never sent at the end of its stream (recorded appends after every client event
        it did send, and after which it recorded nothing else) is not counted unless
        `audio_match` is "exact": a microphone stops when the app stops, and how many chunks
        went out before that is a race, live as in replay. What the server recorded after
        that audio still counts (a VAD event it gates stays unplayed)."""
        n = 0
        tail: list[str] = []  # trailing appends so far: forgiven if nothing but audio follows
        tail_count = 0
        forgive = self.stream.mode != "exact"

        def note(text: str, count: int = 1) -> None:
            nonlocal n
            if sample is not None and n < limit:
                sample.append(text)
            n += count

        def keep_tail() -> None:  # a client event follows the appends: they are unplayed
            nonlocal tail_count
            for text in tail:
                note(text)
            n_shown = len(tail)
            if tail_count > n_shown:
                note(f"client {APPEND}", tail_count - n_shown)
            tail.clear()
            tail_count = 0

        def client(kind: str, played: bool = False) -> None:
            nonlocal tail_count
            if kind == APPEND and forgive and not played:
                if len(tail) < limit:
                    tail.append(f"client {kind}")
                tail_count += 1
                return
            keep_tail()
            if not played:
                note(f"client {kind}")

        # the window in recorded order: (seq, "client" / "played" / "server", kind, count)
        window = [(entry.seq, "played" if entry.matched else "client", entry.kind or "frame", 1)
                  for entry in self._clients[self._lo:]]
        window += [(server.seq, "server", _server_kind(server.line), server.count)
                   for server in self._servers if server.count]
        for _, role, kind, count in sorted(window):
            if role == "server":
                note(f"server {kind}", count)
            else:
                client(kind, played=role == "played")
        self._clients.clear()
        self._lo = 0
        self._servers.clear()
        while not self._exhausted:
            line = next(self._it, None)
            if line is None:
                self._exhausted = True
                break
            if isinstance(line, CloseLine):
                continue
            if isinstance(line, ServerRun):
                if sample is None or n >= limit:
                    n += len(line)
                    continue
                for text in line.texts():
                    note(f"server {_server_kind(text)}")
                continue
            if line.dir == "client":
                client(_server_kind(line))
            else:
                note(f"server {_server_kind(line)}")
        return n


def _server_kind(line: Any) -> str:
    if isinstance(line, ServerRun):
        return _server_kind(next(line.texts()))
    if isinstance(line, Event | ServerEventText):
        try:
            return line.type
        except CassetteError:
            return "event"
    return "frame"


def _parse_str(data: str) -> dict[str, Any] | None:
    try:
        event = json.loads(data)
    except (ValueError, RecursionError):
        return None
    return event if isinstance(event, dict) else None
