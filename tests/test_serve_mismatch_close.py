"""A mismatch during streamed audio ends the client's connection at once (issue 20): with
`--audio-match exact` and changed audio, a client that keeps streaming (as a microphone does,
whatever error events it gets) has its connection closed within a second of the mismatch,
because rtkit serve goes on reading (and discarding) its frames until the close handshake
ends; and the log does not claim the client stopped reading."""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path

import numpy as np
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from rtkit.audio import int16_to_base64
from rtkit.cassette import CassetteWriter
from rtkit.transport.websocket import loopback_kwargs
from tests import rtkit_process

RATE = 24_000


def chunk(k: int, changed: bool = False) -> str:
    samples = (np.sin(np.arange(k * 2400, (k + 1) * 2400) * 0.05) * 8000).astype(np.int16)
    if changed:
        samples[100] += 1
    return int16_to_base64(samples)


async def test_changed_streamed_audio_ends_the_connection_within_a_second(
        tmp_path: Path) -> None:
    path = tmp_path / "stream.jsonl"
    with CassetteWriter(path, dialect="ga") as w:
        w.connect(0, query="model=gpt-realtime")
        w.event(0, "server", 1, '{"type":"session.created","session":{}}')
        for k in range(200):
            w.event(0, "client", 2 + 100 * k, json.dumps(
                {"type": "input_audio_buffer.append", "audio": chunk(k)}))
        w.close(0, 30_000, 1000, "", "client")
    proc, url = await rtkit_process.start("serve", str(path), "--listen", "127.0.0.1:0",
                                          "--audio-match", "exact", "--max-connections", "1")
    try:
        async with connect(url + "?model=gpt-realtime", **loopback_kwargs(url)) as ws:
            await ws.recv()  # session.created
            mismatch: list[float] = []

            async def listen() -> None:
                try:
                    async for message in ws:
                        if json.loads(message)["error"]["code"] == "replay_mismatch":
                            mismatch.append(time.monotonic())
                except ConnectionClosed:
                    pass

            listening = asyncio.ensure_future(listen())
            sent = 0
            try:  # it streams on, whatever the server says
                for k in range(200):
                    await ws.send(json.dumps({"type": "input_audio_buffer.append",
                                              "audio": chunk(k, changed=k == 3)}))
                    sent += 1
                    await asyncio.sleep(0)  # as fast as it can: a file streamed whole
            except ConnectionClosed:
                pass
            ended = time.monotonic()
            await asyncio.wait_for(listening, 5)
        code, log = await rtkit_process.finish(proc, grace=10.0)
    finally:
        if proc.returncode is None:
            proc.kill()
    assert mismatch, log
    assert ended - mismatch[0] < 1.0, (ended - mismatch[0], log)
    assert sent < 200  # the connection ended under it
    assert ws.close_code == 4000 and code == 1, log
    assert "mismatch at client event #4" in log and "stopped reading" not in log, log
    assert "closed by rtkit (4000 invalid_request_error.replay_mismatch)" in log, log
