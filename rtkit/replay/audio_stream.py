"""Input audio matched by position, not by chunk.

The client's `input_audio_buffer.append`s between two commits (or clears) are one stream,
and so are the recorded ones: however either side cut it into chunks, the bytes are compared
at the same positions (`audio_match="exact"`), the totals (`"length"`, within a tolerance)
or not at all (`"any"`). A recorded append counts as played once the client's audio has
passed its end. With server VAD the stream is the whole session's audio, and a recorded
`speech_started` / `speech_stopped` is released when the client's audio reaches its
recorded `audio_start_ms` / `audio_end_ms` (an `AudioGate`).

Streaming and cheap: nothing is concatenated; each side's chunk is decoded at most once
(only for "exact"), and "any" / "length" only count base64 characters.
"""

from __future__ import annotations

import base64
import binascii
from bisect import bisect_right
from collections import deque
from dataclasses import dataclass, field
from typing import Any

from rtkit.replay.matching import AudioMatch

try:  # SIMD base64 when installed (a chosen dependency): "exact" decodes every chunk
    from pybase64 import b64decode as _fast_b64decode
except ImportError:  # pragma: no cover - depends on the environment
    _fast_b64decode = None


def _decode(b64: str) -> bytes:
    """Strict base64 (binascii.Error, ValueError when it is not)."""
    if _fast_b64decode is not None:
        return bytes(_fast_b64decode(b64, validate=True))
    return base64.b64decode(b64, validate=True)

__all__ = ["AudioGate", "AudioStream", "b64_size"]


def b64_size(b64: str) -> int:
    """How many bytes a base64 string decodes to (without decoding it)."""
    n = len(b64)
    if n == 0:
        return 0
    return n * 3 // 4 - (2 if b64.endswith("==") else 1 if b64.endswith("=") else 0)


@dataclass(eq=False, slots=True)
class AudioGate:
    """A point of the recorded audio a server event waits for, in segment `segment`: the
    client's audio must go past `offset` bytes (where the server could tell), or reach
    `cap` (how far the recording's audio was when the event was recorded). `t` is when the
    recording's audio got there (ms); `at` when the client's did (real time, None until
    then)."""

    segment: int
    offset: int
    cap: int
    t: float
    at: float | None = None


@dataclass(eq=False, slots=True)
class _Segment:
    """The recorded audio of one segment, as read so far."""

    start: int  # recorded bytes of the session's audio before it
    length: int = 0  # recorded bytes read so far
    total: int | None = None  # known once its commit / clear (or the episode's end) is read
    pending: deque[Any] = field(default_factory=deque)  # appends the client has not passed
    ends: list[int] = field(default_factory=list)  # end offset of each recorded append
    times: list[float] = field(default_factory=list)  # and when it was recorded


