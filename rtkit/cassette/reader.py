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
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import ValidationError

from rtkit.cassette.model import VERSION, CloseLine, Connect, Event, Frame, Header, Line
from rtkit.cassette.position import (
    NO_HEADER,
    decode_line,
    json_column,
    line_error,
    utf8_error,
)
from rtkit.errors import CassetteError

if TYPE_CHECKING:  # numpy is imported when audio is asked for: `rtkit serve` starts faster
    import numpy as np

__all__ = ["Cassette", "Episode", "ServerEventText", "ServerRun", "parse_line", "read_lines",
           "read_numbered_lines"]

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
        """The event, parsed on first use (`CassetteError` if it is not a JSON object)."""
        if self._event is None:
            try:
                event = json.loads(bytes(self.data))
            except (ValueError, RecursionError):
                event = None
            if not isinstance(event, dict):
                raise CassetteError(f"a recorded server event of conn {self.conn} (t={self.t:g} "
                                    "ms) is not a JSON object; run `rtkit validate` on the "
                                    "cassette")
            self._event = event
        return self._event

    @property
    def type(self) -> str:
        """The event's `type` field."""
        return str(self.event.get("type", ""))


class ServerRun:
    """Consecutive recorded server events of one episode, as their exact UTF-8 bytes: views
    into one block read from the file (`payloads`), and where each starts in it (`starts`).

    Replay's fast path: `iter_episode(runs=True)` yields these, and the replay server frames
    and writes them in large writes without looking at them.
    """

    __slots__ = ("block", "conn", "payloads", "starts")
    kind = "run"
    dir = "server"

    def __init__(self, conn: int, block: bytes, payloads: list[memoryview],
                 starts: list[int]) -> None:
        self.conn, self.block, self.payloads, self.starts = conn, block, payloads, starts

    def __len__(self) -> int:
        return len(self.payloads)

    def texts(self) -> Iterator[ServerEventText]:
        """The events one by one (their recorded times are not kept in a run: `t` is 0)."""
        return (ServerEventText(self.conn, 0.0, data) for data in self.payloads)


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
        return _parse_line(line, path, lineno)
    except RecursionError:
        raise _error(path, lineno, "JSON nested too deeply to read") from None


def _parse_line(line: str, path: str | os.PathLike[str], lineno: int) -> Line:
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


_BLOCK = 1 << 20  # cassettes are read in 1 MiB blocks: audio lines (~6.5 KB) are many per read

# an event line exactly as CassetteWriter writes it: conn, dir and t, then the event's text
_CANON_EVENT = re.compile(rb'\{"kind":"event","conn":(0|[1-9][0-9]*),"dir":"(client|server)",'
                          rb'"t":([0-9]+(?:\.[0-9]+)?),"event":\{')
# the start of any line CassetteWriter writes for an episode (its conn is group 1)
_CANON_HEAD = re.compile(rb'\{"kind":"(?:event|frame|close|connect)","conn":(0|[1-9][0-9]*),')
_CANON_HEAD_TEXT = re.compile(_CANON_HEAD.pattern.decode("ascii"))


def _blocks(path: str | os.PathLike[str], offset: int) -> Iterator[tuple[int, bytes, int, int]]:
    """Reads the file from `offset` in large blocks: yields (file offset of block[0], block,
    start, end) where block[start:end] holds whole lines. Only a line that straddles two reads
    is copied; the last line of the file may lack its newline."""
    with open(path, "rb", buffering=0) as fh:
        fh.seek(offset)
        pos = offset
        pending: list[bytes] = []
        while True:
            chunk = fh.read(_BLOCK)
            base = pos
            pos += len(chunk)
            if not chunk:
                if pending:
                    tail = b"".join(pending)
                    yield base - len(tail), tail, 0, len(tail)
                return
            start = 0
            if pending:
                nl = chunk.find(b"\n")
                if nl < 0:
                    pending.append(chunk)
                    continue
                pending.append(chunk[: nl + 1])
                line = b"".join(pending)
                pending = []
                yield base - (len(line) - nl - 1), line, 0, len(line)
                start = nl + 1
            cut = chunk.rfind(b"\n", start) + 1 or start
            if cut > start:
                yield base, chunk, start, cut
            if cut < len(chunk):
                pending.append(chunk[cut:])


