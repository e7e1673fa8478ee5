"""What a killed recording left, and a cassette made from it (what `rtkit recover` runs).

A writer streams lines to `.<name>.<random>.rtkit-tmp` beside its cassette and renames it at
commit; a process killed before that (SIGKILL, a crash, a CI job cancelled) leaves the
temporary file. With autoflush (the default) it holds every line recorded before the kill.

`find_leftovers` lists those files beside a cassette; `Salvager` (sans-I/O: lines in, lines
out) decides what of one is kept: the header, then every complete line that parses and fits
(an episode's lines after its connect, time not going back); an unfinished last line, a
line that does not parse and a line out of place are dropped and reported by line number; an
episode left open gets a `close` line (code null: the connection was cut) at its last time.
`recover` writes the result as a cassette (atomically, under the cassette lock) whose header
says it is incomplete (`meta.recovered`).
"""

from __future__ import annotations

import contextlib
import os
import re
import tempfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from rtkit.cassette.lock import CassetteLock, probe
from rtkit.cassette.model import CloseLine, Connect, Event, Frame, Header
from rtkit.cassette.position import decode_line, line_error
from rtkit.cassette.reader import Cassette, parse_line
from rtkit.cassette.redact import Redactor
from rtkit.errors import CassetteError, SecretLeakError

__all__ = ["CUT_REASON", "Leftover", "Salvage", "Salvager", "cassette_of", "find_leftovers",
           "recover", "scan"]

TMP_SUFFIX = ".rtkit-tmp"
CUT_REASON = "recording cut off; closed by rtkit recover"
_TMP_NAME = re.compile(r"\.(.+)\.[^./]+\.rtkit-tmp")
_READ_BUFFER = 256 * 1024


def cassette_of(leftover: str | os.PathLike[str]) -> Path | None:
    """The cassette a temporary file `.<name>.<random>.rtkit-tmp` was being written to."""
    path = Path(leftover)
    m = _TMP_NAME.fullmatch(path.name)
    return path.with_name(m.group(1)) if m else None


@dataclass
class Leftover:
    """A temporary file beside `cassette`. `in_use`: a live writer still writes it (then it is
    not a leftover yet; `writer_pid` is that writer's pid when known)."""

    path: Path
    cassette: Path
    size: int
    mtime: float
    in_use: bool = False
    writer_pid: int | None = None


def leftover(path: str | os.PathLike[str]) -> Leftover:
    """Describe the temporary file at `path` (CassetteError if it is not one)."""
    path = Path(path)
    cassette = cassette_of(path)
    if cassette is None:
        raise CassetteError(f"{path}: not a recording's temporary file "
                            f"(.<cassette name>.<random>{TMP_SUFFIX})")
    try:
        st = path.stat()
    except FileNotFoundError:
        raise CassetteError(f"{path}: no such file") from None
    found = Leftover(path, cassette, st.st_size, st.st_mtime)
    holder = probe(cassette)
    # the lock names its holder's temporary file (a holder that has not said yet may own any)
    if holder is not None and holder.tmp in (None, path.name):
        found.in_use, found.writer_pid = True, holder.pid
    return found


def find_leftovers(cassette: str | os.PathLike[str]) -> list[Leftover]:
    """The temporary files beside `cassette` (oldest first), each with its state."""
    cassette = Path(cassette)
    directory = cassette.parent
    if not directory.is_dir():
        return []
    found = []
    prefix = f".{cassette.name}."
    for entry in os.scandir(directory):
        if entry.name.startswith(prefix) and entry.name.endswith(TMP_SUFFIX) \
                and cassette_of(entry.path) == cassette:
            with contextlib.suppress(CassetteError):  # removed meanwhile
                found.append(leftover(entry.path))
    return sorted(found, key=lambda f: (f.mtime, f.path.name))


