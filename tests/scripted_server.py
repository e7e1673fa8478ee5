"""A tiny scripted WebSocket server on 127.0.0.1 for client tests.

`async with ScriptedServer(script) as server:` runs `await script(conn)` for each connection;
`conn.send(...)` sends an event dict, raw text or bytes, `await conn.recv()` returns the next
client event (parsed), `await conn.close(code, reason)` closes. `refuse=401` answers every
handshake with that HTTP status instead. `server.connections` keeps every `ScriptConn`.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from http import HTTPStatus
from typing import Any

from websockets.asyncio.server import ServerConnection, serve
from websockets.exceptions import ConnectionClosed

__all__ = ["ScriptConn", "ScriptedServer", "session_created"]


def session_created(session_id: str = "sess_1") -> dict[str, Any]:
    """A minimal GA `session.created` event."""
    return {"type": "session.created", "event_id": "event_1",
            "session": {"id": session_id, "object": "realtime.session", "type": "realtime"}}


class ScriptConn:
    """One client connection as the script sees it."""

    def __init__(self, ws: ServerConnection) -> None:
        self.ws = ws
        self.received: list[dict[str, Any]] = []
        self.headers = dict(ws.request.headers) if ws.request else {}
        self.path = ws.request.path if ws.request else ""

    async def send(self, event: dict[str, Any] | str | bytes) -> None:
        """Send an event dict as JSON, or raw text / bytes as they are."""
        await self.ws.send(json.dumps(event) if isinstance(event, dict) else event)

    async def recv(self, timeout: float = 5.0) -> dict[str, Any]:
        """The next client event."""
        event = json.loads(await asyncio.wait_for(self.ws.recv(), timeout))
        self.received.append(event)
        return event

    async def recv_until(self, event_type: str, timeout: float = 5.0) -> dict[str, Any]:
        """Receive until an event of `event_type` arrives; returns it."""
        while True:
            event = await self.recv(timeout)
            if event["type"] == event_type:
                return event

    async def close(self, code: int = 1000, reason: str = "") -> None:
        """Close the connection from the server side."""
        await self.ws.close(code, reason)

    async def drain(self) -> None:
        """Receive until the client closes."""
        try:
            while True:
                await self.recv(timeout=30)
        except (TimeoutError, ConnectionClosed):
            return


Script = Callable[[ScriptConn], Awaitable[None]]


class ScriptedServer:
    """Runs `script(conn)` for each connection; see the module docstring."""

    def __init__(self, script: Script | None = None, *, refuse: int | None = None) -> None:
        self.script = script
        self.refuse = refuse
        self.connections: list[ScriptConn] = []
        self.url = ""
        self._server: Any = None

    async def _handle(self, ws: ServerConnection) -> None:
        conn = ScriptConn(ws)
        self.connections.append(conn)
        try:
            if self.script is not None:
                await self.script(conn)
            else:
                await conn.drain()
        except ConnectionClosed:
            pass

    def _process_request(self, connection: ServerConnection, request: Any) -> Any:
        if self.refuse is not None:
            return connection.respond(HTTPStatus(self.refuse), "refused by the scripted server\n")
        return None

    async def __aenter__(self) -> ScriptedServer:
        self._server = await serve(self._handle, "127.0.0.1", 0,
                                   process_request=self._process_request)
        port = self._server.sockets[0].getsockname()[1]
        self.url = f"ws://127.0.0.1:{port}/v1/realtime"
        return self

    async def __aexit__(self, *exc: object) -> None:
        self._server.close()
        await self._server.wait_closed()