def _iter_raw_lines(path: str | os.PathLike[str], offset: int = 0) -> Iterator[tuple[int, str]]:
    """Yields (byte offset, line text with its newline) from `offset`, splitting on b"\\n"
    only (UnicodeDecodeError on a line that is not UTF-8)."""
    for base, block, pos, end in _blocks(path, offset):
        while pos < end:
            nl = block.find(b"\n", pos, end) + 1 or end
            yield base + pos, block[pos:nl].decode("utf-8")
            pos = nl


def read_lines(path: str | os.PathLike[str]) -> Iterator[Line]:
    """Stream every line of a cassette, validated; the first must be the header."""
    for _, line in read_numbered_lines(path):
        yield line


def read_numbered_lines(path: str | os.PathLike[str]) -> Iterator[tuple[int, Line]]:
    """`read_lines` with each line's number in the file (from 1, as editors count)."""
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
            yield lineno, line
    except FileNotFoundError:
        raise CassetteError(f"{path}: no such cassette") from None
    except UnicodeDecodeError as exc:
        raise utf8_error(path, lineno + 1, exc) from None
    if not seen:
        raise CassetteError(f"{path}: {NO_HEADER}")


@dataclass
class Episode:
    """One recorded connection: its handshake, close, and where its lines are in the file.

    In a cassette loaded with `lazy=True`, the counts, `close`, `end_offset` (None) and
    `duration_ms` grow as the file is indexed."""

    conn: int
    connect: Connect
    close: CloseLine | None
    n_events: int
    n_client: int
    n_server: int
    offset: int
    lineno: int
    end_offset: int | None
    duration_ms: float

    @property
    def path(self) -> str:
        """The request path (e.g. `/v1/realtime`)."""
        return self.connect.path

    @property
    def query(self) -> str:
        """The request query string (secrets redacted)."""
        return self.connect.query


class _Index:
    """Builds a cassette's episode index from its lines, in one pass that may stop and resume.

    `strict`: every line is parsed and validated (what `Cassette.load` does). Otherwise an
    event line in the exact form CassetteWriter writes is checked by its head (conn, dir, t,
    the event's braces) without parsing the event: that is what lets a lazily loaded cassette
    of a gigabyte start serving at once and be indexed in the background in a fraction of the
    time a full parse takes.
    """

    def __init__(self, path: Path, strict: bool) -> None:
        self.path = path
        self.strict = strict
        self.header: Header | None = None
        self.episodes: list[Episode] = []
        self._by_conn: dict[int, Episode] = {}
        self._last_t: dict[int, float] = {}
        self.lineno = 0
        self.offset = 0  # the next byte to index
        self.done = False
        self.error: CassetteError | None = None
        self.lock = threading.Lock()

    def scan(self, until: Callable[[Episode], bool] | None = None,
             max_bytes: int | None = None, seen: int | None = None) -> Episode | None:
        """Index on from where the last scan stopped: to the end of the file, or until a new
        episode satisfies `until` (returned), or about `max_bytes` further. `seen`: how many
        episodes the caller has already tried `until` on (another thread may have indexed
        more since; they are tried first)."""
        with self.lock:
            if until is not None and seen is not None:
                for ep in self.episodes[seen:]:
                    if until(ep):
                        return ep
            if self.error is not None:
                raise self.error
            if self.done:
                return None
            try:
                return self._scan(until, max_bytes)
            except CassetteError as exc:
                self.error = exc
                raise
            except FileNotFoundError:
                self.error = CassetteError(f"{self.path}: no such cassette")
            except IsADirectoryError:
                self.error = CassetteError(f"{self.path}: is a directory, not a cassette")
            except OSError as exc:
                self.error = CassetteError(f"{self.path}: cannot read: {exc}")
            raise self.error

    def _scan(self, until: Callable[[Episode], bool] | None,
              max_bytes: int | None) -> Episode | None:
        limit = None if max_bytes is None else self.offset + max_bytes
        for base, block, pos, end in _blocks(self.path, self.offset):
            ascii = block.isascii()
            while pos < end:
                nl = block.find(b"\n", pos, end) + 1 or end
                new = self._line(base + pos, block, pos, nl, ascii)
                pos = nl
                self.offset = base + nl
                if new is not None and until is not None and until(new):
                    return new
            if limit is not None and self.offset >= limit:
                return None
        if self.header is None:
            raise CassetteError(f"{self.path}: {NO_HEADER}")
        self.done = True
        return None

    def _line(self, offset: int, block: bytes, pos: int, nl: int, ascii: bool
              ) -> Episode | None:
        self.lineno += 1
        lineno = self.lineno
        if not self.strict and self.header is not None:
            m = _CANON_EVENT.match(block, pos, nl)
            stop = nl - 1 if block[nl - 1] == 10 else nl  # without the newline
            if m is not None and block.endswith(b"}}", pos, stop) and (
                    ascii or _utf8(block[pos:stop])):
                conn = int(m[1])
                self._episode_line(conn, float(m[3]), lineno, offset + nl - pos)
                ep = self._by_conn[conn]
                ep.n_events += 1
                if m[2] == b"client":
                    ep.n_client += 1
                else:
                    ep.n_server += 1
                return None
        text = decode_line(block[pos:nl], self.path, lineno)
        if not text.strip():
            return None
        line = parse_line(text, self.path, lineno)
        if isinstance(line, Header):
            if lineno != 1:
                raise _error(self.path, lineno, "a second header line")
            self.header = line
            return None
        if self.header is None:
            raise _error(self.path, lineno, "the first line must be the header")
        end = offset + nl - pos
        if isinstance(line, Connect):
            if line.conn in self._by_conn:
                raise _error(self.path, lineno, f"conn {line.conn} is connected twice")
            ep = Episode(line.conn, line, None, 0, 0, 0, offset, lineno, None, 0.0)
            self._by_conn[line.conn] = ep
            self.episodes.append(ep)
            self._last_t[line.conn] = 0.0
            return ep
        self._episode_line(line.conn, line.t, lineno, end)
        ep = self._by_conn[line.conn]
        if isinstance(line, CloseLine):
            ep.close = line
            ep.end_offset = end
        elif isinstance(line, Event | Frame):
            ep.n_events += 1
            if line.dir == "client":
                ep.n_client += 1
            else:
                ep.n_server += 1
        return None

    def _episode_line(self, conn: int, t: float, lineno: int, end: int) -> None:
        ep = self._by_conn.get(conn)
        if ep is None:
            raise _error(self.path, lineno, f"conn {conn} has no connect line before it")
        if ep.close is not None:
            raise _error(self.path, lineno, f"conn {conn} continues after its close line")
        if t < self._last_t[conn]:
            raise _error(self.path, lineno, f"time goes backwards in conn {conn} "
                         f"({t} ms after {self._last_t[conn]} ms)")
        self._last_t[conn] = t
        ep.duration_ms = t
        if self.strict:
            ep.end_offset = end


