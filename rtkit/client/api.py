"""RealtimeAPI: a thin event layer over a transport (the seed's `RealtimeAPI`)."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import Mapping
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from rtkit.client.debug import debug_line
from rtkit.client.event_handler import RealtimeEventHandler
from rtkit.client.failures import replay_failure
from rtkit.client.ids import generate_id
from rtkit.errors import NotConnectedError, ReplayError, TransportError
from rtkit.protocol.events import Dialect
from rtkit.transport.base import Close, ConnectRequest, Transport

__all__ = ["DEFAULT_URL", "RealtimeAPI", "is_sideband_url", "realtime_url"]

DEFAULT_URL = "wss://api.openai.com/v1/realtime"


def is_sideband_url(url: str | None) -> bool:
    """Whether `url` joins an existing call's session (`?call_id=...`, WebRTC/SIP sideband)."""
    query = parse_qsl(urlsplit(url or DEFAULT_URL).query, keep_blank_values=True)
    return any(k == "call_id" for k, _ in query)


def realtime_url(url: str | None, model: str | None, intent: str | None = None) -> str:
    """`url` (default: the live API) with `model` added to its query unless it has one or
    names a call (`call_id`: the call's session already has its model). With `intent`
    (`"transcription"`: a GA transcription session) `intent` is added instead of `model`."""
    parts = urlsplit(url or DEFAULT_URL)
    query = parse_qsl(parts.query, keep_blank_values=True)
    names = {k for k, _ in query}
    if intent:
        if not names & {"intent", "call_id"}:
            query.append(("intent", intent))
    elif model and not names & {"model", "call_id"}:
        query.append(("model", model))
    return urlunsplit(parts._replace(query=urlencode(query, safe="/:-_.")))


