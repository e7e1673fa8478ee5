"""`rtkit serve` never prints a traceback for a fault in a connection handler (issue 19,
item 5): the client gets 1011 with a one-line reason, the console one `rtkit serve: error:`
line naming the cause, and serve exits 1. The fault is injected into the subprocess by a
`sitecustomize` module that breaks the replay engine."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from rtkit.transport.websocket import loopback_kwargs
from tests.serve_helpers import QUERY, Serve, user_text, write_sessions

BREAK_THE_ENGINE = """
from rtkit.replay.engine import ReplayEngine

def receive_iter(self, frame):
    raise RuntimeError("injected fault")

ReplayEngine.receive_iter = receive_iter
"""


async def test_a_fault_in_the_handler_is_1011_and_one_console_line(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = write_sessions(tmp_path / "one.jsonl", 1)
    hooks = tmp_path / "hooks"
    hooks.mkdir()
    (hooks / "sitecustomize.py").write_text(BREAK_THE_ENGINE)
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(
        [str(hooks), os.environ.get("PYTHONPATH", "")]).rstrip(os.pathsep))
    server = Serve(path, "--max-connections", "1")
    try:
        url = f"{server.url}?{QUERY}"
        async with connect(url, **loopback_kwargs(url)) as ws:  # type: ignore[arg-type]
            await ws.recv()  # session.created, sent before any client event
            await ws.send(user_text(0))
            with pytest.raises(ConnectionClosed) as closed:
                await ws.recv()
        code, err = await server.wait(30)
    finally:
        server.stop()
    assert closed.value.rcvd is not None
    assert (closed.value.rcvd.code, closed.value.rcvd.reason) == (
        1011, "rtkit: internal error: RuntimeError")
    assert "Traceback" not in err
    errors = [line for line in err.splitlines() if line.startswith("rtkit serve: error: ")]
    assert len(errors) == 1, err
    assert errors[0].endswith("the connection failed (RuntimeError: injected fault); closed "
                              "with 1011")
    assert code == 1
    assert "rtkit failed (RuntimeError: injected fault)" in err