@dataclass
class Salvage:
    """What a leftover holds: what would be kept and what is lost."""

    header: Header | None = None
    kept: int = 0  # lines kept after the header
    episodes: list[int] = field(default_factory=list)
    open_episodes: list[int] = field(default_factory=list)  # closed by recover
    events: int = 0
    duration_ms: float = 0.0  # the longest episode
    dropped: list[tuple[int, str]] = field(default_factory=list)  # (line number, why)
    cut_bytes: int = 0  # an unfinished last line
    leak: int | None = None  # the first line holding a live secret

    def describe(self) -> str:
        """One line: what a recovered cassette would hold and what is lost."""
        opened = ""
        if self.open_episodes:
            opened = (f", {len(self.open_episodes)} left open (conn "
                      f"{', '.join(map(str, self.open_episodes))})")
        parts = [f"{len(self.episodes)} episode(s){opened}, {self.events} events, "
                 f"{self.duration_ms / 1000:.1f} s"]
        if self.cut_bytes:
            parts.append(f"last line cut mid-write ({self.cut_bytes} bytes)")
        if self.dropped:
            shown = ", ".join(f"{n} ({why})" for n, why in self.dropped[:3])
            more = f" and {len(self.dropped) - 3} more" if len(self.dropped) > 3 else ""
            parts.append(f"{len(self.dropped)} line(s) dropped: {shown}{more}")
        return "; ".join(parts)


class Salvager:
    """Sans-I/O: `feed` each line (bytes, with its newline if it had one) in order, keep what
    it returns, then add what `finish` returns. `salvage` is the report."""

    def __init__(self, path: str | os.PathLike[str] = "<leftover>",
                 secrets: Iterable[str] = ()) -> None:
        self.path = os.fspath(path)
        self.salvage = Salvage()
        self._redactor = Redactor(secrets=secrets)
        self._last_t: dict[int, float] = {}
        self._closed: set[int] = set()

    def feed(self, lineno: int, raw: bytes) -> str | None:
        """The line's text to keep (no newline), or None when it is dropped."""
        s = self.salvage
        complete = raw.endswith(b"\n")
        try:
            text = decode_line(raw, self.path, lineno).rstrip("\n")
            line = parse_line(text, self.path, lineno) if text.strip() else None
        except CassetteError as exc:
            line, text = self._fast_path_line(raw), ""
            if line is None:
                if lineno == 1:
                    raise line_error(self.path, 1, "the header is unreadable, nothing to "
                                     f"recover ({exc.reason or exc})") from None
                if not complete:
                    s.cut_bytes = len(raw)
                    return None
                s.dropped.append((lineno, exc.reason or str(exc)))
                return None
            text = line.to_json_line()
        if line is None:
            return None  # blank
        if lineno == 1:
            if not isinstance(line, Header):
                raise line_error(self.path, 1, "the first line is not a header: not a "
                                 "recording's temporary file")
            s.header = line
            return text
        why = self._out_of_place(line)
        if why is not None:
            s.dropped.append((lineno, why))
            return None
        if s.leak is None and self._redactor.secrets and self._redactor.find_secret(text):
            s.leak = lineno
        s.kept += 1
        return text

    @staticmethod
    def _fast_path_line(raw: bytes) -> Frame | None:
        """A complete audio-event line the writer wrote unchecked that is not valid JSON
        becomes a `frame` line with its text, as the writer's commit does."""
        from rtkit.cassette.writer import _EVENT_LINE

        m = _EVENT_LINE.match(raw) if raw.endswith(b"\n") else None
        if m is None:
            return None
        return Frame(conn=int(m.group(1)), dir=m.group(2).decode(),  # type: ignore[arg-type]
                     t=float(m.group(3)), text=m.group(4).decode("utf-8", "replace"))

    def _out_of_place(self, line: Any) -> str | None:
        s = self.salvage
        if isinstance(line, Header):
            return "a second header line"
        if isinstance(line, Connect):
            if line.conn in self._last_t:
                return f"conn {line.conn} is connected twice"
            self._last_t[line.conn] = 0.0
            s.episodes.append(line.conn)
            return None
        conn = line.conn
        if conn not in self._last_t:
            return f"conn {conn} has no connect line before it"
        if conn in self._closed:
            return f"conn {conn} continues after its close line"
        if line.t < self._last_t[conn]:
            return f"time goes backwards in conn {conn}"
        self._last_t[conn] = line.t
        s.duration_ms = max(s.duration_ms, line.t)
        if isinstance(line, CloseLine):
            self._closed.add(conn)
        elif isinstance(line, Event | Frame):
            s.events += 1
        return None

    def finish(self) -> list[str]:
        """`close` lines for the episodes left open (code null: cut off)."""
        lines = []
        for conn in self.salvage.episodes:
            if conn not in self._closed:
                self.salvage.open_episodes.append(conn)
                close = CloseLine(conn=conn, t=self._last_t[conn], code=None,
                                  reason=CUT_REASON, by="server")
                lines.append(close.model_dump_json())
        return lines


