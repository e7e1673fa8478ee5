"""A client that sends its close frame and then half-closes its socket (shutdown of its
writing side, as some clients do) still gets the closing handshake's reply through
`RecordingProxy`: the half-close is passed on, and the upstream's close frame comes back on the
half that is still open (issue 21: 0 of 20 got it; `rtkit serve` and `rtkit fake` did)."""

from __future__ import annotations

import asyncio
from pathlib import Path

from websockets.frames import Close, Opcode

from rtkit.cassette import Cassette
from rtkit.server.proxy import RecordingProxy
from tests.proxy_upstream import TurnUpstream
from tests.serve_helpers import RawClient


async def _half_close(port: int) -> tuple[int, bytes] | None:
    """Close frame, then EOF; the close frame that comes back (None: EOF without one)."""
    client = await RawClient.upgrade(port, "/v1/realtime")
    try:
        await client.read_frame()  # session.created
        client.send_frame(Close(1000, "bye").serialize(), Opcode.CLOSE)
        client.writer.write_eof()
        while True:
            try:
                opcode, payload = await asyncio.wait_for(client.read_frame(), 10)
            except asyncio.IncompleteReadError:
                return None
            if opcode == Opcode.CLOSE:
                return opcode, payload
    finally:
        client.close()


async def test_a_half_closing_client_gets_the_close_reply(tmp_path: Path) -> None:
    path = tmp_path / "c.jsonl"
    async with TurnUpstream() as up, RecordingProxy(path, upstream_url=up.url, api_key="") \
            as proxy:
        replies = [await _half_close(proxy.port) for _ in range(5)]
    assert all(r is not None for r in replies), replies
    assert all(Close.parse(r[1]).code == 1000 for r in replies if r)
    episodes = Cassette.load(path).episodes
    assert len(episodes) == 5
    assert all(e.close is not None and e.close.code == 1000 and e.close.by == "client"
               for e in episodes)
