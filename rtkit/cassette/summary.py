"""A cassette at the conversation level: items, turns, tool calls, audio, errors, timings.

`read_summaries(path)` reads a cassette once, line by line, validating it as
`Cassette.load` does (same messages), and gives one `EpisodeSummary` per episode; memory does
not grow with the file, and audio is never decoded for a summary (a duration is the length of
its base64). Items are rebuilt by the client's own `RealtimeConversation` (both dialects), fed
with the server events and the client's input audio, so a summary shows what an app using
rtkit's client would have seen; output audio is counted here instead of kept in the
conversation. Audio is read in the session's formats (`rtkit.audio.SessionFormats`: PCM16 at
24 kHz, or G.711 at 8 kHz, input and output apart), durations at each format's own rate. An
`AudioSink` receives the samples as they are met (what `rtkit audio` writes).

Sans-I/O below `read_summaries`: `EpisodeBuilder` takes an episode's events as plain data.
"""

from __future__ import annotations

import binascii
import json
import os
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from rtkit.audio import SAMPLE_RATE, AudioFormat, SessionFormats, ms_to_samples
from rtkit.cassette.model import CloseLine, Connect, Event, Frame, Header
from rtkit.cassette.position import NO_HEADER, line_error, utf8_error
from rtkit.cassette.reader import Cassette, Episode, parse_line
from rtkit.client.conversation import RealtimeConversation
from rtkit.errors import CassetteError, ConversationError
from rtkit.protocol.events import canonical_server_type, server_event_dialect

__all__ = [
    "AudioSink",
    "EpisodeBuilder",
    "EpisodeLines",
    "EpisodeSummary",
    "ItemSummary",
    "Moment",
    "read_summaries",
    "summarize",
    "summarize_episode",
]

_SHOWN_CLIENT = {
    "session.update", "response.create", "response.cancel", "conversation.item.truncate",
    "conversation.item.delete", "input_audio_buffer.commit", "input_audio_buffer.clear",
    "output_audio_buffer.clear",
}
_SHOWN_SERVER = {
    "session.created", "input_audio_buffer.speech_started", "input_audio_buffer.speech_stopped",
    "input_audio_buffer.committed", "conversation.item.truncated", "conversation.item.deleted",
    "response.created", "response.done",
}
_OUTPUT_AUDIO = frozenset({"response.output_audio.delta", "response.audio.delta"})
_EMPTY = np.zeros(0, dtype=np.int16)
_EMPTY.flags.writeable = False
_READ_BUFFER = 256 * 1024
_SILENCE = np.zeros(SAMPLE_RATE, dtype=np.int16)  # input audio, when only its length matters
_SILENCE.flags.writeable = False


@dataclass
class ItemSummary:
    """One conversation item as the client saw it at the end of the episode."""

    id: str
    type: str
    role: str | None = None
    status: str | None = None
    t_ms: float = 0.0  # when the server announced it
    text: str = ""
    transcript: str = ""
    audio_ms: float = 0.0
    name: str | None = None  # function calls
    call_id: str | None = None
    arguments: Any = None  # parsed JSON when it parses
    output: Any = None  # function call outputs, parsed JSON when it parses

    @property
    def who(self) -> str:
        """"user", "assistant", "tool" (a function call output), "system"."""
        if self.type == "function_call_output":
            return "tool"
        if self.type == "function_call":
            return "assistant"
        return self.role or self.type

    def signature(self) -> dict[str, Any]:
        """What `rtkit diff` compares (no ids, times or audio lengths)."""
        sig: dict[str, Any] = {"type": self.type, "who": self.who}
        for key in ("text", "transcript", "name", "arguments", "output", "status"):
            value = getattr(self, key)
            if value not in (None, ""):
                sig[key] = value
        return sig


@dataclass
class Moment:
    """A line of the timeline: `t_ms`, who (`client`, `server`, or an item's speaker), what."""

    t_ms: float
    who: str
    what: str
    item_id: str | None = None


