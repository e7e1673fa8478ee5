"""What a report shows of one episode, built from its events in one pass (sans-I/O but for
the audio spool it writes to).

`EpisodeViewBuilder` takes an episode's lines as `read_summaries` gives them (it is the
builder `read_summaries(path, builder=...)` makes per episode) or as any list of events does,
and wraps the `EpisodeBuilder` that rebuilds the conversation: it is also that builder's
`AudioSink`, so each item's audio goes to the spool as it is met. Beside the summary it keeps
the timeline (`rtkit.view.timeline`), where each sound plays (`rtkit.view.clock`), the VAD
marks, truncations, cancellations and errors, and each response's figures. Audio stays on
disk; what is kept in memory is bounded by the number of events shown, not by the audio.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from rtkit.audio import SAMPLE_RATE, base64_to_int16
from rtkit.cassette.audio_spool import AudioSpool
from rtkit.cassette.model import CloseLine, Connect
from rtkit.cassette.summary import EpisodeBuilder, EpisodeSummary
from rtkit.protocol.events import canonical_server_type
from rtkit.view.clock import AudioClock, Segment
from rtkit.view.timeline import Previews, Timeline, TimelineBuilder

__all__ = ["INPUT_STREAM", "Clip", "EpisodeView", "EpisodeViewBuilder", "Note",
           "ResponseFigures", "VadMark"]

INPUT_STREAM = "<input audio stream>"
"""The spool key of an episode's input audio as appended (no item id looks like it)."""
_TEXT_DELTAS = frozenset({"response.output_text.delta", "response.output_audio_transcript.delta"})


def _ms(samples: int, rate: int = SAMPLE_RATE) -> float:
    return samples * 1000 / rate


@dataclass
class Clip:
    """An item's audio, placed on the audio axis (`axis_ms`, where it starts)."""

    item_id: str
    role: str  # "user" (input audio) or "assistant" (output audio)
    axis_ms: float
    received: int  # samples in the cassette
    heard: int  # samples played: cut at a truncation
    t: float  # recorded time of its first audio
    truncated_ms: float | None = None  # `audio_end_ms` of a truncation
    truncated_t: float | None = None
    rate: int = SAMPLE_RATE  # samples a second (8000 for G.711 audio)

    @property
    def heard_ms(self) -> float:
        """How long it plays."""
        return _ms(self.heard, self.rate)

    @property
    def received_ms(self) -> float:
        """How long the audio received was (longer than `heard_ms` when it was cut)."""
        return _ms(self.received, self.rate)


@dataclass
class VadMark:
    """Server VAD: speech started or stopped, at `stream_ms` of the input (`axis_ms`)."""

    kind: str  # "started" / "stopped"
    stream_ms: float
    axis_ms: float
    t: float
    item_id: str | None


@dataclass
class Note:
    """Something that happened to the conversation: a truncation, a cancellation, an error."""

    t: float
    kind: str  # "truncate", "truncated", "cancel", "cancelled", "error"
    text: str
    item_id: str | None = None


@dataclass
class ResponseFigures:
    """One response's timings (recorded ms) and usage."""

    id: str
    t_created: float
    status: str | None = None
    reason: str | None = None
    t_done: float | None = None
    t_first_audio: float | None = None
    t_first_text: float | None = None
    usage: dict[str, Any] = field(default_factory=dict)
    items: list[str] = field(default_factory=list)

    @property
    def to_first_audio(self) -> float | None:
        """ms from `response.created` to its first audio delta."""
        return None if self.t_first_audio is None else self.t_first_audio - self.t_created

    @property
    def to_first_text(self) -> float | None:
        """ms from `response.created` to its first text or transcript delta."""
        return None if self.t_first_text is None else self.t_first_text - self.t_created

    @property
    def duration(self) -> float | None:
        """ms from `response.created` to `response.done`."""
        return None if self.t_done is None else self.t_done - self.t_created


@dataclass
class EpisodeView:
    """Everything a report shows of one episode; audio is in the spool under `(conn, key)`."""

    summary: EpisodeSummary
    connect: Connect
    timeline: Timeline
    clips: list[Clip]
    segments: list[Segment]  # the input stream (spool key INPUT_STREAM) on the audio axis
    input_samples: int
    vad: list[VadMark]
    ranges: dict[str, tuple[float, float]]  # user item -> its part of the stream, axis ms
    responses: list[ResponseFigures]
    notes: list[Note]
    lag_ms: float  # how far the audio axis ran ahead of the recording at the end
    input_rate: int = SAMPLE_RATE  # of the input stream's samples

    @property
    def conn(self) -> int:
        """The episode's conn number."""
        return self.summary.conn

    @property
    def audio_end_ms(self) -> float:
        """Where the last sound ends on the audio axis."""
        ends = [c.axis_ms + c.heard_ms for c in self.clips]
        ends += [s.axis_ms + s.length_ms for s in self.segments]
        return max(ends, default=0.0)

    @property
    def input_clip(self) -> Clip | None:
        """All the input audio as the client sent it (spool key `INPUT_STREAM`), if any."""
        if not self.input_samples:
            return None
        at = self.segments[0].axis_ms if self.segments else 0.0
        return Clip(INPUT_STREAM, "user", at, self.input_samples, self.input_samples, 0.0,
                    rate=self.input_rate)

    def clip(self, item_id: str) -> Clip | None:
        """The clip of an item, if it has audio."""
        return next((c for c in self.clips if c.item_id == item_id), None)