def _lines(path: Path) -> Iterator[tuple[int, bytes]]:
    with open(path, "rb", buffering=_READ_BUFFER) as fh:
        yield from enumerate(fh, start=1)


def _salvage(path: Path, secrets: Iterable[str]) -> tuple[Salvager, Iterator[str]]:
    salvager = Salvager(path, secrets)

    def kept() -> Iterator[str]:
        for lineno, raw in _lines(path):
            text = salvager.feed(lineno, raw)
            if text is not None:
                yield text
        if salvager.salvage.header is None:
            raise CassetteError(f"{path}: empty: the recording was killed before it wrote "
                                "anything; nothing to recover")
        yield from salvager.finish()

    return salvager, kept()


def scan(path: str | os.PathLike[str], secrets: Iterable[str] = ()) -> Salvage:
    """What the leftover at `path` holds (reads it once; writes nothing)."""
    salvager, kept = _salvage(Path(path), secrets)
    for _ in kept:
        pass
    return salvager.salvage


def recover(path: str | os.PathLike[str], output: str | os.PathLike[str], *,
            force: bool = False, keep: bool = False, secrets: Iterable[str] = ()) -> Salvage:
    """Write what the leftover at `path` holds as a cassette at `output`, marked incomplete,
    and remove the leftover (unless `keep`). `output` must not exist unless `force`.
    Refuses a leftover a live writer still owns, and one holding a live secret (`secrets`)."""
    found = leftover(path)
    output = Path(output)
    if found.in_use:
        who = f"pid {found.writer_pid}" if found.writer_pid is not None else "a live writer"
        raise CassetteError(f"{found.path}: still being written by {who}: not a leftover")
    report = scan(found.path, secrets)
    if report.leak is not None:
        raise SecretLeakError(f"{found.path}:{report.leak}: holds the live API key; refusing "
                              "to make a cassette of it (scrub the key from it first)")
    if output.exists() and not force:
        raise CassetteError(f"{output}: exists; add --force to replace it with what "
                            f"{found.path.name} holds")
    header = report.header
    assert header is not None
    note = {
        "from": found.path.name,
        "at": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "incomplete": True,
        "closed_episodes": report.open_episodes,
        "dropped_lines": [n for n, _ in report.dropped],
        "cut_bytes": report.cut_bytes,
    }
    header = header.model_copy(update={"meta": {**header.meta, "recovered": note}})
    output.parent.mkdir(parents=True, exist_ok=True)
    with CassetteLock(output):
        fd, tmp = tempfile.mkstemp(prefix=f".{output.name}.", suffix=".recover",
                                   dir=output.parent)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as dst:
                _, kept = _salvage(found.path, secrets)
                next(kept)  # the old header
                dst.write(header.model_dump_json() + "\n")
                for text in kept:
                    dst.write(text + "\n")
                dst.flush()
                os.fsync(dst.fileno())
            Cassette.load(tmp)  # what we write is a valid cassette
            os.replace(tmp, output)
            tmp = ""
        finally:
            if tmp:
                os.unlink(tmp)
    if not keep and found.path.resolve() != output.resolve():
        found.path.unlink(missing_ok=True)
    return report
