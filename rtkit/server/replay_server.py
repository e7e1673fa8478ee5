"""ReplayServer: a fake Realtime server on 127.0.0.1 that replays a cassette."""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import logging
import os
import struct
import sys
from collections.abc import Callable, Sequence
from http import HTTPStatus
from typing import Any
from urllib.parse import urlsplit

from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.datastructures import Headers
from websockets.exceptions import ConnectionClosed
from websockets.http11 import Response
from websockets.protocol import OPEN

from rtkit.cassette import Cassette, Episode
from rtkit.errors import CassetteError, ReplayError
from rtkit.replay.player import DEFAULT_MAX_MESSAGE, CassettePlayer, LinkStalled, drive
from rtkit.transport.base import Close
from rtkit.transport.websocket import close_like

__all__ = ["ReplayServer"]

WRITE_CHUNK = 64 * 1024  # one transport write per this many bytes of framed events
YIELD_EVERY = 16  # chunks written without waiting before letting other connections run
_HEAD_MID = struct.Struct("!BBH").pack
_HEAD_BIG = struct.Struct("!BBQ").pack
_HEAD_SMALL = [bytes((0x81, n)) for n in range(126)]  # FIN + text opcode, unmasked, length

# websockets >= 14 sends UTF-8 bytes as a text frame (send(..., text=True)); 13 needs a str
_SEND_TAKES_TEXT = "text" in inspect.signature(ServerConnection.send).parameters


class _HandshakeLog(logging.LoggerAdapter):  # type: ignore[type-arg]
    """websockets' server logger, minus its traceback for every refused handshake: a request
    that reached `process_response` (426, 404, a recorded refusal) is in the console log
    already; another failed handshake (not even HTTP) becomes one line there."""

    def __init__(self, emit: Callable[[str], None]) -> None:
        super().__init__(logging.getLogger("websockets.server"), {})
        self.emit = emit

    def log(self, level: int, msg: object, *args: Any, **kwargs: Any) -> None:
        if msg == "opening handshake failed":
            connection = (kwargs.get("extra") or {}).get("websocket")
            if getattr(connection, "response", None) is None:
                peer = _peer(connection) if connection is not None else "?"
                self.emit(f"{peer}: the opening handshake failed: {sys.exc_info()[1]}")
            return
        super().log(level, msg, *args, **kwargs)


