"""Streaming cassette reader: validated lines, an episode index, audio helpers.

Nothing here holds a cassette's events in memory: `Cassette.load` makes one pass that keeps
byte offsets per episode, and `iter_episode` streams an episode's lines back from disk.
"""

from __future__ import annotations

import base64
import binascii
import json
import os
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from pydantic import ValidationError

from rtkit.cassette.model import VERSION, CloseLine, Connect, Event, Frame, Header, Line
from rtkit.cassette.position import NO_HEADER, json_column, line_error, utf8_error
from rtkit.errors import CassetteError

__all__ = ["Cassette", "Episode", "ServerEventText", "parse_line", "read_lines"]

_EVENT_KEY = '"event":'
OUTPUT_AUDIO_TYPES = frozenset({"response.output_audio.delta", "response.audio.delta"})


def _error(path: str | os.PathLike[str], lineno: int, message: str) -> CassetteError:
    return line_error(path, lineno, message)


def _validation_message(exc: ValidationError) -> str:
    parts = []
    for err in exc.errors()[:3]:
        loc = ".".join(str(x) for x in err["loc"]) or "line"
        parts.append(f"{loc}: {err['msg'].removeprefix('Value error, ')}")
    return "; ".join(parts)


def _written_server_event(conn: int) -> re.Pattern[bytes]:
    """The start of a server event line of `conn` exactly as CassetteWriter writes it (the
    replay fast path); group 1 is `t`."""
    return re.compile(rb'\{"kind":"event","conn":' + str(conn).encode()
                      + rb',"dir":"server","t":(\d+(?:\.\d+)?),"event":')


class ServerEventText:
    """A recorded server event read for replay: its exact UTF-8 bytes, decoded and parsed
    only if asked.

    Replay sends most server events byte for byte, so `iter_episode(lazy_server=True)` neither
    decodes nor parses them (the file was validated when the cassette was loaded); `data` is a
    view into the line read from disk.
    """

    __slots__ = ("_event", "conn", "data", "t")
    kind = "event"
    dir = "server"

    def __init__(self, conn: int, t: float, data: bytes | memoryview) -> None:
        self.conn, self.t, self.data = conn, t, data
        self._event: dict[str, Any] | None = None

    @property
    def raw(self) -> str:
        """The event's exact text."""
        return bytes(self.data).decode("utf-8")

    @property
    def event(self) -> dict[str, Any]:
        """The event, parsed on first use."""
        if self._event is None:
            self._event = json.loads(bytes(self.data))
        return self._event

    @property
    def type(self) -> str:
        """The event's `type` field."""
        return str(self.event.get("type", ""))


def _raw_event_text(line: str, event: dict[str, Any]) -> str:
    """The event's exact JSON text, sliced out of its line (re-serialised only if unusual)."""
    start = line.find(_EVENT_KEY)
    if start >= 0:
        raw = line[start + len(_EVENT_KEY) :].rstrip()
        if raw.endswith("}"):
            raw = raw[:-1].strip()
            if raw.startswith("{") and raw.endswith("}"):
                return raw
    return json.dumps(event, ensure_ascii=False, separators=(",", ":"))


def parse_line(line: str, path: str | os.PathLike[str] = "<cassette>", lineno: int = 0) -> Line:
    """Parse and validate one cassette line; errors name the file and line."""
    try:
        obj = json.loads(line)
    except json.JSONDecodeError as exc:
        raise line_error(path, lineno, f"not valid JSON ({exc.msg})",
                         json_column(line, exc)) from None
    if not isinstance(obj, dict):
        raise _error(path, lineno, "a cassette line must be a JSON object")
    kind = obj.get("kind")
    if kind == "event":
        conn, direction, t, event = obj.get("conn"), obj.get("dir"), obj.get("t"), obj.get("event")
        if (
            type(conn) is int
            and conn >= 0
            and direction in ("client", "server")
            and type(t) in (int, float)
            and t >= 0
            and isinstance(event, dict)
            and len(obj) == 5
        ):  # fast path: structurally valid, skip full model validation
            return Event.model_construct(
                conn=conn, dir=direction, t=float(t), raw=_raw_event_text(line, event), event=event
            )
        obj = {**obj, "raw": ""}
    try:
        if kind == "event":
            ev = Event.model_validate(obj)
            return ev.model_copy(update={"raw": _raw_event_text(line, ev.event)})
        if kind == "connect":
            return Connect.model_validate(obj)
        if kind == "close":
            return CloseLine.model_validate(obj)
        if kind == "frame":
            return _parse_frame(obj, path, lineno)
        if kind == "header":
            header = Header.model_validate(obj)
            if header.version != VERSION:
                raise _error(path, lineno, f"cassette format version {header.version} is not "
                             f"supported (this rtkit reads version {VERSION})")
            return header
    except ValidationError as exc:
        raise _error(path, lineno, f"invalid {kind} line: {_validation_message(exc)}") from None
    raise _error(path, lineno, f"unknown line kind {kind!r} (expected header, connect, event, "
                 "frame or close)")


