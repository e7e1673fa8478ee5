"""A cassette at the conversation level: items, turns, tool calls, audio, errors, timings.

Sans-I/O: `summarize_episode` takes an episode's lines (plain `Event` objects) and returns an
`EpisodeSummary`. Items are rebuilt by the client's own `RealtimeConversation` (both dialects),
fed with the server events and the client's input audio, so a summary shows what an app using
rtkit's client would have seen. `rtkit inspect`, `rtkit diff` and `rtkit audio` read it.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from rtkit.audio import SAMPLE_RATE, base64_to_int16
from rtkit.cassette.model import CloseLine, Event, Frame
from rtkit.cassette.reader import Cassette, Episode
from rtkit.client.conversation import RealtimeConversation
from rtkit.errors import ConversationError
from rtkit.protocol.events import canonical_server_type, server_event_dialect

__all__ = ["EpisodeSummary", "ItemSummary", "Moment", "summarize", "summarize_episode"]

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
    audio: dict[str, np.ndarray] = field(default_factory=dict, repr=False)  # item id -> samples

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict (audio as durations, not samples)."""
        data = asdict(self)
        data.pop("audio")
        return data


def _ms(samples: int) -> float:
    return round(samples * 1000 / SAMPLE_RATE, 1)


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


def _clip(text: str, width: int) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"


class _Builder:
    def __init__(self, summary: EpisodeSummary) -> None:
        self.s = summary
        self.conv = RealtimeConversation()
        self.counts: Counter[str] = Counter()
        self.first_seen: dict[str, float] = {}
        self.appended = 0  # input samples since the last timeline line about them
        self.append_t = 0.0

    def flush_audio(self) -> None:
        if self.appended:
            self.s.timeline.append(Moment(self.append_t, "client",
                                          f"input audio {_ms(self.appended) / 1000:.2f} s"))
            self.appended = 0

    def client(self, line: Event) -> None:
        event, kind = line.event, line.type
        if kind == "input_audio_buffer.append":
            samples = base64_to_int16(event.get("audio") or "")
            self.conv.append_input_audio(samples)
            self.s.input_audio_ms += _ms(len(samples))
            if not self.appended:
                self.append_t = line.t
            self.appended += len(samples)
            return
        self.flush_audio()
        if kind == "input_audio_buffer.commit" and not self.conv.server_vad:
            self.conv.commit_input_audio()
        # conversation.item.create shows as the item the server creates from it
        if kind in _SHOWN_CLIENT:
            what = kind
            if kind == "session.update":
                what += f" ({_session_summary(event.get('session'))})"
            elif kind == "conversation.item.truncate":
                what += f" {event.get('item_id')} at {event.get('audio_end_ms')} ms"
            self.s.timeline.append(Moment(line.t, "client", what))

    def server(self, line: Event) -> None:
        event = line.event
        if self.s.dialect is None:
            self.s.dialect = server_event_dialect(line.type)
        kind = canonical_server_type(line.type)
        if kind == "error":
            self.flush_audio()
            err = event.get("error") or {}
            entry = {"t_ms": line.t, "type": err.get("type"), "code": err.get("code"),
                     "message": err.get("message")}
            self.s.errors.append(entry)
            self.s.timeline.append(Moment(line.t, "server", f"error {err.get('type')}/"
                                          f"{err.get('code')}: {err.get('message')}"))
            return
        try:
            item, _delta = self.conv.process_event(event)
        except ConversationError as exc:
            self.s.timeline.append(Moment(line.t, "server", f"(conversation error: {exc})"))
            return
        if item is not None and item["id"] not in self.first_seen:
            self.flush_audio()
            self.first_seen[item["id"]] = line.t
            self.s.timeline.append(Moment(line.t, "item", "", item_id=item["id"]))
        if kind in _SHOWN_SERVER:
            self.flush_audio()
            self.s.timeline.append(Moment(line.t, "server", self._describe(kind, event)))

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

    def finish(self) -> None:
        self.flush_audio()
        for item in self.conv.get_items():
            formatted = item.get("formatted") or {}
            audio = formatted.get("audio")
            n = len(audio) if audio is not None else 0
            tool = formatted.get("tool") or {}
            summary = ItemSummary(
                id=item["id"], type=str(item.get("type")), role=item.get("role"),
                status=item.get("status"), t_ms=self.first_seen.get(item["id"], 0.0),
                text=formatted.get("text") or "",
                transcript=(formatted.get("transcript") or "").strip(),
                audio_ms=_ms(n),
                name=item.get("name") or tool.get("name"),
                call_id=item.get("call_id") or tool.get("call_id"),
                arguments=_parse(tool.get("arguments", item.get("arguments"))),
                output=_parse(formatted.get("output", item.get("output"))),
            )
            if n:
                self.s.audio[item["id"]] = np.array(audio, dtype=np.int16)
                if item.get("role") == "assistant":
                    self.s.output_audio_ms += summary.audio_ms
            self.s.items.append(summary)
        self.s.event_counts = dict(sorted(self.counts.items()))


def summarize_episode(episode: Episode, lines: Iterable[Event | Frame | CloseLine]
                      ) -> EpisodeSummary:
    """The conversation-level summary of one episode from its lines (after the connect)."""
    close = episode.close
    summary = EpisodeSummary(
        conn=episode.conn, path=episode.path, query=episode.query,
        duration_ms=episode.duration_ms, n_client=episode.n_client, n_server=episode.n_server,
        close=close.model_dump(exclude={"kind", "conn"}) if close is not None else None,
    )
    builder = _Builder(summary)
    for line in lines:
        if isinstance(line, Frame):
            builder.counts[f"{line.dir} <frame>"] += 1
            continue
        if not isinstance(line, Event):
            continue
        builder.counts[f"{line.dir} {line.type}"] += 1
        if line.dir == "client":
            builder.client(line)
        else:
            builder.server(line)
    builder.finish()
    return summary


def summarize(cassette: Cassette) -> list[EpisodeSummary]:
    """Summaries of every episode of a loaded cassette."""
    return [summarize_episode(ep, cassette.iter_episode(ep.conn)) for ep in cassette.episodes]
