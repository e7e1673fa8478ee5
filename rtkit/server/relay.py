"""Two TCP connections joined byte for byte, with a tap on each direction.

Once both WebSocket handshakes are done, the recording proxy's two connections carry frames
that are valid on both links unchanged. `Side` is the asyncio protocol of one connection: it
first collects the bytes of its HTTP handshake (`read_until`, `read_more`), then, joined to
its peer by `Relay`, writes every chunk it receives to the peer at once and only then hands
it to the tap. It is a `BufferedProtocol`: the kernel copies into a fixed buffer and each
chunk is copied once more, into the bytes that are forwarded and tapped. That buffer is one per
thread, shared by every connection: asyncio fills it and hands it back in one call
(`get_buffer`, the read, `buffer_updated`), so no two reads ever use it at once, and a
connection allocates no 64 KB of its own (128 KB a connection, which glibc's allocator kept
long after the connections ended: `rtkit record` grew 130 MB per 1,000 connections).

Nothing the tap does can stop the forwarding: an exception it raises goes to `on_error`
and the next chunk is forwarded as usual. Flow control: when one side's outgoing buffer is
over its high-water mark, the other side stops reading until it drains, so a peer that does
not read holds back its sender instead of filling the proxy's memory.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable

__all__ = ["CHUNK", "Relay", "Side"]

CHUNK = 1 << 16  # bytes read per step
LINGER = 5.0  # seconds a closing side may take to flush before it is aborted

Tap = Callable[[str, bytes], None]  # (direction, data)
_BUFFERS = threading.local()


def _read_buffer() -> memoryview:
    """This thread's receive buffer (see the module docstring)."""
    buffer: memoryview | None = getattr(_BUFFERS, "buffer", None)
    if buffer is None:
        buffer = _BUFFERS.buffer = memoryview(bytearray(CHUNK))
    return buffer
OnError = Callable[[str, BaseException], None]


class Side(asyncio.BufferedProtocol):
    """One TCP connection of the proxy. `direction` names who sends what it reads:
    "client" for the downstream connection, "server" for the upstream one."""

    def __init__(self, direction: str,
                 on_connect: Callable[[Side], None] | None = None) -> None:
        self.direction = direction
        self.on_connect = on_connect
        self.transport: asyncio.Transport | None = None
        self.relay: Relay | None = None
        self.pending = bytearray()  # bytes read before the relay starts
        self.eof = False
        self.lost: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._buffer = _read_buffer()
        self._waiter: asyncio.Future[None] | None = None
        self._pending_limit = CHUNK
        self._eof_sent = False  # this side was half-closed: nothing more can be written
        self._linger: asyncio.TimerHandle | None = None  # the abort a close schedules

    # -- asyncio protocol ------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        if self.on_connect is not None:
            self.on_connect(self)

    def get_buffer(self, sizehint: int) -> memoryview:
        return self._buffer

    def buffer_updated(self, nbytes: int) -> None:
        data = bytes(self._buffer[:nbytes])
        relay = self.relay
        if relay is not None:
            relay.received(self, data)
            return
        self.pending += data
        if len(self.pending) > self._pending_limit and self.transport is not None:
            self.transport.pause_reading()  # nobody is reading yet: hold the sender back
        self._wake()

    def eof_received(self) -> bool:
        self.eof = True
        self._wake()
        if self.relay is not None:
            self.relay.ended(self, half=True)
            # a half-close: what the peer still sends (the reply to a close frame) must reach
            # this side, so its write half stays open until the peer ends too
            return True
        return False  # close this transport (after what it still has to write)

    def connection_lost(self, exc: Exception | None) -> None:
        self.eof = True
        self._wake()
        if self._linger is not None:  # a pending abort would keep this side (and its relay)
            self._linger.cancel()     # alive for LINGER seconds after it ended
            self._linger = None
        if not self.lost.done():
            self.lost.set_result(None)
        if self.relay is not None:
            self.relay.ended(self)

    def pause_writing(self) -> None:
        if self.relay is not None:
            self.relay.peer(self).pause_reading()

    def resume_writing(self) -> None:
        if self.relay is not None:
            self.relay.peer(self).resume_reading()

    # -- handshake reads -------------------------------------------------------------------

    def _wake(self) -> None:
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_result(None)

    async def read_more(self) -> bool:
        """Wait until more bytes are pending or the stream ended; False at its end."""
        if self.eof:
            return False
        size = len(self.pending)
        self.resume_reading()
        while len(self.pending) == size and not self.eof:
            self._waiter = asyncio.get_running_loop().create_future()
            try:
                await self._waiter
            finally:
                self._waiter = None
        return len(self.pending) > size

    async def read_until(self, separator: bytes, limit: int) -> bytes | None:
        """The pending bytes up to and including `separator` (taken out of `pending`); None
        when the stream ends first or `limit` bytes come without it."""
        start = 0
        while True:
            at = self.pending.find(separator, start)
            if at >= 0:
                end = at + len(separator)
                head = bytes(self.pending[:end])
                del self.pending[:end]
                return head
            if len(self.pending) >= limit:
                return None
            start = max(0, len(self.pending) - len(separator) + 1)
            if not await self.read_more():
                return None

    # -- control ---------------------------------------------------------------------------

    def write(self, data: bytes) -> None:
        if self.transport is not None and not self.transport.is_closing() \
                and not self._eof_sent:
            self.transport.write(data)

    def pause_reading(self) -> None:
        if self.transport is not None and not self.transport.is_closing():
            self.transport.pause_reading()

    def resume_reading(self) -> None:
        if self.transport is not None and not self.transport.is_closing():
            self.transport.resume_reading()

    def write_eof(self) -> None:
        """Half-close: no more bytes to this side (its answer can still be read); a full
        close where the transport cannot (TLS)."""
        transport = self.transport
        if transport is None or transport.is_closing():
            return
        if transport.can_write_eof():
            if not self._eof_sent:
                self._eof_sent = True
                transport.write_eof()
        else:
            self.close()

    def close(self) -> None:
        """Close after what is queued has been written (aborted if that takes too long)."""
        transport = self.transport
        if transport is None or transport.is_closing():
            return
        transport.close()
        self._linger = asyncio.get_running_loop().call_later(LINGER, self.abort)

    def abort(self) -> None:
        """Drop the connection now."""
        if self.transport is not None and not self.lost.done():
            self.transport.abort()