def _utf8(data: bytes) -> bool:
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


class Cassette:
    """A cassette on disk and the index of its episodes (`Cassette.load`).

    Loaded strictly (the default) the whole file is read and validated once, keeping only the
    index. Loaded with `lazy=True` only the header is read at first: episodes are indexed as
    they are asked for (`find_episode`), `index_all()` finishes the job (e.g. in a thread), and
    `episodes` finishes it when read. Either way events are streamed from disk, never held.
    """

    def __init__(self, path: Path, header: Header, episodes: list[Episode], n_lines: int,
                 *, index: _Index | None = None) -> None:
        self.path = path
        self.header = header
        self._episodes = episodes
        self._n_lines = n_lines
        self._index = index

    @classmethod
    def load(cls, path: str | os.PathLike[str], *, lazy: bool = False) -> Cassette:
        """Index a cassette (see the class docstring); a problem raises `CassetteError` naming
        the file and line."""
        path = Path(path)
        index = _Index(path, strict=not lazy)
        if lazy:
            index.scan(until=lambda ep: True, max_bytes=1)  # the header, at least
            if index.header is None:
                raise CassetteError(f"{path}: {NO_HEADER}")
            return cls(path, index.header, index.episodes, 0, index=index)
        index.scan()
        assert index.header is not None
        episodes = sorted(index.episodes, key=lambda e: e.conn)
        return cls(path, index.header, episodes, index.lineno)

    @property
    def lazy(self) -> bool:
        """True while a lazily loaded cassette is not fully indexed."""
        return self._index is not None and not self._index.done

    @property
    def episodes(self) -> list[Episode]:
        """Every episode, in the order of their connect lines (indexes the rest of a lazy
        cassette first)."""
        self.index_all()
        return self._episodes

    @property
    def n_lines(self) -> int:
        """How many lines the file has (indexes the rest of a lazy cassette first)."""
        self.index_all()
        return self._index.lineno if self._index is not None else self._n_lines

    def index_all(self, step: int | None = None,
                  stop: Callable[[], bool] | None = None) -> None:
        """Finish indexing a lazy cassette, validating what it reads (`CassetteError` on a
        problem). `step` bytes at a time, so that another thread asking for an episode waits
        for one step at most; `stop()` true between steps ends it early."""
        while self._index is not None and not self._index.done:
            if stop is not None and stop():
                return
            self._index.scan(max_bytes=step)

    def find_episode(self, match: Callable[[Episode], bool]) -> Episode | None:
        """The first episode (in file order) for which `match` is true, indexing only as far
        as needed."""
        i = 0
        while i < len(self._episodes):
            if match(self._episodes[i]):
                return self._episodes[i]
            i += 1
        if self._index is None:
            return None
        return self._index.scan(until=match, seen=i)

    def episode(self, conn: int) -> Episode:
        """The episode numbered `conn`."""
        ep = self.find_episode(lambda e: e.conn == conn)
        if ep is None:
            raise CassetteError(f"{self.path}: no episode with conn {conn}")
        return ep

    def iter_episode(self, conn: int, *, lazy_server: bool = False, runs: bool = False
                     ) -> Iterator[Event | Frame | CloseLine | ServerEventText | ServerRun]:
        """Stream an episode's lines after its connect line, from disk.

        `lazy_server=True` yields server events written in CassetteWriter's form as
        `ServerEventText` (their bytes, decoded and parsed on demand), which is what replay
        needs; with `runs=True` too, consecutive ones come as one `ServerRun`. Other lines are
        parsed and validated (`CassetteError` names the file and line).
        """
        ep = self.episode(conn)
        fast = lazy_server or runs
        prefix = b'{"kind":"event","conn":%d,"dir":"server","t":' % conn
        plen = len(prefix)
        stop = ep.end_offset
        lineno = ep.lineno - 1
        first = True
        for base, block, pos, end in _blocks(self.path, ep.offset):
            view = memoryview(block)
            payloads: list[memoryview] = []
            starts: list[int] = []
            while pos < end:
                nl = block.find(b"\n", pos, end) + 1 or end
                if stop is not None and base + pos >= stop:
                    break
                lineno += 1
                if first:  # the connect line
                    first = False
                    pos = nl
                    continue
                if fast and block.startswith(prefix, pos):
                    brace = block.find(b',"event":{', pos + plen, pos + plen + 40)
                    last = nl - 1 if block[nl - 1] == 10 else nl
                    if brace > 0 and block.endswith(b"}}", pos, last):
                        if runs:
                            payloads.append(view[brace + 9 : last - 1])
                            starts.append(brace + 9)
                        else:
                            yield ServerEventText(conn, float(block[pos + plen : brace]),
                                                  view[brace + 9 : last - 1])
                        pos = nl
                        continue
                head = _CANON_HEAD.match(block, pos, nl)
                if head is not None and int(head[1]) != conn:
                    pos = nl  # a line of another episode (a run goes on across it)
                    continue
                if payloads:
                    yield ServerRun(conn, block, payloads, starts)
                    payloads, starts = [], []
                text = decode_line(block[pos:nl], self.path, lineno)
                pos = nl
                if not text.strip():
                    continue
                line = parse_line(text, self.path, lineno)
                if isinstance(line, Event | Frame | CloseLine) and line.conn == conn:
                    yield line
                    if isinstance(line, CloseLine):
                        return
            else:
                if payloads:
                    yield ServerRun(conn, block, payloads, starts)
                continue
            if payloads:  # stopped at the episode's end
                yield ServerRun(conn, block, payloads, starts)
            return

    def line_number(self, conn: int, index: int) -> int | None:
        """The file's line number (from 1) of episode `conn`'s `index`-th line after its
        connect line (from 0), as `rtkit validate` and editors count; None past its end.
        Reads the episode from disk: for reports, not for the hot path."""
        ep = self.episode(conn)
        lineno, seen = ep.lineno - 1, -1
        for _, text in _iter_raw_lines(self.path, ep.offset):
            lineno += 1
            if not text.strip():
                continue
            head = _CANON_HEAD_TEXT.match(text)
            if head is not None:
                owner: Any = int(head[1])
            else:
                try:
                    owner = json.loads(text).get("conn")
                except (ValueError, AttributeError, RecursionError):
                    owner = None
            if owner != conn:
                continue
            if seen == index:
                return lineno
            seen += 1
        return None

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
        import numpy as np

        from rtkit.audio import AudioBuffer

        buf = AudioBuffer()
        for ev in self.iter_events(conn, direction):
            if ev.type in types and isinstance(ev.event.get(field), str):
                buf.append_base64(ev.event[field])
        return np.array(buf.view(), dtype=np.int16)

    def __repr__(self) -> str:
        return f"<Cassette {str(self.path)!r} episodes={len(self._episodes)}>"
