"""Cassettes: the JSONL model, a streaming reader, an atomic writer and secret redaction.

See docs/cassette-format.md for the format.
"""

from rtkit.cassette.model import FORMAT, VERSION, CloseLine, Connect, Event, Frame, Header, Line
from rtkit.cassette.reader import Cassette, Episode, parse_line, read_lines
from rtkit.cassette.redact import BUILTIN_REDACTIONS, PLACEHOLDER, Redactor
from rtkit.cassette.writer import CassetteWriter

__all__ = [
    "BUILTIN_REDACTIONS",
    "FORMAT",
    "PLACEHOLDER",
    "VERSION",
    "Cassette",
    "CassetteWriter",
    "CloseLine",
    "Connect",
    "Episode",
    "Event",
    "Frame",
    "Header",
    "Line",
    "Redactor",
    "parse_line",
    "read_lines",
]