class _WebSocketLink:
    """The driver's link over a websockets server connection.

    Recorded events go out through a path of its own: they are framed here (unmasked server
    text frames, FIN set, no extensions: the server negotiates none) into ~64 KB writes to the
    connection's transport, honouring its flow control (`drain`). This is sound because it
    only runs while websockets' own state allows a send: the connection is OPEN, websockets has
    nothing queued to write, and no fragmented message is in progress; websockets' sends
    (pings, pongs, the close) go through it in between whole frames. Anything else uses
    `ServerConnection.send`.

    A client that reads nothing for `timeout` seconds while events are due makes a send raise
    `LinkStalled`.
    """

    def __init__(self, ws: ServerConnection, timeout: float) -> None:
        self.ws = ws
        self.timeout = timeout
        self._chunks = 0

    async def recv(self, timeout: float | None) -> str | bytes | Close | None:
        try:
            return await asyncio.wait_for(self.ws.recv(), timeout)
        except asyncio.TimeoutError:
            return None
        except ConnectionClosed as exc:
            rcvd = exc.rcvd
            return Close(rcvd.code if rcvd else None, rcvd.reason if rcvd else "", "client")

    def _raw_ok(self) -> bool:
        """Whether websockets' state lets a frame be written past it (on an open connection):
        nothing of its own queued, no extension, no fragmented message in progress."""
        ws = self.ws
        protocol = ws.protocol
        return (not protocol.writes and not protocol.extensions
                and not protocol.expect_continuation_frame and ws.fragmented_send_waiter is None)

    async def send(self, data: str | bytes | memoryview, text: bool | None = None) -> None:
        if isinstance(data, str):
            data, text = data.encode("utf-8"), True
        if text:
            await self.send_run((data,))
            return
        await self._websockets_send(data, None)

    async def _websockets_send(self, data: str | bytes | memoryview, text: bool | None) -> None:
        if text and not _SEND_TAKES_TEXT:
            data = bytes(data).decode("utf-8")
            text = None
        try:
            send = self.ws.send(data, text=True) if text else self.ws.send(data)
            await asyncio.wait_for(send, self.timeout)
        except asyncio.TimeoutError:
            raise LinkStalled from None
        except ConnectionClosed:
            pass

    async def send_run(self, payloads: Sequence[bytes | memoryview]) -> None:
        """Frame and write these text payloads (UTF-8 bytes) in ~64 KB writes."""
        buf = bytearray()
        small, mid, big = _HEAD_SMALL, _HEAD_MID, _HEAD_BIG
        for data in payloads:
            n = len(data)
            buf += small[n] if n < 126 else mid(0x81, 126, n) if n < 65536 else big(0x81, 127, n)
            buf += data
            if len(buf) >= WRITE_CHUNK:
                if not await self._write(buf):
                    return
                buf = bytearray()  # the transport may keep a view of the one written
        if buf:
            await self._write(buf)

    async def _write(self, buf: bytearray) -> bool:
        """Write framed events, then wait for room; False when the connection is closing."""
        ws = self.ws
        if ws.protocol.state is not OPEN or ws.transport.is_closing():
            return False  # closing: the driver hears how on its next recv
        if not self._raw_ok():  # e.g. websockets has a pong queued: send through it
            await self._send_framed_through_websockets(buf)
            return True
        ws.transport.write(buf)
        if ws.paused:
            try:
                await asyncio.wait_for(ws.drain(), self.timeout)
            except asyncio.TimeoutError:
                raise LinkStalled from None
            except (OSError, ConnectionClosed):  # the connection was lost meanwhile
                return False
        else:
            self._chunks += 1
            if self._chunks % YIELD_EVERY == 0:
                await asyncio.sleep(0)  # let other connections (and this one's reader) run
        return True

    async def _send_framed_through_websockets(self, buf: bytearray) -> None:
        """Send already framed events one by one through websockets (the rare fallback)."""
        view, pos = memoryview(buf), 0
        while pos < len(view):
            n = view[pos + 1] & 0x7F
            start = pos + 2
            if n == 126:
                n, start = int.from_bytes(view[pos + 2:pos + 4], "big"), pos + 4
            elif n == 127:
                n, start = int.from_bytes(view[pos + 2:pos + 10], "big"), pos + 10
            await self._websockets_send(view[start:start + n], True)
            pos = start + n

    async def close(self, code: int | None, reason: str) -> None:
        try:
            await asyncio.wait_for(close_like(self.ws, code, reason), self.timeout)
        except asyncio.TimeoutError:
            self.ws.transport.abort()
            raise LinkStalled from None


FrameTap = Callable[[int, str, "str | bytes"], None]


class _TappedLink(_WebSocketLink):
    """A link that also reports every frame, both directions, to `tap(conn, dir, frame)`
    (text frames as `str`, binary ones as `bytes`), before it is handled or sent; recorded
    events sent in runs are reported one by one."""

    def __init__(self, ws: ServerConnection, timeout: float, conn: int, tap: FrameTap) -> None:
        super().__init__(ws, timeout)
        self.conn, self.tap = conn, tap

    async def recv(self, timeout: float | None) -> str | bytes | Close | None:
        frame = await super().recv(timeout)
        if isinstance(frame, (str, bytes)):
            self.tap(self.conn, "client", frame)
        return frame

    async def send(self, data: str | bytes | memoryview, text: bool | None = None) -> None:
        if not isinstance(data, str) and not text:  # a binary frame (text goes via send_run)
            self.tap(self.conn, "server", bytes(data))
        await super().send(data, text)

    async def send_run(self, payloads: Sequence[bytes | memoryview]) -> None:
        for data in payloads:
            self.tap(self.conn, "server", bytes(data).decode("utf-8", "replace"))
        await super().send_run(payloads)


