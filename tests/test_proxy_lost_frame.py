"""Issue 12, "a lost client frame": a client's next turn must reach the upstream and the
cassette whatever happened while an earlier frame was being recorded.

The relay forwarded each chunk, then recorded its frames, in one task per direction that
caught only ConnectionError/SSLError. Anything else raised while recording (or while
printing the status line) ended that direction's task silently: the frames the client sent
next were never read, so they reached neither the upstream nor the cassette, while the other
direction went on for up to 5 s; then both sides were closed and the episode was written as
closed by the client. Each case below is a way that happened; each sends the next turn right
after reading the last event of the first response, as the reference client does.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from websockets.asyncio.client import ClientConnection, connect

from rtkit.cassette import Cassette, Event, Frame
from rtkit.server.proxy import ProxyStatus, RecordingProxy
from tests.proxy_upstream import TurnUpstream

KEY = "sk-test-" + "lost-frame-" + "k" * 24  # built at runtime: no key-shaped literal


def item(text: str) -> str:
    return json.dumps({"type": "conversation.item.create", "item": {
        "type": "message", "role": "user", "content": [{"type": "input_text", "text": text}]}})


async def until(ws: ClientConnection, kind: str) -> None:
    while json.loads(await asyncio.wait_for(ws.recv(), 20))["type"] != kind:
        pass


async def two_turns(ws: ClientConnection, first: list[str], pause: float = 0.0) -> None:
    """Turn one (with `first` sent before it), then turn two sent at once after the last
    event of the first response, in one write."""
    await until(ws, "session.created")
    await asyncio.sleep(pause)
    for frame in first:
        await ws.send(frame)
    await ws.send(item("hello"))
    await ws.send('{"type":"response.create"}')
    await until(ws, "rate_limits.updated")
    # the next turn leaves in the same TCP segment, right after the last server frame
    ws.protocol.send_text(item("and again").encode())
    ws.protocol.send_text(b'{"type":"response.create"}')
    ws.transport.write(b"".join(ws.protocol.data_to_send()))
    await until(ws, "rate_limits.updated")


class Flaky:
    """A status callback that fails after its first call, as a write to a non-blocking
    terminal does when the terminal is slow (EAGAIN)."""

    pause = 0.3  # the status line is updated at most every 0.25 s: let one update fall due

    def __init__(self) -> None:
        self.calls = 0

    def __call__(self, status: ProxyStatus) -> None:
        self.calls += 1
        if self.calls > 1:
            raise BlockingIOError(11, "write could not complete without blocking")


CASES: dict[str, tuple[list[str], Callable[[], Any] | None]] = {
    # a client event whose type is not a string: the redactor's lookup raised TypeError
    "type-not-a-string": (['{"type":["not","a","string"]}'], None),
    # a number too long for int(): json.loads raised ValueError, not JSONDecodeError
    "long-number": (['{"type":"x","n":' + "7" * 5000 + "}"], None),
    # a multi-line event with an escaped lone surrogate: re-encoding it raised
    "lone-surrogate": (['{"type":"x",\n"s":"\\ud800"}'], None),
    # the status line could not be written
    "status-line": ([], Flaky),
}


@pytest.mark.parametrize("case", list(CASES))
async def test_the_next_turn_reaches_upstream_and_cassette(tmp_path: Path, case: str) -> None:
    first, on_status = CASES[case]
    path = tmp_path / "lost.jsonl"
    async with TurnUpstream() as up:
        status = on_status() if on_status else None
        proxy = RecordingProxy(path, upstream_url=up.url, api_key=KEY, on_status=status)
        async with proxy, connect(proxy.url, max_size=None) as ws:
            await asyncio.wait_for(two_turns(ws, first, getattr(status, "pause", 0.0)), 30)
    assert status is None or status.calls > 1  # it did fail
    sent = [*first, item("hello"), '{"type":"response.create"}', item("and again"),
            '{"type":"response.create"}']
    assert up.received == sent  # every frame reached the upstream, as sent
    (episode,) = Cassette.load(path).episodes
    lines = [x for x in Cassette.load(path).iter_episode(0) if isinstance(x, Event | Frame)]
    client = [x for x in lines if x.dir == "client"]
    assert len(client) == len(sent)  # and the cassette
    assert [x.raw for x in client if isinstance(x, Event)][-2:] == sent[-2:]
    assert sum(1 for x in lines if x.dir == "server" and isinstance(x, Event)
               and x.type == "response.done") == 2
    assert episode.close is not None and episode.close.by == "client"
    assert episode.close.code == 1000
