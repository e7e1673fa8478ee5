"""ReplayTransport hands a long response over as the client reads it: its outbound queue is
bounded, so a 50 MB answer is not held in memory twice."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

from rtkit.transport.base import Close, ConnectRequest
from rtkit.transport.replay import OUTBOUND_FRAMES, ReplayTransport
from tests.serve_helpers import server_events, user_text, write_sessions


async def test_the_outbound_queue_is_bounded_and_nothing_is_lost(tmp_path: Path) -> None:
    path = write_sessions(tmp_path / "long.jsonl", 1, deltas=2000)
    transport = ReplayTransport(path, unplayed="fail")
    await transport.connect(ConnectRequest("ws://replay/v1/realtime?model=gpt-realtime"))
    link, task = transport._link, transport._task
    assert link is not None and task is not None
    first = await transport.recv()
    await transport.send(user_text(0))
    await transport.send('{"type":"response.create"}')
    for _ in range(10_000):  # let the driver run until it blocks on the full queue
        if link.outbound.full() or task.done():
            break
        await asyncio.sleep(0)
    assert link.outbound.qsize() == OUTBOUND_FRAMES and not task.done()
    got = [await transport.recv() for _ in range(2002)]
    assert json.loads(str(first))["type"] == "session.created"
    assert [json.loads(str(g)) for g in got] == [json.loads(e) for e in server_events(0, 2000)]
    await transport.close()
    assert not isinstance(got[-1], Close)
    transport.end()


async def test_closing_while_the_queue_is_full_does_not_wait(tmp_path: Path) -> None:
    path = write_sessions(tmp_path / "long.jsonl", 1, deltas=2000)
    transport = ReplayTransport(path, unplayed="ignore")
    await transport.connect(ConnectRequest("ws://replay/v1/realtime?model=gpt-realtime"))
    await transport.recv()
    await transport.send(user_text(0))
    await transport.send('{"type":"response.create"}')
    link = transport._link
    assert link is not None
    for _ in range(10_000):
        if link.outbound.full():
            break
        await asyncio.sleep(0)
    assert link.outbound.full()  # the driver waits for room: close must not wait for it
    loop = asyncio.get_running_loop()
    t0 = loop.time()
    await transport.close()
    assert loop.time() - t0 < 2  # not the 5 s close wait
    assert transport._task is not None and transport._task.done()
