"""Where each sound plays: an episode's audio time axis, from the recorded times (sans-I/O).

A client streaming a microphone sends each chunk once it is captured: a chunk sent at
recorded time `t` ends at `t` on the audio axis, and the axis is the recorded time. A client
that sends audio faster than real time (a file, a test) has its chunks laid end to end, and
the audio axis runs ahead of the recorded time by a *lag*: the longest lead any chunk's end
had over the time it was sent. Everything that happens later (output audio starting to play,
an event) is placed at `t + lag`, after the input audio the server had heard by then. So on
one axis the user's speech, the assistant's audio and the VAD marks line up, and barge-in
shows where the two overlap.

Positions in the input stream (the audio appended so far, what the server's VAD times such as
`audio_start_ms` count) map to the axis through the stream's segments: a pause longer than
`GAP_MS` in the client's streaming starts a new segment.
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass

__all__ = ["GAP_MS", "MAX_SEGMENTS", "AudioClock", "Segment"]

GAP_MS = 100.0
"""A pause in the input stream shorter than this is jitter: the audio stays contiguous."""
MAX_SEGMENTS = 4096
"""Segments kept per episode; past this, pauses are laid end to end (bounded memory)."""


@dataclass
class Segment:
    """A stretch of the input stream played without a pause."""

    stream_ms: float  # where it starts in the input stream
    axis_ms: float  # where it starts on the audio axis
    length_ms: float


class AudioClock:
    """The audio axis of one episode, built as its input audio is appended."""

    def __init__(self) -> None:
        self.lag = 0.0
        self.stream_ms = 0.0  # input audio appended so far
        self.segments: list[Segment] = []
        self._starts: list[float] = []  # stream_ms of each segment, for bisect

    def at(self, t: float) -> float:
        """Where recorded time `t` is on the audio axis."""
        return t + self.lag

    @property
    def input_end(self) -> float:
        """Where the input audio appended so far ends on the axis (0 when there is none)."""
        if not self.segments:
            return 0.0
        last = self.segments[-1]
        return last.axis_ms + last.length_ms

    def append_input(self, t: float, length_ms: float) -> float:
        """Input audio of `length_ms` sent at recorded time `t`; returns where it starts."""
        start = max(self.at(t) - length_ms, 0.0)
        end = self.input_end
        if self.segments and (start <= end + GAP_MS or len(self.segments) >= MAX_SEGMENTS):
            start = end
            self.segments[-1].length_ms += length_ms
        else:
            start = max(start, end)
            self.segments.append(Segment(self.stream_ms, start, length_ms))
            self._starts.append(self.stream_ms)
        self.stream_ms += length_ms
        self.lag = max(self.lag, start + length_ms - t)
        return start

    def stream_to_axis(self, stream_ms: float) -> float:
        """Where a position in the input stream (e.g. a VAD `audio_start_ms`) plays."""
        if not self.segments:
            return stream_ms
        i = max(bisect.bisect_right(self._starts, stream_ms) - 1, 0)
        seg = self.segments[i]
        return seg.axis_ms + (stream_ms - seg.stream_ms)
