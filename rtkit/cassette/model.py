"""The line types of a cassette (see docs/cassette-format.md), as pydantic models."""

from __future__ import annotations

import json
from functools import cached_property
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

__all__ = [
    "FORMAT",
    "VERSION",
    "CloseLine",
    "Connect",
    "Direction",
    "Event",
    "Frame",
    "Header",
    "Line",
]

FORMAT = "rtkit-cassette"
VERSION = 1

Direction = Literal["client", "server"]


class _Line(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Header(_Line):
    """First line: what the cassette is and how it was made."""

    kind: Literal["header"] = "header"
    format: Literal["rtkit-cassette"] = FORMAT
    version: int = VERSION
    created: str
    rtkit: str
    dialect: Literal["ga", "beta"] | None = None
    model: str | None = None
    redactions: list[str] = Field(default_factory=list)
    meta: dict[str, Any] = Field(default_factory=dict)


class Connect(_Line):
    """Opens an episode: the client's handshake request and the upstream's answer."""

    kind: Literal["connect"] = "connect"
    conn: int = Field(ge=0)
    t: float = 0.0
    path: str = "/v1/realtime"
    query: str = ""
    headers: dict[str, str] = Field(default_factory=dict)
    subprotocols: list[str] = Field(default_factory=list)
    status: int = 101
    selected_subprotocol: str | None = None

    @field_validator("status")
    @classmethod
    def _http_status(cls, status: int) -> int:
        if status != 0 and not 100 <= status <= 599:
            raise ValueError(f"{status} is not an HTTP status (101, or the 100-599 status of "
                             "a refused handshake; 0 when unknown)")
        return status


class Event(_Line):
    """One text frame holding one JSON object; `raw` is its exact text as on the wire."""

    model_config = ConfigDict(extra="forbid", frozen=True, ignored_types=(cached_property,))

    kind: Literal["event"] = "event"
    conn: int = Field(ge=0)
    dir: Direction
    t: float = Field(ge=0)
    raw: str
    event: dict[str, Any]

    @property
    def type(self) -> str:
        """The event's `type` field."""
        return str(self.event.get("type", ""))

    def to_json_line(self) -> str:
        """The cassette line for this event (without the newline)."""
        return event_line_head(self.conn, self.dir, self.t) + self.raw + "}"


class Frame(_Line):
    """A frame that is not one JSON object: other text, or binary (base64 in the file)."""

    kind: Literal["frame"] = "frame"
    conn: int = Field(ge=0)
    dir: Direction
    t: float = Field(ge=0)
    text: str | None = None
    binary: bytes | None = None

    def to_json_line(self) -> str:
        """The cassette line for this frame (without the newline)."""
        import base64

        body: dict[str, Any] = {"kind": "frame", "conn": self.conn, "dir": self.dir,
                                "t": round(self.t, 3)}
        if self.binary is not None:
            body["binary"] = base64.b64encode(self.binary).decode("ascii")
        else:
            body["text"] = self.text
        return json.dumps(body, ensure_ascii=False, separators=(",", ":"))


class CloseLine(_Line):
    """Ends an episode: close code (None when the connection dropped), reason, who closed."""

    kind: Literal["close"] = "close"
    conn: int = Field(ge=0)
    t: float = Field(ge=0)
    code: int | None = Field(default=1000, ge=1000, le=4999)
    reason: str = ""
    by: Direction = "client"


Line = Header | Connect | Event | Frame | CloseLine


def event_line_head(conn: int, dir: str, t: float) -> str:
    """An event line up to the event's own text (which follows, then a closing brace)."""
    return f'{{"kind":"event","conn":{conn},"dir":"{dir}","t":{_fmt_t(t)},"event":'


def _fmt_t(t: float) -> str:
    """Milliseconds with at most 3 decimals, as short as JSON allows."""
    r = round(float(t), 3)
    return str(int(r)) if r == int(r) else repr(r)
