"""A WebSocket server shell on `websockets`' sans-I/O `ServerProtocol`, driven by rtkit's own
asyncio protocol.

`websockets` documents its sans-I/O layer (`receive_data`, `events_received`, `send_text`,
`data_to_send`, ...) as public and stable; the asyncio connection's internals (its transport,
its write queue, its flow-control state) are not. The replay server and the fake API need what
the asyncio API does not offer (frames written in ~64 KB batches, a close that can drop the TCP
connection as a recorded peer did, reading on while a close handshake runs), so they own their
sockets here and use only that public layer, as the recording proxy does.

One `WSConnection` per TCP connection: it parses the opening handshake, asks the server's
`on_request` what to answer, then runs the server's `handler(connection)` in a task. The
handler reads messages with `recv()` and writes with `send_text`/`send_texts`/`send_binary`,
which wait (up to a timeout) while the client does not read. Pings are answered by the
protocol; incoming data is read, and discarded, until the TCP connection ends, so a client's
close is always seen. A handler that raises gets the connection closed with 1011 and a
one-line reason, and the server's `on_error` a line naming the cause; never a traceback.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import deque
from collections.abc import Awaitable, Callable, Iterable, Sequence
from typing import Any

from websockets.frames import Frame, Opcode
from websockets.http11 import Request, Response
from websockets.protocol import State
from websockets.server import ServerProtocol
from websockets.typing import Subprotocol

from rtkit.server.frames import text_frame_header
from rtkit.transport.base import Close

__all__ = ["Stalled", "WSConnection", "WSServer"]

WRITE_CHUNK = 64 * 1024  # bytes of frames gathered into one transport write
YIELD_EVERY = 16  # writes without waiting before letting other connections run
READ_LIMIT = 4 << 20  # queued, unread client bytes before reading pauses
CLOSE_TIMEOUT = 5.0  # seconds a closing handshake or TCP close may take before an abort

_log = logging.getLogger("rtkit.server")

Handler = Callable[["WSConnection"], Awaitable[None]]
OnRequest = Callable[["WSConnection", Request, Response], "Response | None"]
SelectSubprotocol = Callable[["WSConnection", Sequence[str]], "str | None"]


class Stalled(Exception):
    """A send waited longer than its timeout for the client to read."""


class WSConnection(asyncio.Protocol):
    """One server-side WebSocket connection (an asyncio protocol around `ServerProtocol`).

    After the handshake, `request` is the client's request and `subprotocol` the one chosen.
    `recv()` gives text messages as `str`, binary ones as `bytes`, then a `Close` once the
    client closed (`code` None when the connection dropped without a close frame)."""

    def __init__(self, server: WSServer) -> None:
        self.server = server
        self.request: Request | None = None
        self.transport: asyncio.Transport | None = None
        self.protocol = ServerProtocol(
            max_size=server.max_size, logger=server.logger,
            # a plain function: the protocol binds it to itself, as a method
            select_subprotocol=(lambda _protocol, offered: self._select(offered))
            if server.select_subprotocol else None)
        self.closed: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.received_close: Close | None = None  # the client's close frame, once it came
        self._subprotocol: str | None = None
        self._messages: deque[str | bytes] = deque()
        self._queued = 0  # bytes in _messages
        self._fragments: list[bytes] = []
        self._fragment_text = False
        self._waiter: asyncio.Future[None] | None = None
        self._writable: asyncio.Future[None] | None = None  # set while writing is paused
        self._paused_reading = False
        self._discard = False  # the handler is done with reading: drop what comes
        self._writes = 0
        self._open_timer: asyncio.TimerHandle | None = None
        self._close_timer: asyncio.TimerHandle | None = None
        self._task: asyncio.Task[None] | None = None

    # -- what handlers read ----------------------------------------------------------------

    @property
    def remote_address(self) -> Any:
        """The client's address, as the socket gives it (host, port)."""
        if self.transport is None:
            return None
        return self.transport.get_extra_info("peername")

    @property
    def peer(self) -> str:
        """The client's address as `host:port`."""
        address = self.remote_address
        if isinstance(address, tuple) and len(address) >= 2:
            return f"{address[0]}:{address[1]}"
        return str(address or "?")

    @property
    def subprotocol(self) -> str | None:
        """The subprotocol chosen in the handshake, if any."""
        return self._subprotocol

    def reject(self, status: int, text: str) -> Response:
        """An HTTP response refusing the handshake (for `on_request` to return)."""
        return self.protocol.reject(status, text)

    @property
    def open(self) -> bool:
        """True while data frames can be sent."""
        return self.protocol.state is State.OPEN and not self.closed.done()

    # -- asyncio protocol ------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        self.server.connections.add(self)
        loop = asyncio.get_running_loop()
        self._open_timer = loop.call_later(self.server.open_timeout, self._handshake_timeout)

    def data_received(self, data: bytes) -> None:
        protocol = self.protocol
        protocol.receive_data(data)
        events = protocol.events_received()
        self._flush()
        for event in events:
            if isinstance(event, Request):
                self._handshake(event)
            elif isinstance(event, Frame):
                self._frame(event)
        self._check_ended()

    def eof_received(self) -> bool | None:
        self.protocol.receive_eof()
        self._flush()
        self._check_ended()
        # the protocol wrote what it had to (its close frame at most): the WebSocket closing
        # handshake never needs to write after the peer's EOF, so the transport closes now
        return False

    def connection_lost(self, exc: Exception | None) -> None:
        self.server.connections.discard(self)
        for timer in (self._open_timer, self._close_timer):
            if timer is not None:
                timer.cancel()
        if not self.closed.done():
            self.closed.set_result(None)
        self._wake()
        if self._writable is not None and not self._writable.done():
            self._writable.set_result(None)

    def pause_writing(self) -> None:
        if self._writable is None or self._writable.done():
            self._writable = asyncio.get_running_loop().create_future()

    def resume_writing(self) -> None:
        if self._writable is not None and not self._writable.done():
            self._writable.set_result(None)

    # -- handshake -------------------------------------------------------------------------

    def _select(self, offered: Sequence[Subprotocol]) -> Subprotocol | None:
        select = self.server.select_subprotocol
        chosen = select(self, [str(p) for p in offered]) if select is not None else None
        self._subprotocol = chosen
        return Subprotocol(chosen) if chosen is not None else None

    def _handshake(self, request: Request) -> None:
        if self._open_timer is not None:
            self._open_timer.cancel()
            self._open_timer = None
        self.request = request
        protocol = self.protocol
        response = protocol.accept(request)
        try:
            answer = self.server.on_request(self, request, response)
        except Exception as exc:  # the hook failed: answer 500, report one line
            self.server.report(f"{self.peer}: GET {request.path}: answered HTTP 500: "
                               f"{type(exc).__name__}: {exc}")
            answer = protocol.reject(500, "rtkit: internal error\n")
        if answer is not None:
            response = answer
        protocol.send_response(response)
        self._flush()
        if response.status_code != 101 or protocol.state is not State.OPEN:
            self._close_transport()
            return
        self._task = asyncio.ensure_future(self._run())
        self.server.tasks.add(self._task)
        self._task.add_done_callback(self.server.tasks.discard)

    def _handshake_timeout(self) -> None:
        self._open_timer = None
        if self.request is None and self.transport is not None:
            self.transport.abort()  # no complete request in time: a scan or a stuck client

    async def _run(self) -> None:
        try:
            await self.server.handler(self)
        except Exception as exc:
            reason = f"rtkit: internal error: {type(exc).__name__}"
            self.server.report(f"error: {self.peer}: the connection failed "
                               f"({type(exc).__name__}: {exc}); closed with 1011")
            with contextlib.suppress(Exception):
                await self.close(1011, reason[:120])
        finally:
            self._discard = True
            self._messages.clear()
            self._queued = 0
            self._resume_reading()

    # -- frames in -------------------------------------------------------------------------

    def _frame(self, frame: Frame) -> None:
        opcode = frame.opcode
        if opcode is Opcode.TEXT or opcode is Opcode.BINARY:
            if frame.fin:
                self._message(bytes(frame.data), opcode is Opcode.TEXT)
            else:
                self._fragments, self._fragment_text = [bytes(frame.data)], \
                    opcode is Opcode.TEXT
        elif opcode is Opcode.CONT:
            self._fragments.append(bytes(frame.data))
            if frame.fin:
                data, self._fragments = b"".join(self._fragments), []
                self._message(data, self._fragment_text)
        elif opcode is Opcode.CLOSE:
            self.received_close = _parse_close(bytes(frame.data))
            self._wake()

    def _message(self, data: bytes, text: bool) -> None:
        if self._discard:
            return
        if text:
            try:
                message: str | bytes = data.decode("utf-8")
            except UnicodeDecodeError:
                self.protocol.fail(1007, "invalid UTF-8 in a text frame")
                self._flush()
                return
        else:
            message = data
        self._messages.append(message)
        self._queued += len(data)
        if self._queued > READ_LIMIT and self.transport is not None and \
                not self._paused_reading:
            self._paused_reading = True
            self.transport.pause_reading()
        self._wake()

    def _resume_reading(self) -> None:
        if self._paused_reading and self.transport is not None and \
                not self.transport.is_closing():
            self._paused_reading = False
            self.transport.resume_reading()

    def _wake(self) -> None:
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_result(None)

    async def recv(self, timeout: float | None = None) -> str | bytes | Close | None:
        """The next message; a `Close` once the client closed or the connection ended; None
        when `timeout` seconds passed first."""
        while not self._messages:
            if self.received_close is not None:
                return self.received_close
            if self.closed.done() or self.protocol.state is State.CLOSED:
                return Close(None, "connection dropped without a close frame", "client")
            self._waiter = asyncio.get_running_loop().create_future()
            try:
                await asyncio.wait_for(asyncio.shield(self._waiter), timeout)
            except TimeoutError:
                return None
            finally:
                self._waiter = None
        message = self._messages.popleft()
        self._queued -= len(message)
        if self._queued <= READ_LIMIT // 2:
            self._resume_reading()
        return message

    # -- frames out ------------------------------------------------------------------------

    def _flush(self) -> None:
        """Write what the protocol has to send; half-close when it says the stream ends."""
        transport = self.transport
        if transport is None:
            return
        chunks = self.protocol.data_to_send()
        if not chunks:
            return
        data = [c for c in chunks if c]
        if data and not transport.is_closing():
            transport.write(b"".join(data) if len(data) > 1 else data[0])
        if len(data) < len(chunks):  # the protocol's end of stream
            if transport.can_write_eof() and not transport.is_closing():
                transport.write_eof()
            self._expect_close()

    def _expect_close(self) -> None:
        """The client should now close TCP; abort if it does not in time."""
        if self._close_timer is None and not self.closed.done():
            loop = asyncio.get_running_loop()
            self._close_timer = loop.call_later(CLOSE_TIMEOUT, self.abort)

    def _check_ended(self) -> None:
        protocol = self.protocol
        if self.request is None and protocol.handshake_exc is not None and \
                self.transport is not None and not self.transport.is_closing():
            cause = protocol.handshake_exc.__cause__
            self.server.report(f"{self.peer}: the opening handshake failed: "
                               f"{protocol.handshake_exc}" + (f" ({cause})" if cause else ""))
            self._close_transport()
        if protocol.state is State.CLOSED or protocol.close_expected():
            self._expect_close()
        self._wake()

    async def _written(self, timeout: float | None) -> bool:
        """Wait while the transport's buffer is full; False when the connection is gone."""
        if self.closed.done():
            return False
        writable = self._writable
        if writable is not None and not writable.done():
            try:
                await asyncio.wait_for(asyncio.shield(writable), timeout)
            except TimeoutError:
                raise Stalled from None
            return not self.closed.done()
        self._writes += 1
        if self._writes % YIELD_EVERY == 0:
            await asyncio.sleep(0)  # let other connections (and this one's reader) run
        return True

    async def send_texts(self, payloads: Iterable[bytes | memoryview],
                         timeout: float | None = None) -> bool:
        """Send text frames given as UTF-8 bytes, in order, in ~64 KB writes; False when the
        connection is closing (what was not sent is dropped). Raises `Stalled` when the
        client read nothing for `timeout` seconds while frames were waiting."""
        protocol, transport = self.protocol, self.transport
        if transport is None:
            return False
        # rtkit frames these itself: no extension is negotiated, so a server's text frame is
        # a header and the payload, and the protocol tracks nothing about data frames it did
        # not send; its own output (pongs, a close) is written first, keeping the order.
        # Through `protocol.send_text` each frame cost ~1.3 us more (server CPU 0.62x a bare
        # websockets server instead of 0.44x, benchmarks/replay_throughput.py).
        self._flush()
        parts: list[bytes | memoryview] = []
        size = 0
        for data in payloads:
            if protocol.state is not State.OPEN or transport.is_closing():
                return False
            parts.append(text_frame_header(len(data)))
            parts.append(data)
            size += len(data)
            if size >= WRITE_CHUNK:
                transport.write(b"".join(parts))
                parts.clear()
                size = 0
                if not await self._written(timeout):
                    return False
        if parts:
            transport.write(b"".join(parts))
            return await self._written(timeout)
        return True

    async def send_text(self, data: bytes | memoryview, timeout: float | None = None) -> bool:
        """Send one text frame (UTF-8 bytes); see `send_texts`."""
        return await self.send_texts((data,), timeout)

    async def send_binary(self, data: bytes | memoryview, timeout: float | None = None) -> bool:
        """Send one binary frame; see `send_texts`."""
        if self.protocol.state is not State.OPEN or self.transport is None or \
                self.transport.is_closing():
            return False
        self.protocol.send_binary(data)
        self._flush()
        return await self._written(timeout)

    # -- closing ---------------------------------------------------------------------------

    async def close(self, code: int | None = 1000, reason: str = "",
                    timeout: float = CLOSE_TIMEOUT) -> None:
        """Close as a peer would: `code` None (or 1006) drops the TCP connection without a
        close frame; 1005 sends a close frame without a status code; anything else a close
        frame with that code and reason. Then wait, reading and discarding what the client
        still sends, until the client answered and the TCP connection ended (aborted after
        `timeout` seconds)."""
        self._discard = True
        self._messages.clear()
        self._queued = 0
        self._resume_reading()
        if code is None or code == 1006:
            self.abort()
            return
        protocol = self.protocol
        if protocol.state is State.OPEN:
            if code == 1005:
                protocol.send_close()
            else:
                protocol.send_close(code, reason)
            self._flush()
            self._check_ended()
        try:
            await asyncio.wait_for(asyncio.shield(self.closed), timeout)
        except TimeoutError:
            self.abort()

    def abort(self) -> None:
        """Drop the TCP connection now."""
        if self.transport is not None and not self.closed.done():
            self.transport.abort()

    def _close_transport(self) -> None:
        """Close after what is queued was written (a refused or failed handshake)."""
        if self.transport is not None and not self.transport.is_closing():
            self.transport.close()
        self._expect_close()