class EpisodeViewBuilder:
    """Builds an `EpisodeView` from one episode's lines (`EpisodeLines` for `read_summaries`,
    and the `AudioSink` of the `EpisodeBuilder` it wraps). `highlight`: `(lane, index)` of
    events to mark. `view` is set by `finish`."""

    def __init__(self, connect: Connect, spool: AudioSpool, previews: Previews,
                 highlight: Collection[tuple[str, int]] = (),
                 on_view: Callable[[EpisodeView], None] | None = None) -> None:
        self.connect = connect
        self.conn = connect.conn
        self.spool = spool
        self.summary = EpisodeBuilder(connect, audio=self)
        self.timeline = TimelineBuilder(previews, highlight, self.summary.formats)
        self.clock = AudioClock()
        self.view: EpisodeView | None = None
        self.on_view = on_view
        self.t = 0.0
        self._first_audio: dict[str, tuple[float, float]] = {}  # item -> (t, axis ms)
        self._inputs: dict[str, float] = {}  # user item with audio -> recorded t
        self._speech: dict[str, float] = {}  # item -> stream ms where speech started
        self._ranges: dict[str, tuple[float, float]] = {}  # item -> stream ms range
        self._commits: list[tuple[float, float]] = []  # manual commits not yet acknowledged
        self._commit_start = 0.0
        self._vad: list[VadMark] = []
        self._notes: list[Note] = []
        self._responses: dict[str, ResponseFigures] = {}
        self._truncated: dict[str, tuple[float, float]] = {}  # item -> (audio_end_ms, t)

    # -- EpisodeLines -------------------------------------------------------------------------

    def event(self, direction: str, t: float, event: dict[str, Any]) -> None:
        """One JSON event of the episode."""
        self.t = t
        self.timeline.event(direction, t, event)
        kind = event.get("type")
        if isinstance(kind, str):
            if direction == "client":
                self._client(t, kind, event)
            else:
                self._server(t, canonical_server_type(kind), event)
        self.summary.event(direction, t, event)

    def frame(self, direction: str, t: float) -> None:
        """A frame that is not a JSON object."""
        self.t = t
        self.timeline.frame(direction, t)
        self.summary.frame(direction, t)

    def close(self, line: CloseLine) -> None:
        """The close line."""
        self.summary.close(line)

    def finish(self) -> EpisodeSummary:
        """The summary; `view` holds the episode's view."""
        summary = self.summary.finish()
        self.spool.flush()
        self.view = EpisodeView(
            summary=summary, connect=self.connect, timeline=self.timeline.timeline,
            clips=self._clips(summary), segments=self.clock.segments,
            input_samples=self.spool.samples(self.conn, INPUT_STREAM), vad=self._vad,
            ranges={item: (self.clock.stream_to_axis(a), self.clock.stream_to_axis(b))
                    for item, (a, b) in self._ranges.items()},
            responses=list(self._responses.values()),
            notes=sorted(self._notes, key=lambda n: n.t), lag_ms=self.clock.lag,
            input_rate=self.spool.rate(self.conn, INPUT_STREAM))
        if self.on_view is not None:
            self.on_view(self.view)
            self.view = None
        return summary

    # -- AudioSink (the wrapped EpisodeBuilder's) ---------------------------------------------

    def output(self, conn: int, item_id: str, samples: np.ndarray, rate: int) -> None:
        """More output audio of an item."""
        if item_id not in self._first_audio:
            self._first_audio[item_id] = (self.t, self.clock.at(self.t))
        self.spool.output(conn, item_id, samples, rate)

    def truncate(self, conn: int, item_id: str, n_samples: int) -> None:
        """An item's output audio was cut after `n_samples`."""
        self.spool.truncate(conn, item_id, n_samples)

    def input(self, conn: int, item_id: str, samples: np.ndarray, rate: int) -> None:
        """The whole input audio of a user item."""
        self._inputs.setdefault(item_id, self.t)
        self.spool.input(conn, item_id, samples, rate)

    # -- events -------------------------------------------------------------------------------

    def _client(self, t: float, kind: str, event: Mapping[str, Any]) -> None:
        if kind == "input_audio_buffer.append":
            audio = event.get("audio")
            if isinstance(audio, str):
                fmt = self.summary.formats.input
                samples = (base64_to_int16(audio, copy=False) if fmt.sample_width == 2
                           else fmt.decode_base64(audio))
                self.clock.append_input(t, _ms(len(samples), fmt.rate))
                self.spool.append(self.conn, INPUT_STREAM, samples, fmt.rate)
        elif kind == "input_audio_buffer.commit":
            self._commits.append((self._commit_start, self.clock.stream_ms))
            self._commit_start = self.clock.stream_ms
        elif kind == "input_audio_buffer.clear":
            self._commit_start = self.clock.stream_ms
        elif kind == "response.cancel":
            self._notes.append(Note(t, "cancel", "the client cancels the response"
                                    + (f" {event['response_id']}"
                                       if isinstance(event.get("response_id"), str) else "")))
        elif kind == "conversation.item.truncate":
            item = event.get("item_id")
            self._notes.append(Note(t, "truncate", f"the client truncates {item} at "
                                    f"{event.get('audio_end_ms')} ms",
                                    item if isinstance(item, str) else None))

    def _server(self, t: float, kind: str, event: Mapping[str, Any]) -> None:
        item = event.get("item_id")
        item = item if isinstance(item, str) else None
        if kind in ("input_audio_buffer.speech_started", "input_audio_buffer.speech_stopped"):
            started = kind.endswith("started")
            at = event.get("audio_start_ms" if started else "audio_end_ms")
            if isinstance(at, (int, float)) and not isinstance(at, bool):
                self._vad.append(VadMark("started" if started else "stopped", float(at),
                                         self.clock.stream_to_axis(float(at)), t, item))
                if item is not None:
                    if started:
                        self._speech[item] = float(at)
                    elif item in self._speech:
                        self._ranges[item] = (self._speech[item], float(at))
                        self._commit_start = float(at)
        elif kind == "input_audio_buffer.committed":
            if item is not None and item not in self._ranges:
                self._ranges[item] = (self._commits.pop(0) if self._commits
                                      else (self._commit_start, self.clock.stream_ms))
        elif kind == "response.created":
            resp = event.get("response") or {}
            rid = resp.get("id") if isinstance(resp, Mapping) else None
            if isinstance(rid, str):
                self._responses.setdefault(rid, ResponseFigures(rid, t))
        elif kind == "response.output_item.added":
            figures = self._responses.get(str(event.get("response_id")))
            added = event.get("item")
            if figures is not None and isinstance(added, Mapping) and \
                    isinstance(added.get("id"), str):
                figures.items.append(added["id"])
        elif kind == "response.output_audio.delta" or kind in _TEXT_DELTAS:
            figures = self._responses.get(str(event.get("response_id")))
            if figures is not None:
                if kind == "response.output_audio.delta":
                    if figures.t_first_audio is None:
                        figures.t_first_audio = t
                elif figures.t_first_text is None:
                    figures.t_first_text = t
        elif kind == "conversation.item.truncated":
            end = event.get("audio_end_ms")
            if item is not None and isinstance(end, (int, float)):
                self._truncated[item] = (float(end), t)
            self._notes.append(Note(t, "truncated", f"{item} truncated at {end} ms", item))
        elif kind == "response.done":
            self._done(t, event)
        elif kind == "error":
            err = event.get("error")
            err = err if isinstance(err, Mapping) else {}
            self._notes.append(Note(t, "error", f"error {err.get('type')}/{err.get('code')}: "
                                    f"{err.get('message')}"))

    def _done(self, t: float, event: Mapping[str, Any]) -> None:
        resp = event.get("response")
        resp = resp if isinstance(resp, Mapping) else {}
        rid = resp.get("id")
        if not isinstance(rid, str):
            return
        figures = self._responses.setdefault(rid, ResponseFigures(rid, t))
        figures.t_done = t
        figures.status = resp.get("status") if isinstance(resp.get("status"), str) else None
        details = resp.get("status_details")
        reason = details.get("reason") if isinstance(details, Mapping) else None
        figures.reason = reason if isinstance(reason, str) else None
        usage = resp.get("usage")
        figures.usage = dict(usage) if isinstance(usage, Mapping) else {}
        if figures.status == "cancelled":
            why = f" ({figures.reason})" if figures.reason else ""
            self._notes.append(Note(t, "cancelled", f"response {rid} cancelled{why}"))

    # -- the end ------------------------------------------------------------------------------

    def _clips(self, summary: EpisodeSummary) -> list[Clip]:
        """Each item's audio on the axis: input where its part of the stream plays, output
        one item after the other, each from when its first audio came."""
        clips: list[Clip] = []
        playing_until = 0.0
        for item in sorted(summary.items, key=lambda i: self._first_audio.get(i.id, (i.t_ms,))[0]):
            received = self.spool.samples(self.conn, item.id)
            if not received:
                continue
            heard = self.spool.heard(self.conn, item.id)
            rate = self.spool.rate(self.conn, item.id)
            if item.id in self._first_audio:
                t, at = self._first_audio[item.id]
                at = max(at, playing_until)
                playing_until = at + _ms(heard, rate)
                cut = self._truncated.get(item.id)
                clips.append(Clip(item.id, "assistant", at, received, heard, t,
                                  cut[0] if cut else None, cut[1] if cut else None, rate))
            else:
                t = self._inputs.get(item.id, item.t_ms)
                span = self._ranges.get(item.id)
                at = self.clock.stream_to_axis(span[0]) if span else self.clock.at(t)
                clips.append(Clip(item.id, "user", at, received, heard, t, rate=rate))
        return clips