@dataclass
class EpisodeSummary:
    """One connection at the conversation level."""

    conn: int
    path: str
    query: str
    duration_ms: float
    n_client: int
    n_server: int
    close: dict[str, Any] | None
    model: str | None = None
    dialect: str | None = None  # "ga" / "beta", from the event names
    items: list[ItemSummary] = field(default_factory=list)
    responses: list[dict[str, Any]] = field(default_factory=list)
    errors: list[dict[str, Any]] = field(default_factory=list)
    timeline: list[Moment] = field(default_factory=list)
    event_counts: dict[str, int] = field(default_factory=dict)  # "client session.update" -> n
    input_audio_ms: float = 0.0
    output_audio_ms: float = 0.0

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict."""
        return asdict(self)

    def ending(self) -> str:
        """How the episode ended: "closed 1000 by client", "dropped (...)", "not closed"."""
        close = self.close
        if not close:
            return "not closed"
        if close.get("code"):
            return f"closed {close.get('code')} by {close.get('by')}"
        return f"dropped ({close.get('reason') or 'no close frame'})"


class AudioSink(Protocol):
    """Receives an episode's audio as `read_summaries` meets it (ids are item ids): int16
    samples at `rate` Hz (the session format's: 24000 for PCM16, 8000 for G.711)."""

    def output(self, conn: int, item_id: str, samples: np.ndarray, rate: int) -> None:
        """More output audio of an item (appended)."""

    def truncate(self, conn: int, item_id: str, n_samples: int) -> None:
        """An item's output audio ends after `n_samples` (it was interrupted)."""

    def input(self, conn: int, item_id: str, samples: np.ndarray, rate: int) -> None:
        """The whole input audio of a (user) item (replaces any earlier)."""


class EpisodeLines(Protocol):
    """What `read_summaries` feeds an episode's lines to (`EpisodeBuilder`, or a wrapper of
    one that also looks at every line, such as `rtkit view`'s)."""

    def event(self, direction: str, t: float, event: dict[str, Any]) -> None:
        """One JSON event."""

    def frame(self, direction: str, t: float) -> None:
        """A frame that is not a JSON object."""

    def close(self, line: CloseLine) -> None:
        """The close line."""

    def finish(self) -> EpisodeSummary:
        """The episode's summary (after its last line)."""


def _ms(samples: int, rate: int = SAMPLE_RATE) -> float:
    return round(samples * 1000 / rate, 1)


def _parse(value: Any) -> Any:
    if isinstance(value, str):
        try:
            return json.loads(value)
        except ValueError:
            return value
    return value


def _session_summary(session: Any) -> str:
    if not isinstance(session, dict):
        return ""
    parts = []
    modalities = session.get("output_modalities") or session.get("modalities")
    if modalities:
        parts.append("output " + "+".join(modalities))
    audio = session.get("audio") if isinstance(session.get("audio"), dict) else {}
    turn = session.get("turn_detection", (audio.get("input") or {}).get("turn_detection"))
    if "turn_detection" in session or "input" in audio:
        parts.append("turns: " + (turn.get("type", "?") if isinstance(turn, dict) else "manual"))
    tools = session.get("tools")
    if tools:
        parts.append("tools: " + ", ".join(str(t.get("name")) for t in tools
                                           if isinstance(t, dict)))
    if session.get("instructions"):
        parts.append(f"instructions: {_clip(str(session['instructions']), 40)!r}")
    return ", ".join(parts)


def _server_vad(session: Any) -> bool | None:
    """Whether a session update turns server-side turn detection on (None: it does not say)."""
    if not isinstance(session, dict):
        return None
    audio = session.get("audio")
    inputs = audio.get("input") if isinstance(audio, dict) else None
    if "turn_detection" in session:
        turn = session["turn_detection"]
    elif isinstance(inputs, dict) and "turn_detection" in inputs:
        turn = inputs["turn_detection"]
    else:
        return None
    return isinstance(turn, dict) and turn.get("type") in ("server_vad", "semantic_vad")


def _clip(text: str, width: int) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"


class EpisodeBuilder:
    """Builds one episode's summary from its events (sans-I/O: plain dicts in).

    Call `event` for each event line (or `frame` for other frames) in order, `close` for the
    close line, then `finish`. Memory stays bounded: output audio is counted, not kept, and
    input audio leaves the conversation as soon as an item has it.
    """

    def __init__(self, connect: Connect, audio: AudioSink | None = None) -> None:
        self.s = EpisodeSummary(conn=connect.conn, path=connect.path, query=connect.query,
                                duration_ms=0.0, n_client=0, n_server=0, close=None)
        self.audio = audio
        self.conv = RealtimeConversation()
        self.formats = SessionFormats()
        """The session's audio formats, as its events set them so far."""
        self._out_width = self.formats.output.sample_width  # bytes a sample of output audio
        self.counts: Counter[tuple[str, str]] = Counter()
        self.first_seen: dict[str, float] = {}
        self.out_samples: dict[str, int] = {}  # output audio per item
        self.in_samples: dict[str, int] = {}  # input audio per item
        self.rates: dict[str, int] = {}  # the sample rate of each item's audio
        self.appended = 0  # input samples since the last timeline line about them
        self.append_t = 0.0
        self.append_rate = SAMPLE_RATE

    # -- lines ------------------------------------------------------------------------------

    def event(self, direction: str, t: float, event: dict[str, Any]) -> None:
        """One JSON event of the episode."""
        s = self.s
        s.duration_ms = t
        kind = event.get("type")
        if kind.__class__ is not str:
            kind = ""
        self.counts[direction, kind] += 1
        if direction == "client":
            s.n_client += 1
            self.client(t, kind, event)
            return
        s.n_server += 1
        if kind in _OUTPUT_AUDIO:  # the bulk of a session: counted here, nothing else to do
            item_id = event.get("item_id")
            delta = event.get("delta")
            if item_id.__class__ is str and item_id in self.first_seen \
                    and self.conv.get_item(item_id) is not None:
                if delta.__class__ is str:
                    if self.audio is None and not len(delta) % 4:
                        n = (len(delta) // 4 * 3 - delta[-2:].count("=")) // self._out_width
                    else:
                        n = self._output_audio(item_id, delta)
                    self.out_samples[item_id] = self.out_samples.get(item_id, 0) + n
                return
        self.server(t, kind, event)

    def frame(self, direction: str, t: float) -> None:
        """A frame that is not a JSON object."""
        self.s.duration_ms = t
        self.counts[direction, "<frame>"] += 1
        if direction == "client":
            self.s.n_client += 1
        else:
            self.s.n_server += 1

    def close(self, line: CloseLine) -> None:
        """The episode's close line."""
        self.s.duration_ms = line.t
        self.s.close = line.model_dump(exclude={"kind", "conn"})

    # -- events -----------------------------------------------------------------------------

    def flush_audio(self) -> None:
        if self.appended:
            ms = _ms(self.appended, self.append_rate)
            self.s.timeline.append(Moment(self.append_t, "client",
                                          f"input audio {ms / 1000:.2f} s"))
            self.appended = 0

    def _session_formats(self, direction: str, event: dict[str, Any]) -> None:
        """Follow the session's audio formats (a session event's): the conversation reads
        audio in them too."""
        fmt = self.formats
        if not (fmt.client_event(event) if direction == "client" else fmt.server_event(event)):
            return
        if fmt.input.rate != self.append_rate:
            self.flush_audio()  # a line of input audio is at one rate
        self.conv.input_format = fmt.input
        self.conv.output_format = fmt.output
        self._out_width = fmt.output.sample_width

    def client(self, t: float, kind: str, event: dict[str, Any]) -> None:
        if kind == "input_audio_buffer.append":
            b64 = event.get("audio")
            b64 = b64 if isinstance(b64, str) else ""
            fmt = self.formats.input
            if self.audio is not None:
                samples = fmt.decode_base64(b64)
            else:  # only lengths matter: silence of the right length, never decoded
                n = fmt.base64_sample_count(b64)
                samples = _SILENCE[:n] if n <= len(_SILENCE) else np.zeros(n, dtype=np.int16)
            self.conv.append_input_audio(samples)
            self.s.input_audio_ms += _ms(len(samples), fmt.rate)
            if not self.appended:
                self.append_t = t
                self.append_rate = fmt.rate
            self.appended += len(samples)
            return
        self.flush_audio()
        if kind in SessionFormats.EVENTS:
            self._session_formats("client", event)
        if kind == "input_audio_buffer.commit" and not self.conv.server_vad:
            self.conv.commit_input_audio()
        # conversation.item.create shows as the item the server creates from it
        if kind == "session.update":
            vad = _server_vad(event.get("session"))
            if vad is not None:  # as rtkit's client does (and input audio is trimmed)
                self.conv.server_vad = vad
        if kind in _SHOWN_CLIENT:
            what = kind
            if kind == "session.update":
                what += f" ({_session_summary(event.get('session'))})"
            elif kind == "conversation.item.truncate":
                what += f" {event.get('item_id')} at {event.get('audio_end_ms')} ms"
            self.s.timeline.append(Moment(t, "client", what))

    def server(self, t: float, kind: str, event: dict[str, Any]) -> None:
        if self.s.dialect is None:
            self.s.dialect = server_event_dialect(kind)
        if kind in _OUTPUT_AUDIO:  # an item's first delta, or one the conversation refuses
            item_id, delta = event.get("item_id"), event.get("delta")
            if isinstance(item_id, str) and self.conv.get_item(item_id) is not None \
                    and isinstance(delta, str):
                n = self._output_audio(item_id, delta)
                self.out_samples[item_id] = self.out_samples.get(item_id, 0) + n
            event = {**event, "delta": ""}  # the conversation sees the event, not the audio
        canonical = canonical_server_type(kind)
        if canonical in SessionFormats.EVENTS:
            self._session_formats("server", event)
        if canonical == "error":
            self.flush_audio()
            err = event.get("error") or {}
            entry = {"t_ms": t, "type": err.get("type"), "code": err.get("code"),
                     "message": err.get("message")}
            self.s.errors.append(entry)
            self.s.timeline.append(Moment(t, "server", f"error {err.get('type')}/"
                                          f"{err.get('code')}: {err.get('message')}"))
            return
        try:
            item, _delta = self.conv.process_event(event)
        except ConversationError as exc:
            self.s.timeline.append(Moment(t, "server", f"(conversation error: {exc})"))
            return
        if canonical == "conversation.item.truncated" and item is not None \
                and item["id"] in self.out_samples:
            end = ms_to_samples(event.get("audio_end_ms") or 0,
                                self.rates.get(item["id"], self.conv.sample_rate))
            self.out_samples[item["id"]] = min(self.out_samples[item["id"]], end)
            if self.audio is not None:
                self.audio.truncate(self.s.conn, item["id"], end)
        self._take_input_audio(item, event)
        if item is not None and item["id"] not in self.first_seen:
            self.flush_audio()
            self.first_seen[item["id"]] = t
            self._rate(item)
            self.s.timeline.append(Moment(t, "item", "", item_id=item["id"]))
        if canonical in _SHOWN_SERVER:
            self.flush_audio()
            self.s.timeline.append(Moment(t, "server", self._describe(canonical, event)))

    def _output_audio(self, item_id: str, delta: str) -> int:
        """How many samples an output audio delta holds (given to the sink, if any)."""
        fmt = self.formats.output
        if self.audio is None:
            return fmt.base64_sample_count(delta)
        samples = fmt.decode_base64(delta)
        self.audio.output(self.s.conn, item_id, samples, fmt.rate)
        return len(samples)

    def _rate(self, item: dict[str, Any]) -> int:
        """The sample rate of an item's audio: the session's output format's for the
        assistant's, the input format's for others, as the session was when the item came."""
        rate = self.rates.get(item["id"])
        if rate is None:
            fmt: AudioFormat = (self.formats.output if item.get("role") == "assistant"
                                else self.formats.input)
            rate = self.rates[item["id"]] = fmt.rate
        return rate

    def _take_input_audio(self, item: dict[str, Any] | None, event: dict[str, Any]) -> None:
        """Move input audio the conversation just gave an item out of it (bounded memory)."""
        if item is None:
            item_id = event.get("item_id")
            item = self.conv.get_item(item_id) if isinstance(item_id, str) else None
            if item is None:
                return
        formatted = item.get("formatted") or {}
        samples = formatted.get("audio")
        if samples is None or not len(samples):
            return
        self.in_samples[item["id"]] = len(samples)
        if self.audio is not None:
            self.audio.input(self.s.conn, item["id"], samples, self._rate(item))
        formatted["audio"] = _EMPTY

    def _describe(self, kind: str, event: dict[str, Any]) -> str:
        if kind == "session.created":
            session = event.get("session") or {}
            self.s.model = session.get("model") or self.s.model
            return f"session.created ({session.get('model', '?')})"
        if kind == "response.done":
            resp = event.get("response") or {}
            details = resp.get("status_details") or {}
            reason = details.get("reason") if isinstance(details, dict) else None
            self.s.responses.append({"id": resp.get("id"), "status": resp.get("status"),
                                     "reason": reason})
            usage = resp.get("usage") or {}
            tokens = f", {usage['total_tokens']} tokens" if usage.get("total_tokens") else ""
            return (f"response.done {resp.get('id')}: {resp.get('status')}"
                    f"{f' ({reason})' if reason else ''}{tokens}")
        if kind == "input_audio_buffer.speech_started":
            return f"speech started at {event.get('audio_start_ms')} ms"
        if kind == "input_audio_buffer.speech_stopped":
            return f"speech stopped at {event.get('audio_end_ms')} ms"
        if kind == "conversation.item.truncated":
            return f"item {event.get('item_id')} truncated at {event.get('audio_end_ms')} ms"
        if kind == "response.created":
            return f"response.created {(event.get('response') or {}).get('id')}"
        return kind

    def finish(self) -> EpisodeSummary:
        """The summary (call once, after the last line)."""
        self.flush_audio()
        for item in self.conv.get_items():
            formatted = item.get("formatted") or {}
            tool = formatted.get("tool") or {}
            n = self.out_samples.get(item["id"], 0) + self.in_samples.get(item["id"], 0)
            summary = ItemSummary(
                id=item["id"], type=str(item.get("type")), role=item.get("role"),
                status=item.get("status"), t_ms=self.first_seen.get(item["id"], 0.0),
                text=formatted.get("text") or "",
                transcript=(formatted.get("transcript") or "").strip(),
                audio_ms=_ms(n, self._rate(item)),
                name=item.get("name") or tool.get("name"),
                call_id=item.get("call_id") or tool.get("call_id"),
                arguments=_parse(tool.get("arguments", item.get("arguments"))),
                output=_parse(formatted.get("output", item.get("output"))),
            )
            if n and item.get("role") == "assistant":
                self.s.output_audio_ms += summary.audio_ms
            self.s.items.append(summary)
        self.s.event_counts = {f"{d} {k}": n for (d, k), n in sorted(self.counts.items())}
        # the conversation refers to itself (its handlers), so only the garbage collector
        # would free it: let its items and input audio go now
        self.conv.clear()
        return self.s


def summarize_episode(episode: Episode, lines: Iterable[Event | Frame | CloseLine]
                      ) -> EpisodeSummary:
    """The conversation-level summary of one episode from its lines (after the connect)."""
    builder = EpisodeBuilder(episode.connect)
    for line in lines:
        if isinstance(line, Event):
            builder.event(line.dir, line.t, line.event)
        elif isinstance(line, Frame):
            builder.frame(line.dir, line.t)
        elif isinstance(line, CloseLine):
            builder.close(line)
    return builder.finish()


# ------------------------------------------------------------------------------- the file pass


_FINISHED: Any = object()  # a closed episode's place in `builders`


def read_summaries(path: str | os.PathLike[str], *, audio: AudioSink | None = None,
                   builder: Callable[[Connect, AudioSink | None], EpisodeLines] = EpisodeBuilder,
                   ) -> tuple[Header, list[EpisodeSummary]]:
    """The header and a summary of each episode (by conn) of the cassette at `path`, in one
    streaming pass that refuses what `Cassette.load` refuses, with the same message.

    `builder(connect, audio)` makes what each episode's lines go to (default: an
    `EpisodeBuilder`)."""
    path = Path(path)
    header: Header | None = None
    builders: dict[int, EpisodeLines] = {}
    done: dict[int, EpisodeSummary] = {}
    closed: set[int] = set()
    last_t: dict[int, float] = {}
    # json's C scanner without json.loads' wrapping: a line it does not take whole (or any
    # other doubt) goes to parse_line, which gives the exact error or the validated line
    scan = json.JSONDecoder().scan_once
    lineno = 0
    try:
        fh = open(path, "rb", buffering=_READ_BUFFER)  # noqa: SIM115 - closed below
    except FileNotFoundError:
        raise CassetteError(f"{path}: no such cassette") from None
    except IsADirectoryError:
        raise CassetteError(f"{path}: is a directory, not a cassette") from None
    with fh:
        for lineno, raw in enumerate(fh, start=1):
            try:
                text = raw.decode("utf-8")
            except UnicodeDecodeError as exc:
                raise utf8_error(path, lineno, exc) from None
            try:
                obj, end = scan(text, 0)
            except (StopIteration, ValueError, RecursionError):
                obj = end = None
            line: Any = None
            if type(obj) is dict and len(obj) == 5 and obj.get("kind") == "event" and (
                    end == len(text) or text[end:] == "\n"):
                conn, direction, t, event = obj.get("conn"), obj.get("dir"), obj.get("t"), \
                    obj.get("event")
                if not (type(conn) is int and conn >= 0 and direction in ("client", "server")
                        and type(t) in (int, float) and t >= 0 and type(event) is dict):
                    line = parse_line(text, path, lineno)
                else:
                    t = float(t)
            else:
                if not text.strip():
                    continue
                line = parse_line(text, path, lineno)  # the exact error, or a valid line
                if isinstance(line, Header):
                    if lineno != 1:
                        raise line_error(path, lineno, "a second header line")
                    header = line
                    continue
                if isinstance(line, Connect):
                    if header is None:
                        raise line_error(path, lineno, "the first line must be the header")
                    if line.conn in builders:
                        raise line_error(path, lineno, f"conn {line.conn} is connected twice")
                    builders[line.conn] = builder(line, audio)
                    last_t[line.conn] = 0.0
                    continue
                conn, t = line.conn, line.t
            if header is None:
                raise line_error(path, lineno, "the first line must be the header")
            lines = builders.get(conn)
            if lines is None:
                raise line_error(path, lineno, f"conn {conn} has no connect line before it")
            if conn in closed:
                raise line_error(path, lineno, f"conn {conn} continues after its close line")
            if t < last_t[conn]:
                raise line_error(path, lineno, f"time goes backwards in conn {conn} "
                                 f"({t} ms after {last_t[conn]} ms)")
            last_t[conn] = t
            try:
                if line is None:
                    lines.event(direction, t, event)
                elif isinstance(line, Event):
                    lines.event(line.dir, t, line.event)
                elif isinstance(line, Frame):
                    lines.frame(line.dir, t)
                elif isinstance(line, CloseLine):
                    closed.add(conn)
                    lines.close(line)
                    done[conn] = lines.finish()  # its conversation (and input audio) can go
                    builders[conn] = _FINISHED
            except CassetteError:
                raise
            except binascii.Error:  # audio decoded for an AudioSink
                raise line_error(path, lineno, "the event's audio is not valid base64") from None
            except Exception as exc:  # anything else this line holds: its problem
                raise _unreadable(path, lineno, exc) from None
    if header is None:
        raise CassetteError(f"{path}: {NO_HEADER}")
    for conn, lines in builders.items():
        if lines is not _FINISHED:
            try:
                done[conn] = lines.finish()
            except CassetteError:
                raise
            except Exception as exc:
                raise _unreadable(path, lineno, exc) from None
    return header, [done[conn] for conn in sorted(done)]


def _unreadable(path: str | os.PathLike[str], lineno: int, exc: Exception) -> CassetteError:
    """The error for an event the summary cannot read (a bad audio payload, ...)."""
    return line_error(path, lineno, f"cannot read this event ({type(exc).__name__}: {exc}); "
                      "run `rtkit validate` on the cassette")


def summarize(cassette: Cassette | str | os.PathLike[str]) -> list[EpisodeSummary]:
    """Summaries of every episode of a cassette (a loaded one, or a path)."""
    path = cassette.path if isinstance(cassette, Cassette) else cassette
    return read_summaries(path)[1]
