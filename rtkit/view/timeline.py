"""An episode's events as marks and bars on a client and a server lane (sans-I/O).

Grouped as `rtkit inspect` groups them: a run of `input_audio_buffer.append` is one bar
("input audio 1.90 s"), and the deltas of one response (audio, transcript, text, tool
arguments), or of one item's input transcription, are one bar from the first to the last;
every other event is a mark of its own. Each mark and bar keeps a JSON preview of its (first)
event for the page's hover panel (`Previews`: base64 audio elided, long text clipped, within a
budget of characters for the whole report). Memory per episode is bounded: past `MAX_MARKS`
marks, the lane's further events are counted in one "more events" bar.
"""

from __future__ import annotations

import json
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from typing import Any

from rtkit.audio import PCM16, AudioFormat, SessionFormats

__all__ = ["MAX_MARKS", "RUN_GAP_MS", "Mark", "Previews", "Stream", "Timeline",
           "TimelineBuilder", "preview"]

RUN_GAP_MS = 500.0
"""Appends further apart than this start a new input audio bar."""
MAX_MARKS = 20_000
"""Marks kept per episode; later events are counted in one bar per lane."""
PREVIEW_CHARS = 3000
"""A preview is clipped here (a highlighted event's is kept whole)."""
PREVIEW_BUDGET = 8_000_000
"""Characters of previews per report; past it, an event shows only its type and time."""
_AUDIO_KEYS = frozenset({"audio"})
_AUDIO_DELTAS = frozenset({"response.output_audio.delta", "response.audio.delta"})
_LONG_TEXT = 2000


def _elide(value: Any, key: str | None, audio_delta: bool, fmt: AudioFormat,
           formats: SessionFormats | None, depth: int = 0) -> Any:
    if isinstance(value, str):
        if len(value) > 64 and (key in _AUDIO_KEYS or (audio_delta and key == "delta")):
            seconds = fmt.base64_sample_count(value) / fmt.rate
            return f"<{len(value)} base64 characters: {seconds:.2f} s of audio>"
        return value if len(value) <= _LONG_TEXT else value[:_LONG_TEXT] + "…"
    if depth > 40:
        return "…"
    if isinstance(value, Mapping):
        if formats is not None and value.get("type") == "input_audio":
            fmt = formats.input  # the user's audio in an item, whoever sends it
        return {k: _elide(v, str(k), audio_delta, fmt, formats, depth + 1)
                for k, v in value.items()}
    if isinstance(value, list):
        return [_elide(v, key, audio_delta, fmt, formats, depth + 1) for v in value]
    return value


def preview(event: Mapping[str, Any], limit: int | None = PREVIEW_CHARS,
            formats: SessionFormats | None = None, direction: str = "server") -> str:
    """An event as indented JSON for people: base64 audio replaced by its length and
    duration (in the session's `formats`, PCM16 without: the client's audio in the input
    format, the server's in the output format), long strings clipped, the whole clipped at
    `limit` characters (None: whole)."""
    fmt = PCM16 if formats is None else formats.input if direction == "client" \
        else formats.output
    shown = _elide(event, None, event.get("type") in _AUDIO_DELTAS, fmt, formats)
    text = json.dumps(shown, indent=2, ensure_ascii=False, default=repr)
    if limit is not None and len(text) > limit:
        text = text[:limit] + "\n…"
    return text


class Previews:
    """The previews of one report, by index; `add` returns -1 once the budget is spent.

    `texts` holds those not written yet: `take` hands them over (with the index of the first)
    so a page can write them as it goes instead of keeping them all."""

    def __init__(self, budget: int = PREVIEW_BUDGET) -> None:
        self.texts: list[str] = []
        self.first = 0  # the index of texts[0]
        self.left = budget

    def add(self, event: Mapping[str, Any], whole: bool = False,
            formats: SessionFormats | None = None, direction: str = "server") -> int:
        """Keep `event`'s preview (whole: not clipped, and kept past the budget; `formats`
        and `direction` as for `preview`)."""
        if self.left <= 0 and not whole:
            return -1
        text = preview(event, None if whole else PREVIEW_CHARS, formats, direction)
        self.left -= len(text)
        self.texts.append(text)
        return self.first + len(self.texts) - 1

    def take(self) -> tuple[int, list[str]]:
        """The previews not taken yet, and the index of the first of them."""
        first, texts = self.first, self.texts
        self.first, self.texts = first + len(texts), []
        return first, texts


