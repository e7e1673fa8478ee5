"""Atomic, streaming cassette writer with redaction and a refuse-to-leak scan."""

from __future__ import annotations

import asyncio
import contextlib
import glob
import json
import json.scanner
import os
import re
import tempfile
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from pathlib import Path
from types import TracebackType
from typing import Any

from rtkit.audio import SessionFormats
from rtkit.cassette.lock import CassetteLock
from rtkit.cassette.model import CloseLine, Connect, Frame, Header, event_line_head
from rtkit.cassette.reader import Cassette, _iter_raw_lines
from rtkit.cassette.redact import Redactor, audio_payload_span
from rtkit.cassette.sink import LineSink
from rtkit.errors import CassetteError, SecretLeakError

__all__ = ["FLUSH_PENDING", "CassetteWriter"]

FLUSH_PENDING = 64 * 1024  # bytes recorded in one event-loop turn that are written at once

# an event line as this writer writes it; group 1 conn, 2 dir, 3 t, 4 the event's text
_EVENT_LINE = re.compile(rb'\{"kind":"event","conn":(\d+),"dir":"(client|server)","t":([0-9.]+),'
                         rb'"event":(.*)\}\n?$', re.DOTALL)


_PCM16_PER_CHAR = 0.75 / (24_000 * 2)  # seconds of PCM16 24 kHz in a base64 character