class AudioStream:
    """Both sides' input audio, segment by segment (sans-I/O).

    The engine feeds the recorded side as it reads the episode (`recorded_append`,
    `recorded_boundary`, `recorded_end`), and the client's side as it arrives (`append`,
    `boundary`). Recorded appends are the engine's entries: this class sets their `seg`,
    `start`, `end`, `matched` and `at` attributes (and reads `audio`, the base64, for
    "exact").
    """

    def __init__(self, mode: AudioMatch = "any", tolerance: int = 0) -> None:
        self.mode = mode
        self.tolerance = tolerance  # bytes, for "length"
        self._segments: dict[int, _Segment] = {0: _Segment(0)}
        self._read = 0  # the recorded segment being read
        self.segment = 0  # the client's segment
        self.position = 0  # the client's bytes in it
        self.sent = 0  # the client's bytes in the whole session
        self.last_at = 0.0
        self.passed = 0  # recorded appends the client's audio has passed
        self._gates: list[AudioGate] = []  # not reached yet

    # -- the recording ---------------------------------------------------------------------

    def recorded_append(self, entry: Any, b64: str, t: float) -> None:
        """A recorded append was read."""
        seg = self._segments[self._read]
        entry.seg, entry.start = self._read, seg.length
        seg.length += b64_size(b64)
        entry.end = seg.length
        seg.ends.append(seg.length)
        seg.times.append(t)
        if self._read < self.segment or (self._read == self.segment
                                          and self.position >= seg.length
                                          and self.mode != "exact"):
            entry.matched, entry.at = True, self.last_at  # the client is past it already
            self.passed += 1
        else:
            seg.pending.append(entry)

    def recorded_boundary(self, entry: Any) -> None:
        """A recorded commit or clear was read: it ends the segment being read."""
        seg = self._segments[self._read]
        seg.total = seg.length
        entry.seg = self._read
        self._read += 1
        self._segments[self._read] = _Segment(seg.start + seg.length)

    def recorded_end(self) -> None:
        """The episode has no more lines: the open segment is complete."""
        seg = self._segments[self._read]
        if seg.total is None:
            seg.total = seg.length

    def needs_recorded(self, more: int = 0) -> bool:
        """Whether the recording must be read further to know the audio at the client's
        position (plus `more` bytes), or to know that its segment has ended there."""
        seg = self._segments.get(self.segment)
        if seg is None or seg.total is not None:
            return False
        if self.mode == "any":
            return seg.length == 0  # only whether the recording has audio here at all
        return seg.length < self.position + max(more, 1)

    def gate(self, ms: float, bytes_per_ms: int) -> AudioGate:
        """The point a VAD event recorded now waits for: `ms` into the session's audio,
        never past what the recording had sent when the event was recorded."""
        seg = self._segments[self._read]
        offset = min(max(int(ms * bytes_per_ms) - seg.start, 0), seg.length)
        i = bisect_right(seg.ends, offset)
        t = seg.times[i] if i < len(seg.times) else (seg.times[-1] if seg.times else 0.0)
        gate = AudioGate(self._read, offset, seg.length, t)
        if self._reached(gate):
            gate.at = self.last_at
        else:
            self._gates.append(gate)
        return gate

    def describe(self, gate: AudioGate, bytes_per_ms: int) -> str:
        """What `gate` waits for, in words."""
        seg = self._segments.get(gate.segment)
        start = seg.start if seg is not None else 0
        return (f"the client's input audio to reach {(start + gate.offset) / bytes_per_ms:.0f}"
                f" ms of the session, as recorded (it has sent {self.sent / bytes_per_ms:.0f}"
                " ms)")

    # -- the client ------------------------------------------------------------------------

    @property
    def recorded_has_audio(self) -> bool:
        """Whether the recording has input audio in the client's segment (as read)."""
        seg = self._segments.get(self.segment)
        return seg is not None and seg.length > 0

    @property
    def recorded_length(self) -> int | None:
        """The recorded bytes of the client's segment, once known."""
        seg = self._segments.get(self.segment)
        return seg.total if seg is not None else None

    def append(self, b64: str, now: float) -> tuple[str, int] | None:
        """The client appended `b64`. Returns None, or (what differs, at which byte of the
        segment) when it does not match the recording per the mode. Marks the recorded
        appends it passes as matched."""
        seg = self._segments.get(self.segment)
        if seg is None:
            return ("input audio where the recording has none", self.position)
        if self.mode == "exact":
            same = self._same_chunk(seg, b64)
            if same is not None:  # cut as recorded, and the same text: the same bytes
                size = same
            else:
                try:
                    data = _decode(b64)
                except (binascii.Error, ValueError):
                    return ("input audio that is not valid base64", self.position)
                problem = self._compare(seg, data)
                if problem is not None:
                    return problem
                size = len(data)
        else:
            size = b64_size(b64)
            if self.mode == "length" and seg.total is not None and \
                    self.position + size > seg.total + self.tolerance:
                return (f"more input audio than recorded before the commit "
                        f"({seg.total} bytes)", self.position + size)
        self.position += size
        self.sent += size
        self.last_at = now
        self._pass(seg, now)
        return None

    def _same_chunk(self, seg: _Segment, b64: str) -> int | None:
        """The chunk's size when the client's chunk is the recorded one at its position,
        character for character (no decoding needed)."""
        pending = seg.pending
        if not pending:
            return None
        entry = pending[0]
        if entry.start == self.position and entry.audio == b64:
            return entry.end - entry.start
        return None

    def _compare(self, seg: _Segment, data: bytes) -> tuple[str, int] | None:
        """Compare the client's bytes with the recording's at the same position (bytes, not
        memoryviews: their comparison is a memcmp)."""
        pos, done = self.position, 0
        while done < len(data):
            chunk = self._chunk(seg, pos + done)
            if chunk is None:
                return (f"more input audio than recorded ({seg.length} bytes in this "
                        "segment)", pos + done)
            recorded, start = chunk
            lo = pos + done - start
            n = min(len(recorded) - lo, len(data) - done)
            theirs = recorded if lo == 0 and n == len(recorded) else recorded[lo:lo + n]
            ours = data if done == 0 and n == len(data) else data[done:done + n]
            if theirs != ours:
                first = next(i for i in range(n) if theirs[i] != ours[i])
                return ("different input audio", pos + done + first)
            done += n
        return None

    def _chunk(self, seg: _Segment, at: int) -> tuple[bytes, int] | None:
        """The recorded append holding byte `at` of the segment, decoded (once)."""
        for entry in seg.pending:
            if entry.start <= at < entry.end:
                if not isinstance(entry.audio, bytes):
                    try:
                        entry.audio = _decode(entry.audio or "")
                    except (binascii.Error, ValueError):
                        entry.audio = b""
                return entry.audio, entry.start
            if entry.start > at:
                break
        return None

    def boundary(self, now: float) -> tuple[str, int] | None:
        """The client committed (or cleared) and the recorded commit of its segment matched:
        compare the segment's length per the mode, then start the next segment."""
        seg = self._segments.get(self.segment)
        total = seg.total if seg is not None and seg.total is not None else \
            (seg.length if seg is not None else 0)
        problem = None
        if self.mode == "exact" and self.position != total:
            problem = (f"{self.position} bytes of input audio before the commit; the recording "
                       f"has {total}", self.position)
        elif self.mode == "length" and abs(self.position - total) > self.tolerance:
            problem = (f"{self.position} bytes of input audio before the commit; the recording "
                       f"has {total} (tolerance {self.tolerance})", self.position)
        if problem is not None:
            return problem
        self.last_at = now
        if seg is not None:
            for entry in seg.pending:
                entry.matched, entry.at, entry.audio = True, now, None
            self.passed += len(seg.pending)
            seg.pending.clear()
        for gate in self._gates:
            if gate.segment == self.segment:
                gate.at = now
        self._gates = [g for g in self._gates if g.at is None]
        self._segments.pop(self.segment, None)
        self.segment += 1
        self.position = 0
        return None

    def _pass(self, seg: _Segment, now: float) -> None:
        pending = seg.pending
        while pending and pending[0].end <= self.position:
            entry = pending.popleft()
            entry.matched, entry.at, entry.audio = True, now, None
            self.passed += 1
        if self._gates:
            for gate in self._gates:
                if self._reached(gate):
                    gate.at = now
            self._gates = [g for g in self._gates if g.at is None]

    def _reached(self, gate: AudioGate) -> bool:
        if gate.segment != self.segment:
            return gate.segment < self.segment
        return self.position > gate.offset or self.position >= gate.cap