def _parse_close(payload: bytes) -> Close:
    """The client's close frame as rtkit's `Close` (1005 when it carried no code)."""
    if len(payload) < 2:
        return Close(1005, "", "client")
    return Close(int.from_bytes(payload[:2], "big"),
                 payload[2:].decode("utf-8", "replace"), "client")


class WSServer:
    """Listen on `host:port`; each connection's handshake goes to `on_request(connection,
    request, response)` (`response` is what websockets would answer; return another one to
    refuse, or None to accept), then `handler(connection)` runs until the connection ends.
    `select_subprotocol(connection, offered)` chooses a subprotocol; `report(line)` gets
    one line per problem (a failed handshake, a handler that raised)."""

    def __init__(self, handler: Handler, *, on_request: OnRequest | None = None,
                 select_subprotocol: SelectSubprotocol | None = None,
                 report: Callable[[str], None] | None = None, max_size: int | None = None,
                 open_timeout: float = 10.0, logger: logging.Logger | None = None) -> None:
        self.handler = handler
        self.on_request = on_request or (lambda connection, request, response: None)
        self.select_subprotocol = select_subprotocol
        self.report = report or (lambda line: _log.warning("%s", line))
        self.max_size = max_size
        self.open_timeout = open_timeout
        self.logger = logger or logging.getLogger("rtkit.server.websockets")
        self.connections: set[WSConnection] = set()
        self.tasks: set[asyncio.Task[None]] = set()
        self._server: asyncio.Server | None = None

    @property
    def port(self) -> int:
        """The port listened on."""
        assert self._server is not None, "not started"
        return int(self._server.sockets[0].getsockname()[1])

    async def start(self, host: str, port: int) -> WSServer:
        """Start listening."""
        loop = asyncio.get_running_loop()
        self._server = await loop.create_server(lambda: WSConnection(self), host, port)
        return self

    async def stop(self, code: int = 1001, reason: str = "going away",
                   timeout: float = CLOSE_TIMEOUT) -> None:
        """Stop listening; close open connections (`code`, `reason`) and wait for their
        handlers to end (cancelled after `timeout` seconds)."""
        if self._server is not None:
            self._server.close()
        open_ = [c for c in self.connections if c.open]
        if open_:
            await asyncio.gather(*(c.close(code, reason, timeout) for c in open_),
                                 return_exceptions=True)
        for connection in list(self.connections):
            if connection.request is None or not connection.open:
                connection.abort()
        if self.tasks:
            _, late = await asyncio.wait(list(self.tasks), timeout=timeout)
            for task in late:
                task.cancel()
            if late:
                await asyncio.wait(late, timeout=1)
        if self._server is not None:
            await self._server.wait_closed()
            self._server = None
