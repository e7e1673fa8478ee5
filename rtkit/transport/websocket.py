"""WebSocketTransport: the live transport, on the `websockets` library (13 and later)."""

from __future__ import annotations

import inspect
from typing import Any
from urllib.parse import urlsplit

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidStatus, InvalidURI

from rtkit.errors import ConnectionRefusedByServer, NotConnectedError, TransportError
from rtkit.transport.base import Close, ConnectRequest, Frame

__all__ = ["WebSocketTransport"]

MAX_FRAME = 64 * 1024 * 1024  # audio frames are large; the server enforces its own limit


_LOOPBACK = frozenset({"127.0.0.1", "localhost", "::1", "[::1]"})
_CONNECT_TAKES_PROXY = "proxy" in inspect.signature(connect.__init__).parameters


def loopback_kwargs(url: str) -> dict[str, Any]:
    """`connect()` options for `url`: a loopback URL (the fake server, the recorder) never
    goes through HTTPS_PROXY / HTTP_PROXY, which websockets >= 15 otherwise applies to it
    unless NO_PROXY lists it (corporate CI often sets the one and not the other)."""
    host = urlsplit(url).hostname or ""
    return {"proxy": None} if _CONNECT_TAKES_PROXY and host in _LOOPBACK else {}


class WebSocketTransport:
    """A `Transport` over one WebSocket connection (`websockets.asyncio.client`)."""

    def __init__(self, *, open_timeout: float = 10.0, max_size: int | None = MAX_FRAME,
                 **connect_kwargs: Any) -> None:
        self.open_timeout = open_timeout
        self.max_size = max_size
        self.connect_kwargs = connect_kwargs
        self._ws: ClientConnection | None = None
        self._closed: Close | None = None
        self.request: ConnectRequest | None = None

    @property
    def is_connected(self) -> bool:
        """True between a successful `connect` and the close."""
        return self._ws is not None and self._closed is None

    @property
    def subprotocol(self) -> str | None:
        """The subprotocol the server selected, if any."""
        return self._ws.subprotocol if self._ws is not None else None

    async def connect(self, request: ConnectRequest) -> None:
        """Open the WebSocket; errors say which URL failed and why."""
        if self.is_connected:
            raise TransportError("already connected; close() first")
        url = request.url
        try:
            self._ws = await connect(
                url,
                additional_headers=dict(request.headers),
                subprotocols=list(request.subprotocols) or None,  # type: ignore[arg-type]
                open_timeout=self.open_timeout,
                max_size=self.max_size,
                compression=None,
                **{**loopback_kwargs(url), **self.connect_kwargs},
            )
        except InvalidStatus as exc:
            status = exc.response.status_code
            body = bytes(exc.response.body or b"").decode("utf-8", "replace")[:500]
            hint = " (check the API key)" if status in (401, 403) else ""
            raise ConnectionRefusedByServer(
                f"{url}: the server refused the WebSocket handshake with HTTP {status}{hint}"
                + (f": {body}" if body else ""),
                status=status,
                body=body,
            ) from None
        except InvalidURI as exc:
            raise TransportError(f"{url}: not a WebSocket URL ({exc})") from None
        except (TimeoutError, OSError, InvalidHandshake) as exc:
            raise TransportError(f"{url}: could not connect: {exc or type(exc).__name__}") from exc
        self._closed = None
        self.request = request

    async def send(self, text: str) -> None:
        """Send one text frame."""
        if self._ws is None or self._closed is not None:
            raise NotConnectedError("cannot send: the WebSocket is not connected")
        try:
            await self._ws.send(text)
        except ConnectionClosed as exc:
            self._mark_closed(exc)
            raise NotConnectedError(f"cannot send: the connection closed ({exc})") from None

    async def recv(self) -> Frame:
        """The next frame, or a `Close` once the connection has ended."""
        if self._ws is None:
            raise NotConnectedError("cannot receive: the WebSocket is not connected")
        if self._closed is not None:
            raise NotConnectedError("cannot receive: the connection is closed")
        try:
            return await self._ws.recv()
        except ConnectionClosed as exc:
            return self._mark_closed(exc)

    def _mark_closed(self, exc: ConnectionClosed) -> Close:
        rcvd, sent = exc.rcvd, exc.sent
        if rcvd is not None and exc.rcvd_then_sent is not False:  # the server closed first
            close = Close(rcvd.code, rcvd.reason, "server")
        elif sent is not None:
            close = Close(sent.code, sent.reason, "client")
        else:
            close = Close(None, "connection dropped without a close frame", "server")
        self._closed = close
        return close

    async def close(self, code: int = 1000, reason: str = "") -> None:
        """Close from this side (no-op when already closed)."""
        ws = self._ws
        if ws is None or self._closed is not None:
            return
        self._closed = Close(code, reason, "client")
        await ws.close(code, reason)
