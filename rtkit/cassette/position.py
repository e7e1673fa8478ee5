"""Where a problem in a cassette is: one `FILE:LINE:COLUMN` convention for every tool.

Lines count from 1. Columns count from 1, in characters (Unicode code points) of the line as
UTF-8 text, without its line end. A JSON error is at the character where the parser stopped
(one past the last character for a line that ends too early); bytes that are not UTF-8 are at
the character their first bad byte would be. A problem with a line as a whole (a wrong
field, an event out of place) has no column.
"""

from __future__ import annotations

import json
import os

from rtkit.errors import CassetteError

__all__ = ["NO_HEADER", "decode_line", "json_column", "line_error", "utf8_error", "where"]

NO_HEADER = "not a cassette: no header line (the file is empty or blank)"
"""The reason every tool gives for a file with no line but blank ones."""


def where(path: str | os.PathLike[str], lineno: int, column: int | None = None) -> str:
    """`path:lineno` or `path:lineno:column`."""
    return f"{os.fspath(path)}:{lineno}" + (f":{column}" if column is not None else "")


def line_error(path: str | os.PathLike[str], lineno: int, reason: str,
               column: int | None = None) -> CassetteError:
    """The error for a problem at line `lineno` (and `column`) of the cassette at `path`."""
    return CassetteError(f"{where(path, lineno, column)}: {reason}", path=os.fspath(path),
                         lineno=lineno, column=column, reason=reason)


def json_column(text: str, exc: json.JSONDecodeError) -> int:
    """The 1-based column, in `text`'s own line, of the character a JSON error points at."""
    return min(exc.pos, len(text.rstrip("\r\n"))) + 1


def utf8_error(path: str | os.PathLike[str], lineno: int,
               exc: UnicodeDecodeError) -> CassetteError:
    """The error for line `lineno`, whose bytes (`exc.object`) are not UTF-8 at `exc.start`."""
    raw = bytes(exc.object)
    column = len(raw[: exc.start].decode("utf-8", "replace")) + 1
    bad = raw[exc.start : exc.start + 1].hex()
    return line_error(path, lineno, f"not UTF-8 text (byte 0x{bad})", column)


def decode_line(raw: bytes, path: str | os.PathLike[str], lineno: int) -> str:
    """`raw` as UTF-8 text, or a `CassetteError` at the first byte that is not UTF-8."""
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise utf8_error(path, lineno, exc) from None
