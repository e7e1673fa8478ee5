"""Reading WebSocket messages off a byte stream that is being relayed unchanged.

The recording proxy forwards the bytes of an open connection as they come and reads the
frames on the side, to record them. `websockets`' own parser (its sans-I/O `Protocol`) costs
about 8 us per 100 ms audio frame through its generator-based reader and copies each payload
twice; this reader does only what a side-reader needs (frame boundaries, masks, fragmented
messages, close frames; pings and pongs are skipped) and hands out a payload as a span of the
chunk it arrived in, so an audio delta is copied once, into the cassette. Masks are removed
with numpy (client frames are the small direction; a 6 KB audio append takes ~2 us). No
extension is negotiated through the proxy, so RSV bits are never set.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np

__all__ = ["BINARY", "CLOSE", "TEXT", "FrameReader", "Message", "apply_mask", "close_frame"]

CONTINUATION, TEXT, BINARY, CLOSE = 0x0, 0x1, 0x2, 0x8
_MAX_HEADER = 14  # 2 bytes, an 8-byte length, a 4-byte mask


@dataclass(slots=True)
class Message:
    """A whole message: its payload is `buf[start:end]` (not copied out of the chunk).

    `opcode` is `TEXT` (UTF-8, not yet decoded), `BINARY` or `CLOSE` (then `code` and
    `reason` are set; code 1005 when the frame carried none)."""

    opcode: int
    buf: bytes | bytearray
    start: int
    end: int
    code: int | None = None
    reason: str = ""

    @property
    def data(self) -> bytes | bytearray:
        """The payload (bytes, or a bytearray once unmasked)."""
        if self.start == 0 and self.end == len(self.buf):
            return self.buf
        return self.buf[self.start:self.end]


def apply_mask(data: bytes | memoryview, mask: bytes | memoryview) -> bytearray:
    """`data` XOR the 4-byte `mask` repeated (RFC 6455 5.3: masking and unmasking are the
    same operation): one copy, XORed in place four bytes at a time."""
    out = bytearray(data)
    whole = len(out) & ~3
    if whole:
        words = np.frombuffer(out, np.uint32, whole // 4)
        words ^= np.frombuffer(bytes(mask), np.uint32)[0]
    for i in range(whole, len(out)):
        out[i] ^= mask[i & 3]
    return out


def close_frame(code: int, reason: str, *, mask: bool) -> bytes:
    """A whole close frame with `code` and `reason` (masked as a client's must be)."""
    payload = code.to_bytes(2, "big") + reason.encode("utf-8")[:123]
    head = bytes((0x88, len(payload) | (0x80 if mask else 0)))
    if not mask:
        return head + payload
    key = os.urandom(4)
    return head + key + bytes(apply_mask(payload, key))


def _frame_size(buf: bytes | bytearray) -> int | None:
    """Length of the frame at the start of `buf`, or None if its header is incomplete."""
    n = len(buf)
    if n < 2:
        return None
    length, j = buf[1] & 0x7F, 2
    if length == 126:
        if n < 4:
            return None
        length, j = int.from_bytes(buf[2:4], "big"), 4
    elif length == 127:
        if n < 10:
            return None
        length, j = int.from_bytes(buf[2:10], "big"), 10
    return j + (4 if buf[1] & 0x80 else 0) + length


class FrameReader:
    """Incremental frame parser: `feed(bytes)` returns the messages completed by them."""

    __slots__ = ("_fragments", "_opcode", "_rest", "_size")

    def __init__(self) -> None:
        self._rest = bytearray()  # the start of a frame that has not fully arrived
        self._size: int | None = None  # that frame's whole size, once its header is in
        self._opcode: int | None = None  # opcode of the fragmented message in progress
        self._fragments: list[bytes] = []

    @property
    def at_boundary(self) -> bool:
        """True between frames: a frame may be injected into the stream here."""
        return not self._rest

    def feed(self, data: bytes) -> list[Message]:
        """Take the next bytes of the stream; return the messages they complete.

        A frame that spans chunks is gathered in one buffer that only grows at its end, and
        sized once from its header: linear in the frame's size, however many chunks."""
        out: list[Message] = []
        rest = self._rest
        if rest:  # complete the pending frame, copying only its own bytes
            size = self._size
            if size is None:  # its header may straddle chunks: it is in the first 14 bytes
                size = self._size = _frame_size(bytes(rest[:_MAX_HEADER]) + data[:_MAX_HEADER])
            if size is None or len(rest) + len(data) < size:
                rest += data
                return out
            missing = size - len(rest)
            rest += data[:missing]
            data = data[missing:]
            self._rest, self._size = bytearray(), None
            self._parse(bytes(rest), out)
        end = self._parse(data, out)
        if end < len(data):
            self._rest = bytearray(data[end:])
        return out

    def _parse(self, buf: bytes, out: list[Message]) -> int:
        """Read the whole frames at the start of `buf`; return where the first partial one
        starts (len(buf) when none is)."""
        n, i = len(buf), 0
        while n - i >= 2:
            b0, b1 = buf[i], buf[i + 1]
            length = b1 & 0x7F
            j = i + 2
            if length == 126:
                if n - j < 2:
                    break
                length = int.from_bytes(buf[j:j + 2], "big")
                j += 2
            elif length == 127:
                if n - j < 8:
                    break
                length = int.from_bytes(buf[j:j + 8], "big")
                j += 8
            mask = b""
            if b1 & 0x80:
                if n - j < 4:
                    break
                mask = buf[j:j + 4]
                j += 4
            if n - j < length:
                break
            i = j + length
            if mask:
                payload = apply_mask(memoryview(buf)[j:i], mask)
                span = (payload, 0, length)
            else:
                span = (buf, j, i)
            if b0 == 0x81 and self._opcode is None:  # a whole text message: the common case
                out.append(Message(TEXT, *span))
            else:
                self._frame(b0 & 0x80, b0 & 0x0F, span, out)
        return i

    def _frame(self, fin: int, opcode: int, span: tuple[bytes | bytearray, int, int],
               out: list[Message]) -> None:
        buf, start, end = span
        if opcode == CLOSE:
            payload = buf[start:end]
            code = int.from_bytes(payload[:2], "big") if len(payload) >= 2 else 1005
            out.append(Message(CLOSE, payload, 0, len(payload), code,
                               payload[2:].decode("utf-8", "replace")))
            return
        if opcode > BINARY:  # ping, pong
            return
        if opcode != CONTINUATION:
            self._opcode, self._fragments = opcode, []
        elif self._opcode is None:
            return  # a continuation with nothing to continue: a broken stream, nothing to keep
        self._fragments.append(buf[start:end])
        if not fin:
            return
        data = b"".join(self._fragments)
        kind, self._opcode, self._fragments = self._opcode, None, []
        out.append(Message(kind, data, 0, len(data)))