class RealtimeAPI(RealtimeEventHandler):
    """Connects through a `Transport` and turns frames into events.

    Dispatches `server.<type>` then `server.*` for every server event, and `client.<type>`
    then `client.*` for every client event before it is written. `error` is dispatched for
    frames that are not one JSON object and for write failures; `close` when the connection
    ends (`{"code", "reason", "by", "error"}`). `debug=True` shows every event sent and
    received on stderr (or through the `rtkit.debug` logger when logging is configured).
    """

    def __init__(
        self,
        url: str | None = None,
        api_key: str | None = None,
        model: str | None = "gpt-realtime",
        dialect: Dialect = "ga",
        transport: Transport | None = None,
        headers: Mapping[str, str] | None = None,
        debug: bool = False,
    ) -> None:
        super().__init__()
        if dialect not in ("ga", "beta"):
            raise ValueError(f"dialect must be 'ga' or 'beta', not {dialect!r}")
        self.url = url or DEFAULT_URL
        self.api_key = api_key
        self.model = model
        self.dialect: Dialect = dialect
        self.extra_headers = dict(headers or {})
        self.debug = debug
        self._transport = transport
        self._queue: asyncio.Queue[str | None] | None = None
        self._reader: asyncio.Task[None] | None = None
        self._writer: asyncio.Task[None] | None = None
        self._connected = False

    @property
    def transport(self) -> Transport | None:
        """The transport in use (created on first connect when none was given)."""
        return self._transport

    def is_connected(self) -> bool:
        """True while connected."""
        return self._connected

    @property
    def failure(self) -> ReplayError | None:
        """The replay error the server reported on this connection (a mismatch or a replay
        timeout), or None. Pending and later waits raise it."""
        return self._failure if isinstance(self._failure, ReplayError) else None

    def connect_request(self, model: str | None = None,
                        intent: str | None = None) -> ConnectRequest:
        """The URL and headers `connect` uses (`intent="transcription"`: a transcription
        session's URL, without `model`)."""
        headers = dict(self.extra_headers)
        if self.api_key:
            headers["Authorization"] = f"Bearer {self.api_key}"
        if self.dialect == "beta":
            headers["OpenAI-Beta"] = "realtime=v1"
        return ConnectRequest(url=realtime_url(self.url, model or self.model, intent),
                              headers=headers)

    async def connect(self, model: str | None = None, intent: str | None = None) -> None:
        """Open the connection and start the receive and send loops (`intent`: see
        `connect_request`)."""
        if self._connected:
            raise TransportError("already connected; use disconnect() first")
        if self._transport is None:
            from rtkit.transport.websocket import WebSocketTransport

            self._transport = WebSocketTransport()
        await self._transport.connect(self.connect_request(model, intent))
        self._connection_started()
        self._connected = True
        self._queue = asyncio.Queue()
        self._reader = asyncio.create_task(self._receive_loop(self._transport))
        self._writer = asyncio.create_task(self._send_loop(self._transport, self._queue))

    async def disconnect(self, code: int = 1000, reason: str = "") -> None:
        """Flush queued events, close the connection and stop the loops."""
        transport, writer, queue = self._transport, self._writer, self._queue
        if writer is not None and queue is not None and not writer.done():
            queue.put_nowait(None)
            with contextlib.suppress(asyncio.TimeoutError, Exception):
                await asyncio.wait_for(asyncio.shield(writer), 5.0)
        was_connected = self._connected
        self._connected = False
        if transport is not None:
            with contextlib.suppress(Exception):
                await transport.close(code, reason)
        for task in (self._reader, self._writer):
            if task is not None and not task.done() and task is not asyncio.current_task():
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task
        self._reader = self._writer = None
        self._queue = None
        if was_connected:
            payload = {"code": code, "reason": reason, "by": "client", "error": False}
            self.dispatch("close", payload)
            self._connection_ended(payload)

    def send(self, event_name: str, data: Mapping[str, Any] | None = None) -> dict[str, Any]:
        """Queue a client event (returns at once; events are written in call order)."""
        if not self._connected or self._queue is None:
            raise NotConnectedError(f"cannot send {event_name!r}: not connected (call connect())")
        if data is not None and not isinstance(data, Mapping):
            raise TypeError(f"data for {event_name!r} must be a mapping, not {type(data).__name__}")
        event = {"event_id": generate_id("evt_"), "type": event_name, **(data or {})}
        self.dispatch(f"client.{event_name}", event)
        self.dispatch("client.*", event)
        text = json.dumps(event, ensure_ascii=False, separators=(",", ":"))
        if self.debug:
            debug_line("sent", text)
        self._queue.put_nowait(text)
        return event

    async def _send_loop(self, transport: Transport, queue: asyncio.Queue[str | None]) -> None:
        while True:
            text = await queue.get()
            if text is None:
                return
            try:
                await transport.send(text)
            except Exception as exc:
                self.dispatch("error", {"type": "transport_error", "message": str(exc),
                                        "error": exc})
                return

    async def _receive_loop(self, transport: Transport) -> None:
        while True:
            try:
                frame = await transport.recv()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # a transport that fails counts as a dropped connection
                frame = Close(None, f"receive failed: {exc}", "server")
            if isinstance(frame, Close):
                self._closed_by_peer(frame)
                return
            self._receive_frame(frame)
            if self._wake_pending:
                # A wait was resolved by this frame: let it resume before the next frame, so
                # `while True: await client.wait_for_next_completed_item()` misses nothing
                # even when frames arrive in a burst (instant replay).
                self._wake_pending = False
                await asyncio.sleep(0)

    def _receive_frame(self, frame: str | bytes) -> None:
        if isinstance(frame, bytes | bytearray):
            self._frame_error("binary frame received; the Realtime API sends JSON text", frame)
            return
        try:
            event = json.loads(frame)
        except (json.JSONDecodeError, RecursionError) as exc:
            self._frame_error(f"server frame is not JSON ({exc})", frame)
            return
        if not isinstance(event, dict) or not isinstance(event.get("type"), str):
            self._frame_error("server frame is not a JSON object with a 'type'", frame)
            return
        if self.debug:
            debug_line("received", frame)
        self._receive_event(event)

    def receive(self, event_name: str, event: Mapping[str, Any] | None = None) -> bool:
        """Handle a server event as if it had arrived on the connection (the seed's
        `receive`): dispatches `server.<event_name>` and `server.*`, and a `RealtimeClient`
        applies it. For tests that drive a client without a server; works unconnected.

        `event` defaults to `{"type": event_name}`; an event of another type is a `ValueError`.
        """
        data = dict(event or {})
        if data.setdefault("type", event_name) != event_name:
            raise ValueError(f"receive({event_name!r}, ...): the event's type is "
                             f"{data['type']!r}")
        self._receive_event(data)
        return True

    def _receive_event(self, event: dict[str, Any]) -> None:
        failure = None
        if event["type"] == "error" and self._failure is None:
            failure = replay_failure(event, self._transport)
            self._failure = failure  # visible to `server.*` handlers (the client's) already
        self.dispatch(f"server.{event['type']}", event)
        self.dispatch("server.*", event)
        if failure is not None:
            self._connection_failed(failure)

    def _frame_error(self, message: str, frame: str | bytes) -> None:
        preview = frame[:200] if isinstance(frame, str) else f"<{len(frame)} bytes>"
        self.dispatch("error", {"type": "invalid_frame", "message": message, "frame": preview})

    def _closed_by_peer(self, close: Close) -> None:
        was_connected = self._connected
        self._connected = False
        if self._queue is not None:
            self._queue.put_nowait(None)
        if was_connected:
            payload = {
                "code": close.code,
                "reason": close.reason,
                "by": close.by,
                "error": close.code not in (1000, 1001),
            }
            self.dispatch("close", payload)
            self._connection_ended(payload)