class CassetteWriter:
    """Writes a cassette line by line to a temporary file beside `path`; `commit` puts it in place.

    Use it as a context manager: on exit (also when the block raised) what was recorded is
    committed atomically with `os.replace`, so readers see the previous cassette or the complete
    new one, never a partial file. `append=True` keeps the existing cassette's episodes and
    numbers this writer's connections after them (caller's conn k is written as base + k).

    One writer per cassette: the writer holds `CassetteLock` on `path` from creation to commit
    or abort, and a second writer fails at once with `CassetteLockedError`.

    With `autoflush` (the default) lines reach the temporary file (the OS's page cache) as
    they are recorded, so a process killed even with SIGKILL leaves them there for `rtkit
    recover`: outside an event loop before the call that recorded a line returns; inside one
    (the proxy, `RecordingTransport`) before the loop runs anything else, with one write for
    the lines recorded meanwhile (all the frames of a chunk read off the wire), or at once when
    64 KB are pending. A write per line would cost a recording proxy about as much again as
    the rest of recording an audio event. `autoflush=False` gathers lines in memory until
    `flush()` (or about 1 MB).
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        dialect: str | None = None,
        model: str | None = None,
        meta: Mapping[str, Any] | None = None,
        redactor: Redactor | None = None,
        append: bool = False,
        autoflush: bool = True,
    ) -> None:
        from rtkit import __version__

        self.path = Path(path)
        self.redactor = redactor or Redactor()
        self.autoflush = autoflush
        self._flush_soon = False
        self.n_events = 0
        self.committed = False
        self._leak: str | None = None
        self._lineno = 0
        self._last_t: dict[int, float] = {}
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = CassetteLock(self.path).acquire()
        try:
            self._open(append, dialect, model, meta, __version__)
        except BaseException:
            self._lock.release()
            raise

    def _open(self, append: bool, dialect: str | None, model: str | None,
              meta: Mapping[str, Any] | None, version: str) -> None:
        _warn_leftovers(self.path)
        existing = Cassette.load(self.path) if append and self.path.exists() else None
        self.conn_base = max((e.conn for e in existing.episodes), default=-1) + 1 if existing else 0
        header = Header(
            created=datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
            rtkit=version,
            dialect=dialect if dialect in ("ga", "beta") else None,  # type: ignore[arg-type]
            model=model,
            redactions=self.redactor.names,
            meta=_redacted(dict(meta or {}), self.redactor),
        )
        if existing is not None:
            old = existing.header
            header = header.model_copy(update={
                "created": old.created, "dialect": old.dialect or header.dialect,
                "model": old.model or header.model, "meta": {**old.meta, **header.meta},
            })
        self.header = header
        fd, tmp = tempfile.mkstemp(prefix=f".{self.path.name}.", suffix=".rtkit-tmp",
                                   dir=self.path.parent)
        self._tmp = Path(tmp)
        self._lock.note_tmp(self._tmp)
        self._sink = LineSink(fd)
        self._line_key: tuple[int, str, float] | None = None  # conn, dir, t as given
        self._line_t = 0.0  # that t as written
        self._line_head = b""  # that line's start
        self._secrets = tuple(s.encode() for s in self.redactor.secrets)
        # the secrets a base64 payload could hold (API keys cannot: they have a "-")
        self._b64_secrets = tuple(s for s in self._secrets if not s.translate(None, _BASE64))
        self._shapes: dict[bytes, bool] = {}  # audio events' shapes checked as JSON
        self._clean: set[bytes] = set()  # JSON strings no filter would change
        self.audio_out_chars = 0  # base64 characters of server audio taken by the fast path
        self.audio_out_seconds = 0.0
        """Seconds of server audio taken by the fast path, at each connection's output format
        (followed through its session events: G.711 is 8 kHz, one byte a sample)."""
        self._formats: dict[int, SessionFormats] = {}  # connections that had a session event
        self._seconds_per_char: dict[int, float] = {}  # connections not in PCM16 24 kHz
        self._write(header.model_dump_json())
        if existing is not None:
            for _, text in _iter_raw_lines(existing.path):
                if text.strip() and not text.startswith('{"kind":"header"'):
                    self._write(text.rstrip("\n"))
        self._flushed()

    # -- lines -----------------------------------------------------------------------------

    def _write(self, text: str, data: bytes | None = None) -> None:
        """Write a line; `data`: the bytes of a binary frame it holds (scanned as they are,
        not as the base64 the line holds)."""
        self._lineno += 1
        if self._leak is None:
            found = self.redactor.find_leak(text)
            if found is None and data is not None:
                found = self.redactor.find_leak(data.decode("latin-1"))
            if found is not None:
                self._leak = f"line {self._lineno} ({found})"
        self._sink.write_line(text.encode("utf-8"))

    def _conn(self, conn: int, t: float) -> int:
        if self._sink.closed:
            raise CassetteError(f"{self.path}: the cassette writer is already closed")
        t = round(float(t), 3)  # what the line will hold, so comparisons see the written value
        last = self._last_t.get(conn)
        if last is not None and t < last:
            t = last  # time never goes backwards within an episode
        self._last_t[conn] = t
        return self.conn_base + conn

    def connect(
        self,
        conn: int,
        *,
        path: str = "/v1/realtime",
        query: str = "",
        headers: Mapping[str, str] | Iterable[tuple[str, str]] = (),
        subprotocols: Iterable[str] = (),
        status: int = 101,
        selected_subprotocol: str | None = None,
    ) -> None:
        """Open episode `conn` with its (redacted) handshake."""
        self._last_t.pop(conn, None)
        line = Connect(
            conn=self._conn(conn, 0.0),
            path=self.redactor.path(path),
            query=self.redactor.query(query),
            headers=self.redactor.headers(headers),
            subprotocols=self.redactor.subprotocols(list(subprotocols)),
            status=status,
            selected_subprotocol=selected_subprotocol,
        )
        self._write(line.model_dump_json(exclude_none=True))
        self._flushed()

    def event(self, conn: int, dir: str, t: float, frame: str | bytes) -> None:
        """Record one frame: a JSON object becomes an `event` line, anything else a `frame`
        (bytes are a binary frame, scanned for secrets as text is)."""
        if isinstance(frame, bytes | bytearray | memoryview):
            n = self._conn(conn, t)
            self.n_events += 1
            data = self.redactor.binary(bytes(frame))
            self._write(Frame(conn=n, dir=dir, t=self._last_t[conn],  # type: ignore[arg-type]
                              binary=data).to_json_line(), data)
        elif not self._audio_text(conn, dir, t, frame):
            self._text(conn, dir, t, frame)
        self._flushed()

    def _audio_text(self, conn: int, dir: str, t: float, frame: str) -> bool:
        if len(frame) > 256 and "audio" in frame[:120]:  # perhaps an audio event
            data = frame.encode("utf-8")
            span = audio_payload_span(data)
            return span is not None and self._audio(conn, dir, t, data, 0, len(data), span)
        return False

    def text_event(self, conn: int, dir: str, t: float, buf: bytes, start: int = 0,
                   end: int | None = None) -> None:
        """Record a text frame given as UTF-8 bytes, `buf[start:end]` (as a proxy reads it
        off the wire). Audio events are recorded without being decoded or copied; invalid
        UTF-8 is recorded as a binary frame."""
        end = len(buf) if end is None else end
        span = audio_payload_span(buf, start, end)
        if span is not None and self._audio(conn, dir, t, buf, start, end, span):
            self._flushed()
            return
        if span is None and self._plain(conn, dir, t, bytes(buf[start:end])):
            self._flushed()
            return
        try:
            text = bytes(buf[start:end]).decode("utf-8")
        except UnicodeDecodeError:
            self.event(conn, dir, t, bytes(buf[start:end]))
            return
        self._text(conn, dir, t, text)
        self._flushed()

    def _audio(self, conn: int, dir: str, t: float, buf: bytes, start: int, end: int,
               span: tuple[int, int]) -> bool:
        """The fast path for the bulk of a session: an audio event written as parts, its
        payload never parsed, filtered or decoded (it is base64 audio), the text around it
        filtered only when it holds something a filter could change. The line is checked as
        it is written, without parsing the payload: that is plain base64 (so valid inside a
        JSON string, and free of any secret with a character base64 lacks, as API keys
        have), and the rest of the event parses with the payload left out. False (nothing
        written) when the general path must take it (a look-alike, a hook)."""
        if self.redactor.before_record_event is not None:
            return False
        a, b = span
        head, tail = buf[start:a], buf[b:end]
        around = head + tail  # the event with an empty payload
        if around.find(b"\\") >= 0 or around.find(b"\n") >= 0 or around.find(b"\r") >= 0:
            return False  # an escape (the general path reads the event decoded), a newline
        if self._filtered(around):
            try:
                head = self.redactor.text(bytes(head).decode("utf-8")).encode("utf-8")
                tail = self.redactor.text(bytes(tail).decode("utf-8")).encode("utf-8")
            except UnicodeDecodeError:
                return False
            around = head + tail
        payload = buf[a:b]
        if payload.translate(None, _BASE64) or self._has_b64_secret(payload) \
                or not self._is_json(around):
            return False  # not plain base64, a live secret, not JSON: the general path decides
        self.n_events += 1
        if dir == "server":
            self.audio_out_chars += b - a
            self.audio_out_seconds += (b - a) * self._seconds_per_char.get(conn, _PCM16_PER_CHAR)
        self._lineno += 1
        self._sink.write_line(self._event_head(conn, dir, t) + head, payload, tail + b"}")
        return True

    def _plain(self, conn: int, dir: str, t: float, raw: bytes) -> bool:
        """The fast path for a small event no filter would change (no escape, no newline, no
        secret or secret's shape): checked to be a JSON object and written as it came,
        without decoding, filtering or encoding it. False (nothing written) otherwise."""
        if self.redactor.before_record_event is not None or raw[:1] != b"{" \
                or raw.find(b"\\") >= 0 or raw.find(b"\n") >= 0 or raw.find(b"\r") >= 0 \
                or self._filtered(raw):
            return False
        try:
            _check_json(raw.decode("utf-8"))
        except (ValueError, RecursionError):
            return False
        self.n_events += 1
        self._lineno += 1
        self._sink.write_line(self._event_head(conn, dir, t) + raw + b"}")
        if raw.find(b"session.") >= 0 or raw.find(b'"error"') >= 0:  # a format may change
            self._follow(conn, dir, json.loads(raw))
        return True

    def _follow(self, conn: int, dir: str, event: Any) -> None:
        """Follow a session (or error) event's audio formats, for `audio_out_seconds`."""
        if not isinstance(event, dict):
            return
        formats = self._formats.setdefault(conn, SessionFormats())
        if formats.client_event(event) if dir == "client" else formats.server_event(event):
            out = formats.output
            self._seconds_per_char[conn] = 0.75 / (out.rate * out.sample_width)

    def _event_head(self, conn: int, dir: str, t: float) -> bytes:
        """`event_line_head` as bytes, for `conn` at `t` (made once for the frames of one
        relayed chunk, which share their time)."""
        key = (conn, dir, t)
        if key == self._line_key and self._last_t.get(conn) == self._line_t \
                and not self._sink.closed:
            return self._line_head
        n = self._conn(conn, t)
        self._line_key, self._line_t = key, self._last_t[conn]
        self._line_head = event_line_head(n, dir, self._line_t).encode()
        return self._line_head

    def _has_secret(self, text: bytes) -> bool:
        return any(text.find(secret) >= 0 for secret in self._secrets)

    def _has_b64_secret(self, payload: bytes) -> bool:
        return any(payload.find(secret) >= 0 for secret in self._b64_secrets)

    def _is_json(self, text: bytes) -> bool:
        """Whether `text` (an event without its payload, no backslash in it) is one JSON
        value. Printable ASCII without escapes is JSON when its shape is, the text with every
        string emptied: the shapes of a stream's audio events are few, so each is parsed
        once."""
        parts = text.split(b'"')
        if len(parts) % 2 == 0 or text.translate(None, _PRINTABLE):  # (odd quotes: not JSON)
            try:
                _check_json(text.decode("utf-8"))
            except (ValueError, RecursionError):
                return False
            return True
        shape = b'""'.join(parts[0::2])
        known = self._shapes.get(shape)
        if known is None:
            try:
                _check_json(shape.decode("ascii"))
                known = True
            except (ValueError, RecursionError):
                known = False
            if len(self._shapes) >= 256:
                self._shapes.clear()
            self._shapes[shape] = known
        return known

    def _filtered(self, text: bytes) -> bool:
        """Whether a filter might change `text` (JSON, UTF-8, without escapes): a user
        pattern, a token family's or a credential field's gate, a live secret.

        Each of these lies within one JSON string (a token or a field name holds no quote),
        so the strings are checked one by one, and a string found clean is remembered: the
        events of a stream repeat their keys, types and most ids, so most of an event is
        never looked at twice (a gate test over the whole event costs about as much as the
        rest of recording it)."""
        if self.redactor.patterns:
            return True  # a user pattern may span strings
        clean = self._clean
        may_change = self.redactor.may_change
        # bytes (the set holds them): a proxy's read buffer is a bytearray, its parts too
        for part in bytes(text).split(b'"')[1::2]:
            if part in clean:
                continue
            if may_change(part.decode("utf-8", "replace")):
                return True
            if len(clean) >= 4096:
                clean.clear()
            clean.add(part)
        return False

    def _text(self, conn: int, dir: str, t: float, frame: str) -> None:
        """The general path: parse, filter, write."""
        n = self._conn(conn, t)
        t = self._last_t[conn]
        self.n_events += 1
        try:
            obj = json.loads(frame)
        except (ValueError, RecursionError):  # not JSON, or a number int() refuses
            obj = None
        if not isinstance(obj, dict):
            text = self.redactor.text(frame)
            self._write(Frame(conn=n, dir=dir, t=t, text=text).to_json_line())  # type: ignore[arg-type]
            return
        if "\n" in frame or "\r" in frame:
            frame = json.dumps(obj, ensure_ascii=False, separators=(",", ":"))
            try:
                frame.encode("utf-8")
            except UnicodeEncodeError:  # an escaped lone surrogate: keep it escaped
                frame = json.dumps(obj, separators=(",", ":"))
        red = self.redactor.event(frame, obj, dir)
        if red is None:
            self.n_events -= 1
            return
        raw = red[0]
        self._write(event_line_head(n, dir, t) + raw + "}")
        kind = obj.get("type")
        if kind.__class__ is str and kind in SessionFormats.EVENTS:  # a type may be any JSON
            self._follow(conn, dir, obj)

    def close(self, conn: int, t: float, code: int | None = 1000, reason: str = "",
              by: str = "client") -> None:
        """End episode `conn`."""
        n = self._conn(conn, t)
        line = CloseLine(conn=n, t=self._last_t[conn], code=code,  # type: ignore[arg-type]
                         reason=self.redactor.message(reason), by=by)
        self._write(line.model_dump_json())
        del self._last_t[conn]  # the episode is over: nothing of it stays for the next 4,000
        self._flushed()

    @property
    def write_error(self) -> OSError | None:
        """The error that stopped lines reaching the file (e.g. a full disk), if any: later
        writes raise it, and `commit` keeps what was written before it."""
        return self._sink.error

    def flush(self) -> None:
        """Write the lines recorded so far to the temporary file (the OS's page cache; the
        file is fsynced only at commit). With `autoflush` every recording call does this."""
        self._sink.flush()

    def _flushed(self) -> None:
        if not self.autoflush:
            return
        if self._sink.pending >= FLUSH_PENDING:
            self._sink.flush()
            return
        if self._flush_soon:
            return
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            self._sink.flush()
            return
        self._flush_soon = True
        loop.call_soon(self._deferred_flush)

    def _deferred_flush(self) -> None:
        self._flush_soon = False
        # on a write error the sink keeps it: the next write or the commit raises it
        with contextlib.suppress(OSError):
            self._sink.flush()

    # -- finishing -------------------------------------------------------------------------

    def commit(self) -> Path:
        """Flush, check for leaked secrets, and atomically replace the target file.

        When a write failed (e.g. the disk is full) the lines written before it become the
        cassette all the same, and `CassetteError` says so."""
        if self.committed:
            return self.path
        try:
            self._commit()
        finally:
            self._lock.release()
        return self.path

    def _commit(self) -> None:
        failure: OSError | None = None
        try:
            self._sink.close()
        except OSError as exc:  # e.g. the disk is full: keep the lines written before it
            failure = exc
            try:
                _cut_after_last_line(self._tmp)
            except OSError:
                self._tmp.unlink(missing_ok=True)
                raise exc from None
        if self._leak is not None:  # keep the recording, where only its owner can read it
            os.chmod(self._tmp, 0o600)
            raise SecretLeakError(
                f"{self.path}: refusing to write the cassette: a secret is still present at "
                f"{self._leak}. The previous cassette, if any, is unchanged, and the recording "
                f"is kept in {self._tmp} (mode 0600): `rtkit scrub {self._tmp}` removes the "
                f"secret, then `rtkit recover {self._tmp} -o {self.path}` makes it the "
                "cassette; add a filter for it (Redactor patterns or before_record_event) for "
                "the next recording.", leftover=self._tmp)
        os.replace(self._tmp, self.path)
        self.committed = True
        if failure is not None:
            raise CassetteError(
                f"{self.path}: writing the cassette failed ({failure.strerror or failure}); it "
                "holds the lines written before that (an episode cut off there has no close "
                "line)") from failure

    def abort(self) -> None:
        """Discard everything written; the target file is left as it was."""
        try:
            self._sink.discard()
            self._tmp.unlink(missing_ok=True)
        finally:
            self._lock.release()

    def __enter__(self) -> CassetteWriter:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._sink.closed and not self.committed:
            return
        self.commit()  # keep what was recorded even when the block raised

    def __del__(self) -> None:
        sink = getattr(self, "_sink", None)
        if sink is not None and not sink.closed and not self.committed:
            self.abort()


def _redacted(meta: dict[str, Any], redactor: Redactor) -> dict[str, Any]:
    """Header metadata with every string in it redacted (an upstream URL's key, ...)."""
    def one(value: Any) -> Any:
        if isinstance(value, str):
            return redactor.message(value)
        if isinstance(value, dict):
            return {k: one(v) for k, v in value.items()}
        if isinstance(value, list):
            return [one(v) for v in value]
        return value

    return {k: one(v) for k, v in meta.items()}


def _warn_leftovers(path: Path) -> None:
    """Warn about temporary files beside `path` left by writers that were killed (this
    writer holds the lock on `path`, so no live writer owns them)."""
    import warnings

    from rtkit.errors import RtkitLeftoverWarning

    try:
        found = sorted(path.parent.glob(f".{glob.escape(path.name)}.*.rtkit-tmp"))
    except OSError:
        return
    if found:
        names = ", ".join(p.name for p in found[:3]) + (" ..." if len(found) > 3 else "")
        warnings.warn(RtkitLeftoverWarning(
            f"{path}: {len(found)} temporary file(s) beside it are left over from a recording "
            f"that was killed ({names}); `rtkit recover {path}` shows what they hold and turns "
            "one into a cassette"), stacklevel=4)



def _cut_after_last_line(path: Path) -> None:
    """Truncate `path` after its last newline: a write that failed midway leaves at most one
    partial line, at the end."""
    with open(path, "r+b") as fh:
        end = fh.seek(0, os.SEEK_END)
        while end > 0:
            start = max(0, end - (1 << 16))
            fh.seek(start)
            at = fh.read(end - start).rfind(b"\n")
            if at >= 0:
                fh.truncate(start + at + 1)
                return
            end = start
        fh.truncate(0)


_BASE64 = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/="
_PRINTABLE = bytes(range(0x20, 0x7F))
_SCAN = json.scanner.make_scanner(json.JSONDecoder())  # json.loads without its wrapping


def _check_json(text: str) -> None:
    """Raise ValueError unless `text` is one JSON value (and whitespace)."""
    try:
        _, end = _SCAN(text, 0)
    except StopIteration:
        raise ValueError("not JSON") from None
    if text[end:].strip():
        raise ValueError("extra data after the JSON value")


