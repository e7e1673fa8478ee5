"""rtkit's WebSocket server shell (`rtkit.server.wsserver`, on websockets' sans-I/O protocol)
over real loopback sockets: pings answered in the middle of a long run of frames, fragmented
client messages, every way of closing (a code, 1005 without one, dropped), reading on while a
close handshake runs, a handler that raises (1011 and one line, never a traceback), a client
that stops reading, a failed or silent opening handshake, and invalid UTF-8."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed
from websockets.frames import Opcode

from rtkit.server.wsserver import Stalled, WSConnection, WSServer
from rtkit.transport.base import Close
from rtkit.transport.websocket import loopback_kwargs
from tests.serve_helpers import RawClient

Handler = Callable[[WSConnection], Awaitable[None]]


class Running:
    """A WSServer on a free port with `handler`; `lines` collects what it reports."""

    def __init__(self, handler: Handler, **options: Any) -> None:
        self.lines: list[str] = []
        self.server = WSServer(handler, report=self.lines.append, **options)

    async def __aenter__(self) -> Running:
        await self.server.start("127.0.0.1", 0)
        self.port = self.server.port
        self.url = f"ws://127.0.0.1:{self.port}/v1/realtime"
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.server.stop()


async def test_pings_are_answered_between_the_frames_of_a_long_run() -> None:
    payloads = [(f'{{"k":{k},"pad":"' + "p" * (k * 37 % 9000) + '"}').encode()
                for k in range(3000)]

    async def handler(ws: WSConnection) -> None:
        assert await ws.recv(5) == "go"
        assert await ws.send_texts(payloads, 5)
        assert isinstance(await ws.recv(5), Close)

    async with Running(handler) as run, connect(run.url, max_size=None,
                                                **loopback_kwargs(run.url)) as ws:  # type: ignore[arg-type]
        await ws.send("go")
        pongs = [await ws.ping() for _ in range(5)]  # while the run is being written
        got = [await asyncio.wait_for(ws.recv(), 10) for _ in payloads]
        await asyncio.wait_for(asyncio.gather(*pongs), 10)
    assert got == [p.decode() for p in payloads]


async def test_fragmented_messages_and_control_frames_between_fragments() -> None:
    got: list[Any] = []

    async def handler(ws: WSConnection) -> None:
        for _ in range(3):
            got.append(await ws.recv(5))

    async with Running(handler) as run:
        client = await RawClient.upgrade(run.port)
        client.send_frame('{"a":"é'.encode()[:-1], Opcode.TEXT, fin=False)  # splits the é
        client.send_frame(b"ping", Opcode.PING)
        client.send_frame('é"}'.encode()[1:], Opcode.CONT, fin=True)
        client.send_frame(b"\x00\x01", Opcode.BINARY, fin=False)
        client.send_frame(b"\x02", Opcode.CONT, fin=True)
        client.send_frame((4321).to_bytes(2, "big") + b"bye", Opcode.CLOSE)
        assert await asyncio.wait_for(client.read_frame(), 5) == (Opcode.PONG, b"ping")
        opcode, payload = await asyncio.wait_for(client.read_frame(), 5)
        assert (opcode, payload[:2]) == (Opcode.CLOSE, (4321).to_bytes(2, "big"))
        assert await asyncio.wait_for(client.reader.read(), 5) == b""  # the server's EOF
        client.close()
    assert got == ['{"a":"é"}', b"\x00\x01\x02", Close(4321, "bye", "client")]


@pytest.mark.parametrize(("code", "reason", "seen"), [
    (4000, "replay_mismatch", (4000, "replay_mismatch")),
    (1005, "", (1005, "")),
    (None, "", None),  # dropped: no close frame at all
])
async def test_close_as_a_recorded_peer_did(code: int | None, reason: str,
                                            seen: tuple[int, str] | None) -> None:
    async def handler(ws: WSConnection) -> None:
        await ws.close(code, reason, timeout=5)

    async with Running(handler) as run, connect(run.url, **loopback_kwargs(run.url)) as ws:  # type: ignore[arg-type]
        with pytest.raises(ConnectionClosed) as closed:
            await asyncio.wait_for(ws.recv(), 5)
    rcvd = closed.value.rcvd
    assert (None if rcvd is None else (rcvd.code, rcvd.reason)) == seen


async def test_a_client_still_sending_when_the_server_closes_ends_within_a_second() -> None:
    """The server reads (and drops) what the client sends after the server's close frame,
    so the client's close reply is seen at once, not after a timeout."""
    ended: list[float] = []

    async def handler(ws: WSConnection) -> None:
        assert await ws.recv(5) == "start"
        await ws.close(4000, "mismatch", timeout=10)
        ended.append(time.monotonic())

    async with Running(handler) as run:
        client = await RawClient.upgrade(run.port)
        client.send_frame(b"start")
        opcode, _ = await asyncio.wait_for(client.read_frame(), 5)
        assert opcode == Opcode.CLOSE
        t0 = time.monotonic()
        for _ in range(200):  # audio the client had already queued
            client.send_frame(b'{"type":"input_audio_buffer.append","audio":"' + b"A" * 6400
                              + b'"}')
        client.send_frame((4000).to_bytes(2, "big"), Opcode.CLOSE)
        assert await asyncio.wait_for(client.reader.read(), 5) == b""
        client.close()
        while not ended:
            await asyncio.sleep(0.01)
    assert ended[0] - t0 < 1.0