class Relay:
    """Forwards between `down` (the client's connection) and `up` (the upstream's) and taps
    each chunk after it is forwarded (before, with `tap_first`: then whatever the tap tells
    an observer is known before the peer can have the bytes). `done` is set once both
    connections are closed."""

    def __init__(self, down: Side, up: Side, tap: Tap, on_error: OnError,
                 tap_first: bool = False) -> None:
        self.down, self.up = down, up
        self.tap, self.on_error, self.tap_first = tap, on_error, tap_first
        self.t0 = time.monotonic()
        self.first_to_end: str | None = None  # the direction whose connection ended first
        self.done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._watch: asyncio.Task[None] | None = None
        self._linger: asyncio.TimerHandle | None = None  # the abort a half-close schedules

    def peer(self, side: Side) -> Side:
        return self.up if side is self.down else self.down

    def start(self) -> None:
        """Join the sides: bytes read during the handshakes go first, then the stream."""
        self._watch = asyncio.ensure_future(self._both_lost())
        for side in (self.down, self.up):
            side.relay = self
        for side in (self.down, self.up):
            if side.pending:
                data, side.pending = bytes(side.pending), bytearray()
                self.received(side, data)
            side.resume_reading()
        for side in (self.down, self.up):
            if side.eof or side.lost.done():
                self.ended(side)

    def received(self, side: Side, data: bytes) -> None:
        if not self.tap_first:
            self.peer(side).write(data)  # forward first: recording adds no latency
        try:
            self.tap(side.direction, data)
        except Exception as exc:  # whatever recording does, relaying goes on
            self.on_error(side.direction, exc)
        if self.tap_first:
            self.peer(side).write(data)

    def ended(self, side: Side, half: bool = False) -> None:
        """`side` reached its end: lost (close the other one after its queue), or only its
        sending half (`half`: pass the half-close on, so that the peer's answer, such as the
        reply to a close frame, still reaches it; both are closed once the peer ends too, or
        after LINGER seconds)."""
        if self.first_to_end is None:
            self.first_to_end = side.direction
        peer = self.peer(side)
        if half and not peer.eof:
            peer.write_eof()
            if self._linger is None:
                self._linger = asyncio.get_running_loop().call_later(LINGER, self._linger_over)
            return
        peer.close()
        side.close()

    def _linger_over(self) -> None:
        for side in (self.down, self.up):
            side.abort()

    async def _both_lost(self) -> None:
        await asyncio.gather(self.down.lost, self.up.lost)
        if self._linger is not None:  # both ended: nothing left to abort
            self._linger.cancel()
            self._linger = None
        self.done.set_result(None)

    def ms(self) -> float:
        """Milliseconds since the relay started."""
        return (time.monotonic() - self.t0) * 1000
