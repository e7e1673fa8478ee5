"""Schema and protocol checks of a cassette (what `rtkit validate` runs).

Line by line, reporting every problem with its line number instead of stopping at the first:
each line parses as a cassette line; the header comes first; episodes open before their
events and nothing follows their close; time never goes backwards within an episode; event
types are known for the dialect (from the header, the handshake or the events); required
fields are present; items and responses are not referenced before they exist.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from rtkit.cassette.model import CloseLine, Connect, Event, Frame, Header
from rtkit.cassette.position import NO_HEADER, decode_line, where
from rtkit.cassette.reader import parse_line
from rtkit.errors import CassetteError
from rtkit.protocol.events import (
    BETA_CLIENT_EVENTS,
    BETA_SERVER_EVENTS,
    GA_CLIENT_EVENTS,
    GA_SERVER_EVENTS,
    canonical_server_type,
    server_event_dialect,
)

__all__ = ["Problem", "Report", "check_path", "validate_lines", "validate_path"]

# canonical (GA) server event type -> fields it must carry
_SERVER_REQUIRED: dict[str, tuple[str, ...]] = {
    "error": ("error",),
    "session.created": ("session",),
    "session.updated": ("session",),
    "conversation.item.added": ("item",),
    "conversation.item.done": ("item",),
    "conversation.item.truncated": ("item_id", "content_index", "audio_end_ms"),
    "conversation.item.deleted": ("item_id",),
    "conversation.item.input_audio_transcription.delta": ("item_id",),
    "conversation.item.input_audio_transcription.completed": ("item_id", "transcript"),
    "input_audio_buffer.committed": ("item_id",),
    "input_audio_buffer.speech_started": ("audio_start_ms", "item_id"),
    "input_audio_buffer.speech_stopped": ("audio_end_ms", "item_id"),
    "response.created": ("response",),
    "response.done": ("response",),
    "response.output_item.added": ("response_id", "output_index", "item"),
    "response.output_item.done": ("response_id", "output_index", "item"),
    "response.content_part.added": ("response_id", "item_id", "content_index", "part"),
    "response.content_part.done": ("response_id", "item_id", "content_index", "part"),
    "response.output_text.delta": ("response_id", "item_id", "content_index", "delta"),
    "response.output_audio.delta": ("response_id", "item_id", "content_index", "delta"),
    "response.output_audio_transcript.delta": ("response_id", "item_id", "content_index",
                                               "delta"),
    "response.function_call_arguments.delta": ("response_id", "item_id", "call_id", "delta"),
    "response.function_call_arguments.done": ("response_id", "item_id", "call_id",
                                              "arguments"),
}
_CLIENT_REQUIRED: dict[str, tuple[str, ...]] = {
    "session.update": ("session",),
    "input_audio_buffer.append": ("audio",),
    "conversation.item.create": ("item",),
    "conversation.item.truncate": ("item_id", "content_index", "audio_end_ms"),
    "conversation.item.delete": ("item_id",),
}
# server events that name an item which must already exist
_ITEM_REFS = {
    "conversation.item.truncated", "conversation.item.deleted",
    "response.content_part.added", "response.content_part.done", "response.output_text.delta",
    "response.output_text.done", "response.output_audio.delta", "response.output_audio.done",
    "response.output_audio_transcript.delta", "response.output_audio_transcript.done",
    "response.function_call_arguments.delta", "response.function_call_arguments.done",
}


@dataclass(frozen=True)
class Problem:
    """One problem, at `path:lineno` or `path:lineno:column` (see `rtkit.cassette.position`);
    `lineno` 0 for a problem with the whole file."""

    path: str
    lineno: int
    message: str
    column: int | None = None

    def __str__(self) -> str:
        if not self.lineno:
            return f"{self.path}: {self.message}"
        return f"{where(self.path, self.lineno, self.column)}: {self.message}"


@dataclass
class Report:
    """What `check_path` found: every problem, and the size of a cassette that had none."""

    path: str
    problems: list[Problem]
    lines: int
    episodes: int


@dataclass
class _Episode:
    dialect: str | None
    last_t: float = 0.0
    closed: bool = False
    items: set[str] = field(default_factory=set)  # announced or created item ids
    responses: set[str] = field(default_factory=set)
    calls: set[str] = field(default_factory=set)


class _Checker:
    def __init__(self, path: str) -> None:
        self.path = path
        self.problems: list[Problem] = []
        self.header: Header | None = None
        self.episodes: dict[int, _Episode] = {}
        self.lineno = 0
        self.seen_text = False  # a line that is not blank

    def problem(self, message: str, column: int | None = None) -> None:
        self.problems.append(Problem(self.path, self.lineno, message, column))

    def error(self, exc: CassetteError) -> None:
        if exc.reason is not None:
            self.problem(exc.reason, exc.column)
        else:
            self.problem(str(exc))

    def raw_line(self, lineno: int, raw: bytes) -> None:
        self.lineno = lineno
        try:
            text = decode_line(raw, self.path, lineno)
        except CassetteError as exc:
            self.seen_text = True
            self.error(exc)
            return
        self.line(lineno, text)

    def line(self, lineno: int, text: str) -> None:
        self.lineno = lineno
        if not text.strip():
            return
        first = not self.seen_text
        if first and lineno > 1:
            self.problems.append(Problem(self.path, 1, "the first line is blank; it must be "
                                                       "the header"))
        self.seen_text = True
        try:
            line = parse_line(text, self.path, lineno)
        except CassetteError as exc:
            self.error(exc)
            return
        if first:
            if not isinstance(line, Header):
                self.problem("the first line must be the header ({\"kind\": \"header\", ...})")
            else:
                self.header = line
            return
        if isinstance(line, Header):
            self.problem("a second header line")
        elif isinstance(line, Connect):
            self.connect(line)
        else:
            self.in_episode(line)

    def connect(self, line: Connect) -> None:
        if line.conn in self.episodes:
            self.problem(f"episode {line.conn} is opened twice")
        dialect = self.header.dialect if self.header else None
        if line.headers.get("openai-beta") == "realtime=v1" or any(
                p.startswith("openai-beta.realtime-v1") for p in line.subprotocols):
            dialect = "beta"
        self.episodes[line.conn] = _Episode(dialect=dialect)

    def in_episode(self, line: Event | Frame | CloseLine) -> None:
        ep = self.episodes.get(line.conn)
        if ep is None:
            self.problem(f"episode {line.conn} has no connect line before this {line.kind} line")
            ep = self.episodes[line.conn] = _Episode(dialect=None)
        if ep.closed:
            self.problem(f"episode {line.conn} continues after its close line")
        if line.t < ep.last_t:
            self.problem(f"time goes backwards in episode {line.conn}: t={line.t} after "
                         f"t={ep.last_t}")
        ep.last_t = max(ep.last_t, line.t)
        if isinstance(line, CloseLine):
            ep.closed = True
        elif isinstance(line, Event):
            self.event(ep, line)

    def event(self, ep: _Episode, line: Event) -> None:
        event, kind = line.event, line.event.get("type")
        if not isinstance(kind, str):
            self.problem(f"{line.dir} event without a \"type\"")
            return
        if line.dir == "server":
            if ep.dialect is None:
                ep.dialect = server_event_dialect(kind)
            known = {"ga": GA_SERVER_EVENTS, "beta": BETA_SERVER_EVENTS}.get(
                ep.dialect or "", GA_SERVER_EVENTS | BETA_SERVER_EVENTS)
            if kind not in known:
                self.problem(f"unknown server event type {kind!r} for the "
                             f"{(ep.dialect or 'GA or beta').upper()} dialect")
                return
            if "event_id" not in event:
                self.problem(f"server event {kind!r} has no event_id")
            canonical = canonical_server_type(kind)
            self.required(event, kind, _SERVER_REQUIRED.get(canonical, ()))
            self.server_refs(ep, canonical, kind, event)
        else:
            known = {"ga": GA_CLIENT_EVENTS, "beta": BETA_CLIENT_EVENTS}.get(
                ep.dialect or "", GA_CLIENT_EVENTS | BETA_CLIENT_EVENTS)
            if kind not in known:
                self.problem(f"unknown client event type {kind!r} for the "
                             f"{(ep.dialect or 'GA or beta').upper()} dialect")
                return
            self.required(event, kind, _CLIENT_REQUIRED.get(kind, ()))
            self.client_refs(ep, kind, event)

    def required(self, event: dict[str, Any], kind: str, fields: Iterable[str]) -> None:
        missing = [f for f in fields if f not in event]
        if missing:
            self.problem(f"{kind!r} is missing required field(s): {', '.join(missing)}")

    def server_refs(self, ep: _Episode, kind: str, raw_kind: str, event: dict[str, Any]) -> None:
        item = event.get("item") if isinstance(event.get("item"), dict) else None
        response = event.get("response") if isinstance(event.get("response"), dict) else None
        if kind in ("input_audio_buffer.committed", "input_audio_buffer.speech_started",
                    "input_audio_buffer.speech_stopped") and isinstance(event.get("item_id"), str):
            ep.items.add(event["item_id"])  # the id the user's item will have
        if response is not None and kind == "response.created":
            ep.responses.add(str(response.get("id")))
        if isinstance(event.get("response_id"), str) and event["response_id"] not in ep.responses:
            self.problem(f"{raw_kind!r} names response {event['response_id']!r} before "
                         "response.created")
        if item is not None:
            previous = event.get("previous_item_id")
            if kind == "conversation.item.added" and isinstance(previous, str) \
                    and previous not in ep.items:
                self.problem(f"{raw_kind!r} names previous_item_id {previous!r}, "
                             "an item that does not exist yet")
            if isinstance(item.get("id"), str):
                ep.items.add(item["id"])
            if isinstance(item.get("call_id"), str) and item.get("type") == "function_call":
                ep.calls.add(item["call_id"])
        if kind in _ITEM_REFS and isinstance(event.get("item_id"), str) \
                and event["item_id"] not in ep.items:
            self.problem(f"{raw_kind!r} names item {event['item_id']!r} before it exists")

    def client_refs(self, ep: _Episode, kind: str, event: dict[str, Any]) -> None:
        item = event.get("item") if isinstance(event.get("item"), dict) else None
        if kind == "conversation.item.create" and item is not None:
            if item.get("type") == "function_call_output" and item.get("call_id") not in ep.calls:
                self.problem(f"function_call_output for call_id {item.get('call_id')!r}, "
                             "which no function_call item has")
            if isinstance(item.get("id"), str):
                ep.items.add(item["id"])
        if kind in ("conversation.item.truncate", "conversation.item.delete") \
                and isinstance(event.get("item_id"), str) and event["item_id"] not in ep.items:
            self.problem(f"{kind!r} names item {event['item_id']!r}, which does not exist")


def _finish(checker: _Checker) -> None:
    if not checker.seen_text:
        checker.lineno = 0
        checker.problem(NO_HEADER)


def validate_lines(lines: Iterable[str], path: str = "<cassette>") -> list[Problem]:
    """Every problem in a cassette given as text lines (line 1 first)."""
    checker = _Checker(path)
    for n, text in enumerate(lines, start=1):
        checker.line(n, text)
    _finish(checker)
    return checker.problems


def _read(path: str) -> Iterator[bytes]:
    with open(path, "rb", buffering=256 * 1024) as f:
        yield from f


def check_path(path: str | os.PathLike[str]) -> Report:
    """Check the cassette at `path`, streamed (memory does not grow with the file). OSError
    when it cannot be read."""
    name = os.fspath(path)
    checker = _Checker(name)
    n = 0
    for n, raw in enumerate(_read(name), start=1):
        checker.raw_line(n, raw)
    _finish(checker)
    return Report(name, checker.problems, n, len(checker.episodes))


def validate_path(path: str | os.PathLike[str]) -> list[Problem]:
    """Every problem in the cassette at `path` (streamed: memory does not grow with the file)."""
    return check_path(path).problems
