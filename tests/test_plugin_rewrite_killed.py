"""SIGKILL of a pytest run recording in `rewrite` mode over an existing cassette (issue 21,
probe 13): the previous cassette survives byte for byte until the new one is complete (it
used to be deleted before the test ran, so the kill left none), and what the killed run
recorded is in a temporary file beside it for `rtkit recover`."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from pathlib import Path

import pytest

from tests.proxy_upstream import TurnUpstream
from tests.rtkit_process import no_key_env, run
from tests.serve_helpers import write_sessions

APP = """
import json, os, pathlib, time
import pytest
from websockets.sync.client import connect


@pytest.mark.rtkit
def test_app(rt_server):
    with connect(rt_server.url) as ws:
        ws.recv()
        ws.send('{"type":"response.create"}')
        while json.loads(ws.recv())["type"] != "rate_limits.updated":
            pass
        ws.send('{"type":"note"}')
        ws.recv()
        pathlib.Path(os.environ["RT_READY"]).write_text("ready")
        time.sleep(60)  # killed here, the session open
"""


@pytest.mark.skipif(sys.platform == "win32", reason="SIGKILL")
async def test_a_killed_rewrite_keeps_the_previous_cassette(tmp_path: Path) -> None:
    (tmp_path / "test_app.py").write_text(APP)
    (tmp_path / "pytest.ini").write_text("[pytest]\n")
    cassette = write_sessions(tmp_path / "cassettes" / "test_app" / "test_app.jsonl", 2)
    before = cassette.read_bytes()
    ready = tmp_path / "ready"
    async with TurnUpstream() as up:
        env = no_key_env(RTKIT_UPSTREAM_URL=up.url, RT_READY=str(ready),
                         PYTHONPATH=os.pathsep.join(sys.path))
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
            "--rt-record-mode=rewrite", "test_app.py", cwd=tmp_path, env=env,
            stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL)
        try:
            for _ in range(600):
                if ready.exists() or proc.returncode is not None:
                    break
                await asyncio.sleep(0.05)
            assert ready.exists(), "the test never got to record"
            await asyncio.sleep(0.2)  # the recorder's loop turns: its lines reach the file
            proc.send_signal(signal.SIGKILL)
            await asyncio.wait_for(proc.wait(), 30)
        finally:
            if proc.returncode is None:
                proc.kill()
                await proc.wait()
    assert cassette.read_bytes() == before  # the previous cassette, untouched
    code, out, err = await run("recover", str(cassette))
    assert code == 0 and "1 leftover recording(s) beside it" in out, (out, err)
