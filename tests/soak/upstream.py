"""The fake Realtime API as the soak's upstream, keeping every frame it received and sent.

`FakeRealtimeAPI` with a frame tap, so every session gets the fake's real answers: a text turn
and a tool call round trip. Frames are kept per connection, keyed by the request's path and
query (each soak session asks for its own `...&session=<client>-<i>`), exactly as they crossed
the socket.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from rtkit.fake import FakeRealtimeAPI
from rtkit.fake.server import ConnectionRecord

__all__ = ["SCRIPT", "TappedFake", "Wire"]

# Turn 1: "hello" is answered with text. Turn 2: "weather" is answered with a function call;
# the client sends the tool's output and asks again; that is answered with text.
SCRIPT: dict[str, Any] = {
    "rules": [
        {"when": {"text": "weather"},
         "reply": {"function_call": {"name": "get_weather", "arguments": {"location": "Paris"}}}},
        {"when": {"tool_output": "sunny"}, "reply": {"text": "It is sunny in Paris, 21 degrees."}},
        {"when": {"text": "hello"}, "reply": {"text": "Hi! How can I help you today?"}},
    ],
    "delta_ms": 0,
}


@dataclass
class Wire:
    """The frames of one upstream connection, as they crossed its socket."""

    target: str
    received: list[str | bytes] = field(default_factory=list)
    sent: list[str] = field(default_factory=list)


class TappedFake:
    """`async with TappedFake() as up:` then record from `up.url`; `up.wires[target]` once
    the connection has ended."""

    def __init__(self, script: dict[str, Any] | None = None) -> None:
        self.wires: dict[str, Wire] = {}
        self._frames: dict[int, Wire] = {}
        self._fake = FakeRealtimeAPI(script or SCRIPT, dialect="auto", seed="soak",
                                     on_frame=self._tap, on_connection=self._ended)
        self.url = ""

    def _tap(self, number: int, direction: str, frame: str | bytes) -> None:
        wire = self._frames.setdefault(number, Wire(""))
        if direction == "client":
            wire.received.append(frame)
        else:
            wire.sent.append(frame if isinstance(frame, str) else frame.decode())

    def _ended(self, record: ConnectionRecord) -> None:
        wire = self._frames.pop(record.number, Wire(""))
        wire.target = record.target
        self.wires[record.target] = wire

    async def __aenter__(self) -> TappedFake:
        await self._fake.start()
        self.url = self._fake.url
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self._fake.stop()
