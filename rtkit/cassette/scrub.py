"""Re-apply the secret filters to an existing cassette (what `rtkit scrub` runs).

Line by line: the header's metadata (an upstream URL's key), handshake path, headers,
subprotocols and query of `connect` lines, the text of every event and frame line (the bytes
of a binary frame, decoded), and the reason of `close` lines, through a `Redactor` (built-in
filters plus the user's patterns and live secrets).
The new file is written beside the old one, checked to load, then moved into place atomically;
on any error the original is untouched.
"""

from __future__ import annotations

import json
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

from rtkit.cassette.lock import CassetteLock
from rtkit.cassette.model import CloseLine, Connect, Frame, Header
from rtkit.cassette.position import NO_HEADER, decode_line
from rtkit.cassette.reader import Cassette, parse_line
from rtkit.cassette.redact import INSECURE_KEY_PROTOCOL, PLACEHOLDER, Redactor
from rtkit.errors import CassetteError

__all__ = ["Change", "scrub_file", "scrub_line"]


@dataclass(frozen=True)
class Change:
    """Line `lineno` of `path` changes, because of these filters."""

    path: str
    lineno: int
    filters: tuple[str, ...]

    def __str__(self) -> str:
        return f"{self.path}:{self.lineno}: {', '.join(self.filters)}"


def _connect(text: str, line: Connect, redactor: Redactor) -> tuple[str, list[str]]:
    names = [f"{k}-header" for k, v in line.headers.items()
             if k in redactor.secret_headers and v != PLACEHOLDER]
    names += ["insecure-api-key-subprotocol" for p in line.subprotocols
              if p.startswith(INSECURE_KEY_PROTOCOL) and p != INSECURE_KEY_PROTOCOL + PLACEHOLDER]
    query = redactor.query(line.query)
    if query != line.query:
        names.append("key-query-params")
    headers = redactor.headers(line.headers)
    names += [f"{k}-header" for k, v in line.headers.items()
              if redactor.secret_header(k) and headers.get(k) != v]
    names += [f for v in line.headers.values() for f in redactor.filters_matching(v)]
    path = redactor.path(line.path)
    names += redactor.filters_matching(line.path) if path != line.path else []
    if not names:
        return text, []
    new = line.model_copy(update={"headers": headers, "query": query, "path": path,
                                  "subprotocols": redactor.subprotocols(line.subprotocols)})
    return new.model_dump_json(exclude_none=True), list(dict.fromkeys(names))


def scrub_line(text: str, redactor: Redactor, path: str = "<cassette>",
               lineno: int = 0) -> tuple[str, list[str]]:
    """The line with secrets replaced, and the names of the filters that changed it."""
    line = parse_line(text, path, lineno)
    if isinstance(line, Connect):
        return _connect(text, line, redactor)
    if isinstance(line, CloseLine):
        reason = redactor.message(line.reason)
        if reason == line.reason:
            return text, []
        return (line.model_copy(update={"reason": reason}).model_dump_json(),
                redactor.filters_matching(line.reason) or ["url-credentials"])
    if isinstance(line, Header):
        return _header(text, line, redactor)
    if isinstance(line, Frame) and line.binary is not None:
        data = redactor.binary(line.binary)
        if data == line.binary:
            return text, []
        return (line.model_copy(update={"binary": data}).to_json_line(),
                redactor.filters_matching(line.binary.decode("latin-1")))
    names = redactor.filters_matching(text)
    if not names:
        return text, []
    new = redactor.text(text)
    try:
        json.loads(new)
    except ValueError:
        raise CassetteError(f"{path}:{lineno}: scrubbing would break the JSON of this line "
                            f"(filters: {', '.join(names)}); make the pattern match inside "
                            "strings only") from None
    parse_line(new, path, lineno)
    return new, names


def scrub_file(path: str | os.PathLike[str], redactor: Redactor, *,
               check: bool = False) -> list[Change]:
    """Scrub a cassette in place (atomically), or with `check` only report what would change.

    When lines change, the header's `redactions` gains the names of the filters this redactor
    applies (`user-patterns`, ...), so the cassette says what was done to it."""
    path = Path(path)
    if check:
        return _scrub(path, redactor, check=True)
    with CassetteLock(path):  # a recording committing meanwhile would undo the scrub
        return _scrub(path, redactor, check=False)


def _scrub(path: Path, redactor: Redactor, *, check: bool) -> list[Change]:
    changes: list[Change] = []
    header = False
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".scrub", dir=path.parent)
    try:
        with open(path, "rb") as src, os.fdopen(fd, "w", encoding="utf-8") as dst:
            for lineno, raw in enumerate(src, start=1):
                text = decode_line(raw, path, lineno).rstrip("\n")
                new, names = scrub_line(text, redactor, str(path), lineno) if text.strip() \
                    else (text, [])
                header = header or bool(text.strip())
                if names:
                    changes.append(Change(str(path), lineno, tuple(names)))
                if lineno == 1:  # kept only if other lines change (tmp is dropped otherwise)
                    new = _with_redactions(new, redactor.names, str(path))
                dst.write(new + "\n")
        if not header:
            raise CassetteError(f"{path}: {NO_HEADER}")
        # a valid cassette in, and (the scrubbed file) out
        Cassette.load(tmp if changes else path)
        if check or not changes:
            return changes
        os.chmod(tmp, path.stat().st_mode & 0o777)
        os.replace(tmp, path)
        tmp = ""
        return changes
    finally:
        if tmp:
            os.unlink(tmp)


def _header(text: str, line: Header, redactor: Redactor) -> tuple[str, list[str]]:
    from rtkit.cassette.writer import _redacted

    meta = _redacted(line.meta, redactor)
    if meta == line.meta:
        return text, []
    return line.model_copy(update={"meta": meta}).model_dump_json(), ["header-meta"]


def _with_redactions(text: str, names: list[str], path: str) -> str:
    """The header line with `names` added to its `redactions` (other lines unchanged)."""
    header = parse_line(text, path, 1) if text.strip() else None
    if not isinstance(header, Header) or set(names) <= set(header.redactions):
        return text
    redactions = list(dict.fromkeys([*header.redactions, *names]))
    return header.model_copy(update={"redactions": redactions}).model_dump_json()
