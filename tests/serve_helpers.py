"""Helpers for the replay-server tests: cassettes written by hand, `rtkit serve` as a
subprocess, a correct client session, and a raw socket client for what websockets' own
client will not do (requests without an upgrade, invalid UTF-8, a client that never reads)."""

from __future__ import annotations

import asyncio
import base64
import json
import os
import socket
import subprocess
from pathlib import Path

from websockets.asyncio.client import connect
from websockets.frames import Opcode
from websockets.protocol import Protocol, Side, State

from rtkit.cassette import CassetteWriter
from rtkit.transport.websocket import loopback_kwargs
from tests.rtkit_process import RTKIT

QUERY = "model=gpt-realtime"


def server_events(k: int, deltas: int = 3, delta_bytes: int = 0) -> list[str]:
    """Episode `k`'s answer: response.created, text deltas (or audio deltas of
    `delta_bytes` base64 characters each), response.done."""
    out = [json.dumps({"type": "response.created", "event_id": f"ev_{k}_0",
                       "response": {"id": f"resp_{k}"}})]
    for d in range(deltas):
        if delta_bytes:
            out.append(json.dumps({"type": "response.output_audio.delta", "event_id":
                                   f"ev_{k}_{d + 1}", "response_id": f"resp_{k}",
                                   "delta": base64.b64encode(bytes([k % 256, d % 256]) *
                                                             (delta_bytes * 3 // 8)).decode()}))
        else:
            out.append(json.dumps({"type": "response.output_text.delta", "event_id":
                                   f"ev_{k}_{d + 1}", "response_id": f"resp_{k}",
                                   "delta": f"answer {k} part {d} "}))
    out.append(json.dumps({"type": "response.done", "event_id": f"ev_{k}_done",
                           "response": {"id": f"resp_{k}", "status": "completed"}}))
    return out


def user_text(k: int) -> str:
    return json.dumps({"type": "conversation.item.create", "item": {
        "type": "message", "role": "user", "content": [{"type": "input_text",
                                                        "text": f"question {k}"}]}})


def write_sessions(path: Path, episodes: int, *, per_episode_query: bool = False,
                   deltas: int = 3, delta_bytes: int = 0) -> Path:
    """A cassette of `episodes` text turns; episode k asks "question k" and hears "answer k"
    (with `per_episode_query`, episode k is recorded for `?model=gpt-realtime&n=k`)."""
    with CassetteWriter(path, dialect="ga", model="gpt-realtime") as w:
        for k in range(episodes):
            w.connect(k, query=f"{QUERY}&n={k}" if per_episode_query else QUERY)
            w.event(k, "server", 1, json.dumps({"type": "session.created",
                                                "event_id": f"ev_{k}_s",
                                                "session": {"id": f"sess_{k}"}}))
            w.event(k, "client", 2, user_text(k))
            w.event(k, "client", 3, '{"type":"response.create"}')
            for i, text in enumerate(server_events(k, deltas, delta_bytes)):
                w.event(k, "server", 4 + i, text)
            w.close(k, 50 + deltas, 1000, "", "client")
    return path


async def good_session(url: str, k: int, *, deltas: int = 3, delta_bytes: int = 0) -> list[str]:
    """Episode k's session done right; returns the server frames received (and checks them)."""
    async with connect(url, max_size=None, **loopback_kwargs(url)) as ws:  # type: ignore[arg-type]
        frames = [await asyncio.wait_for(ws.recv(), 10)]
        await ws.send(user_text(k))
        await ws.send('{"type":"response.create"}')
        while '"response.done"' not in frames[-1]:
            frames.append(await asyncio.wait_for(ws.recv(), 10))
    assert [json.loads(f) for f in frames[1:]] == [json.loads(e) for e in
                                                   server_events(k, deltas, delta_bytes)]
    assert json.loads(frames[0])["session"]["id"] == f"sess_{k}"
    return [str(f) for f in frames]


class Serve:
    """`rtkit serve` in a subprocess; `url` is what it printed first."""

    def __init__(self, cassette: Path, *args: str) -> None:
        self.proc = subprocess.Popen(
            [*RTKIT, "serve", str(cassette), "--listen", "127.0.0.1:0", *args],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        assert self.proc.stdout is not None
        self.url = self.proc.stdout.readline().strip()
        if not self.url.startswith("ws://"):
            raise AssertionError(self.proc.communicate(timeout=20)[1])
        self.port = int(self.url.split(":")[2].split("/")[0])

    def stop(self) -> tuple[int, str]:
        """SIGTERM (if still running); exit status and stderr."""
        if self.proc.poll() is None:
            self.proc.terminate()
        _, err = self.proc.communicate(timeout=30)
        return self.proc.returncode, err

    async def wait(self, timeout: float = 30) -> tuple[int, str]:
        """Wait for it to exit by itself; exit status and stderr."""
        loop = asyncio.get_running_loop()
        _, err = await loop.run_in_executor(None, lambda: self.proc.communicate(timeout=timeout))
        return self.proc.returncode, err


def frame_bytes(payload: bytes, opcode: Opcode = Opcode.TEXT, fin: bool = True) -> bytes:
    """One masked client frame, as websockets' sans-I/O client protocol writes it (a fresh
    protocol per frame, so any frame may follow any other)."""
    proto = Protocol(Side.CLIENT, state=State.OPEN, max_size=None)
    if opcode is Opcode.CLOSE:
        if len(payload) >= 2:
            proto.send_close(int.from_bytes(payload[:2], "big"), payload[2:].decode())
        else:
            proto.send_close()
    else:
        send = {Opcode.TEXT: proto.send_text, Opcode.BINARY: proto.send_binary,
                Opcode.PING: lambda data, fin: proto.send_ping(data),
                Opcode.PONG: lambda data, fin: proto.send_pong(data)}.get(opcode)
        if send is None:  # a continuation: the protocol must think a message is under way
            proto.send_text(b"", fin=False)
            proto.data_to_send()
            send = proto.send_continuation
        send(payload, fin)  # type: ignore[operator]
    return b"".join(proto.data_to_send())


class RawClient:
    """A WebSocket client on a bare socket: the handshake by hand, frames written by
    websockets' own sans-I/O protocol (masked as a client must), sent as told even where a
    well-behaved client would not (after its close, invalid UTF-8)."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer

    @classmethod
    async def request(cls, port: int, request: str, rcvbuf: int | None = None
                      ) -> tuple[RawClient, bytes]:
        """Send an HTTP request as is; returns the client and the response head."""
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        if rcvbuf:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        sock.setblocking(False)
        await asyncio.get_running_loop().sock_connect(sock, ("127.0.0.1", port))
        reader, writer = await asyncio.open_connection(sock=sock)
        writer.write(request.encode())
        head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 10)
        return cls(reader, writer), head

    @classmethod
    async def upgrade(cls, port: int, path: str = f"/v1/realtime?{QUERY}",
                      rcvbuf: int | None = None) -> RawClient:
        key = base64.b64encode(os.urandom(16)).decode()
        client, head = await cls.request(
            port, f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n"
            f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
            "Sec-WebSocket-Version: 13\r\n\r\n", rcvbuf)
        assert head.startswith(b"HTTP/1.1 101"), head
        return client

    def send_frame(self, payload: bytes, opcode: Opcode = Opcode.TEXT, fin: bool = True) -> None:
        self.writer.write(frame_bytes(payload, opcode, fin))

    async def read_frame(self) -> tuple[int, bytes]:
        """The next server frame: (opcode, payload)."""
        first, second = await self.reader.readexactly(2)
        n = second & 0x7F
        if n == 126:
            n = int.from_bytes(await self.reader.readexactly(2), "big")
        elif n == 127:
            n = int.from_bytes(await self.reader.readexactly(8), "big")
        return first & 0x0F, await self.reader.readexactly(n)

    def close(self) -> None:
        self.writer.transport.abort()