@dataclass
class Mark:
    """One event on a lane: `index` counts the lane's events in the episode from 0."""

    lane: str
    t: float
    type: str
    index: int
    preview: int
    highlight: bool = False


@dataclass
class Stream:
    """Events shown as one bar: an input audio run, a response's deltas, or the overflow."""

    lane: str
    kind: str  # "input audio", "deltas", "more"
    key: str  # the response or item id of deltas
    t0: float
    first: int  # index of its first event
    preview: int
    t1: float = 0.0
    n: int = 0
    types: dict[str, int] = field(default_factory=dict)
    audio_ms: float = 0.0
    highlight: bool = False

    def add(self, t: float, kind: str) -> None:
        self.t1 = t
        self.n += 1
        self.types[kind] = self.types.get(kind, 0) + 1


@dataclass
class Timeline:
    """An episode's marks and bars, and how many events each lane had."""

    marks: list[Mark] = field(default_factory=list)
    streams: list[Stream] = field(default_factory=list)
    counts: dict[str, int] = field(default_factory=lambda: {"client": 0, "server": 0})


class TimelineBuilder:
    """Builds a `Timeline` from an episode's events in order.

    `highlight`: `(lane, index)` pairs of events to mark (their preview is kept whole).
    `formats`: the session's audio formats as they are when each event comes (PCM16 without).
    """

    def __init__(self, previews: Previews, highlight: Collection[tuple[str, int]] = (),
                 formats: SessionFormats | None = None) -> None:
        self.previews = previews
        self.highlight = frozenset(highlight)
        self.formats = formats if formats is not None else SessionFormats()
        self.timeline = Timeline()
        self._run: Stream | None = None  # the client's current input audio run
        self._deltas: dict[str, Stream] = {}
        self._more: dict[str, Stream] = {}

    def event(self, direction: str, t: float, event: Mapping[str, Any]) -> None:
        """One JSON event."""
        kind = event.get("type")
        kind = kind if isinstance(kind, str) else ""
        self._add(direction, t, kind, event)

    def frame(self, direction: str, t: float) -> None:
        """A frame that is not a JSON object."""
        self._add(direction, t, "(not JSON)", {"type": "(a frame that is not a JSON object)"})

    def _add(self, lane: str, t: float, kind: str, event: Mapping[str, Any]) -> None:
        tl = self.timeline
        index = tl.counts[lane]
        tl.counts[lane] = index + 1
        lit = (lane, index) in self.highlight
        stream: Stream | None = None
        if lane == "client":
            if kind == "input_audio_buffer.append":
                stream = self._run
                if stream is None or t - stream.t1 > RUN_GAP_MS:
                    stream = self._run = self._stream(lane, "input audio", "", t, index, event)
                audio = event.get("audio")
                if isinstance(audio, str):
                    fmt = self.formats.input
                    stream.audio_ms += fmt.base64_sample_count(audio) * 1000 / fmt.rate
            else:
                self._run = None
        elif kind.endswith(".delta"):
            key = event.get("response_id") or event.get("item_id")
            key = key if isinstance(key, str) else kind
            stream = self._deltas.get(key)
            if stream is None:
                stream = self._deltas[key] = self._stream(lane, "deltas", key, t, index, event)
            if kind in _AUDIO_DELTAS and isinstance(event.get("delta"), str):
                fmt = self.formats.output
                stream.audio_ms += fmt.base64_sample_count(event["delta"]) * 1000 / fmt.rate
        if stream is None and len(tl.marks) >= MAX_MARKS:
            stream = self._more.get(lane)
            if stream is None:
                stream = self._more[lane] = self._stream(lane, "more", "", t, index, event)
        if stream is not None:
            stream.add(t, kind)
            if lit:
                stream.highlight = True
                stream.preview = self.previews.add(event, True, self.formats, lane)
            return
        tl.marks.append(Mark(lane, t, kind, index,
                             self.previews.add(event, lit, self.formats, lane), lit))

    def _stream(self, lane: str, kind: str, key: str, t: float, index: int,
                event: Mapping[str, Any]) -> Stream:
        stream = Stream(lane, kind, key, t, index,
                        self.previews.add(event, False, self.formats, lane), t1=t)
        self.timeline.streams.append(stream)
        return stream
