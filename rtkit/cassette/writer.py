"""Atomic, streaming cassette writer with redaction and a refuse-to-leak scan."""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Iterable, Mapping
from datetime import datetime, timezone
from pathlib import Path
from types import TracebackType
from typing import Any

from rtkit.cassette.model import CloseLine, Connect, Frame, Header, _fmt_t
from rtkit.cassette.reader import Cassette, _iter_raw_lines
from rtkit.cassette.redact import Redactor
from rtkit.errors import CassetteError, SecretLeakError

__all__ = ["CassetteWriter"]

_BUFFER = 1 << 20


class CassetteWriter:
    """Writes a cassette line by line to a temporary file beside `path`; `commit` puts it in place.

    Use it as a context manager: on exit (also when the block raised) what was recorded is
    committed atomically with `os.replace`, so readers see the previous cassette or the complete
    new one, never a partial file. `append=True` keeps the existing cassette's episodes and
    numbers this writer's connections after them (caller's conn k is written as base + k).
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
    ) -> None:
        from rtkit import __version__

        self.path = Path(path)
        self.redactor = redactor or Redactor()
        self.n_events = 0
        self.committed = False
        self._leak: str | None = None
        self._lineno = 0
        self._last_t: dict[int, float] = {}
        existing = Cassette.load(self.path) if append and self.path.exists() else None
        self.conn_base = max((e.conn for e in existing.episodes), default=-1) + 1 if existing else 0
        header = Header(
            created=datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
            rtkit=__version__,
            dialect=dialect if dialect in ("ga", "beta") else None,  # type: ignore[arg-type]
            model=model,
            redactions=self.redactor.names,
            meta=dict(meta or {}),
        )
        if existing is not None:
            old = existing.header
            header = header.model_copy(update={
                "created": old.created, "dialect": old.dialect or header.dialect,
                "model": old.model or header.model, "meta": {**old.meta, **header.meta},
            })
        self.header = header
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{self.path.name}.", suffix=".rtkit-tmp",
                                   dir=self.path.parent)
        self._tmp = Path(tmp)
        self._fh = os.fdopen(fd, "w", encoding="utf-8", newline="\n", buffering=_BUFFER)
        self._write(header.model_dump_json())
        if existing is not None:
            for _, text in _iter_raw_lines(existing.path):
                if text.strip() and not text.startswith('{"kind":"header"'):
                    self._write(text.rstrip("\n"))

    # -- lines -----------------------------------------------------------------------------

    def _write(self, text: str) -> None:
        self._lineno += 1
        if self._leak is None and self.redactor.secrets and self.redactor.find_secret(text):
            self._leak = f"line {self._lineno}"
        self._fh.write(text)
        self._fh.write("\n")

    def _conn(self, conn: int, t: float) -> int:
        if self._fh.closed:
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
            path=path,
            query=self.redactor.query(query),
            headers=self.redactor.headers(headers),
            subprotocols=self.redactor.subprotocols(list(subprotocols)),
            status=status,
            selected_subprotocol=selected_subprotocol,
        )
        self._write(line.model_dump_json(exclude_none=True))

    def event(self, conn: int, dir: str, t: float, frame: str | bytes) -> None:
        """Record one frame: a JSON object becomes an `event` line, anything else a `frame`."""
        n = self._conn(conn, t)
        t = self._last_t[conn]
        self.n_events += 1
        if isinstance(frame, bytes | bytearray | memoryview):
            self._write(Frame(conn=n, dir=dir, t=t, binary=bytes(frame)).to_json_line())  # type: ignore[arg-type]
            return
        try:
            obj = json.loads(frame)
        except (json.JSONDecodeError, RecursionError):
            obj = None
        if not isinstance(obj, dict):
            text = self.redactor.text(frame)
            self._write(Frame(conn=n, dir=dir, t=t, text=text).to_json_line())  # type: ignore[arg-type]
            return
        if "\n" in frame or "\r" in frame:
            frame = json.dumps(obj, ensure_ascii=False, separators=(",", ":"))
        red = self.redactor.event(frame, obj, dir)
        if red is None:
            self.n_events -= 1
            return
        raw = red[0]
        self._write(f'{{"kind":"event","conn":{n},"dir":"{dir}","t":{_fmt_t(t)},"event":{raw}}}')

    def close(self, conn: int, t: float, code: int | None = 1000, reason: str = "",
              by: str = "client") -> None:
        """End episode `conn`."""
        n = self._conn(conn, t)
        line = CloseLine(conn=n, t=self._last_t[conn], code=code, reason=reason, by=by)  # type: ignore[arg-type]
        self._write(line.model_dump_json())

    # -- finishing -------------------------------------------------------------------------

    def commit(self) -> Path:
        """Flush, check for leaked secrets, and atomically replace the target file."""
        if self.committed:
            return self.path
        try:
            self._fh.flush()
            os.fsync(self._fh.fileno())
        finally:
            self._fh.close()
        if self._leak is not None:
            self._tmp.unlink(missing_ok=True)
            raise SecretLeakError(
                f"{self.path}: refusing to write the cassette: a live secret (the API key) is "
                f"still present at {self._leak}; add a filter for it (Redactor patterns or "
                "before_record_event). The previous cassette, if any, is unchanged."
            )
        os.replace(self._tmp, self.path)
        self.committed = True
        return self.path

    def abort(self) -> None:
        """Discard everything written; the target file is left as it was."""
        if not self._fh.closed:
            self._fh.close()
        self._tmp.unlink(missing_ok=True)

    def __enter__(self) -> CassetteWriter:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._fh.closed and not self.committed:
            return
        self.commit()  # keep what was recorded even when the block raised

    def __del__(self) -> None:
        fh = getattr(self, "_fh", None)
        if fh is not None and not fh.closed and not self.committed:
            self.abort()


