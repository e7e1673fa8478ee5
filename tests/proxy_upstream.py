"""A small Realtime-shaped upstream for the recording proxy's tests (loopback only).

Every message it receives is kept (`received`, exactly as it arrived). `response.create` is
answered with a burst that ends like the live API's: `response.created`, text (and audio)
deltas, `response.done`, `rate_limits.updated`. Other JSON events get
`{"type": "ack", "of": <type>, "event_id": <its event_id>}`; a binary frame comes back
reversed. `behaviour` changes the answer to a handshake or a session: "refuse-401" (HTTP 401
with a JSON body), "error-3000" (an `error` event then close 3000), "close-mid-response" (the
TCP connection is dropped halfway through the first response).
"""

from __future__ import annotations

import base64
import json
from http import HTTPStatus
from typing import Any

from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.exceptions import ConnectionClosed

__all__ = ["TurnUpstream", "response_burst"]


AUDIO_100MS = base64.b64encode(bytes(range(256)) * 18 + bytes(192)).decode()  # 4,800 bytes


def response_burst(n: int, deltas: int = 3, audio: int = 0) -> list[dict[str, Any]]:
    """The events of response `n`: `deltas` text deltas, `audio` 100 ms audio deltas."""
    rid = f"resp_{n}"
    events: list[dict[str, Any]] = [{"type": "response.created", "response": {"id": rid}}]
    events += [{"type": "response.text.delta", "response_id": rid, "delta": f"word{i} "}
               for i in range(deltas)]
    events += [{"type": "response.output_audio.delta", "response_id": rid,
                "delta": AUDIO_100MS} for _ in range(audio)]
    events += [{"type": "response.done", "response": {"id": rid, "status": "completed"}},
               {"type": "rate_limits.updated", "rate_limits": []}]
    return events


class TurnUpstream:
    """`async with TurnUpstream() as up:` then point a proxy at `up.url`."""

    def __init__(self, behaviour: str = "", deltas: int = 3, audio: int = 0,
                 subprotocols: list[str] | None = None) -> None:
        self.behaviour = behaviour
        self.deltas = deltas
        self.audio = audio
        self.subprotocols = subprotocols
        self.closes: list[int | None] = []  # close code each connection ended with
        self.received: list[str | bytes] = []
        self.paths: list[str] = []
        self.url = ""
        self._server: Server | None = None

    def _process_request(self, connection: ServerConnection, request: Any) -> Any:
        self.paths.append(request.path)
        if not request.path.startswith("/v1/realtime"):
            return connection.respond(HTTPStatus.NOT_FOUND, '{"error": "no such path"}\n')
        if self.behaviour == "refuse-401":
            return connection.respond(HTTPStatus.UNAUTHORIZED,
                                      '{"error": {"code": "invalid_api_key"}}\n')
        return None

    async def _handle(self, ws: ServerConnection) -> None:
        try:
            await self._session(ws)
        except ConnectionClosed:
            pass
        finally:
            rcvd = ws.protocol.close_rcvd
            self.closes.append(rcvd.code if rcvd else None)

    async def _session(self, ws: ServerConnection) -> None:
        await ws.send('{"type":"session.created","session":{}}')
        if self.behaviour == "error-3000":
            await ws.send('{"type":"error","error":{"code":"insufficient_quota"}}')
            await ws.close(3000, "insufficient_quota")
            return
        responses = 0
        async for message in ws:
            self.received.append(message)
            if isinstance(message, bytes):
                await ws.send(message[::-1])
                continue
            try:
                event = json.loads(message)
                kind, event_id = event.get("type"), event.get("event_id")
            except (ValueError, AttributeError, RecursionError):
                kind = event_id = None
            if kind != "response.create":
                await ws.send(json.dumps({"type": "ack", "of": str(kind), "event_id": event_id}))
                continue
            burst = response_burst(responses, self.deltas, self.audio)
            responses += 1
            if self.behaviour == "close-mid-response":
                for event in burst[:2]:
                    await ws.send(json.dumps(event))
                ws.transport.abort()  # dropped, no close frame
                return
            for event in burst:
                await ws.send(json.dumps(event))

    async def __aenter__(self) -> TurnUpstream:
        self._server = await serve(self._handle, "127.0.0.1", 0, max_size=None,
                                   process_request=self._process_request,
                                   subprotocols=self.subprotocols)  # type: ignore[arg-type]
        port = self._server.sockets[0].getsockname()[1]
        self.url = f"ws://127.0.0.1:{port}/v1/realtime"
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._server is not None
        self._server.close()
        await self._server.wait_closed()