class ReplayServer:
    """Serves a cassette over real WebSockets, one recorded episode per incoming connection.

    `async with ReplayServer("session.jsonl") as server:` then point any client at
    `server.url` (`ws://127.0.0.1:PORT/v1/realtime`), or give the openai SDK
    `websocket_base_url=server.ws_base_url`. Options are those of `CassettePlayer.open`:
    `pace`, `audio_match`, `ignore_paths`, `matchers`, `match_on`, `timeout`, `unplayed`,
    `record_mode`, `max_message`, `lazy`, `log`. `on_frame(conn, direction, frame)`, when
    given, sees every frame exchanged (text as `str`, binary as `bytes`) as it happens. After
    the block, mismatches are in `errors` and `check()` raises the first; on exit the unplayed
    policy is applied (when the block did not raise). When the block raised (typically the
    client's timeout) after a mismatch, the mismatch is raised from it, since it is the cause.

    An episode is chosen only once a request is a valid WebSocket upgrade: anything else (a
    health check, curl) gets websockets' 426 and uses up nothing. A lazily loaded cassette
    (`lazy=True`) serves at once and is indexed in a background thread; a problem found there
    is in `cassette_error` (and logged).
    """

    def __init__(
        self,
        cassette: Cassette | str | os.PathLike[str],
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        on_frame: FrameTap | None = None,
        **options: Any,
    ) -> None:
        self.player = CassettePlayer.open(cassette, **options)
        self.on_frame = on_frame
        self.host = host
        self.port = port
        self._server: Server | None = None
        self._episodes: dict[int, tuple[Episode, str]] = {}
        self._tasks: set[asyncio.Task[Any]] = set()
        self._indexer: asyncio.Future[None] | None = None
        self._stopping = False
        self.cassette_error: CassetteError | None = None

    # -- what tests read -------------------------------------------------------------------

    @property
    def url(self) -> str:
        """The full realtime URL (`ws://127.0.0.1:PORT/v1/realtime`)."""
        return f"ws://{self.host}:{self.port}/v1/realtime"

    @property
    def ws_base_url(self) -> str:
        """What `AsyncOpenAI(websocket_base_url=...)` takes (it appends `/realtime`)."""
        return f"ws://{self.host}:{self.port}/v1"

    @property
    def cassette(self) -> Cassette:
        """The cassette being replayed."""
        return self.player.cassette

    @property
    def errors(self) -> list[ReplayError]:
        """Mismatches, timeouts and unmatched connections so far."""
        return self.player.errors

    @property
    def played(self) -> list[int]:
        """Episodes (conn numbers) served so far."""
        return self.player.played

    @property
    def unplayed(self) -> list[int]:
        """Episodes not served yet."""
        return self.player.unplayed_episodes

    def check(self) -> None:
        """Raise the first replay error, if any."""
        self.player.check()

    raise_errors = check

    # -- serving ---------------------------------------------------------------------------

    def _select_subprotocol(self, connection: ServerConnection,
                            subprotocols: Any) -> str | None:
        if not subprotocols:
            return None
        request = connection.request
        episode = None
        if request is not None:
            parts = urlsplit(request.path)
            with contextlib.suppress(CassetteError):
                episode = self.player.peek(parts.path, parts.query)
        recorded = episode.connect.selected_subprotocol if episode is not None else None
        for choice in (recorded, "realtime"):
            if choice and choice in subprotocols:
                return choice
        return None

    def _process_response(self, connection: ServerConnection, request: Any,
                          response: Response) -> Response | None:
        """Choose the episode once websockets has accepted the upgrade (status 101)."""
        peer = _peer(connection)
        if response.status_code != 101:
            self.player.emit(f"{peer}: GET {request.path}: answered HTTP {response.status_code} "
                             f"{response.reason_phrase} (not a WebSocket upgrade; no episode "
                             "used)")
            return None
        parts = urlsplit(request.path)
        try:
            episode = self.player.pick(parts.path, parts.query)
        except ReplayError as exc:
            self.player.emit(f"{peer}: GET {request.path}: answered HTTP 404: {exc}")
            return connection.respond(HTTPStatus.NOT_FOUND, str(exc) + "\n")
        except CassetteError as exc:
            self.player.emit(f"{peer}: GET {request.path}: answered HTTP 500: {exc}")
            return connection.respond(HTTPStatus.INTERNAL_SERVER_ERROR, str(exc) + "\n")
        label = f"#{self.player.connections}"
        status = episode.connect.status
        if status != 101:
            refusal = _refusal(status)
            odd = f" (not an HTTP status: answered {refusal.status_code})" \
                if refusal.status_code != status else ""
            self.player.emit(f"{label} connected from {peer}: GET {request.path} -> episode "
                             f"{episode.conn}: refused with HTTP {status}, as recorded{odd}")
            return refusal
        self.player.emit(f"{label} connected from {peer}: GET {request.path} -> episode "
                         f"{episode.conn}")
        self._episodes[id(connection)] = (episode, label)
        return None

    async def _handle(self, ws: ServerConnection) -> None:
        chosen = self._episodes.pop(id(ws), None)
        if chosen is None:
            return
        episode, label = chosen
        task = asyncio.current_task()
        if task is not None:
            self._tasks.add(task)
        try:
            tap, timeout = self.on_frame, self.player.timeout
            link = _WebSocketLink(ws, timeout) if tap is None else \
                _TappedLink(ws, timeout, episode.conn, tap)
            await drive(self.player, self.player.engine(episode), link, label)
        finally:
            if task is not None:
                self._tasks.discard(task)

    def _index_in_background(self) -> None:
        try:
            self.cassette.index_all(step=4 << 20, stop=lambda: self._stopping)
        except CassetteError as exc:
            self.cassette_error = exc
            self.player.emit(f"error: {exc}")

    async def start(self) -> ReplayServer:
        """Start listening (the context manager calls this)."""
        self._server = await serve(
            self._handle, self.host, self.port,
            process_response=self._process_response,
            select_subprotocol=self._select_subprotocol,
            # oversize messages get the API's error event, not a close; far larger ones 1009
            max_size=4 * max(self.player.max_message, DEFAULT_MAX_MESSAGE),
            compression=None,
            logger=_HandshakeLog(self.player.emit),
        )
        self.port = self._server.sockets[0].getsockname()[1]
        if self.cassette.lazy:
            self._indexer = asyncio.get_running_loop().run_in_executor(
                None, self._index_in_background)
        return self

    async def stop(self) -> None:
        """Stop serving; connections still open are closed."""
        self._stopping = True
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None
        if self._indexer is not None:
            await self._indexer
            self._indexer = None

    async def __aenter__(self) -> ReplayServer:
        return await self.start()

    async def __aexit__(self, exc_type: Any, exc: Any, tb: Any) -> None:
        await self.stop()
        if exc_type is None:
            self.player.end()
        elif isinstance(exc, Exception) and self.errors and self.errors[0] is not exc:
            # the client usually notices a mismatch as a timeout: report the cause
            first = self.errors[0]
            self.player.reported(first)
            raise first from exc


def _peer(connection: Any) -> str:
    address = connection.remote_address
    if isinstance(address, tuple) and len(address) >= 2:
        return f"{address[0]}:{address[1]}"
    return str(address or "?")


def _refusal(status: int) -> Response:
    """The recorded handshake refusal; a status clients cannot take (outside 100-599, or
    101) is answered 502."""
    body = b"refused, as recorded\n"
    if not 100 <= status <= 599 or status == 101:
        body = f"refused, as recorded, with {status}, which is not an HTTP status\n".encode()
        status = 502
    try:
        phrase = HTTPStatus(status).phrase
    except ValueError:
        phrase = "Refused"
    headers = Headers([("Content-Type", "text/plain; charset=utf-8"),
                       ("Content-Length", str(len(body))), ("Connection", "close")])
    return Response(status, phrase, headers, body)