async def test_a_half_closing_client_gets_the_close_reply() -> None:
    async def handler(ws: WSConnection) -> None:
        assert isinstance(await ws.recv(5), Close)

    async with Running(handler) as run:
        client = await RawClient.upgrade(run.port)
        client.send_frame((1000).to_bytes(2, "big"), Opcode.CLOSE)
        client.writer.write_eof()
        opcode, payload = await asyncio.wait_for(client.read_frame(), 5)
        assert (opcode, payload) == (Opcode.CLOSE, (1000).to_bytes(2, "big"))
        client.close()


async def test_a_handler_that_raises_gives_1011_and_one_line(
        caplog: pytest.LogCaptureFixture) -> None:
    async def handler(ws: WSConnection) -> None:
        await ws.recv(5)
        raise RuntimeError("the engine broke")

    with caplog.at_level(logging.WARNING):
        async with Running(handler) as run, connect(run.url, **loopback_kwargs(run.url)) as ws:  # type: ignore[arg-type]
            await ws.send("hello")
            with pytest.raises(ConnectionClosed) as closed:
                await asyncio.wait_for(ws.recv(), 5)
    assert closed.value.rcvd is not None
    assert (closed.value.rcvd.code, closed.value.rcvd.reason) == (
        1011, "rtkit: internal error: RuntimeError")
    assert len(run.lines) == 1
    assert run.lines[0].startswith("error: 127.0.0.1:")
    assert run.lines[0].endswith("the connection failed (RuntimeError: the engine broke); "
                                 "closed with 1011")
    assert not [r for r in caplog.records if r.exc_info]


async def test_a_client_that_stops_reading_stalls_the_sender() -> None:
    raised: list[BaseException] = []

    async def handler(ws: WSConnection) -> None:
        try:
            await ws.send_texts((b"x" * 60_000 for _ in range(2000)), timeout=0.3)
        except Stalled as exc:
            raised.append(exc)
            ws.abort()

    async with Running(handler) as run:
        client = await RawClient.upgrade(run.port, rcvbuf=4096)
        deadline = time.monotonic() + 10
        while not raised:
            assert time.monotonic() < deadline
            await asyncio.sleep(0.05)
        client.close()


async def test_a_request_that_is_not_http_is_one_line_and_a_silent_client_is_dropped() -> None:
    async def handler(ws: WSConnection) -> None:
        raise AssertionError("no connection should open")

    async with Running(handler, open_timeout=0.3) as run:
        reader, writer = await asyncio.open_connection("127.0.0.1", run.port)
        writer.write(b"\x16\x03\x01\x00\x05hello\r\n\r\n")
        assert await asyncio.wait_for(reader.read(), 5) == b""
        writer.close()
        t0 = time.monotonic()
        reader, writer = await asyncio.open_connection("127.0.0.1", run.port)
        assert await asyncio.wait_for(reader.read(), 5) == b""  # nothing sent: dropped
        assert time.monotonic() - t0 < 3
        writer.close()
    assert len(run.lines) == 1
    assert ": the opening handshake failed: " in run.lines[0] and "HTTP request" in run.lines[0]


async def test_invalid_utf8_in_a_text_frame_fails_the_connection_with_1007() -> None:
    async def handler(ws: WSConnection) -> None:
        assert isinstance(await ws.recv(5), Close)

    async with Running(handler) as run:
        client = await RawClient.upgrade(run.port)
        client.send_frame(b'{"a":"\xff"}')
        opcode, payload = await asyncio.wait_for(client.read_frame(), 5)
        assert (opcode, payload[:2]) == (Opcode.CLOSE, (1007).to_bytes(2, "big"))
        client.close()


async def test_stop_closes_open_connections_with_1001() -> None:
    async def handler(ws: WSConnection) -> None:
        assert isinstance(await ws.recv(None), Close)

    run = Running(handler)
    await run.__aenter__()
    async with connect(run.url, **loopback_kwargs(run.url)) as ws:  # type: ignore[arg-type]
        stopping = asyncio.ensure_future(run.server.stop())
        with pytest.raises(ConnectionClosed) as closed:
            await asyncio.wait_for(ws.recv(), 5)
        await asyncio.wait_for(stopping, 5)
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 1001
