"""`rtkit fake` against hostile clients (issue 21): a permessage-deflate bomb costs it no
more memory than its message limit (it inflated 512 MiB before: 49 MB -> 1,074 MB), and a
deeply nested JSON message is answered with `invalid_json`, as the live API and `rtkit serve`
answer it, instead of a 1011 and a logged crash; the connection and the next client go on."""

from __future__ import annotations

import asyncio
import json
import zlib
from pathlib import Path
from urllib.parse import urlsplit

from websockets.asyncio.client import connect
from websockets.frames import Opcode

from rtkit.fake import FakeRealtimeAPI
from tests.rtkit_process import finish, start
from tests.serve_helpers import RawClient

BOMB_MIB = 256  # inflated size; 64 MiB is the fake's largest message


def _peak_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise AssertionError("no VmHWM")


def _bomb() -> bytes:
    """A compressed message (RSV1 set) that inflates to BOMB_MIB MiB of spaces."""
    deflate = zlib.compressobj(9, zlib.DEFLATED, -15)
    block = b" " * (1 << 20)
    data = b"".join(deflate.compress(block) for _ in range(BOMB_MIB)) + \
        deflate.flush(zlib.Z_SYNC_FLUSH)
    data = data[:-4]  # permessage-deflate drops the sync flush's 4-byte tail
    # FIN, RSV1 (compressed), text; masked with a zero key (the payload as it is)
    return bytes([0x80 | 0x40 | Opcode.TEXT, 0x80 | 127]) + len(data).to_bytes(8, "big") + \
        bytes(4) + data


async def test_a_deflate_bomb_is_refused_without_inflating_it() -> None:
    proc, url = await start("fake", "--listen", "127.0.0.1:0")
    try:
        port = urlsplit(url).port
        assert port is not None
        before = _peak_rss_mb(proc.pid)
        client, head = await RawClient.request(
            port, "GET /v1/realtime?model=gpt-realtime HTTP/1.1\r\nHost: 127.0.0.1\r\n"
            "Upgrade: websocket\r\nConnection: Upgrade\r\n"
            "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n"
            "Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 101"), head
        await client.read_frame()  # session.created
        client.writer.write(_bomb())
        codes = []
        try:
            while True:
                opcode, payload = await asyncio.wait_for(client.read_frame(), 30)
                if opcode == Opcode.CLOSE:
                    codes.append(int.from_bytes(payload[:2], "big"))
                    break
        except asyncio.IncompleteReadError:
            pass
        client.close()
        assert codes and codes[0] in (1002, 1009), codes  # refused, not inflated
        assert _peak_rss_mb(proc.pid) - before < 100
        async with connect(url) as ws:  # the next client is served
            assert json.loads(await ws.recv())["type"] == "session.created"
    finally:
        await finish(proc)


async def test_deeply_nested_json_is_invalid_json_and_the_session_goes_on() -> None:
    async with FakeRealtimeAPI() as fake, connect(fake.url, max_size=None) as ws:
        await ws.recv()
        for message in ("[" * 100_000 + "]" * 100_000,
                        '{"type":"conversation.item.create","item":' + "[" * 5000 +
                        "]" * 5000 + "}",
                        '{"type":"conversation.item.create","event_id":"e1","item":'
                        '{"type":"message","role":"user","content":' + "[" * 900 + "]" * 900
                        + "}}"):
            await ws.send(message)
            error = json.loads(await asyncio.wait_for(ws.recv(), 10))
            assert error["type"] == "error", error
            assert error["error"]["code"] in ("invalid_json", "missing_required_parameter")
        await ws.send('{"type":"input_audio_buffer.clear"}')
        assert json.loads(await ws.recv())["type"] == "input_audio_buffer.cleared"
    assert fake.records[0].close_code in (1000, 1005)