def _parse_frame(obj: dict[str, Any], path: str | os.PathLike[str], lineno: int) -> Frame:
    binary = obj.get("binary")
    if binary is not None:
        try:
            obj = {**obj, "binary": base64.b64decode(binary, validate=True)}
        except (binascii.Error, TypeError):
            raise _error(path, lineno, "frame.binary is not valid base64") from None
    return Frame.model_validate(obj)


_READ_BUFFER = 256 * 1024


def _iter_raw_lines(path: str | os.PathLike[str], offset: int = 0) -> Iterator[tuple[int, str]]:
    """Yields (byte offset, line text) from `offset`, splitting on b"\\n" only."""
    # a large buffer: audio lines (~6.5 KB) straddle the default 8 KB one, which costs 5x
    with open(path, "rb", buffering=_READ_BUFFER) as fh:
        fh.seek(offset)
        pos = offset
        for raw in fh:
            yield pos, raw.decode("utf-8")
            pos += len(raw)


def read_lines(path: str | os.PathLike[str]) -> Iterator[Line]:
    """Stream every line of a cassette, validated; the first must be the header."""
    lineno = 0
    seen = False  # a line that is not blank
    try:
        for lineno, (_, text) in enumerate(_iter_raw_lines(path), start=1):
            if not text.strip():
                continue
            line = parse_line(text, path, lineno)
            seen = True
            if (lineno == 1) != isinstance(line, Header):
                raise _error(path, lineno, "the first line must be the header, and only it")
            yield line
    except FileNotFoundError:
        raise CassetteError(f"{path}: no such cassette") from None
    except UnicodeDecodeError as exc:
        raise utf8_error(path, lineno + 1, exc) from None
    if not seen:
        raise CassetteError(f"{path}: {NO_HEADER}")


@dataclass
class Episode:
    """One recorded connection: its handshake, close, and where its lines are in the file."""

    conn: int
    connect: Connect
    close: CloseLine | None
    n_events: int
    n_client: int
    n_server: int
    offset: int
    lineno: int
    end_offset: int
    duration_ms: float

    @property
    def path(self) -> str:
        """The request path (e.g. `/v1/realtime`)."""
        return self.connect.path

    @property
    def query(self) -> str:
        """The request query string (secrets redacted)."""
        return self.connect.query


