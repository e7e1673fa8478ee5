"""The fake Realtime API as the soak's upstream, keeping every frame it received and sent.

A thin shell over `rtkit.fake.FakeConnection` (the fake's sans-I/O core, the same one
`FakeRealtimeAPI` drives), so every session gets the fake's real answers: a text turn and a
tool call round trip. Frames are kept per connection, keyed by the request's path and query
(each soak session asks for its own `...&session=<client>-<i>`), exactly as they crossed the
socket.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from dataclasses import dataclass, field
from typing import Any

from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.exceptions import ConnectionClosed
from websockets.typing import Subprotocol

from rtkit.fake import FakeConnection, load_script, read_handshake
from rtkit.fake.handshake import select_subprotocol

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
    """`async with TappedFake() as up:` then record from `up.url`; `up.wires[target]`."""

    def __init__(self, script: dict[str, Any] | None = None) -> None:
        self.script = load_script(script or SCRIPT)
        self.wires: dict[str, Wire] = {}
        self.url = ""
        self._server: Server | None = None
        self._connections = 0

    async def __aenter__(self) -> TappedFake:
        self._server = await serve(self._handle, "127.0.0.1", 0, max_size=None,
                                   compression=None, select_subprotocol=_select)
        self.url = f"ws://127.0.0.1:{self._server.sockets[0].getsockname()[1]}/v1/realtime"
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._server is not None
        self._server.close()
        await self._server.wait_closed()

    async def _handle(self, ws: ServerConnection) -> None:
        assert ws.request is not None
        self._connections += 1
        offered = [p.strip() for h in ws.request.headers.get_all("Sec-WebSocket-Protocol")
                   for p in h.split(",") if p.strip()]
        handshake = read_handshake(ws.request.path, dict(ws.request.headers.raw_items()),
                                   offered, dialect="auto", default_model=self.script.model,
                                   api_key=None)
        wire = self.wires[ws.request.path] = Wire(ws.request.path)
        conn = FakeConnection(self.script, handshake, seed=f"soak#{self._connections}")
        loop = asyncio.get_running_loop()

        async def send(events: list[dict[str, Any]]) -> None:
            for event in events:
                text = json.dumps(event, separators=(",", ":"), ensure_ascii=False)
                wire.sent.append(text)
                await ws.send(text)

        receiving: asyncio.Future[Any] | None = None
        try:
            await send(conn.start(loop.time()))
            if conn.close_request is not None:
                await ws.close(*conn.close_request)
                return
            while True:
                if receiving is None:
                    receiving = asyncio.ensure_future(ws.recv())
                deadline = conn.next_deadline()
                timeout = None if deadline is None else max(0.0, deadline - loop.time())
                done, _ = await asyncio.wait({receiving}, timeout=timeout)
                if receiving in done:
                    message, receiving = receiving.result(), None
                    wire.received.append(message)
                    await send(conn.receive(message, loop.time()))
                await send(conn.advance(loop.time()))
        except ConnectionClosed:
            pass
        finally:
            if receiving is not None:
                receiving.cancel()
                with contextlib.suppress(BaseException):
                    await receiving


def _select(connection: ServerConnection, offered: Any) -> Subprotocol | None:
    chosen = select_subprotocol([str(p) for p in offered])
    return Subprotocol(chosen) if chosen is not None else None