class Cassette:
    """A cassette on disk, indexed in one streaming pass (`Cassette.load`)."""

    def __init__(self, path: Path, header: Header, episodes: list[Episode], n_lines: int) -> None:
        self.path = path
        self.header = header
        self.episodes = episodes
        self.n_lines = n_lines

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> Cassette:
        """Read and validate the whole file once, keeping only an index of its episodes."""
        path = Path(path)
        header: Header | None = None
        episodes: dict[int, Episode] = {}
        last_t: dict[int, float] = {}
        lineno = 0
        try:
            for lineno, (offset, text) in enumerate(_iter_raw_lines(path), start=1):
                if not text.strip():
                    continue
                line = parse_line(text, path, lineno)
                if isinstance(line, Header):
                    if lineno != 1:
                        raise _error(path, lineno, "a second header line")
                    header = line
                    continue
                if header is None:
                    raise _error(path, lineno, "the first line must be the header")
                if isinstance(line, Connect):
                    if line.conn in episodes:
                        raise _error(path, lineno, f"conn {line.conn} is connected twice")
                    episodes[line.conn] = Episode(line.conn, line, None, 0, 0, 0, offset, lineno,
                                                  offset + len(text.encode()), 0.0)
                    last_t[line.conn] = 0.0
                    continue
                ep = episodes.get(line.conn)
                if ep is None:
                    raise _error(path, lineno, f"conn {line.conn} has no connect line before it")
                if ep.close is not None:
                    raise _error(path, lineno, f"conn {line.conn} continues after its close line")
                if line.t < last_t[line.conn]:
                    raise _error(path, lineno, f"time goes backwards in conn {line.conn} "
                                 f"({line.t} ms after {last_t[line.conn]} ms)")
                last_t[line.conn] = line.t
                ep.end_offset = offset + len(text.encode())
                ep.duration_ms = line.t
                if isinstance(line, CloseLine):
                    ep.close = line
                elif isinstance(line, Event | Frame):
                    ep.n_events += 1
                    if line.dir == "client":
                        ep.n_client += 1
                    else:
                        ep.n_server += 1
        except FileNotFoundError:
            raise CassetteError(f"{path}: no such cassette") from None
        except IsADirectoryError:
            raise CassetteError(f"{path}: is a directory, not a cassette") from None
        except UnicodeDecodeError as exc:
            raise utf8_error(path, lineno + 1, exc) from None
        if header is None:
            raise CassetteError(f"{path}: {NO_HEADER}")
        return cls(path, header, sorted(episodes.values(), key=lambda e: e.conn), lineno)

    def episode(self, conn: int) -> Episode:
        """The episode numbered `conn`."""
        for ep in self.episodes:
            if ep.conn == conn:
                return ep
        raise CassetteError(f"{self.path}: no episode with conn {conn}")

    def iter_episode(self, conn: int, *, lazy_server: bool = False
                     ) -> Iterator[Event | Frame | CloseLine | ServerEventText]:
        """Stream an episode's lines after its connect line, from disk.

        `lazy_server=True` yields server events as `ServerEventText` (their bytes, decoded and
        parsed on demand), which is what replay needs.
        """
        ep = self.episode(conn)
        lineno = ep.lineno
        fast = _written_server_event(conn).match if lazy_server else None
        tags = (f'"conn":{conn},', f'"conn": {conn},')
        offset, end = ep.offset, ep.end_offset
        # the file is read here rather than through _iter_raw_lines: this loop is replay's
        # hot path, one pass per recorded event
        with open(self.path, "rb", buffering=_READ_BUFFER) as fh:
            fh.seek(offset)
            for data in fh:
                if offset >= end:
                    return
                first = offset == ep.offset
                offset += len(data)
                lineno += 1
                if fast is not None and (m := fast(data)) is not None:
                    close = data.rfind(b"}")
                    if data[close - 1:close] == b"}":
                        yield ServerEventText(conn, float(m.group(1)),
                                              memoryview(data)[m.end():close])
                        continue
                text = data.decode("utf-8")
                if first or (len(text) < 8 and not text.strip()):
                    continue
                # cheap pre-filter: only lines of this conn are parsed
                if tags[0] not in text and tags[1] not in text:
                    continue
                line = parse_line(text, self.path, lineno - 1)
                if isinstance(line, Event | Frame | CloseLine) and line.conn == conn:
                    yield line

    def iter_events(self, conn: int, direction: str | None = None) -> Iterator[Event]:
        """An episode's JSON events, optionally of one direction."""
        for line in self.iter_episode(conn):
            if isinstance(line, Event) and (direction is None or line.dir == direction):
                yield line

    def output_audio(self, conn: int) -> np.ndarray:
        """All output audio deltas of an episode (GA and beta names), as one int16 array."""
        return self._audio(conn, "server", OUTPUT_AUDIO_TYPES, "delta")

    def input_audio(self, conn: int) -> np.ndarray:
        """All `input_audio_buffer.append` audio the client sent in an episode, as int16."""
        return self._audio(conn, "client", frozenset({"input_audio_buffer.append"}), "audio")

    def _audio(self, conn: int, direction: str, types: frozenset[str], field: str) -> np.ndarray:
        from rtkit.audio import AudioBuffer

        buf = AudioBuffer()
        for ev in self.iter_events(conn, direction):
            if ev.type in types and isinstance(ev.event.get(field), str):
                buf.append_base64(ev.event[field])
        return np.array(buf.view(), dtype=np.int16)

    def __repr__(self) -> str:
        return f"<Cassette {str(self.path)!r} episodes={len(self.episodes)}>"
